"""A face set on disk: faces a generator drew and the latents it drew them from.

One folder per set, written by generate_faces.py and read by the other scripts:
    latents.npy   float32 [N, latent_dim]; row i is the latent of face i
    faces/        000000.png, 000001.png, ...: one RGB PNG per face
    meta.json     generator handle and label, stand-in flag, seed, count, complete
    grid.png      contact sheet of the first faces, labelled with the generator
A shard of a set (`--shard i/n`, faceinv/shards.py) is the same layout under
<set>/shards/<i>-of-<n>/, holding faces start .. stop - 1 (their global names)
and their latents; `merge_face_set` moves the finished shards' faces into the set.
"""

import os

import numpy as np
import tensorflow as tf

from faceinv import files, shards
from faceinv.errors import InputError
from faceinv.models.generators import sample_latents
from faceinv.progress import progress

LATENTS, FACES, META, GRID = "latents.npy", "faces", "meta.json", "grid.png"
GRID_COLUMNS = 8


def face_name(index):
    return f"{index:06d}.png"


def _check_existing(folder, meta, rows):
    """Refuse to mix another seed, count, generator or shard into an existing set."""
    meta_path = os.path.join(folder, META)
    if os.path.exists(meta_path):
        old = files.load_json(meta_path)
        for key in ("generator", "seed", "count", "shard"):
            if old.get(key) != meta.get(key):
                raise InputError(
                    f"{folder} already holds a set with {key}={old.get(key)!r}, not {meta.get(key)!r}; "
                    "choose another --out or delete that folder")
    latents_path = os.path.join(folder, LATENTS)
    if os.path.exists(latents_path):
        latents = files.load_npy(latents_path, "latents", mmap_mode="r")
        if latents.shape != (rows, meta["latent_dim"]):
            raise InputError(f"{latents_path} has shape {latents.shape}, expected "
                             f"({rows}, {meta['latent_dim']}); delete it or choose another --out")
        return latents
    return None


def check_request(count, batch_size):
    if count <= 0:
        raise InputError(f"the number of faces must be positive, not {count}")
    if batch_size <= 0:
        raise InputError(f"the batch size must be positive, not {batch_size}")


def _meta(generator, count, seed):
    return {"generator": generator.handle, "generator_label": generator.label,
            "standin": bool(generator.is_standin), "seed": seed, "count": count,
            "latent_distribution": "standard normal", "latent_dim": generator.latent_dim,
            "resolution": generator.resolution, "complete": False}


