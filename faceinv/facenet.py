"""FaceNet (Inception-ResNet-v1, 160x160 input, 128-d embedding) for the perceptual loss.

The paper's weights come as `facenet_keras.h5`, a Keras 2 HDF5 model whose
Lambda layers cannot be deserialised by Keras 3 on today's Python. So the
network is built here with the file's layer names, and the weights are copied
in by layer name. A layer whose weights do not fit stops the load with that
layer's name. Without a weights file, `load_facenet(RANDOM)` gives a randomly
initialised FaceNet, labelled as a stand-in wherever it is used.

One forward pass returns the activations of the 21 concatenation layers
(5 Block35, 10 Block17, 6 Block8) and the L2-normalised embedding.
"""
import os

import h5py
import keras
import numpy as np
import tensorflow as tf

from faceinv.errors import InputError

INPUT_SIZE = 160
EMBEDDING_SIZE = 128
RANDOM = "random"
RANDOM_LABEL = "STAND-IN: randomly initialised FaceNet (no facenet_keras.h5 loaded)"
layers = keras.layers


class ScaleSum(layers.Layer):
    """x + scale * residual: the Inception-ResNet merge (a Lambda in the original file)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + self.scale * inputs[1]


def _conv_bn(x, filters, kernel, name, strides=1, padding="same"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=3, momentum=0.995, epsilon=0.001, scale=False,
                                  name=name + "_BatchNorm")(x)
    return layers.Activation("relu", name=name + "_Activation")(x)


def _residual(x, branches, name, channels, scale, activate=True):
    mixed = layers.Concatenate(axis=3, name=name + "_Concatenate")(branches)
    up = layers.Conv2D(channels, 1, padding="same", use_bias=True, name=name + "_Conv2d_1x1")(mixed)
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
    return _residual(x, [b0, b1, b2], n, 256, 0.17)


def _block17(x, i):
    # The file names block i's second branch "Branch_{i}", not "Branch_1".
    n, b = f"Block17_{i}", f"Block17_{i}_Branch_{i}"
    b0 = _conv_bn(x, 128, 1, f"{n}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 128, 1, f"{b}_Conv2d_0a_1x1")
    b1 = _conv_bn(_conv_bn(b1, 128, (1, 7), f"{b}_Conv2d_0b_1x7"), 128, (7, 1), f"{b}_Conv2d_0c_7x1")
    return _residual(x, [b0, b1], n, 896, 0.1)


def _block8(x, i, scale=0.2, activate=True):
    # As in Block17, except the last block, whose branch is "Branch_1" again.
    n = f"Block8_{i}"
    b = f"{n}_Branch_{i if i < 6 else 1}"
    b0 = _conv_bn(x, 192, 1, f"{n}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 192, 1, f"{b}_Conv2d_0a_1x1")
    b1 = _conv_bn(_conv_bn(b1, 192, (1, 3), f"{b}_Conv2d_0b_1x3"), 192, (3, 1), f"{b}_Conv2d_0c_3x1")
    return _residual(x, [b0, b1], n, 1792, scale, activate)


def build_facenet():
    """Inception-ResNet-v1 with facenet_keras.h5's layer names; outputs
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
        x, mixed = _block8(x, i, *((0.2, True) if i < 6 else (1.0, False)))
        concatenations.append(mixed)
    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(0.2, name="Dropout")(x)
    x = layers.Dense(EMBEDDING_SIZE, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False,
                                  name="Bottleneck_BatchNorm")(x)
    return keras.Model(inputs, concatenations + [x], name="inception_resnet_v1")


def _weight_groups(f):
    """The HDF5 group that lists the layers: a whole model file keeps them under
    'model_weights', a weights-only file at its root."""
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" not in root.attrs:
        raise InputError(f"{f.filename} is not a Keras HDF5 model or weights file (no layer_names)")
    return root


def _decode(names):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def load_weights_by_name(model, path):
    """Copy a Keras 2 HDF5 file's weights into `model` by layer name and weight name."""
    by_name = {layer.name: layer for layer in model.layers}
    with h5py.File(path, "r") as f:
        root = _weight_groups(f)
        for layer_name in _decode(root.attrs["layer_names"]):
            group = root[layer_name]
            weight_names = _decode(group.attrs.get("weight_names", []))
            if not weight_names:
                continue
            layer = by_name.get(layer_name)
            if layer is None:
                raise InputError(f"{path}: layer {layer_name!r} is not part of FaceNet "
                                 "(Inception-ResNet-v1); is this facenet_keras.h5?")
            mine = {v.name: v for v in layer.weights}
            stored = {n.split("/")[-1].split(":")[0]: np.asarray(group[n]) for n in weight_names}
            if set(stored) != set(mine) or any(stored[k].shape != tuple(mine[k].shape) for k in mine):
                theirs = {k: v.shape for k, v in stored.items()}
                ours = {k: tuple(v.shape) for k, v in mine.items()}
                raise InputError(f"{path}: layer {layer_name!r} holds weights {theirs}, "
                                 f"FaceNet expects {ours}")
            for key, variable in mine.items():
                variable.assign(stored[key])
            del by_name[layer_name]
    missing = [name for name, layer in by_name.items() if layer.weights]
    if missing:
        raise InputError(f"{path}: no weights for layer {missing[0]!r} "
                         f"({len(missing)} FaceNet layers missing)")


class FaceNet:
    """images [N, H, W, 3] in [0, 1] -> (21 concatenation activations, unit embeddings)."""

    def __init__(self, model, label, is_standin):
        self.model, self.label, self.is_standin = model, label, is_standin
        self.model.trainable = False

    def __call__(self, images):
        x = tf.image.resize(tf.cast(images, tf.float32), [INPUT_SIZE, INPUT_SIZE]) * 255.0
        x = tf.image.per_image_standardization(x)  # FaceNet's "prewhiten"
        *activations, embedding = self.model(x, training=False)
        return activations, tf.math.l2_normalize(embedding, axis=-1)


def load_facenet(path):
    """FaceNet from `path` (facenet_keras.h5 or a weights file) or RANDOM."""
    model = build_facenet()
    if path == RANDOM:
        print(f"WARNING: {RANDOM_LABEL}: perceptual losses and FaceNet distances are not "
              "those of the paper")
        return FaceNet(model, RANDOM_LABEL, True)
    if not os.path.isfile(path):
        raise InputError(f"FaceNet weights {path} not found: put facenet_keras.h5 (Keras 2, "
                         f"160x160, 128-d) there, or pass --facenet {RANDOM} to run with a "
                         "randomly initialised FaceNet (a stand-in)")
    try:
        load_weights_by_name(model, path)
    except OSError as error:
        raise InputError(f"cannot read FaceNet weights {path}: {error}") from None
    return FaceNet(model, f"FaceNet ({os.path.basename(path)})", False)
