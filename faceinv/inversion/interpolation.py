"""Spherical interpolation between latents, saved as a strip of frames and a GIF.

Standard-normal latents live near a sphere of radius sqrt(latent_dim); a straight
line between two of them passes through the low-norm interior, where the
generator's faces wash out. Slerp keeps to the shell.
"""
import os

import numpy as np
from PIL import Image

from faceinv import files


def slerp(a, b, t):
    """Spherical interpolation, norms interpolated linearly; t in [0, 1]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a / na, b / nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        direction = a / na
    else:
        direction = (np.sin((1 - t) * omega) * a / na + np.sin(t * omega) * b / nb) / np.sin(omega)
    return (direction * ((1 - t) * na + t * nb)).astype(np.float32)


def write_interpolation(folder, generator, start, end, frames, label, stem="interpolation"):
    """Frames from `start` to `end`: <stem>.png (a strip) and <stem>.gif."""
    latents = np.stack([slerp(start, end, t) for t in np.linspace(0.0, 1.0, frames)])
    images = files.to_uint8(np.asarray(generator(latents)))
    os.makedirs(folder, exist_ok=True)
    files.save_grid(os.path.join(folder, stem + ".png"), images, frames, label)
    pictures = [Image.fromarray(i) for i in list(images) + list(images[::-1])]
    files.atomic_write(os.path.join(folder, stem + ".gif"), lambda tmp: pictures[0].save(
        tmp, format="GIF", save_all=True, append_images=pictures[1:], duration=80, loop=0))
    return latents
