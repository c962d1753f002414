"""Edits along attribute boundaries: z' = z + alpha * n, plain or conditional; or, with
`absolute`, z' = z + (d - z . n) n, which puts z at signed distance d from the boundary
(InterFaceGAN's `linear_interpolate`, with the SVM's intercept dropped as there).

Conditional editing (InterFaceGAN) changes one attribute while holding others:
the primary normal is projected onto the orthogonal complement of the
conditions' normals and renormalised, so moving along it leaves each
condition's signed distance (z . n_c) where it was.
"""
import numpy as np

from faceinv import files
from faceinv.errors import InputError
from faceinv.models.generators import render_batches

EDIT_START, EDIT_END, EDIT_STEPS = -3.0, 3.0, 7  # InterFaceGAN's range: 3 units each side of the boundary


def conditional_direction(primary, conditions=()):
    primary = np.asarray(primary, np.float64)
    if not len(conditions):
        return primary / np.linalg.norm(primary)
    basis = np.stack([np.asarray(c, np.float64) for c in conditions], axis=1)  # [latent_dim, C]
    coefficients, *_ = np.linalg.lstsq(basis, primary, rcond=None)
    direction = primary - basis @ coefficients
    norm = np.linalg.norm(direction)
    if norm < 1e-6:
        raise InputError("the edited attribute's boundary lies in the span of the conditions'; "
                         "nothing is left to edit")
    return direction / norm


def edit_path(latents, direction, start=EDIT_START, end=EDIT_END, steps=EDIT_STEPS, absolute=False):
    """Latents [N, steps, latent_dim] and the alphas from start to end: each latent moved
    by alpha * direction (a unit vector) or, with `absolute`, to signed distance alpha
    (z . direction = alpha) from the boundary, whatever its distance before."""
    alphas = np.linspace(start, end, steps)
    latents, direction = np.asarray(latents, np.float64), np.asarray(direction, np.float64)
    shifts = alphas[None, :] - (latents @ direction)[:, None] if absolute else np.broadcast_to(
        alphas, (len(latents), steps))
    return (latents[:, None, :] + shifts[:, :, None] * direction[None, None]).astype(np.float32), alphas


def render_edits(generator, path, batch_size=64):
    """uint8 faces [N, steps, H, W, 3] of an edit path."""
    flat = path.reshape(-1, path.shape[-1])
    faces = np.concatenate([faces for _, faces in render_batches(generator, flat, batch_size)])
    return faces.reshape(*path.shape[:2], *faces.shape[1:])


def save_edit_grid(path, faces, alphas, label):
    """One row per face, one column per alpha, titled with alpha."""
    n, steps = faces.shape[:2]
    files.save_grid(path, faces.reshape(n * steps, *faces.shape[2:]), steps, label,
                    column_titles=[f"{a:+.1f}" for a in alphas])
