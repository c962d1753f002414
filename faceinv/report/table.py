"""The paper's Table 1 and Figure 4, rebuilt from results folders.

Every number is measured here from the files the methods wrote: the targets
(the face set or folder named in metrics.json), the saved reconstructions and
latents.npy. Only the timings and generator-pass counts are copied from
metrics.json, since they cannot be measured after the fact.

The columns follow the inversion literature's (HyperStyle's Table 1): identity
similarity (FaceNet embedding cosine), MS-SSIM, L2 (per-pixel MSE on [0, 1])
and seconds per face, then PSNR, SSIM, latent error and generator passes.
LPIPS is left out: its AlexNet/VGG backbone cannot be had offline.
"""
import csv
import io
import os

import numpy as np
import tensorflow as tf

from faceinv import files
from faceinv.data.face_sets import read_targets
from faceinv.errors import InputError
from faceinv.inversion.similarity import ms_ssim, ssim
from faceinv.report import metrics
from faceinv.report.results import LATENTS, METRICS, RECONSTRUCTIONS, png_name

# Bayat et al. 2020, Table 1: 50 generated test faces, one RTX 2080 Ti.
# (the paper's method, PSNR dB, FaceNet cosine distance, which the paper calls "FID",
#  seconds for 50 faces)
PAPER_TABLE1 = {
    "adam": ("Adam, 200 steps", 18.41, 1.96, 1143.90),
    "stochastic-clipping": ("stochastic clipping, 200 steps", 19.06, 1.98, 1135.24),
    "resnet-z": ("encoder, z-loss", 11.06, 1.94, 3.27),
    "resnet-z-perceptual": ("encoder, z + perceptual loss", 16.30, 1.98, 3.96),
}
# The floor, the paper's rows in its order, the hybrid, then the long baseline;
# other subfolders follow by name.
ROW_ORDER = ("mean-latent", "adam", "stochastic-clipping", "resnet-z", "resnet-z-perceptual", "resnet-z-pixel",
             "hybrid", "resnet-shipped", "hybrid-shipped", "adam-1000")
FIGURE_TITLES = {"mean-latent": "mean latent", "adam": "Adam", "stochastic-clipping": "stoch. clip",
                 "resnet-z": "encoder z", "resnet-z-perceptual": "enc. z+perc", "resnet-z-pixel": "enc. z+pix",
                 "hybrid": "hybrid", "resnet-shipped": "shipped enc.", "hybrid-shipped": "shipped hybrid",
                 "adam-1000": "Adam 1000"}
COLUMNS = ["folder", "method", "generator", "facenet", "faces", "facenet_cosine_similarity", "ms_ssim", "l2_mse",
           "seconds_per_face", "psnr_db", "psnr_p10", "psnr_p50", "psnr_p90", "ssim", "latent_cosine", "latent_mae",
           "seconds",
           "generator_passes_per_face", "paper_psnr_db", "paper_facenet_cosine_distance", "paper_seconds_50_faces"]


def describe(folder_name, record):
    """The row's name, with the settings that define it."""
    steps = record.get("steps")
    if folder_name == "mean-latent":
        return "mean latent (z = 0): the floor"
    if folder_name.startswith("adam") or folder_name == "stochastic-clipping":
        return f"{'stochastic clipping' if folder_name == 'stochastic-clipping' else 'Adam'}, {steps} steps"
    if folder_name == "resnet-z":
        return "encoder, z-loss"
    if folder_name == "resnet-z-perceptual":
        start = record.get("encoder_init_from")
        return "encoder, z + perceptual loss" + (f", refined from {os.path.basename(start)}" if start else "")
    if folder_name == "resnet-z-pixel":
        return "encoder, z + pixel loss"
    if folder_name == "resnet-shipped":
        return f"encoder, shipped: {os.path.basename(record.get('encoder') or 'encoder')}"
    if folder_name in ("hybrid", "hybrid-shipped"):
        encoder = os.path.basename(record.get("encoder") or "encoder")
        lr = f" (lr {record['learning_rate']})" if "learning_rate" in record else ""
        return f"hybrid: {encoder} + {steps} Adam steps{lr}"
    return folder_name + (f", {steps} steps" if steps is not None else "")


