"""One way to write what a recovery method produced, so the report reads every method alike.

results/<method>/
    reconstructions/<name>.png   the generator's face for each recovered latent
    latents.npy                  float32 [N, latent_dim], row i for the i-th name
    grid.png                     target | reconstruction, one pair per face
    metrics.json                 method, labels, the faces' folder, names, per-face PSNR,
                                 latent errors, timing, generator passes, settings
    losses.csv, losses.png       per-step loss curves (optimisation methods only)
"""
import os

import numpy as np

from faceinv import files
from faceinv.report import metrics, plots

GRID_PAIRS_PER_ROW = 4
METRICS, LATENTS, RECONSTRUCTIONS, CURVES_CSV, CURVES_PLOT = (
    "metrics.json", "latents.npy", "reconstructions", "losses.csv", "losses.png")


def write_results(folder, method, names, targets, reconstructions, latents, *, label, seconds,
                  faces_folder, evaluations_per_face, true_latents=None, extra=None):
    """Write one method's results. Metrics are measured on the 8-bit faces that
    are saved, so the report, which reads the PNGs, finds the same figures."""
    reconstructions = files.to_uint8(reconstructions)
    os.makedirs(os.path.join(folder, RECONSTRUCTIONS), exist_ok=True)
    with files.BackgroundWriter() as writer:
        for name, image in zip(names, reconstructions):
            writer.submit(files.save_png, os.path.join(folder, RECONSTRUCTIONS, png_name(name)), image, label)
    files.save_npy(os.path.join(folder, LATENTS), np.asarray(latents, np.float32))
    pairs = np.stack([files.to_uint8(targets), reconstructions], axis=1).reshape(-1, *reconstructions.shape[1:])
    files.save_grid(os.path.join(folder, "grid.png"), pairs, 2 * GRID_PAIRS_PER_ROW,
                    f"{label} | target | {method}")
    psnr = metrics.psnr(targets, reconstructions / 255.0)
    record = {"method": method, "label": label, "faces": os.path.abspath(faces_folder),
              "names": list(names), "count": len(names),
              "psnr": psnr.tolist(), "psnr_mean": float(psnr.mean()),
              "seconds": seconds, "seconds_per_face": seconds / max(len(names), 1),
              "generator_evaluations_per_face": evaluations_per_face}
    if true_latents is not None:
        record["latent_mae"] = float(metrics.latent_mae(true_latents, latents).mean())
        record["latent_cosine"] = float(metrics.latent_cosine(true_latents, latents).mean())
    record.update(extra or {})
    files.save_json(os.path.join(folder, METRICS), record)
    return record


def png_name(name):
    return os.path.splitext(name)[0] + ".png"


def write_loss_curves(folder, curves, title, label):
    """curves: name -> per-step values (the total under "loss"); a CSV and a plot."""
    names = list(curves)
    rows = [[step, *(f"{curves[n][step]:.6g}" for n in names)] for step in range(len(curves[names[0]]))]
    files.save_text(os.path.join(folder, CURVES_CSV), files.csv_text(["step", *names], rows))
    files.save_png(os.path.join(folder, CURVES_PLOT), plots.line_plot(curves, title, label), label)

