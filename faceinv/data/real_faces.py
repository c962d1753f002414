"""Real-face data: which photos to take, and their MTCNN-aligned crops.

prepare_real_faces.py writes one folder per data set:
    faces/<name>.png   the aligned crops (size x size); resnet.py --real and
                       resnet_test.py --faces read this folder
    manifest.csv       identity, source (relative to the source folder), face
                       (its crop's file name): every selected photo
    skipped.csv        source, reason: every selected photo that gave no crop
    meta.json          source, layout, selection, crop size, template, counts
    grid.png           the first crops
A killed run is resumed by running the same command: crops already written
and photos already in skipped.csv are not done again.
"""
import concurrent.futures
import multiprocessing
import os
import re

import numpy as np

from faceinv import files
from faceinv.data import alignment
from faceinv.errors import InputError
from faceinv.progress import progress

FACES, MANIFEST, SKIPPED, META, GRID = "faces", "manifest.csv", "skipped.csv", "meta.json", "grid.png"
LAYOUTS = ("vggface2", "ar", "folder")
AR_NAME = re.compile(r"^([mwMW])-(\d+)-")  # AR database files: m-001-01.bmp, w-012-14.bmp
CHUNK = 8  # photos per task: the unit of progress, parallel work and resume
GRID_FACES, GRID_COLUMNS = 64, 8


def _images_in(folder):
    return sorted(n for n in os.listdir(folder)
                  if n.lower().endswith(files.IMAGE_SUFFIXES) and os.path.isfile(os.path.join(folder, n)))


def select_vggface2(root, min_images=100, images_per_identity=100, identities=100, seed=0):
    """The paper's subset of a VGGFace2-layout tree (root/<identity>/<photo>):
    `identities` random identities among those with at least `min_images`
    photos, and `images_per_identity` random photos of each. Returns
    [(identity, source path relative to root)], sorted."""
    if not os.path.isdir(root):
        raise InputError(f"source folder {root} does not exist")
    if not 0 < images_per_identity <= min_images:
        raise InputError(f"--images-per-identity ({images_per_identity}) must be positive and "
                         f"at most --min-images ({min_images})")
    if identities <= 0:
        raise InputError(f"--identities must be positive, not {identities}")
    photos = {d: _images_in(os.path.join(root, d)) for d in sorted(os.listdir(root))
              if os.path.isdir(os.path.join(root, d))}
    eligible = [d for d, names in photos.items() if len(names) >= min_images]
    if len(eligible) < identities:
        raise InputError(f"{root} has {len(eligible)} identities with at least {min_images} photos "
                         f"(of {len(photos)} identity folders); {identities} were asked for")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(eligible, identities, replace=False).tolist())
    selection = []
    for identity in chosen:
        names = rng.choice(photos[identity], images_per_identity, replace=False)
        selection += [(identity, f"{identity}/{n}") for n in sorted(names.tolist())]
    return selection


def select_folder(root, layout="folder"):
    """Every photo under `root`, in sorted order. The identity is the first
    sub-folder for `folder` ("" for photos at the top) and the m-001 / w-012
    prefix of the file name for `ar`."""
    if not os.path.isdir(root):
        raise InputError(f"source folder {root} does not exist")
    selection = []
    for folder, subfolders, _ in os.walk(root):
        subfolders.sort()
        relative = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in _images_in(folder):
            source = name if relative == "." else f"{relative}/{name}"
            if layout == "ar":
                match = AR_NAME.match(name)
                identity = f"{match.group(1).lower()}-{match.group(2)}" if match else ""
            else:
                identity = source.split("/")[0] if "/" in source else ""
            selection.append((identity, source))
    if not selection:
        raise InputError(f"source folder {root} holds no photos ({', '.join(files.IMAGE_SUFFIXES)})")
    return selection


def face_names(selection):
    """The crop's file name for each source: its relative path, '/' -> '_', as .png."""
    names = [os.path.splitext(source)[0].replace("/", "_") + ".png" for _, source in selection]
    if len(set(names)) != len(names):
        seen = set()
        clash = next(n for n in names if n in seen or seen.add(n))
        raise InputError(f"two source photos would both be cropped to {clash}; rename one of them")
    return names


_detector = None


