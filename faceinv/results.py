"""One way to write what a recovery method produced, so the report reads every method alike.

results/<method>/
    reconstructions/<name>.png   the generator's face for each recovered latent
    latents.npy                  float32 [N, 512], row i for the i-th name
    grid.png                     target | reconstruction, one pair per face
    metrics.json                 method, labels, names, per-face PSNR, latent errors, timing
"""
import os

import numpy as np

from faceinv import files, metrics

GRID_PAIRS_PER_ROW = 4


def write_results(folder, method, names, targets, reconstructions, latents, label,
                  seconds, true_latents=None, extra=None):
    os.makedirs(os.path.join(folder, "reconstructions"), exist_ok=True)
    for name, image in zip(names, reconstructions):
        files.save_png(os.path.join(folder, "reconstructions", os.path.splitext(name)[0] + ".png"),
                       image, label)
    files.save_npy(os.path.join(folder, "latents.npy"), np.asarray(latents, np.float32))
    pairs = np.stack([targets, reconstructions], axis=1).reshape(-1, *targets.shape[1:])
    files.save_grid(os.path.join(folder, "grid.png"), pairs, 2 * GRID_PAIRS_PER_ROW,
                    f"{label} | target | {method}")
    psnr = metrics.psnr(targets, reconstructions)
    record = {"method": method, "label": label, "names": list(names), "count": len(names),
              "psnr": psnr.tolist(), "psnr_mean": float(psnr.mean()),
              "seconds": seconds, "seconds_per_face": seconds / max(len(names), 1)}
    if true_latents is not None:
        record["latent_mae"] = float(metrics.latent_mae(true_latents, latents).mean())
        record["latent_cosine"] = float(metrics.latent_cosine(true_latents, latents).mean())
    record.update(extra or {})
    files.save_json(os.path.join(folder, "metrics.json"), record)
    return record
