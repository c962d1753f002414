import functools
import os
import shutil
import warnings

import h5py
import numpy as np
import pytest
import skimage.data
import skimage.transform
import tensorflow as tf

from faceinv.errors import InputError
from faceinv.models import packaged_weights
from faceinv.models.facenet import (
    DEFAULT,
    PATH_FACENET,
    RANDOM,
    SANDBERG,
    SANDBERG_WHEEL,
    assign_weights,
    frozen_graph_weights,
    keras_layer_name,
    load_facenet,
    read_frozen_graph,
    read_keras_h5,
)

# Branch convolutions (filters, kernel, name) of keras-facenet's blocks; a block
# "Block17_2" names its layers "Block17_2_Branch_<b>_<name>".
BRANCHES = {
    "Block35": [[(32, 1, "Conv2d_1x1")], [(32, 1, "Conv2d_0a_1x1"), (32, 3, "Conv2d_0b_3x3")],
                [(32, 1, "Conv2d_0a_1x1"), (32, 3, "Conv2d_0b_3x3"), (32, 3, "Conv2d_0c_3x3")]],
    "Block17": [[(128, 1, "Conv2d_1x1")],
                [(128, 1, "Conv2d_0a_1x1"), (128, (1, 7), "Conv2d_0b_1x7"), (128, (7, 1), "Conv2d_0c_7x1")]],
    "Block8": [[(192, 1, "Conv2d_1x1")],
               [(192, 1, "Conv2d_0a_1x1"), (192, (1, 3), "Conv2d_0b_1x3"), (192, (3, 1), "Conv2d_0c_3x1")]],
    "Mixed_6a": [[(384, 3, "Conv2d_1a_3x3")],
                 [(192, 1, "Conv2d_0a_1x1"), (192, 3, "Conv2d_0b_3x3"), (256, 3, "Conv2d_1a_3x3")]],
    "Mixed_7a": [[(256, 1, "Conv2d_0a_1x1"), (384, 3, "Conv2d_1a_3x3")],
                 [(256, 1, "Conv2d_0a_1x1"), (256, 3, "Conv2d_1a_3x3")],
                 [(256, 1, "Conv2d_0a_1x1"), (256, 3, "Conv2d_0b_3x3"), (256, 3, "Conv2d_1a_3x3")]],
}


def scaling(x, scale):
    return x * scale