def _start_worker(min_face_size, threads):
    global _detector
    if threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    _detector = alignment.FaceDetector(min_face_size)


def _align_chunk(jobs, size):
    """Align each (source path, crop path); returns a skip reason or "" per job."""
    reasons = []
    for source, crop in jobs:
        try:
            image = files.to_uint8(files.read_image(source))
        except InputError as error:
            reasons.append(f"unreadable: {error}")
            continue
        face = _detector.align(image, size)
        if face is None:
            reasons.append("no face found")
            continue
        files.save_png(crop, face)
        reasons.append("")
    return reasons


def _check_same_job(out, meta):
    path = os.path.join(out, META)
    if not os.path.exists(path):
        return
    old = files.load_json(path)
    for key in ("source", "layout", "selection", "size", "min_face_size"):
        if old.get(key) != meta[key]:
            raise InputError(f"{out} holds crops made with {key}={old.get(key)!r}, not {meta[key]!r}; "
                             "choose another --out or delete that folder")


def prepare(source, out, selection, layout, size=128, workers=1, min_face_size=alignment.MIN_FACE_SIZE,
            selection_args=None):
    """Align every selected photo into `out` (layout in the module docstring),
    resuming a killed run. Returns meta.json's content."""
    if size < 32:
        raise InputError(f"--size must be at least 32 pixels, not {size}")
    names = face_names(selection)
    meta = {"source": os.path.abspath(source), "layout": layout, "selection": selection_args or {},
            "size": size, "min_face_size": min_face_size,
            "template": alignment.CELEBA_PROGAN.at(size).round(3).tolist(),
            "aligner": "MTCNN (the mtcnn package's shipped weights), 5-point similarity transform",
            "complete": False}
    faces_dir = os.path.join(out, FACES)
    try:
        os.makedirs(faces_dir, exist_ok=True)
        _check_same_job(out, meta)
        for name in os.listdir(faces_dir):
            if ".tmp" in name:  # left by a killed run
                os.remove(os.path.join(faces_dir, name))
        files.save_json(os.path.join(out, META), meta)
        files.save_text(os.path.join(out, MANIFEST), files.csv_text(
            ["identity", "source", "face"], [(i, s, n) for (i, s), n in zip(selection, names)]))
    except OSError as error:
        raise InputError(f"cannot write to {out}: {error.strerror or error}") from None

    skipped_path = os.path.join(out, SKIPPED)
    skipped = {r["source"]: r["reason"] for r in files.read_csv(skipped_path)} if os.path.exists(skipped_path) else {}
    done = set(os.listdir(faces_dir))
    jobs = [(os.path.join(source, s), os.path.join(faces_dir, n), s)
            for (_, s), n in zip(selection, names) if n not in done and s not in skipped]
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    bar = progress(len(selection), unit="photo")
    bar.update(len(selection) - len(jobs))

    def write_skips():
        files.save_text(skipped_path, files.csv_text(["source", "reason"], sorted(skipped.items())))

    def record(chunk, reasons):
        for (_, _, s), reason in zip(chunk, reasons):
            if reason:
                skipped[s] = reason
        write_skips()
        bar.add(len(chunk))

    tasks = [[(path, crop) for path, crop, _ in chunk] for chunk in chunks]
    if workers <= 1 or len(chunks) <= 1:
        _start_worker(min_face_size, threads=0)
        for chunk, task in zip(chunks, tasks):
            record(chunk, _align_chunk(task, size))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(min_face_size, threads)) as pool:
            for chunk, reasons in zip(chunks, pool.map(_align_chunk, tasks, [size] * len(tasks))):
                record(chunk, reasons)
    write_skips()  # also when there was nothing left to do

    crops = sorted(n for n in os.listdir(faces_dir) if n.endswith(".png"))
    if crops:
        sheet, _ = files.read_face_folder(faces_dir, crops[:GRID_FACES])
        files.save_grid(os.path.join(out, GRID), sheet, GRID_COLUMNS,
                        f"real photos from {os.path.basename(os.path.abspath(source))}, aligned by MTCNN")
    reasons = {}
    for reason in skipped.values():
        key = reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    meta.update(complete=True, selected=len(selection), aligned=len(crops),
                skipped=len(skipped), skipped_by_reason=reasons)
    files.save_json(os.path.join(out, META), meta)
    return meta