def method_folders(root):
    """Subfolders of `root` that hold a method's results, in the table's order."""
    if not os.path.isdir(root):
        raise InputError(f"results folder {root} does not exist")
    found = sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, METRICS)))
    if not found:
        raise InputError(f"no method results (*/{METRICS}) under {root}")
    known = [n for n in ROW_ORDER if n in found]
    return known + [n for n in found if n not in known]


class _Targets:
    """Target faces and true latents, read once per faces folder."""

    def __init__(self):
        self._cache = {}

    def __call__(self, folder, resolution):
        key = (folder, resolution)
        if key not in self._cache:
            if not os.path.exists(folder):
                raise InputError(f"the faces {folder} named in a metrics.json are gone; "
                                 "pass --faces to say where they are now")
            images, names, latents, _ = read_targets(folder, resolution)
            self._cache[key] = dict(zip(names, images)), (dict(zip(names, latents)) if latents is not None else None)
        return self._cache[key]


def _read_reconstructions(folder, names):
    return np.stack([files.read_image(os.path.join(folder, RECONSTRUCTIONS, png_name(n))) for n in names])


def measure(root, facenet, faces=None):
    """One row per method under `root`: figures measured from its files.
    Returns the rows and, per method, the target and reconstruction images."""
    targets_of, rows, images, embeddings_of = _Targets(), [], {}, {}
    for name in method_folders(root):
        folder = os.path.join(root, name)
        record = files.load_json(os.path.join(folder, METRICS))
        names = record["names"]
        recon = _read_reconstructions(folder, names)
        by_name, true_by_name = targets_of(faces or record["faces"], recon.shape[1])
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InputError(f"{folder}: face {missing[0]} is not in {faces or record['faces']}")
        targets = np.stack([by_name[n] for n in names])
        key = (faces or record["faces"], tuple(names))
        if key not in embeddings_of:  # the methods share their targets
            embeddings_of[key] = facenet(tf.constant(targets))[1]
        target_embeddings = embeddings_of[key]
        _, recon_embeddings = facenet(tf.constant(recon))
        method = describe(name, record)
        if record.get("encoder_facenet") not in (None, facenet.label):
            method += f" [trained with {record['encoder_facenet']}]"
        psnr = metrics.psnr(targets, recon)
        row = {"folder": name, "method": method, "generator": record["label"],
               "facenet": facenet.label, "faces": len(names), "psnr_db": float(psnr.mean()),
               **{f"psnr_p{q}": float(np.percentile(psnr, q)) for q in (10, 50, 90)},
               "l2_mse": float(metrics.mse(targets, recon).mean()),
               "ssim": float(np.mean(ssim(targets, recon))),
               "ms_ssim": float(np.mean(ms_ssim(targets, recon))),
               "facenet_cosine_similarity": float(np.mean(np.sum(
                   np.asarray(target_embeddings) * np.asarray(recon_embeddings), axis=1))),
               "seconds": record["seconds"], "seconds_per_face": record["seconds"] / len(names),
               "generator_passes_per_face": record.get("generator_evaluations_per_face")}
        latents = files.load_latents(os.path.join(folder, LATENTS))
        if len(latents) != len(names):
            raise InputError(f"{folder}: {LATENTS} holds {len(latents)} latents for {len(names)} faces")
        true = np.stack([true_by_name[n] for n in names]) if true_by_name is not None else None
        if true is not None and true.shape == latents.shape:  # the set's own generator
            row["latent_cosine"] = float(metrics.latent_cosine(true, latents).mean())
            row["latent_mae"] = float(metrics.latent_mae(true, latents).mean())
        paper = PAPER_TABLE1.get(name)
        if paper:
            row.update(zip(("paper_psnr_db", "paper_facenet_cosine_distance", "paper_seconds_50_faces"), paper[1:]))
        rows.append(row)
        images[name] = (names, targets, recon)
    return rows, images


