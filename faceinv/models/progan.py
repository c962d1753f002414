"""ProGAN-128 generator architecture (Karras et al. 2018) with random weights.

The real CelebA-128 weights live on TF-Hub, out of reach offline. This builds the
same network (512-d latent with pixel norm, 4x4 up to 128x128, 512 channels up
to 32x32, 256 at 64, 128 at 128, equalised learning rate, leaky ReLU, pixelwise
feature normalisation, 1x1 conv to RGB) and exports it in the TF1 Hub module
format of the real one, so that the loading code, the benchmarks and the timings
run on a model that costs what the real model costs. It draws no faces: every
module exported here carries a STANDIN.txt that the loader turns into a label.
"""
import os
import shutil

import numpy as np
import tensorflow as tf

LATENT_DIM = 512
RESOLUTION = 128
FMAP_BASE, FMAP_MAX = 8192, 512      # the paper's channel plan: 512 x4, 256, 128
STANDIN_FILE = "STANDIN.txt"
HUB_MODULE_FILE = "tfhub_module.pb"
HUB_MODULE_V3 = b"\x08\x03"          # ModuleDef{format: FORMAT_V3}, as hub.Module exported


def channels(stage, fmap_base=FMAP_BASE, fmap_max=FMAP_MAX):
    """Feature maps at stage 1 (4x4) .. 6 (128x128)."""
    return int(min(fmap_base / 2.0 ** stage, fmap_max))


def _pixel_norm(x):
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-8)


def _weight(name, shape, gain, seed):
    """Equalised learning rate: N(0, 1) storage, He scaling at run time."""
    w = tf.compat.v1.get_variable(
        name, shape, initializer=tf.compat.v1.random_normal_initializer(0.0, 1.0, seed=seed))
    return w * (gain / np.sqrt(np.prod(shape[:-1])))


def _conv(x, name, out_channels, kernel, seed, gain=np.sqrt(2.0)):
    w = _weight(name + "/weight", [kernel, kernel, int(x.shape[-1]), out_channels], gain, seed)
    b = tf.compat.v1.get_variable(name + "/bias", [out_channels], initializer=tf.zeros_initializer())
    return tf.nn.conv2d(x, w, strides=1, padding="SAME") + b


def generator_graph(z, fmap_base=FMAP_BASE, fmap_max=FMAP_MAX, seed=0):
    """Images [N, 128, 128, 3] in [0, 1] from z [N, 512]; creates TF1 variables."""
    act = lambda v: _pixel_norm(tf.nn.leaky_relu(v, 0.2))
    x = _pixel_norm(z)
    nf = channels(1, fmap_base, fmap_max)
    w = _weight("4x4/dense/weight", [LATENT_DIM, 16 * nf], np.sqrt(2.0) / 4.0, seed)
    x = tf.reshape(tf.matmul(x, w), [-1, 4, 4, nf])
    x = act(x + tf.compat.v1.get_variable("4x4/dense/bias", [nf], initializer=tf.zeros_initializer()))
    x = act(_conv(x, "4x4/conv", nf, 3, seed + 1))
    for stage in range(2, 7):
        size = 2 ** (stage + 1)
        nf = channels(stage, fmap_base, fmap_max)
        x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        x = act(_conv(x, f"{size}x{size}/conv0", nf, 3, seed + 2 * stage))
        x = act(_conv(x, f"{size}x{size}/conv1", nf, 3, seed + 2 * stage + 1))
    rgb = _conv(x, "to_rgb", 3, 1, seed + 100, gain=1.0)
    return tf.clip_by_value(rgb * 0.5 + 0.5, 0.0, 1.0)


def export_hub_module(folder, label, fmap_base=FMAP_BASE, fmap_max=FMAP_MAX, seed=0):
    """Write a random-weight generator as a TF1 Hub module: a SavedModel with empty
    tags and a `default` signature (key `default` in, key `default` out), as the
    real progan-128 module is laid out. The folder appears whole or not at all."""
    folder = os.path.abspath(folder)
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    graph = tf.Graph()
    with graph.as_default():
        z = tf.compat.v1.placeholder(tf.float32, [None, LATENT_DIM], name="latent")
        images = generator_graph(z, fmap_base, fmap_max, seed)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            info = tf.compat.v1.saved_model.utils.build_tensor_info
            signature = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
                inputs={"default": info(z)}, outputs={"default": info(images)},
                method_name="tensorflow/serving/predict")
            builder = tf.compat.v1.saved_model.Builder(tmp)
            builder.add_meta_graph_and_variables(session, [], signature_def_map={"default": signature})
            builder.save()
    with open(os.path.join(tmp, HUB_MODULE_FILE), "wb") as f:
        f.write(HUB_MODULE_V3)
    with open(os.path.join(tmp, STANDIN_FILE), "w") as f:
        f.write(label + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder
