"""CelebA as distributed: its attribute list, its photos, and ProGAN's window in them.

    <celeba>/img_align_celeba/000001.jpg ...    the aligned 178x218 photos
    <celeba>/list_attr_celeba.txt               (or <celeba>/Anno/list_attr_celeba.txt)

The attribute list's first line is the number of photos, its second the 40
attribute names, then one line per photo: file name and 40 values of 1 or -1.
ProGAN's dataset tool cut its 128x128 CelebA faces from the window centred on
(89, 121) of each aligned photo; `celeba_window` cuts the same window, so that
the attribute classifier and the attribute inverter see faces framed as the
generator draws them.
"""
import os

import numpy as np
import tensorflow as tf

from faceinv.errors import InputError

IMAGES = "img_align_celeba"
ATTRIBUTE_FILE = "list_attr_celeba.txt"
CELEBA_SIZE = (218, 178)  # height, width of the aligned photos
PROGAN_WINDOW = (57, 25, 128, 128)  # top, left, height, width in those photos


def read_celeba_attributes(celeba):
    """(attribute names [40], file names [N], labels [N, 40] in {0, 1}) of a CelebA folder."""
    candidates = [os.path.join(celeba, ATTRIBUTE_FILE), os.path.join(celeba, "Anno", ATTRIBUTE_FILE)]
    path = next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        raise InputError(f"no {ATTRIBUTE_FILE} in {celeba} or {celeba}/Anno (the CelebA attribute list)")
    with open(path) as f:
        lines = [line.split() for line in f if line.strip()]
    try:
        count, names = int(lines[0][0]), lines[1]
        rows = lines[2:]
        labels = np.array([[int(v) for v in row[1:]] for row in rows])
    except (IndexError, ValueError) as error:
        raise InputError(f"{path} is not a CelebA attribute list ({error})") from None
    if len(rows) != count or labels.shape[1:] != (len(names),):
        raise InputError(f"{path} promises {count} photos x {len(names)} attributes but holds "
                         f"{len(rows)} lines of {labels.shape[1] if labels.ndim == 2 else '?'} values")
    return names, [row[0] for row in rows], (labels > 0).astype(np.float32)


def celeba_photos(celeba, file_names):
    """Paths of the named photos in <celeba>/img_align_celeba, all checked to exist."""
    image_dir = os.path.join(celeba, IMAGES)
    paths = [os.path.join(image_dir, n) for n in file_names]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise InputError(f"{len(missing)} photos of the attribute list are missing from {image_dir}, "
                         f"for example {os.path.basename(missing[0])}")
    return paths


def celeba_window(images):
    """The ProGAN window of [N, H, W, 3] CelebA photos (exact at 178x218, proportional otherwise)."""
    top, left, height, width = PROGAN_WINDOW
    h, w = CELEBA_SIZE
    box = [[top / h, left / w, (top + height) / h, (left + width) / w]]
    n = tf.shape(images)[0]
    return tf.image.crop_and_resize(images, tf.repeat(tf.constant(box, tf.float32), n, axis=0),
                                    tf.range(n), [height, width])
