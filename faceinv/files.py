"""Reading and writing the files the scripts share: PNG faces, .npy arrays, JSON, grids.

Every write goes to a temporary name in the same folder and is renamed into
place, so a killed run never leaves a half-written file under a real name.
"""
import concurrent.futures
import csv
import io
import json
import os
import threading

import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin, UnidentifiedImageError

from faceinv.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
PNG_LEVEL = 3  # zlib level: 2.6x faster to encode than PIL's 6, files 13% larger


def atomic_write(path, write):
    """Call write(tmp) on a temporary name beside `path`, then rename it into place."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}-{threading.get_ident()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def to_uint8(images):
    """Float images in [0, 1] to uint8, rounding to nearest."""
    return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def save_png(path, image, label=None):
    """One image (float in [0, 1] or uint8) as PNG; `label` goes into its text chunk."""
    array = image if np.asarray(image).dtype == np.uint8 else to_uint8(image)
    info = PngImagePlugin.PngInfo()
    if label:
        info.add_text("generator", label)

    def write(tmp):
        with open(tmp, "wb") as f:
            Image.fromarray(array).save(f, format="PNG", pnginfo=info, compress_level=PNG_LEVEL)
    atomic_write(path, write)


def save_npy(path, array):
    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array)
    atomic_write(path, write)


def save_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


def save_json(path, data):
    save_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_npy(path, what="array", mmap_mode=None):
    """A .npy file; a missing or unreadable one is an InputError naming it."""
    if not os.path.exists(path):
        raise InputError(f"{what} file {path} does not exist")
    try:
        return np.load(path, mmap_mode=mmap_mode)
    except (ValueError, OSError) as error:
        raise InputError(f"{path} is not a readable .npy file ({error})") from None


def load_latents(path, latent_dim=None, what="latents"):
    """Latents [N, latent_dim] as float32 from a .npy file. A wrong shape, or a NaN or
    infinite entry (which would silently poison every face drawn from it), is an
    InputError naming the file."""
    latents = load_npy(path, what)
    expected = f"[N, {latent_dim if latent_dim else 'latent_dim'}]"
    if latents.ndim != 2 or (latent_dim and latents.shape[1] != latent_dim):
        raise InputError(f"{path} has shape {list(latents.shape)}, expected {expected}")
    if not np.issubdtype(latents.dtype, np.number):
        raise InputError(f"{path} holds {latents.dtype} values, not numbers")
    bad = ~np.isfinite(latents)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InputError(f"{path} holds {int(bad.sum())} NaN or infinite values (first in row {row})")
    return latents.astype(np.float32)


def csv_text(header, rows):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def read_csv(path):
    """Rows of a CSV file with a header, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


def _wrapped(draw, text, width):
    """`text` in lines no wider than `width` pixels, broken at spaces (a word wider than
    that is cut), so that column titles never run into their neighbours."""
    lines = []
    for word in text.split():
        while draw.textlength(word) > width and len(word) > 1:
            word = word[:-1]
        if lines and draw.textlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _banner(width, texts, spacing, colour):
    """One line of `texts`, the i-th at x = i * spacing; with a spacing, each wraps to fit it."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = [_wrapped(draw, text, spacing - 6) if spacing else [text] for text in texts]
    banner = Image.new("RGB", (width, 2 + 12 * max(len(t) for t in lines) + 2), (255, 255, 255))
    draw = ImageDraw.Draw(banner)
    for i, text in enumerate(lines):
        for j, line in enumerate(text):
            draw.text((3 + i * spacing, 2 + 12 * j), line, fill=colour)
    return np.asarray(banner)


def image_grid(images, columns, label=None, column_titles=None):
    """Tile [N, H, W, 3] images into one uint8 picture. `label` is printed in a
    banner above, so a grid made with a stand-in says so wherever it is shown;
    `column_titles` name the columns in a second banner."""
    images = to_uint8(images) if np.asarray(images).dtype != np.uint8 else np.asarray(images)
    n, h, w, c = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * h, columns * w, c), 255, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    if column_titles:
        grid = np.concatenate([_banner(grid.shape[1], column_titles, w, (0, 0, 0)), grid], axis=0)
    if label:
        grid = np.concatenate([_banner(grid.shape[1], [label], 0, (180, 0, 0)), grid], axis=0)
    return grid


def save_grid(path, images, columns, label=None, column_titles=None):
    save_png(path, image_grid(images, columns, label, column_titles), label)


def list_images(folder):
    """Sorted image file names in `folder`; one clear error if it is missing or empty."""
    if not os.path.isdir(folder):
        raise InputError(f"face folder {folder} does not exist")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise InputError(f"face folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return names


def read_image(path):
    """One RGB image as float32 [H, W, 3] in [0, 1]; a corrupt file is an InputError."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise InputError(f"cannot read image {path}: {error}") from None


def image_size(path):
    """(width, height) from the image's header, without decoding it; a corrupt file is an InputError."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise InputError(f"cannot read image {path}: {error}") from None


def read_face_folder(folder, names=None):
    """All faces of a folder as float32 [N, H, W, 3] in [0, 1] with their file names.
    The faces must share one size: inversion compares them pixel for pixel."""
    names = names or list_images(folder)
    images = [read_image(os.path.join(folder, n)) for n in names]
    sizes = sorted({im.shape[:2] for im in images})
    if len(sizes) > 1:
        raise InputError(f"face folder {folder} mixes image sizes {sizes}; "
                         "align and crop them to one size first")
    return np.stack(images), names


class BackgroundWriter:
    """Runs file writes on worker threads so that encoding PNGs never stalls the
    generator; at most `max_pending` writes wait, which bounds the memory held."""

    def __init__(self, workers=2, max_pending=256):
        self._pool = concurrent.futures.ThreadPoolExecutor(workers)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._futures = []

    def submit(self, function, *args, **kwargs):
        self._slots.acquire()
        future = self._pool.submit(function, *args, **kwargs)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)
        return future

    def close(self):
        """Wait for every write; re-raise the first failure."""
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
