"""Faces split by one attribute (without / with), as the attribute inverter trains on them.

Four sources, one shape: a `TwoClasses` holds each class as either image
paths or uint8 arrays, and `pairs()` turns it into batches of (faces without,
faces with), resized to the training size.
- CelebA: the photos and list_attr_celeba.txt, split by a named attribute
  (Eyeglasses, Wearing_Hat, ...); each photo is cut to ProGAN's 128x128 window,
  so the inverter is ProGAN-128's.
- Two folders of aligned faces, one per class; all images must share one size.
- `synthetic`: faces of the built-in generator split by their true eyeglasses
  score (a stand-in, labelled so).
- `dcgan`: a generator's faces from a score folder of `interfacegan_svm.py score
  --source eyeglasses`, split by eyeglasses_score.py's thresholds (the faces
  in between are left out).
An epoch is one pass over the smaller class; the larger class gives a fresh
random subset of the same size each epoch. Each epoch's order is seeded by
(seed, epoch), so a resumed run sees the batches it would have seen.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from faceinv import files
from faceinv.data import pipelines
from faceinv.data.celeba import celeba_photos, celeba_window, read_celeba_attributes
from faceinv.editing import attributes, eyeglasses, eyeglasses_score
from faceinv.errors import InputError
from faceinv.models.generators import PROGAN_HANDLE, render_batches


@dataclasses.dataclass
class TwoClasses:
    without: object          # paths [N] or uint8 faces [N, H, W, 3]
    with_: object
    source: str              # "celeba", "folders", "synthetic" or "dcgan"
    label: str               # printed on every output; says STAND-IN for synthetic faces
    crop_celeba: bool = False
    # The generator whose faces these are framed like (its handle; None for two folders of
    # unknown crops) and the attribute, lower case: an exported inverter records both, and
    # demo.py picks an inverter for the generator it serves by them.
    generator: str = None
    attribute: str = None

    def counts(self):
        return len(self.without), len(self.with_)


def celeba_split(celeba, attribute="Eyeglasses", limit=0):
    """CelebA photos without / with `attribute` (the first `limit` of each class if > 0)."""
    names, file_names, labels = read_celeba_attributes(celeba)
    if attribute not in names:
        raise InputError(f"attribute {attribute!r} is not in the CelebA attribute list; "
                         f"it has: {', '.join(names)}")
    column = labels[:, names.index(attribute)] > 0.5
    paths = np.asarray(celeba_photos(celeba, file_names))
    without, with_ = paths[~column].tolist(), paths[column].tolist()
    if limit:
        without, with_ = without[:limit], with_[:limit]
    _check_counts(without, with_, f"CelebA's {attribute}")
    return TwoClasses(without, with_, "celeba", f"CelebA {os.path.abspath(celeba)}, split by {attribute}",
                      crop_celeba=True, generator=PROGAN_HANDLE, attribute=attribute.lower())


def folder_split(without_folder, with_folder, limit=0):
    """Faces of two folders (the first `limit` of each if > 0); one class empty, or
    images of mixed sizes, is an InputError."""
    classes = []
    for folder in (without_folder, with_folder):
        names = files.list_images(folder)
        classes.append([os.path.join(folder, n) for n in (names[:limit] if limit else names)])
    sizes = {}
    for path in classes[0] + classes[1]:
        sizes.setdefault(files.image_size(path), path)
    if len(sizes) > 1:
        (a, path_a), (b, path_b) = list(sizes.items())[:2]
        raise InputError(f"the two folders mix image sizes: {path_a} is {a[0]}x{a[1]}, {path_b} is "
                         f"{b[0]}x{b[1]}; crop them alike first (prepare_real_faces.py --layout folder)")
    pipelines.check_image_files(classes[0] + classes[1])
    return TwoClasses(classes[0], classes[1], "folders",
                      f"faces of {os.path.abspath(without_folder)} / {os.path.abspath(with_folder)}")


def synthetic_split(generator, count, seed=0):
    """`count` rendered faces of each class, split by the true eyeglasses score."""
    without, with_ = eyeglasses.split_latents(generator, count, seed)

    def render(latents):
        return np.concatenate([faces for _, faces in render_batches(generator, latents)])
    return TwoClasses(render(without), render(with_), "synthetic",
                      f"{generator.label}, split by the true eyeglasses score", generator=generator.handle,
                      attribute="eyeglasses")


def read_eyeglasses_scores(scores_folder):
    """(latents [N, D], eyeglasses scores [N], meta) of a score folder written with --source eyeglasses."""
    if not os.path.isdir(scores_folder):
        raise InputError(f"score folder {scores_folder} does not exist; interfacegan_svm.py score "
                         "--generator dcgan-digiface --source eyeglasses writes one")
    latents, scores, names, meta = attributes.read_scores(scores_folder)
    if meta.get("source") != "eyeglasses" or "eyeglasses" not in names:
        raise InputError(f"{scores_folder} holds no eyeglasses scores (source {meta.get('source')!r}); "
                         "interfacegan_svm.py score --source eyeglasses writes them")
    return latents, scores[:, names.index("eyeglasses")], meta


def eyeglasses_scored_split(scores_folder, limit=0):
    """The faces of an eyeglasses score folder clearly without / with glasses (the first
    `limit` of each if > 0); fewer than eyeglasses_score.MIN_SIDE_FACES on a side is an InputError."""
    from faceinv.models.generators import load_generator
    latents, column, meta = read_eyeglasses_scores(scores_folder)
    eyeglasses_score.check_sides(column, f"the eyeglasses scores in {scores_folder}")
    generator = load_generator(meta["generator"])
    classes = [latents[side][:limit] if limit else latents[side] for side in eyeglasses_score.sides(column)]

    def render(chosen):
        return np.concatenate([faces for _, faces in render_batches(generator, chosen)])
    return TwoClasses(render(classes[0]), render(classes[1]), "dcgan",
                      f"{generator.label}, split by the eyeglasses score (<= {eyeglasses_score.WITHOUT_MAX} / "
                      f">= {eyeglasses_score.WITH_MIN} grey levels, not a human label)",
                      generator=generator.handle, attribute="eyeglasses")


def _check_counts(without, with_, what):
    if not len(without) or not len(with_):
        empty = "without" if not len(without) else "with"
        raise InputError(f"{what} leaves the class '{empty}' empty "
                         f"({len(without)} faces without, {len(with_)} with)")


def check_enough(split, minimum):
    """A GAN shown a few faces of a class memorises them: refuse fewer than `minimum` on either side."""
    counts = split.counts()
    if min(counts) < minimum:
        side = "without" if counts[0] < minimum else "with"
        raise InputError(f"{split.label}: only {min(counts)} faces {side} the attribute "
                         f"({counts[0]} without, {counts[1]} with); the inverter needs at least {minimum} "
                         "on each side (--min-faces)")


def steps_per_epoch(split, batch_size):
    steps = min(split.counts()) // batch_size
    if steps == 0:
        raise InputError(f"the smaller class holds {min(split.counts())} faces, "
                         f"fewer than one batch of {batch_size}")
    return steps


def _load(item, split):
    """One face in [0, 1] from a uint8 array or an image path (CelebA photos cut to ProGAN's window)."""
    if item.dtype == tf.uint8:
        return tf.image.convert_image_dtype(item, tf.float32)
    if split.crop_celeba:
        return celeba_window(pipelines.decode(item)[None])[0]
    return pipelines.decode(item)


def _class_dataset(faces, split, size, order):
    items = faces[order] if isinstance(faces, np.ndarray) else np.asarray(faces)[order]
    return tf.data.Dataset.from_tensor_slices(items).map(
        lambda item: pipelines.resize(_load(item, split), size), num_parallel_calls=tf.data.AUTOTUNE)


def pairs(split, size, batch_size, seed, epoch):
    """One epoch of batches (without [B, size, size, 3], with [B, size, size, 3]) in [0, 1]."""
    n = steps_per_epoch(split, batch_size) * batch_size
    classes = []
    for k, faces in enumerate((split.without, split.with_)):
        order = np.random.default_rng([seed, epoch, k]).permutation(len(faces))[:n]
        classes.append(_class_dataset(faces, split, size, order).batch(batch_size))
    return tf.data.Dataset.zip(tuple(classes)).prefetch(tf.data.AUTOTUNE)


def preview(split, size, count=4):
    """The first `count` faces of each class, float32 [count, size, size, 3] each: fixed
    faces to watch training on."""
    out = []
    for faces in (split.without, split.with_):
        order = np.arange(min(count, len(faces)))
        out.append(np.stack(list(_class_dataset(faces, split, size, order).as_numpy_iterator())))
    return out
