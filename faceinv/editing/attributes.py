"""Attribute scores of generated faces, from four sources, in one folder layout.

A score folder (written by `interfacegan_svm.py score`, read by `boundaries`):
    latents.npy      float32 [N, latent_dim]
    scores.npy       float32 [N, K]; NaN where a face could not be scored
    attributes.txt   the K column names, one per line
    meta.json        source, generator label, seed, count, invalid count per attribute
Sources:
- `synthetic`: the built-in generator's true scores (z . d_k);
- `landmarks`: MTCNN's five landmarks on the rendered face: `pose` (yaw, as
  InterFaceGAN derived pose from landmarks) and `smile` (mouth-corner distance
  over eye distance); a face without a detection is NaN;
- `eyeglasses`: the strongest thin line across the nose bridge between MTCNN's
  eyes (eyeglasses_score.py), for generators whose glasses no one labelled
  (the DCGAN); a face without a detection is NaN;
- `classifier`: logits of a CelebA attribute classifier (attribute_classifier.py);
- a user's own .npy of scores with a names file: `read_scores`.
"""
import os

import numpy as np

from faceinv import files
from faceinv.data import alignment
from faceinv.editing.eyeglasses_score import EyeglassesScorer
from faceinv.errors import InputError
from faceinv.models.generators import render_batches
from faceinv.progress import progress

LATENTS, SCORES, NAMES, META = "latents.npy", "scores.npy", "attributes.txt", "meta.json"
SOURCES = ("synthetic", "landmarks", "eyeglasses", "classifier")
LANDMARK_ATTRIBUTES = ("pose", "smile")


def synthetic_scores(generator, latents):
    if not hasattr(generator, "attribute_scores"):
        raise InputError(f"--source synthetic needs the synthetic generator, not {generator.handle}")
    return np.asarray(generator.attribute_scores(latents), np.float32), list(generator.attribute_names)


def landmark_scores(generator, latents, batch_size=64, detector=None):
    detector = detector or alignment.FaceDetector()
    scores = np.full((len(latents), 2), np.nan, np.float32)
    bar = progress(len(latents))
    for start, faces in render_batches(generator, latents, batch_size):
        for i, face in enumerate(faces):
            points, _ = detector.landmarks(face)
            if points is not None:
                scores[start + i] = alignment.yaw(points), alignment.mouth_width(points)
        bar.add(len(faces))
    return scores, list(LANDMARK_ATTRIBUTES)


def eyeglasses_scores(generator, latents, batch_size=64, scorer=None):
    scorer = scorer or EyeglassesScorer(generator.template)
    scores = np.full((len(latents), 1), np.nan, np.float32)
    bar = progress(len(latents))
    for start, faces in render_batches(generator, latents, batch_size):
        scores[start:start + len(faces), 0] = scorer(faces)
        bar.add(len(faces))
    return scores, ["eyeglasses"]


def classifier_scores(generator, latents, classifier, attributes=None, batch_size=64):
    names = classifier.attributes
    wanted = attributes or names
    missing = [a for a in wanted if a not in names]
    if missing:
        raise InputError(f"the classifier has no attribute {missing[0]!r}; it has {', '.join(names)}")
    columns = [names.index(a) for a in wanted]
    scores = np.zeros((len(latents), len(columns)), np.float32)
    bar = progress(len(latents))
    for start, faces in render_batches(generator, latents, batch_size):
        scores[start:start + len(faces)] = classifier(faces / 255.0)[:, columns]
        bar.add(len(faces))
    return scores, list(wanted)


def write_scores(folder, latents, scores, names, meta):
    os.makedirs(folder, exist_ok=True)
    invalid = np.isnan(scores).sum(axis=0)
    meta = dict(meta, count=len(latents), attributes=list(names),
                invalid=dict(zip(names, invalid.astype(int).tolist())))
    files.save_npy(os.path.join(folder, LATENTS), np.asarray(latents, np.float32))
    files.save_npy(os.path.join(folder, SCORES), np.asarray(scores, np.float32))
    files.save_text(os.path.join(folder, NAMES), "\n".join(names) + "\n")
    files.save_json(os.path.join(folder, META), meta)
    return meta


def read_scores(scores_path, latents_path=None, names_path=None):
    """(latents [N, latent_dim], scores [N, K], names [K], meta) from a score folder, or
    from a scores .npy with its latents .npy and names file (one name per line).
    Scores may hold NaN (unscored faces); latents may not."""
    meta = {}
    if os.path.isdir(scores_path):
        folder = scores_path
        latents_path = latents_path or os.path.join(folder, LATENTS)
        names_path = names_path or os.path.join(folder, NAMES)
        if os.path.exists(os.path.join(folder, META)):
            meta = files.load_json(os.path.join(folder, META))
        scores_path = os.path.join(folder, SCORES)
    elif not (latents_path and names_path):
        raise InputError("a scores .npy needs --latents (its latents .npy) and --names (its column names)")
    scores = files.load_npy(scores_path, "scores").astype(np.float32)
    latents = files.load_latents(latents_path)
    if not os.path.exists(names_path):
        raise InputError(f"names file {names_path} does not exist")
    with open(names_path) as f:
        names = [line.strip() for line in f if line.strip()]
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2 or len(scores) != len(latents):
        raise InputError(f"{scores_path} holds {len(scores)} rows of scores but {latents_path} "
                         f"{len(latents)} latents; they must match row for row")
    if scores.shape[1] != len(names):
        raise InputError(f"{names_path} names {len(names)} attributes but {scores_path} has "
                         f"{scores.shape[1]} columns")
    return latents, scores, names, meta
