"""A CelebA attribute classifier: the encoder's ResNet18 with one logit per attribute.

InterFaceGAN scores generated faces with a multi-task network trained on
CelebA's 40 binary attributes; this is that network, built from the same
ResNet18 as the encoder. It reads CelebA as distributed:
    <celeba>/img_align_celeba/000001.jpg ...    the aligned 178x218 photos
    <celeba>/list_attr_celeba.txt               (or <celeba>/Anno/list_attr_celeba.txt)
whose first line is the number of photos, second the 40 attribute names, then
one line per photo: file name and 40 values of 1 or -1. Each photo is cut to
the 128x128 window ProGAN's CelebA faces were cut from (centre (89, 121)), so
the classifier sees faces framed as the generator draws them.
"""
import os

import keras
import numpy as np
import tensorflow as tf

from faceinv import data, files
from faceinv.encoder import export_model, resnet18
from faceinv.errors import InputError

META_FILE = "classifier.json"
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


def build_classifier(n_attributes, input_size=128):
    faces = keras.Input((None, None, 3), name="faces")
    logits = keras.layers.Dense(n_attributes, dtype="float32", name="logits")(resnet18(faces, input_size))
    return keras.Model(faces, logits, name="resnet18_attributes")


def _dataset(paths, labels, batch_size, shuffle_seed=None):
    def load(path, label):
        return celeba_window(data.decode(path)[None])[0], label
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train_classifier(celeba, export_dir, checkpoint_dir, log_dir, epochs=5, batch_size=64, input_size=128,
                     learning_rate=1e-3, limit=0, validation=0.1, seed=0):
    """Train on CelebA (the first `limit` photos if > 0), keep `validation` of them
    out, export to `export_dir`; returns the meta written beside the SavedModel,
    with the held-out accuracy of every attribute. Resumes from `checkpoint_dir`."""
    names, file_names, labels = read_celeba_attributes(celeba)
    if limit:
        file_names, labels = file_names[:limit], labels[:limit]
    paths = celeba_photos(celeba, file_names)
    order = np.random.default_rng(seed).permutation(len(paths))
    held = max(1, int(round(validation * len(paths))))
    if len(paths) - held < batch_size:
        raise InputError(f"{len(paths)} photos leave fewer than one batch of {batch_size} to train on")
    val, train = order[:held], order[held:]
    pick = np.asarray(paths)
    model = build_classifier(len(names), input_size)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    os.makedirs(checkpoint_dir, exist_ok=True)
    model.fit(_dataset(pick[train], labels[train], batch_size, seed), epochs=epochs,
              callbacks=[keras.callbacks.BackupAndRestore(checkpoint_dir),
                         keras.callbacks.TensorBoard(log_dir)], verbose=1)
    logits = model.predict(_dataset(pick[val], labels[val], batch_size), verbose=0)
    accuracy = ((logits > 0) == (labels[val] > 0.5)).mean(axis=0)
    meta = {"attributes": names, "input_size": input_size, "celeba": os.path.abspath(celeba),
            "photos": len(paths), "held_out": int(held), "epochs": epochs,
            "held_out_accuracy": dict(zip(names, np.round(accuracy, 4).tolist())),
            "window": "ProGAN's 128x128 CelebA crop; give it generated faces as they are"}
    export_model(model, export_dir, meta, META_FILE, output="logits")
    return meta


class LoadedClassifier:
    """An exported classifier: generated faces [N, 128, 128, 3] -> logits [N, 40]."""

    def __init__(self, folder):
        if not os.path.exists(os.path.join(folder, "saved_model.pb")):
            raise InputError(f"no exported attribute classifier in {folder} "
                             "(interfacegan_svm.py classifier writes one)")
        self._serve = tf.saved_model.load(folder).signatures["serving_default"]
        self.meta = files.load_json(os.path.join(folder, META_FILE))
        self.attributes = self.meta["attributes"]

    def __call__(self, faces):
        return self._serve(faces=tf.convert_to_tensor(faces, tf.float32))["logits"].numpy()
