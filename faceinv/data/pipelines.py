"""tf.data pipelines for training: face sets from disk, real-face folders, online latents.

Files are decoded in parallel and prefetched so the accelerator never waits on
PNG decoding. Each epoch is shuffled with a seed derived from (seed, epoch), so a
run resumed from a checkpoint sees exactly the batches it would have seen.
"""
import os

import numpy as np
import tensorflow as tf

from faceinv import files
from faceinv.errors import InputError

AUTOTUNE = tf.data.AUTOTUNE


def check_image_files(paths):
    """Catch truncated or corrupt images before training starts, naming the file.
    Reads only each file's first and last bytes (PNG/JPEG) so 100k files take seconds."""
    for path in paths:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, os.path.getsize(path) - 12))
            tail = f.read()
        lower = path.lower()
        if lower.endswith(".png"):
            ok = head == b"\x89PNG\r\n\x1a\n" and tail[4:8] == b"IEND"
        elif lower.endswith((".jpg", ".jpeg")):
            ok = head[:2] == b"\xff\xd8" and tail.rstrip(b"\x00")[-2:] == b"\xff\xd9"
        else:
            files.read_image(path)
            ok = True
        if not ok:
            raise InputError(f"corrupt or truncated image {path}")


def decode(path):
    """An image file as float32 [H, W, 3] in [0, 1], inside a tf.data pipeline."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)
    image.set_shape([None, None, 3])
    return image


def resize(images, size):
    """Images [..., H, W, 3] to size x size, antialiased when shrinking."""
    return tf.image.resize(images, [size, size], antialias=True)


def _decode(path, resolution):
    return tf.image.resize(decode(path), [resolution, resolution])


def faces_with_latents(paths, latents, batch_size, seed, epoch, resolution):
    """Batches of (faces, latents) from a face set, shuffled per epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(len(paths))
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(paths)[order], latents[order]))
    dataset = dataset.map(lambda p, z: (_decode(p, resolution), z), num_parallel_calls=AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def faces_only(paths, batch_size, seed, epoch, resolution):
    """Batches of faces from a folder of (real, aligned) faces, shuffled per epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(len(paths))
    dataset = tf.data.Dataset.from_tensor_slices(np.asarray(paths)[order])
    dataset = dataset.map(lambda p: _decode(p, resolution), num_parallel_calls=AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def online_latents(steps, batch_size, seed, epoch, latent_dim):
    """Batches of fresh standard-normal latents: the generator renders the faces in the step."""
    latents = np.random.default_rng([seed, epoch, 1]).standard_normal(
        (steps * batch_size, latent_dim), dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices(latents).batch(batch_size).prefetch(AUTOTUNE)


def folder_paths(folder):
    """Image paths of a folder, checked to be readable."""
    paths = [os.path.join(folder, n) for n in files.list_images(folder)]
    check_image_files(paths)
    return paths
