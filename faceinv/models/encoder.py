"""The encoder: ResNet18 (from scratch, as in the paper) and a 2048-1024-latent_dim dense head.

Faces of any size go in (ResNet18 resizes them to `input_size`: the paper's 224,
or less to train faster on a CPU), so the exported SavedModel takes the
generator's images as they are.
"""
import keras

from faceinv import savedmodel
from faceinv.errors import InputError
from faceinv.models.resnet18 import resnet18

META_FILE = "encoder.json"
layers = keras.layers


def build_encoder(input_size, latent_dim):
    """ResNet18 + Dense(2048) + Dense(1024) + Dense(latent_dim): face -> latent
    (the paper: input 224, ProGAN's 512-d latent)."""
    faces = keras.Input((None, None, 3), name="faces")
    x = resnet18(faces, input_size)
    x = layers.Dense(2048, activation="relu", name="head_2048")(x)
    x = layers.Dense(1024, activation="relu", name="head_1024")(x)
    latents = layers.Dense(latent_dim, dtype="float32", name="latent")(x)
    return keras.Model(faces, latents, name="resnet18_encoder")


def export_encoder(model, folder, meta):
    """The encoder's SavedModel: faces -> latents [N, latent_dim], plus encoder.json."""
    savedmodel.export(model, folder, meta, META_FILE, ["latents"])


class LoadedEncoder(savedmodel.SavedModel):
    """An exported encoder: faces -> latents (numpy), with the meta it was trained under."""

    def __init__(self, folder):
        super().__init__(folder, META_FILE, "encoder", "resnet.py")

    def __call__(self, faces):
        return super().__call__(faces)["latents"]

    def check_generator(self, generator):
        """An encoder predicts latents of the generator it was trained for, and of its size."""
        dim = self.meta.get("latent_dim", int(self.output_shape("latents")[-1]))
        if dim != generator.latent_dim:
            raise InputError(f"the encoder {self.folder} predicts {dim}-d latents, but generator "
                             f"{generator.handle} takes {generator.latent_dim}-d ones")

    def label(self, generator_label):
        """A results label: the generator's, plus a warning if a stand-in FaceNet trained this encoder."""
        if self.meta.get("facenet_standin"):
            return generator_label + " | encoder trained with a STAND-IN random FaceNet"
        return generator_label