def write_face_set(folder, generator, count, seed, batch_size=64, grid_faces=64, shard=None):
    """Draw `count` faces from latents of `seed` into `folder`, resuming a killed run;
    with `shard`, only that shard's faces, into its folder under `folder`.

    Face i depends on (seed, i) alone: batches are aligned to multiples of
    `batch_size`, and the latents are fixed before any face is drawn. PNGs are
    encoded on worker threads while the generator draws the next batch."""
    check_request(count, batch_size)
    start, stop = shard.range(count, batch_size) if shard else (0, count)
    meta = _meta(generator, count, seed)
    if shard:
        folder = shard.folder(folder)
        meta.update(shard=str(shard), start=start, stop=stop)
    latents = sample_latents(count, seed, generator.latent_dim)[start:stop]
    existing = _check_existing(folder, meta, stop - start) if os.path.isdir(folder) else None
    if existing is not None and not np.array_equal(existing, latents):
        raise InputError(f"{os.path.join(folder, LATENTS)} holds other latents than seed {seed} "
                         "draws; choose another --out or delete that folder")
    faces_dir = os.path.join(folder, FACES)
    try:
        os.makedirs(faces_dir, exist_ok=True)
        for name in os.listdir(faces_dir):
            if ".tmp" in name:  # left by a killed run
                os.remove(os.path.join(faces_dir, name))
        files.save_json(os.path.join(folder, META), meta)
        if existing is None:
            files.save_npy(os.path.join(folder, LATENTS), latents)
    except OSError as error:
        raise InputError(f"cannot write to {folder}: {error.strerror or error}") from None

    done = set(os.listdir(faces_dir))
    missing = [i for i in range(start, stop) if face_name(i) not in done]
    blocks = sorted({i // batch_size for i in missing})
    bar = progress(stop - start)
    bar.update(stop - start - len(missing))
    with files.BackgroundWriter() as writer:
        for block in blocks:
            first, end = block * batch_size, min((block + 1) * batch_size, stop)
            images = files.to_uint8(np.asarray(generator(latents[first - start:end - start])))
            for i in range(first, end):
                if face_name(i) not in done:
                    writer.submit(files.save_png, os.path.join(faces_dir, face_name(i)),
                                  images[i - first], generator.label)
            bar.add(sum(face_name(i) not in done for i in range(first, end)))

    if not shard:
        _save_grid(folder, count, grid_faces, generator.label)
    meta["complete"] = True
    files.save_json(os.path.join(folder, META), meta)
    return meta


def _save_grid(folder, count, grid_faces, label):
    shown = [face_name(i) for i in range(min(count, grid_faces))]
    sheet, _ = files.read_face_folder(os.path.join(folder, FACES), shown)
    files.save_grid(os.path.join(folder, GRID), sheet, GRID_COLUMNS, label)


def merge_face_set(folder, generator, count, seed, grid_faces=64):
    """Gather the finished shards of `folder` into the set itself, after checking
    that they hold this generator's faces of `seed`, each face exactly once; the
    shards' faces are moved, not copied, and the shards then removed."""
    meta = _meta(generator, count, seed)
    parts = shards.finished(folder, {k: meta[k] for k in ("generator", "seed", "count")}, count)
    latents = sample_latents(count, seed, generator.latent_dim)
    _check_existing(folder, meta, count)
    faces_dir = os.path.join(folder, FACES)
    merged = set(os.listdir(faces_dir)) if os.path.isdir(faces_dir) else set()  # by a killed merge
    for part, part_meta in parts:
        start, stop = part_meta["start"], part_meta["stop"]
        rows = files.load_npy(os.path.join(part, LATENTS), "latents", mmap_mode="r")
        if not np.array_equal(rows, latents[start:stop]):
            raise InputError(f"{os.path.join(part, LATENTS)} holds other latents than seed {seed} draws")
        held = merged | set(os.listdir(os.path.join(part, FACES)))
        lost = [face_name(i) for i in range(start, stop) if face_name(i) not in held]
        if lost:
            raise InputError(f"{part} lacks {len(lost)} faces (first {lost[0]}): rerun its command "
                             f"(--shard {part_meta['shard']}) to draw them again")
    os.makedirs(faces_dir, exist_ok=True)
    files.save_json(os.path.join(folder, META), meta)
    files.save_npy(os.path.join(folder, LATENTS), latents)
    for part, _ in parts:
        for name in os.listdir(os.path.join(part, FACES)):
            os.replace(os.path.join(part, FACES, name), os.path.join(faces_dir, name))
    _save_grid(folder, count, grid_faces, generator.label)
    meta["complete"] = True
    files.save_json(os.path.join(folder, META), meta)
    shards.remove(folder)
    return meta


def face_set_files(folder):
    """Paths of a written set's faces, its latents [N, latent_dim] and meta, checked to agree."""
    latents_path = os.path.join(folder, LATENTS)
    if not os.path.exists(latents_path):
        raise InputError(f"{folder} is not a face set: {LATENTS} is missing "
                         "(generate_faces.py writes one)")
    meta_path = os.path.join(folder, META)
    meta = files.load_json(meta_path) if os.path.exists(meta_path) else {}
    latents = files.load_latents(latents_path, meta.get("latent_dim"))
    faces_dir = os.path.join(folder, FACES)
    names = files.list_images(faces_dir)
    if len(names) != len(latents):
        raise InputError(f"{faces_dir} holds {len(names)} faces but {latents_path} "
                         f"{len(latents)} latents")
    return [os.path.join(faces_dir, n) for n in names], latents, meta


def is_face_set(folder):
    return os.path.exists(os.path.join(folder, LATENTS))


def read_face_set(folder):
    """Faces [N, H, W, 3] in [0, 1], latents [N, latent_dim] and meta of a written set."""
    paths, latents, meta = face_set_files(folder)
    images, _ = files.read_face_folder(os.path.dirname(paths[0]), [os.path.basename(p) for p in paths])
    return images, latents, meta


def read_targets(folder, resolution, generator_handle=None):
    """Faces to invert, resized to the generator's `resolution`: a face set (with its
    true latents, so latent errors can be measured) or any folder of same-size faces.
    Returns images [N, R, R, 3], file names, true latents or None, and the set's meta.
    A set drawn by another generator than `generator_handle` has no true latents
    for this one: they come back as None."""
    if is_face_set(folder):
        images, true_latents, meta = read_face_set(folder)
        names = [face_name(i) for i in range(len(images))]
        if generator_handle and meta.get("generator") not in (None, generator_handle):
            true_latents = None
    else:
        images, names = files.read_face_folder(folder)
        true_latents, meta = None, {}
    if images.shape[1:3] != (resolution, resolution):
        images = tf.image.resize(images, [resolution, resolution], antialias=True).numpy()
        images = np.clip(images, 0.0, 1.0)
    return images, names, true_latents, meta