def _cell(value, digits):
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return " / ".join(_cell(v, digits) for v in value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table_markdown(rows, facenet):
    """Our rows, each labelled by the networks it ran on, then the paper's rows."""
    networks = {row["generator"]: f"G{i + 1}" for i, row in enumerate(
        {row["generator"]: row for row in rows}.values())}
    header = ["method", "networks", "ID sim. (FaceNet) ↑", "MS-SSIM ↑", "L2 (MSE) ↓", "s / face", "PSNR (dB) ↑",
              "PSNR per face p10 / p50 / p90", "SSIM ↑", "latent cos.", "latent MAE", "generator passes / face"]
    keys = [("facenet_cosine_similarity", 3), ("ms_ssim", 3), ("l2_mse", 4), ("seconds_per_face", 3),
            ("psnr_db", 2), ("psnr_percentiles", 1), ("ssim", 3), ("latent_cosine", 3), ("latent_mae", 3),
            ("generator_passes_per_face", 0)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        label = f"{networks[row['generator']]}, F"
        row = {**row, "psnr_percentiles": tuple(row[f"psnr_p{q}"] for q in (10, 50, 90))}
        lines.append("| " + " | ".join([row["method"], label] + [_cell(row.get(k), d) for k, d in keys]) + " |")
    for row in rows:
        paper = PAPER_TABLE1.get(row["folder"])
        if paper:
            cells = ["-"] * len(keys)
            method, psnr, _, seconds = paper
            cells[keys.index(("seconds_per_face", 3))] = f"{seconds / 50:.3f}"
            cells[keys.index(("psnr_db", 2))] = f"{psnr:.2f}"
            lines.append("| " + " | ".join([f"paper: {method}", "paper's"] + cells) + " |")
    notes = [f"Networks: {code} = {generator}." for generator, code in networks.items()]
    notes.append(f"F = {facenet.description}: it gives the identity similarity column, and it is the FaceNet "
                 "of the perceptual losses unless a row names another.")
    notes.append("paper's = Bayat et al. 2020, Table 1: ProGAN-128 on CelebA, the 128-d MS-Celeb-1M "
                 "facenet_keras.h5, one RTX 2080 Ti. Its \"FID\" column is a FaceNet cosine distance "
                 "(1 - cos), not comparable with our similarity: "
                 + ", ".join(f"{PAPER_TABLE1[row['folder']][0]} {PAPER_TABLE1[row['folder']][2]:.2f}"
                             for row in rows if row["folder"] in PAPER_TABLE1) + ".")
    notes.append("LPIPS, the inversion literature's fourth column, is left out: its AlexNet/VGG backbone "
                 "cannot be downloaded offline. L2 is the per-pixel mean squared error on [0, 1].")
    by_folder = {row["folder"]: row for row in rows}
    for hybrid in filter(None, (by_folder.get("hybrid"), by_folder.get("hybrid-shipped"))):
        for name in ("adam", "stochastic-clipping", "adam-1000"):
            other = by_folder.get(name)
            if other and hybrid["generator_passes_per_face"] and other["generator_passes_per_face"]:
                ratio = other["generator_passes_per_face"] / hybrid["generator_passes_per_face"]
                notes.append(f"{hybrid['method']} against {other['method']}: "
                             f"{hybrid['psnr_db'] - other['psnr_db']:+.2f} dB PSNR with {ratio:.1f}x "
                             "fewer generator passes per face.")
    return "\n".join(["# Table 1: latent recovery of the test faces", "", *lines, "", *notes]) + "\n"


def table_csv(rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return text.getvalue()


def figure(images, max_faces):
    """Figure 4's grid: targets, then each method's reconstruction, one row per face.
    A method that did not recover all of the first method's faces gets no column."""
    first_names, first_targets, _ = next(iter(images.values()))
    names = first_names[:max_faces]
    columns, titles = [first_targets[:len(names)]], ["target"]
    for method, (method_names, _, recon) in images.items():
        index = {n: i for i, n in enumerate(method_names)}
        if all(n in index for n in names):
            columns.append(recon[[index[n] for n in names]])
            titles.append(FIGURE_TITLES.get(method, method))
    grid = np.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])
    return grid, titles


def write_report(root, out, facenet, faces=None, figure_faces=8):
    """table1.md, table1.csv and figure4.png in `out`, from the methods under `root`."""
    rows, images = measure(root, facenet, faces)
    os.makedirs(out, exist_ok=True)
    files.save_text(os.path.join(out, "table1.md"), table_markdown(rows, facenet))
    files.save_text(os.path.join(out, "table1.csv"), table_csv(rows))
    grid, titles = figure(images, figure_faces)
    labels = {row["generator"] for row in rows}
    label = " / ".join(sorted(a for a in labels if not any(b != a and b.startswith(a) for b in labels)))
    files.save_grid(os.path.join(out, "figure4.png"), grid, len(titles), label, titles)
    return rows
