"""Linear attribute boundaries in latent space, as InterFaceGAN trains them, and their tables.

For one attribute: sort the scored latents, take the `top` highest as positives
and the `top` lowest as negatives (or a `ratio` of the scored latents per side),
split them into train and validation (`split` to train),
fit a linear SVM, and keep the unit normal of its hyperplane (pointing towards
higher scores). The remaining latents (the middle of the ranking) are labelled
by whether their score lies above the midpoint of the highest and lowest
score, InterFaceGAN's rule, and give the "all" accuracy of their Table 1.

Boundary files are float32 [1, latent_dim], InterFaceGAN's shape, one per attribute.
"""
import dataclasses
import os
import time

import numpy as np

from faceinv import files
from faceinv.errors import InputError

SOLVERS = ("linear-svc", "sgd", "svc")
# Share of the validly scored latents taken as positives (and as negatives) when no
# `top` is given. InterFaceGAN takes 0.02 of 500k samples (10k per side); with the few
# thousand latents that can be scored offline, 0.25 keeps the classes well apart and
# still leaves a middle half to measure the "all" accuracy on.
RATIO = 0.25
SPLIT = 0.7  # share of the chosen latents the SVM trains on; the rest validate it


def make_solver(name, seed=0):
    """linear-svc: liblinear, scales to the paper's 20k points in seconds; sgd:
    hinge loss by SGD, for far more points; svc: SVC(kernel="linear"), the one
    InterFaceGAN's code uses (libsvm, time grows about quadratically)."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.svm import SVC, LinearSVC
    if name == "linear-svc":
        return LinearSVC(C=1.0, max_iter=10000)
    if name == "sgd":
        # Averaged SGD with alpha 0.01: on 3k-100k Gaussian latents it found the
        # true direction far better than sklearn's default alpha 1e-4 (0.94 vs 0.89 cosine at 3k).
        return SGDClassifier(loss="hinge", alpha=1e-2, average=True, max_iter=50, tol=None, random_state=seed)
    if name == "svc":
        return SVC(kernel="linear")
    raise InputError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")


@dataclasses.dataclass
class Boundary:
    attribute: str
    normal: np.ndarray            # [latent_dim], unit length
    validation_accuracy: float
    remaining_accuracy: float     # NaN when no samples remain
    train: int
    validation: int
    remaining: int
    invalid: int                  # latents without a score, left out
    fit_seconds: float
    solver: str


def chosen_count(valid, top=None, ratio=RATIO):
    """How many positives (and as many negatives) to take from `valid` scored latents."""
    k = int(top) if top else int(round(valid * ratio))
    if k < 2 or 2 * k > valid:
        raise InputError(f"{valid} validly scored latents cannot give {k} positives and {k} negatives; "
                         "lower --top or --ratio, or score more latents")
    return k


def train_boundary(latents, scores, attribute, top=None, ratio=RATIO, split=SPLIT, solver="linear-svc", seed=0):
    scores = np.asarray(scores, np.float64)
    valid = ~np.isnan(scores)
    latents, scores = np.asarray(latents, np.float32)[valid], scores[valid]
    k = chosen_count(len(scores), top, ratio)
    order = np.argsort(scores, kind="stable")
    positives, negatives, middle = order[-k:], order[:k], order[k:-k]
    rng = np.random.default_rng(seed)
    n_train = int(round(split * k))
    pos, neg = rng.permutation(positives), rng.permutation(negatives)
    train = np.concatenate([pos[:n_train], neg[:n_train]])
    val = np.concatenate([pos[n_train:], neg[n_train:]])
    labels = np.zeros(len(scores), np.int64)
    labels[positives] = 1
    labels[middle] = scores[middle] >= (scores[order[0]] + scores[order[-1]]) / 2.0
    model = make_solver(solver, seed)
    start = time.perf_counter()
    model.fit(latents[train], labels[train])
    seconds = time.perf_counter() - start
    normal = np.asarray(model.coef_, np.float64).ravel()
    normal = normal / np.linalg.norm(normal)
    accuracy = (lambda idx: float((model.predict(latents[idx]) == labels[idx]).mean()) if len(idx) else float("nan"))
    return Boundary(attribute, normal.astype(np.float32), accuracy(val), accuracy(middle),
                    len(train), len(val), len(middle), int((~valid).sum()), seconds, solver)


def save_boundary(path, boundary):
    files.save_npy(path, boundary.normal[None].astype(np.float32))


def load_boundary(path, latent_dim):
    """A boundary's unit normal [latent_dim], from InterFaceGAN's [1, latent_dim] file."""
    if not path.endswith(".npy"):
        raise InputError(f"a boundary is a .npy file, not {path}")
    normal = files.load_latents(path, latent_dim, "boundary")[0].astype(np.float64)
    norm = np.linalg.norm(normal)
    if norm == 0:
        raise InputError(f"{path} is all zeros, not a boundary normal")
    return normal / norm


def load_boundary_folder(folder, latent_dim):
    """Every <attribute>.npy of a boundary folder, name -> unit normal; {} where there is no folder."""
    if not folder or not os.path.isdir(folder):
        return {}
    return {name[:-4]: load_boundary(os.path.join(folder, name), latent_dim)
            for name in sorted(os.listdir(folder)) if name.endswith(".npy")}


def cosine_matrix(normals):
    n = np.stack([np.asarray(v, np.float64) / np.linalg.norm(v) for v in normals])
    return n @ n.T


def correlation_matrix(scores):
    """Pearson correlation of score columns over the rows where all are valid."""
    rows = ~np.isnan(scores).any(axis=1)
    return np.atleast_2d(np.corrcoef(np.asarray(scores, np.float64)[rows], rowvar=False))


def _square(names, matrix):
    return [[name] + [f"{v:.2f}" for v in row] for name, row in zip(names, matrix)]


def write_tables(folder, boundaries, scores, names, label):
    """Table 1 (accuracy), Table 2 (boundary cosines), Table 3 (score
    correlations) as Markdown (one file) and CSV (one per table)."""
    table1 = [[b.attribute, f"{100 * b.validation_accuracy:.1f}", f"{100 * b.remaining_accuracy:.1f}",
               b.train, b.validation, b.remaining, b.invalid, f"{b.fit_seconds:.2f}"] for b in boundaries]
    header1 = ["attribute", "validation accuracy (%)", "accuracy on the remaining (%)", "train",
               "validation", "remaining", "unscored", "fit (s)"]
    attrs = [b.attribute for b in boundaries]
    cosines = cosine_matrix([b.normal for b in boundaries])
    columns = [names.index(a) for a in attrs]
    correlations = correlation_matrix(np.asarray(scores)[:, columns])
    files.save_text(os.path.join(folder, "table1_accuracy.csv"), files.csv_text(header1, table1))
    files.save_text(os.path.join(folder, "table2_cosines.csv"), files.csv_text([""] + attrs, _square(attrs, cosines)))
    files.save_text(os.path.join(folder, "table3_correlations.csv"),
                    files.csv_text([""] + attrs, _square(attrs, correlations)))
    solver, first = boundaries[0].solver, boundaries[0]
    train_share = round(100 * first.train / (first.train + first.validation))
    text = "\n".join([
        f"# Attribute boundaries ({label})", "",
        f"Solver: {solver}. Positives and negatives: the highest and lowest scores; {train_share}% train, "
        f"{100 - train_share}% validation. "
        "The remaining latents are labelled by the midpoint of the extreme scores (InterFaceGAN's rule).", "",
        "## Table 1: accuracy", "", files.markdown_table(header1, table1),
        "InterFaceGAN (PGGAN on CelebA-HQ, 500k samples), validation / all: pose 100.0 / 90.3, "
        "smile 96.9 / 78.5, age 97.9 / 75.3, gender 98.7 / 84.2, eyeglasses 95.6 / 80.1.", "",
        "## Table 2: cosine between boundaries", "", files.markdown_table([""] + attrs, _square(attrs, cosines)),
        "InterFaceGAN: age-gender 0.49, age-eyeglasses 0.38, gender-eyeglasses 0.52; pose and smile near 0.", "",
        "## Table 3: correlation between scores", "",
        files.markdown_table([""] + attrs, _square(attrs, correlations))])
    files.save_text(os.path.join(folder, "tables.md"), text)
    return text
