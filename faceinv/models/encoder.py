"""The encoder: ResNet18 (from scratch, as in the paper) and a dense head (the paper's 2048-1024-latent_dim).

Faces of any size go in (ResNet18 resizes them to `input_size`: the paper's 224,
or less to train faster on a CPU), so an exported encoder takes the
generator's images as they are. An encoder is exported two ways: a SavedModel
folder (servable without this code) or a weights file (.npz, weights_file.py),
which holds numbers only and is the form the repository ships. `load_encoder`
reads either.
"""
import os

import keras
import numpy as np
import tensorflow as tf

from faceinv import files, savedmodel
from faceinv.errors import InputError
from faceinv.models import weights_file
from faceinv.models.resnet18 import resnet18

META_FILE = "encoder.json"
WEIGHTS_FORMAT = "faceinv-encoder/1"
layers = keras.layers


PAPER_HEAD = (2048, 1024)


def build_encoder(input_size, latent_dim, head=PAPER_HEAD, width=64):
    """ResNet18 + ReLU Dense layers of `head` units + Dense(latent_dim): face -> latent
    (the paper: input 224, head 2048-1024, ProGAN's 512-d latent). `head=()` maps the
    pooled features to the latent linearly, which saves the paper's 3.2M head weights."""
    faces = keras.Input((None, None, 3), name="faces")
    x = resnet18(faces, input_size, width)
    for units in head:
        x = layers.Dense(units, activation="relu", name=f"head_{units}")(x)
    latents = layers.Dense(latent_dim, dtype="float32", name="latent")(x)
    return keras.Model(faces, latents, name="resnet18_encoder")


def export_encoder(model, folder, meta):
    """The encoder's SavedModel: faces -> latents [N, latent_dim], plus encoder.json."""
    savedmodel.export(model, folder, meta, META_FILE, ["latents"])


class _Encoder:
    """What every loaded encoder offers besides `__call__`: the checks and labels that use its meta."""

    def check_generator(self, generator):
        """An encoder predicts latents of the generator it was trained for, and of its size."""
        dim = self.meta.get("latent_dim") or int(self.output_shape("latents")[-1])
        if dim != generator.latent_dim:
            raise InputError(f"the encoder {self.folder} predicts {dim}-d latents, but generator "
                             f"{generator.handle} takes {generator.latent_dim}-d ones")
        trained_for = self.meta.get("generator")
        if trained_for and trained_for != generator.handle:
            raise InputError(f"the encoder {self.folder} was trained for generator {trained_for}, "
                             f"not {generator.handle}")

    def label(self, generator_label):
        """A results label: the generator's, plus a warning if a stand-in FaceNet trained this encoder."""
        if self.meta.get("facenet_standin"):
            return generator_label + " | encoder trained with a STAND-IN random FaceNet"
        return generator_label


class LoadedEncoder(_Encoder, savedmodel.SavedModel):
    """An exported encoder: faces -> latents (numpy), with the meta it was trained under."""

    def __init__(self, folder):
        super().__init__(folder, META_FILE, "encoder", "resnet.py")

    def __call__(self, faces):
        return super().__call__(faces)["latents"]


def write_encoder_weights(model, meta, path, dtype=np.float32):
    """The encoder as a weights file: its variables (floats as `dtype`) and the settings that
    rebuild it (`meta` needs input_size, latent_dim, width and head). Returns the SHA-256."""
    missing = [k for k in ("input_size", "latent_dim", "width", "head", "generator") if k not in meta]
    if missing:
        raise InputError(f"the encoder's settings lack {', '.join(missing)}")
    meta = {**meta, "format": WEIGHTS_FORMAT, "dtype": np.dtype(dtype).name}
    return weights_file.write(path, weights_file.keras_arrays(model, dtype), meta)


class EncoderWeights(_Encoder):
    """An encoder read from a weights file into `build_encoder`'s model: faces -> latents (numpy).
    `sha256` (a shipped file's) and `rebuild` (the command that remakes it) go to weights_file.read."""

    def __init__(self, path, sha256=None, rebuild=""):
        arrays, meta = weights_file.read(path, sha256, rebuild)
        if meta.get("format") != WEIGHTS_FORMAT:
            raise InputError(f"{path} is not an encoder weights file (format {meta.get('format')!r}, "
                             f"expected {WEIGHTS_FORMAT!r})")
        self.folder, self.meta = str(path), meta
        try:
            self.model = build_encoder(int(meta["input_size"]), int(meta["latent_dim"]),
                                       tuple(int(u) for u in meta["head"]), int(meta["width"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{path}: its settings do not describe an encoder ({error})") from None
        weights_file.assign_keras(self.model, arrays, path)
        self._predict = tf.function(lambda faces: self.model(faces, training=False), reduce_retracing=True)

    def output_shape(self, name):
        return self.model.output_shape

    def __call__(self, faces):
        return self._predict(tf.convert_to_tensor(faces, tf.float32)).numpy()


def encoder_meta(path):
    """An exported encoder's settings, without building it ({} where there are none to read)."""
    if str(path).endswith(".npz"):
        return weights_file.read_meta(path)
    meta_path = os.path.join(path, META_FILE)
    return files.load_json(meta_path) if os.path.isfile(meta_path) else {}


def load_encoder(path, sha256=None, rebuild=""):
    """An exported encoder: a weights file (.npz) or a SavedModel folder."""
    if str(path).endswith(".npz"):
        return EncoderWeights(path, sha256, rebuild)
    return LoadedEncoder(path)
