"""Attribute scores of generated faces, from four sources, in one folder layout.

A score folder (written by `interfacegan_svm.py score`, read by `boundaries`):
    latents.npy      float32 [N, latent_dim]
    scores.npy       float32 [N, K]; NaN where a face could not be scored
    attributes.txt   the K column names, one per line
    meta.json        source, generator label, seed, count, batch size, invalid count per
                     attribute; for a shard (faceinv/shards.py) also shard, start and stop
While `score` runs, parts/<first face>.npy hold the finished chunks of scores, so a
killed run resumes where it stopped; the shards of a split job sit under
shards/<i>-of-<n>/ (each a score folder of its rows) until `merge_scores` joins them.
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
import shutil

import numpy as np

from faceinv import files, shards
from faceinv.data import alignment
from faceinv.editing.eyeglasses_score import EyeglassesScorer
from faceinv.errors import InputError
from faceinv.models.generators import render_batches
from faceinv.progress import progress

LATENTS, SCORES, NAMES, META, PARTS = "latents.npy", "scores.npy", "attributes.txt", "meta.json", "parts"
CHUNK = 1024  # faces per part file, rounded up to whole batches: what a killed run can lose
JOB = ("generator", "source", "seed", "count", "batch_size", "attributes", "shard")  # what a resumed run must share
SOURCES = ("synthetic", "landmarks", "eyeglasses", "classifier")
LANDMARK_ATTRIBUTES = ("pose", "smile")


def synthetic_scores(generator, latents):
    if not hasattr(generator, "attribute_scores"):
        raise InputError(f"--source synthetic needs the synthetic generator, not {generator.handle}")
    return np.asarray(generator.attribute_scores(latents), np.float32), list(generator.attribute_names)


def landmark_scores(generator, latents, batch_size=64, detector=None, bar=None):
    detector = detector or alignment.FaceDetector()
    scores = np.full((len(latents), 2), np.nan, np.float32)
    bar = bar or progress(len(latents))
    for start, faces in render_batches(generator, latents, batch_size):
        for i, face in enumerate(faces):
            points, _ = detector.landmarks(face)
            if points is not None:
                scores[start + i] = alignment.yaw(points), alignment.mouth_width(points)
        bar.add(len(faces))
    return scores, list(LANDMARK_ATTRIBUTES)


def eyeglasses_scores(generator, latents, batch_size=64, scorer=None, bar=None):
    scorer = scorer or EyeglassesScorer(generator.template)
    scores = np.full((len(latents), 1), np.nan, np.float32)
    bar = bar or progress(len(latents))
    for start, faces in render_batches(generator, latents, batch_size):
        scores[start:start + len(faces), 0] = scorer(faces)
        bar.add(len(faces))
    return scores, ["eyeglasses"]


def classifier_columns(classifier, attributes=None):
    names = classifier.attributes
    wanted = attributes or names
    missing = [a for a in wanted if a not in names]
    if missing:
        raise InputError(f"the classifier has no attribute {missing[0]!r}; it has {', '.join(names)}")
    return list(wanted)


def classifier_scores(generator, latents, classifier, attributes=None, batch_size=64, bar=None):
    names = classifier.attributes
    wanted = classifier_columns(classifier, attributes)
    columns = [names.index(a) for a in wanted]
    scores = np.zeros((len(latents), len(columns)), np.float32)
    bar = bar or progress(len(latents))
    for start, faces in render_batches(generator, latents, batch_size):
        scores[start:start + len(faces)] = classifier(faces / 255.0)[:, columns]
        bar.add(len(faces))
    return scores, list(wanted)


def scorer(source, generator, batch_size, classifier=None, attributes=None):
    """(column names, score(latents, bar) -> scores [N, K]) of one source, checked
    before any face is drawn."""
    if source == "synthetic":
        names = synthetic_scores(generator, np.zeros((0, generator.latent_dim), np.float32))[1]
        return names, lambda latents, bar: synthetic_scores(generator, latents)[0]
    if source == "eyeglasses":
        eyeglasses = EyeglassesScorer(generator.template)
        return ["eyeglasses"], lambda latents, bar: eyeglasses_scores(generator, latents, batch_size, eyeglasses,
                                                                      bar)[0]
    if source == "landmarks":
        detector = alignment.FaceDetector()
        return list(LANDMARK_ATTRIBUTES), lambda latents, bar: landmark_scores(generator, latents, batch_size,
                                                                               detector, bar)[0]
    names = classifier_columns(classifier, attributes)
    return names, lambda latents, bar: classifier_scores(generator, latents, classifier, names, batch_size, bar)[0]


def _check_job(folder, meta):
    """Refuse to resume, or merge into, a folder that holds another job's scores."""
    path = os.path.join(folder, META)
    if os.path.exists(path):
        old = files.load_json(path)
        for key in JOB:
            if old.get(key) != meta.get(key):
                raise InputError(f"{folder} holds scores with {key}={old.get(key)!r}, not {meta.get(key)!r}; "
                                 "choose another --out or delete that folder")


def score_in_parts(folder, latents, first, score, names, meta):
    """Score `latents` (faces first, first + 1, ... of the job) a part at a time into
    `folder`; a part finished before a kill is read back, not scored again. Part
    boundaries are whole batches from `first`, so every face is rendered beside the
    faces an uninterrupted run renders it with."""
    meta = dict(meta, attributes=list(names), complete=False)
    _check_job(folder, meta)
    parts = os.path.join(folder, PARTS)
    os.makedirs(parts, exist_ok=True)
    files.save_json(os.path.join(folder, META), meta)
    size = -(-CHUNK // meta["batch_size"]) * meta["batch_size"]
    bar, pieces = progress(len(latents)), []
    for offset in range(0, len(latents), size):
        path = os.path.join(parts, f"{first + offset:09d}.npy")
        if os.path.exists(path):
            pieces.append(files.load_npy(path, "scores"))
            bar.add(len(pieces[-1]))
        else:
            pieces.append(np.asarray(score(latents[offset:offset + size], bar), np.float32))
            files.save_npy(path, pieces[-1])
    meta = write_scores(folder, latents, np.concatenate(pieces), names, dict(meta, complete=True))
    shutil.rmtree(parts)
    return meta


def merge_scores(folder, job):
    """Join the finished shards under `folder` into the score folder itself, after
    checking they belong to `job` (generator, source, seed, count, batch size) and
    hold each face exactly once; the shards are then removed."""
    parts = shards.finished(folder, job, job["count"])
    read = [read_scores(part) for part, _ in parts]
    names = read[0][2]
    for (part, _), (_, _, other, _) in zip(parts, read):
        if other != names:
            raise InputError(f"{part} scores {', '.join(other)}, not {', '.join(names)}: a shard of another job")
    meta = {k: v for k, v in parts[0][1].items() if k not in ("shard", "start", "stop", "invalid")}
    _check_job(folder, dict(meta, shard=None))
    meta = write_scores(folder, np.concatenate([r[0] for r in read]), np.concatenate([r[1] for r in read]),
                        names, meta)
    shards.remove(folder)
    return meta


def write_scores(folder, latents, scores, names, meta):
    os.makedirs(folder, exist_ok=True)
    invalid = np.isnan(scores).sum(axis=0)
    meta = {"count": len(latents), **meta, "attributes": list(names),
            "invalid": dict(zip(names, invalid.astype(int).tolist()))}
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
