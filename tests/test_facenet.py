import json

import h5py
import numpy as np
import pytest

from faceinv.errors import InputError
from faceinv.facenet import RANDOM, FaceNet, build_facenet, load_facenet


def write_legacy_h5(model, path, rename=None, reshape=None):
    """Save `model` the way Keras 2's model.save('x.h5') laid files out: weights
    under model_weights/<layer>/<layer>/<weight>:0, names listed in attributes."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"layers": []}}).encode()
        root = f.create_group("model_weights")
        names = []
        for layer in model.layers:
            name = (rename or {}).get(layer.name, layer.name)
            names.append(name.encode())
            group = root.create_group(name)
            weight_names = []
            for weight in layer.weights:
                key = f"{name}/{weight.name}:0"
                value = np.asarray(weight.numpy())
                if reshape and layer.name == reshape:
                    value = value[..., :-1]
                group.create_dataset(key, data=value)
                weight_names.append(key.encode())
            group.attrs["weight_names"] = weight_names
        root.attrs["layer_names"] = names


@pytest.fixture(scope="module")
def random_facenet_file(tmp_path_factory):
    model = build_facenet()
    rng = np.random.default_rng(0)
    for weight in model.weights:  # non-trivial BatchNorm statistics too
        if "moving_variance" in weight.name:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype(np.float32))
        elif "moving_mean" in weight.name or "beta" in weight.name:
            weight.assign(rng.normal(0, 0.1, weight.shape).astype(np.float32))
    path = str(tmp_path_factory.mktemp("facenet") / "facenet_keras.h5")
    write_legacy_h5(model, path)
    return model, path


def test_legacy_h5_loads_into_the_rebuilt_network(random_facenet_file):
    model, path = random_facenet_file
    facenet = load_facenet(path)
    assert not facenet.is_standin and "facenet_keras.h5" in facenet.label
    faces = np.random.default_rng(1).random((2, 128, 128, 3)).astype(np.float32)
    reference = FaceNet(model, "reference", False)(faces)
    activations, embedding = facenet(faces)
    assert len(activations) == 21 and embedding.shape == (2, 128)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)
    for mine, theirs in zip(activations + [embedding], reference[0] + [reference[1]]):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_a_wrong_layer_is_named(random_facenet_file, tmp_path):
    model, _ = random_facenet_file
    bad_shape = str(tmp_path / "shape.h5")
    write_legacy_h5(model, bad_shape, reshape="Block17_3_Conv2d_1x1")
    with pytest.raises(InputError, match="'Block17_3_Conv2d_1x1'"):
        load_facenet(bad_shape)
    unknown = str(tmp_path / "unknown.h5")
    write_legacy_h5(model, unknown, rename={"Mixed_6a_Branch_0_Conv2d_1a_3x3": "Mixed_6a_Branch_9_Conv"})
    with pytest.raises(InputError, match="'Mixed_6a_Branch_9_Conv'"):
        load_facenet(unknown)


def test_missing_file_and_random_stand_in(tmp_path, capsys):
    with pytest.raises(InputError, match="--facenet random"):
        load_facenet(str(tmp_path / "nope.h5"))
    facenet = load_facenet(RANDOM)
    assert facenet.is_standin and "STAND-IN" in facenet.label
    assert "STAND-IN" in capsys.readouterr().out
