"""Per-face quality figures for recovered faces and latents, on NumPy arrays.

SSIM and MS-SSIM are written in TensorFlow, because the optimisation baselines
also use them as losses: they live in faceinv/inversion/similarity.py, below
the report, which imports them from there.
"""
import numpy as np


def mse(targets, reconstructions):
    """Mean squared error per face (the literature's "L2"), images in [0, 1]."""
    diff = np.asarray(targets, np.float64) - np.asarray(reconstructions, np.float64)
    return np.mean(np.square(diff).reshape(len(diff), -1), axis=1)


def psnr(targets, reconstructions):
    """Peak signal-to-noise ratio in dB per face, images in [0, 1]."""
    return 10.0 * np.log10(1.0 / np.maximum(mse(targets, reconstructions), 1e-12))


def latent_mae(true_latents, latents):
    return np.mean(np.abs(np.asarray(true_latents) - np.asarray(latents)), axis=1)


def latent_cosine(true_latents, latents):
    a, b = np.asarray(true_latents, np.float64), np.asarray(latents, np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
