import hashlib
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_LABEL

from faceinv.errors import InputError
from faceinv.models import progan
from faceinv.models.generators import PROGAN_HANDLE, generator_tag, hub_cache_folder, load_generator, sample_latents


def check_generator(generator, n=3):
    z = tf.constant(sample_latents(n, 1, 512))
    with tf.GradientTape() as tape:
        tape.watch(z)
        images = generator(z)
        loss = tf.reduce_mean(images)
    grad = tape.gradient(loss, z).numpy()
    images = images.numpy()
    assert images.shape == (n, 128, 128, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    # usable inside tf.function
    traced = tf.function(lambda v: generator(v))(z).numpy()
    np.testing.assert_allclose(traced, images, atol=1e-5)


def test_tf1_module_loads_from_a_folder(tiny_module):
    generator = load_generator(tiny_module)
    check_generator(generator)
    assert generator.is_standin and generator.label == TINY_LABEL


def test_tf1_module_loads_from_the_hub_cache_offline(tiny_module, tmp_path, monkeypatch):
    """A URL whose module sits in TFHUB_CACHE_DIR (folder = SHA-1 of the handle) needs no network."""
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    cached = os.path.join(tmp_path, hashlib.sha1(PROGAN_HANDLE.encode()).hexdigest())
    assert hub_cache_folder(PROGAN_HANDLE) == cached
    shutil.copytree(tiny_module, cached)
    generator = load_generator(PROGAN_HANDLE)
    check_generator(generator)
    np.testing.assert_array_equal(generator(sample_latents(2, 0, 512)).numpy(),
                                  load_generator(tiny_module)(sample_latents(2, 0, 512)).numpy())


def test_tf2_saved_model_with_default_signature_loads(tmp_path):
    class Tiny(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.normal([512, 3], seed=1))

        @tf.function(input_signature=[tf.TensorSpec([None, 512], tf.float32)])
        def default(self, default):  # the argument name is the signature's input key
            colour = tf.sigmoid(tf.matmul(default, self.w))[:, None, None, :]
            return {"default": tf.tile(colour, [1, 128, 128, 1])}

    module = Tiny()
    tf.saved_model.save(module, str(tmp_path), signatures={"default": module.default})
    generator = load_generator(str(tmp_path))
    check_generator(generator)
    assert not generator.is_standin


def test_unreachable_url_fails_with_one_line_naming_the_ways_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    handle = "https://unreachable.invalid/google/progan-128/1"
    with pytest.raises(InputError) as error:
        load_generator(handle)
    message = str(error.value)
    assert "\n" not in message and handle in message
    assert "TFHUB_CACHE_DIR" in message and "--generator dcgan-digiface" in message


def test_bad_handles_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="neither a URL"):
        load_generator("no/such/place")
    with pytest.raises(InputError, match="no saved_model.pb"):
        load_generator(str(tmp_path))


def test_folder_without_the_default_signature_fails_clearly(tmp_path):
    class Other(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32)])
        def serve(self, x):
            return {"out": x}

    module = Other()
    tf.saved_model.save(module, str(tmp_path / "a"), signatures={"serving_default": module.serve})
    with pytest.raises(InputError, match="no 'default' signature"):
        load_generator(str(tmp_path / "a"))
    tf.saved_model.save(module, str(tmp_path / "b"), signatures={"default": module.serve})
    with pytest.raises(InputError, match="not key 'default' of shape"):
        load_generator(str(tmp_path / "b"))


def test_progan_architecture_has_the_papers_channel_plan():
    """Build (not run) the full-size graph: 512 channels to 32x32, 256 at 64, 128 at 128."""
    graph = tf.Graph()
    with graph.as_default():
        z = tf.compat.v1.placeholder(tf.float32, [None, 512])
        images = progan.generator_graph(z)
        shapes = {v.name.split(":")[0]: v.shape.as_list() for v in tf.compat.v1.global_variables()}
    assert images.shape.as_list() == [None, 128, 128, 3]
    assert shapes["4x4/dense/weight"] == [512, 16 * 512]
    assert shapes["32x32/conv1/weight"] == [3, 3, 512, 512]
    assert shapes["64x64/conv0/weight"] == [3, 3, 512, 256]
    assert shapes["128x128/conv1/weight"] == [3, 3, 128, 128]
    assert shapes["to_rgb/weight"] == [1, 1, 128, 3]
    params = sum(int(np.prod(s)) for s in shapes.values())
    assert 22e6 < params < 24e6  # ProGAN-128's generator: about 23M parameters


def test_latents_are_standard_normal_and_prefix_stable():
    z = sample_latents(4000, 0, 512)
    assert z.dtype == np.float32 and z.shape == (4000, 512)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01 and z.min() < -3.5
    np.testing.assert_array_equal(sample_latents(10, 0, 512), z[:10])
    assert not np.array_equal(sample_latents(10, 1, 512), z[:10])


def test_generator_tags():
    assert generator_tag(PROGAN_HANDLE) == "progan-128"
    assert generator_tag("synthetic") == "synthetic"
    assert generator_tag("/data/modules/my_gan/") == "my_gan"