def keras2_facenet():
    """facenet_keras.h5's network as the keras-facenet conversion built it, with the
    Keras 2 API: its layer names, BatchNorm without gamma, Lambda scaling and a
    weightless add. Returns (the 128-d model, a model that also outputs the 21
    concatenations)."""
    import tf_keras
    layers = tf_keras.layers

    def conv(x, filters, kernel, name, strides=1, padding="same"):
        x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
        x = layers.BatchNormalization(axis=3, momentum=0.995, epsilon=0.001, scale=False,
                                      name=name + "_BatchNorm")(x)
        return layers.Activation("relu", name=name + "_Activation")(x)

    def branches(x, kind, prefix):
        def step(y, spec, b):  # "Conv2d_1a_3x3" convolutions reduce: stride 2, no padding
            filters, kernel, name = spec
            reduce = name == "Conv2d_1a_3x3"
            return conv(y, filters, kernel, f"{prefix}_Branch_{b}_{name}", 2 if reduce else 1,
                        "valid" if reduce else "same")
        return [functools.reduce(lambda y, spec: step(y, spec, b), convs, x)
                for b, convs in enumerate(BRANCHES[kind])]

    def residual(x, kind, i, scale, activate=True):
        name = f"{kind}_{i}"
        mixed = layers.Concatenate(axis=3, name=name + "_Concatenate")(branches(x, kind, name))
        up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=name + "_Conv2d_1x1")(mixed)
        x = layers.add([x, layers.Lambda(scaling, arguments={"scale": scale})(up)])
        if activate:
            x = layers.Activation("relu", name=name + "_Activation")(x)
        return x, mixed

    def reduction(x, name):
        pool = layers.MaxPooling2D(3, strides=2, name=f"{name}_Branch_{len(BRANCHES[name])}_MaxPool_1a_3x3")(x)
        return layers.Concatenate(axis=3, name=name)(branches(x, name, name) + [pool])

    inputs = layers.Input((160, 160, 3))
    x = conv(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = conv(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = conv(x, 64, 3, "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = conv(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
    x = conv(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = conv(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")
    concatenations = []
    for kind, count, scale in (("Block35", 5, 0.17), ("Block17", 10, 0.1), ("Block8", 6, 0.2)):
        for i in range(1, count + 1):
            last = kind == "Block8" and i == count  # the last block: unscaled, no ReLU
            x, mixed = residual(x, kind, i, 1.0 if last else scale, activate=not last)
            concatenations.append(mixed)
        if kind != "Block8":
            x = reduction(x, "Mixed_6a" if kind == "Block35" else "Mixed_7a")
    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(0.2, name="Dropout")(x)
    x = layers.Dense(128, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(momentum=0.995, epsilon=0.001, scale=False, name="Bottleneck_BatchNorm")(x)
    model = tf_keras.Model(inputs, x, name="inception_resnet_v1")
    return model, tf_keras.Model(inputs, concatenations + [x])


def fit(image):
    return skimage.transform.resize(image, (160, 160), anti_aliasing=True).astype(np.float32)


@pytest.fixture(scope="module")
def photos():
    """The astronaut's face (a square crop), a cat and a cup of coffee, 160x160 in [0, 1]."""
    face = fit(skimage.data.astronaut()[30:190, 160:320])
    return np.stack([face, fit(skimage.data.chelsea()), fit(skimage.data.coffee())])


def prewhiten(images):
    return tf.image.per_image_standardization(tf.constant(images) * 255.0)


@pytest.fixture(scope="module")
def paper_file(tmp_path_factory, photos):
    """A facenet_keras.h5 with random weights and non-trivial BatchNorm statistics,
    saved whole (and weights-only) as the conversion did; with the Keras 2 model's outputs."""
    model, probe = keras2_facenet()
    rng = np.random.default_rng(0)
    for weight in model.weights:
        if "moving_variance" in weight.name:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape))
        elif any(key in weight.name for key in ("moving_mean", "beta", "bias")):
            weight.assign(rng.normal(0, 0.1, weight.shape))
    folder = tmp_path_factory.mktemp("facenet")
    path, weights_path = str(folder / "facenet_keras.h5"), str(folder / "facenet_keras_weights.h5")
    with warnings.catch_warnings():  # HDF5 is "legacy" to Keras 2.21, but it is the paper's format
        warnings.simplefilter("ignore", UserWarning)
        model.save(path, save_format="h5")
    model.save_weights(weights_path, save_format="h5")
    return path, weights_path, [np.asarray(t) for t in probe(prewhiten(photos[:2]), training=False)]


@pytest.fixture(scope="module")
def paper_facenet(paper_file):
    return load_facenet(paper_file[0])


@pytest.fixture(scope="module")
def sandberg():
    return load_facenet(SANDBERG)


@functools.cache
def frozen_graph():
    """Sandberg's GraphDef, read once; not a fixture, as pytest would print its
    90 MB text as an argument of any failing test."""
    return read_frozen_graph(packaged_weights.locate(*SANDBERG_WHEEL))


@pytest.mark.slow
def test_the_paper_file_loads_by_its_producers_layer_names(paper_file, paper_facenet, photos):
    _, _, reference = paper_file
    assert not paper_facenet.is_standin and paper_facenet.embedding_size == 128
    assert "facenet_keras.h5" in paper_facenet.label
    activations, embedding = paper_facenet(photos[:2])
    assert len(activations) == 21 and embedding.shape == (2, 128)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)
    *concatenations, bottleneck = reference
    unit = bottleneck / np.linalg.norm(bottleneck, axis=1, keepdims=True)
    for mine, theirs in zip(activations + [embedding], concatenations + [unit]):
        np.testing.assert_allclose(np.asarray(mine), theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_a_weights_only_file_holds_the_same_weights(paper_file):
    path, weights_path, _ = paper_file
    whole, weights_only = read_keras_h5(path), read_keras_h5(weights_path)
    assert weights_only.keys() == whole.keys() and ("Block17_2_Branch_1_Conv2d_0a_1x1", "kernel") in whole
    for key, (value, _) in whole.items():
        np.testing.assert_array_equal(weights_only[key][0], value)


def edited_copy(source, path, edit):
    shutil.copy(source, path)
    with h5py.File(path, "r+") as f:
        edit(f["model_weights"])
    return str(path)


def test_a_wrong_layer_in_the_file_is_named(paper_file, paper_facenet, tmp_path):
    def shrink_bias(root):
        group, stored = root["Block17_3_Conv2d_1x1"], "Block17_3_Conv2d_1x1/bias:0"
        value = group[stored][:-1]
        del group[stored]
        group[stored] = value

    def rename_as_in_retyped_copies(root):  # "Branch_2" for a block's second branch
        old, new = "Block17_2_Branch_1_Conv2d_0a_1x1", "Block17_2_Branch_2_Conv2d_0a_1x1"
        root.move(old, new)
        root.attrs["layer_names"] = [new if n == old else n for n in root.attrs["layer_names"]]

    for edit, message in ((shrink_bias, "'Block17_3_Conv2d_1x1' holds bias of shape"),
                          (rename_as_in_retyped_copies, "'Block17_2_Branch_2_Conv2d_0a_1x1'")):
        path = edited_copy(paper_file[0], tmp_path / "edited.h5", edit)
        with pytest.raises(InputError, match=message):  # checked before anything is set
            assign_weights(paper_facenet.model, read_keras_h5(path), path)


def test_a_truncated_file_is_one_input_error(paper_file, tmp_path):
    truncated = tmp_path / "facenet_keras.h5"
    with open(paper_file[0], "rb") as f:
        truncated.write_bytes(f.read(1 << 20))
    with pytest.raises(InputError, match="cannot read FaceNet weights") as error:
        load_facenet(str(truncated))
    assert "\n" not in str(error.value)
    truncated_graph = tmp_path / "graph_final.pb"
    with open(packaged_weights.locate(*SANDBERG_WHEEL), "rb") as f:
        truncated_graph.write_bytes(f.read(12345))
    with pytest.raises(InputError, match="cannot read the FaceNet graph"):
        read_frozen_graph(str(truncated_graph))


def test_sandberg_scopes_map_to_keras_facenet_names():
    assert keras_layer_name("InceptionResnetV1/Conv2d_1a_3x3") == "Conv2d_1a_3x3"
    assert (keras_layer_name("InceptionResnetV1/Repeat/block35_5/Branch_2/Conv2d_0c_3x3")
            == "Block35_5_Branch_2_Conv2d_0c_3x3")
    assert (keras_layer_name("InceptionResnetV1/Repeat_1/block17_10/Branch_1/Conv2d_0b_1x7")
            == "Block17_10_Branch_1_Conv2d_0b_1x7")
    assert keras_layer_name("InceptionResnetV1/Repeat_2/block8_3/Conv2d_1x1") == "Block8_3_Conv2d_1x1"
    assert keras_layer_name("InceptionResnetV1/Block8/Branch_1/Conv2d_0a_1x1") == "Block8_6_Branch_1_Conv2d_0a_1x1"
    assert keras_layer_name("InceptionResnetV1/Mixed_7a/Branch_2/Conv2d_0b_3x3") == "Mixed_7a_Branch_2_Conv2d_0b_3x3"
    assert keras_layer_name("InceptionResnetV1/Bottleneck/BatchNorm") == "Bottleneck_BatchNorm"


@pytest.mark.slow
def test_sandberg_matches_its_frozen_graph(sandberg, photos):
    assert sandberg.handle == SANDBERG and sandberg.embedding_size == 512 and not sandberg.is_standin
    assert "not the paper's" in sandberg.label and "20180408-102900" in sandberg.description
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(frozen_graph(), name="")
    config = tf.compat.v1.ConfigProto()  # run the graph as written: Grappler would spend seconds folding it
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    session = tf.compat.v1.Session(graph=graph, config=config)
    activations, embeddings = sandberg(photos)
    assert len(activations) == 21 and embeddings.shape == (3, 512)
    for i, whitened in enumerate(np.asarray(prewhiten(photos))):  # the graph's input is one image
        graph_embedding, graph_concat = session.run(
            ["embeddings:0", "InceptionResnetV1/Repeat/block35_1/concat:0"], {"input:0": whitened[None]})
        cosine = float(np.sum(graph_embedding[0] * embeddings[i]))
        print(f"photo {i}: embedding cosine to the frozen graph {cosine:.7f}")
        assert cosine >= 0.9999
        np.testing.assert_allclose(activations[0][i], graph_concat[0], rtol=1e-4, atol=1e-4)


def test_sandberg_is_a_trained_face_network(sandberg, photos):
    face, cat = photos[0], photos[1]
    _, embeddings = sandberg(np.stack([face, face[:, ::-1], np.roll(face, 4, axis=(0, 1)), cat]))
    embeddings = np.asarray(embeddings)
    cosines = embeddings[1:] @ embeddings[0]
    print(f"astronaut vs flipped {cosines[0]:.3f}, shifted {cosines[1]:.3f}, cat {cosines[2]:.3f}")
    assert min(cosines[:2]) > 0.85 and cosines[2] < min(cosines[:2]) - 0.3


def mutated(graph, edit):
    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph)
    edit({node.name: node for node in copy.node}, copy)
    return copy


def test_every_graph_constant_and_every_weight_is_used_once(sandberg):
    scope = "InceptionResnetV1/Repeat_1/block17_3/Branch_1/Conv2d_0b_1x7"

    def shrink(nodes, _):
        smaller = tf.make_tensor_proto(np.zeros((1, 7, 128, 127), np.float32))
        nodes[f"{scope}/weights"].attr["value"].tensor.CopyFrom(smaller)

    def drop_offset(nodes, graph):
        graph.node.remove(nodes[f"{scope}/Conv2D_bn_offset"])

    def add_logits(nodes, graph):
        extra = graph.node.add()
        extra.CopyFrom(nodes[f"{scope}/weights"])
        extra.name = "InceptionResnetV1/Logits/weights"

    def rescale(nodes, _):
        nodes["InceptionResnetV1/Block8/mul/x"].attr["value"].tensor.CopyFrom(tf.make_tensor_proto(0.2))

    for edit, message in ((shrink, f"'{scope}/weights' holds kernel of shape"),
                          (drop_offset, "no beta for FaceNet layer 'Block17_3_Branch_1_Conv2d_0b_1x7_BatchNorm'"),
                          (add_logits, "'InceptionResnetV1/Logits/weights' gives Logits kernel"),
                          (rescale, "'InceptionResnetV1/Block8/mul/x' = 0.2 is no residual scale")):
        with pytest.raises(InputError, match=message):
            values = frozen_graph_weights(mutated(frozen_graph(), edit), sandberg.model, "graph_final.pb")
            assign_weights(sandberg.model, values, "graph_final.pb")


def test_a_missing_path_names_the_alternatives(tmp_path):
    with pytest.raises(InputError, match="not found") as error:
        load_facenet(str(tmp_path / "nope.h5"))
    assert "--facenet" in str(error.value)
    assert all(handle in str(error.value) for handle in (SANDBERG, DEFAULT, RANDOM))


def test_default_is_the_papers_file_where_it_exists(paper_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    facenet = load_facenet(DEFAULT)
    assert facenet.handle == SANDBERG and f"{PATH_FACENET} not found" in capsys.readouterr().out
    os.makedirs(os.path.dirname(PATH_FACENET))
    os.symlink(paper_file[0], PATH_FACENET)
    facenet = load_facenet(DEFAULT)
    assert facenet.handle == PATH_FACENET and facenet.embedding_size == 128
    assert capsys.readouterr().out.strip() == f"FaceNet: {facenet.label}"
    assert load_facenet(DEFAULT) is facenet  # built once per process
    monkeypatch.chdir(tmp_path.parent)  # the same relative path, another (missing) file
    assert load_facenet(DEFAULT).handle == SANDBERG


def test_random_is_a_labelled_stand_in(capsys):
    facenet = load_facenet(RANDOM)
    assert facenet.is_standin and facenet.handle == RANDOM and "STAND-IN" in facenet.label
    assert "STAND-IN" in capsys.readouterr().out
