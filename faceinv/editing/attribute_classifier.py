"""A CelebA attribute classifier: the encoder's ResNet18 with one logit per attribute.

InterFaceGAN scores generated faces with a multi-task network trained on
CelebA's 40 binary attributes; this is that network, built from the same
ResNet18 as the encoder. It reads CelebA as distributed (faceinv/data/celeba.py),
each photo cut to the 128x128 window ProGAN's CelebA faces were cut from, so the
classifier sees faces framed as the generator draws them.
"""
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from faceinv import savedmodel
from faceinv.config import check_positive, setting
from faceinv.data import pipelines
from faceinv.data.celeba import celeba_photos, celeba_window, read_celeba_attributes
from faceinv.errors import InputError
from faceinv.models.resnet18 import resnet18
from faceinv.paths import PATH_CELEBA, PATH_CHECKPOINTS, PATH_LOGS, PATH_SAVED_MODEL
from faceinv.training import Training, adam

META_FILE = "classifier.json"


def build_classifier(n_attributes, input_size=128):
    faces = keras.Input((None, None, 3), name="faces")
    logits = keras.layers.Dense(n_attributes, dtype="float32", name="logits")(resnet18(faces, input_size))
    return keras.Model(faces, logits, name="resnet18_attributes")


def _dataset(paths, labels, batch_size, shuffle_seed=None):
    def load(path, label):
        return celeba_window(pipelines.decode(path)[None])[0], label
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed)
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass
class ClassifierConfig:
    """The attribute classifier's training settings (interfacegan_svm.py classifier's flags)."""
    celeba: str = setting(PATH_CELEBA, "CelebA folder (img_align_celeba/, list_attr_celeba.txt)")
    epochs: int = setting(5, "epochs in all (a rerun resumes up to this)")
    batch_size: int = setting(64, "photos per step")
    input_size: int = setting(128, "the network's input resolution")
    learning_rate: float = setting(1e-3, "Adam's learning rate", flags=("--lr",))
    limit: int = setting(0, "use only the first N photos (0: all)")
    validation: float = setting(0.1, "share of the photos held out to measure each attribute's accuracy")
    seed: int = setting(0, "seeds the held-out split, the network and the shuffle")
    checkpoint_dir: str = setting(os.path.join(PATH_CHECKPOINTS, "attributes_celeba"),
                                  "checkpoint folder (resumed from)", output=True)
    log_dir: str = setting(os.path.join(PATH_LOGS, "attributes_celeba"), "TensorBoard folder", output=True)
    export_dir: str = setting(os.path.join(PATH_SAVED_MODEL, "attributes_celeba"), "where the classifier is exported",
                              flags=("--out",), output=True)


class ClassifierTrainer(Training):
    """Binary cross-entropy on CelebA's 40 attributes, on the shared checkpointed loop."""
    shown = ("loss", "accuracy")

    def __init__(self, config):
        c = config
        check_positive(c, "epochs", "batch_size", "input_size", "learning_rate")
        if not 0 < c.validation < 1:
            raise InputError(f"--validation is a share of the photos, between 0 and 1, not {c.validation}")
        self.names, file_names, labels = read_celeba_attributes(c.celeba)
        if c.limit:
            file_names, labels = file_names[:c.limit], labels[:c.limit]
        paths = np.asarray(celeba_photos(c.celeba, file_names))
        order = np.random.default_rng(c.seed).permutation(len(paths))
        held = max(1, int(round(c.validation * len(paths))))
        if len(paths) - held < c.batch_size:
            raise InputError(f"{len(paths)} photos leave fewer than one batch of {c.batch_size} to train on")
        self.photos, self.held_out = len(paths), held
        super().__init__(config, config.checkpoint_dir, config.log_dir)  # data checked: now the resume rule
        self.train_set = (paths[order[held:]], labels[order[held:]])
        self.validation_set = (paths[order[:held]], labels[order[:held]])
        keras.utils.set_random_seed(c.seed)
        self.model = build_classifier(len(self.names), c.input_size)
        self.optimizer = adam(c.learning_rate, 0.9, self.model.trainable_variables)
        self.track(model=self.model, optimizer=self.optimizer)
        self.step = tf.function(self._step)

    def _step(self, faces, labels):
        with tf.GradientTape() as tape:
            logits = self.model(faces, training=True)
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(labels, logits, from_logits=True))
        variables = self.model.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        accuracy = tf.reduce_mean(tf.cast((logits > 0) == (labels > 0.5), tf.float32))
        return {"loss": loss, "accuracy": accuracy}

    def epoch_batches(self, epoch):
        paths, labels = self.train_set
        batches = _dataset(paths, labels, self.config.batch_size, self.config.seed + epoch)
        return "loss", batches, -(-len(paths) // self.config.batch_size)

    def held_out_accuracy(self):
        paths, labels = self.validation_set
        logits = np.concatenate([self.model(faces, training=False).numpy()
                                 for faces, _ in _dataset(paths, labels, self.config.batch_size)])
        return dict(zip(self.names, np.round(((logits > 0) == (labels > 0.5)).mean(axis=0), 4).tolist()))

    def export(self):
        c = self.config
        meta = {"attributes": self.names, "input_size": c.input_size, "celeba": os.path.abspath(c.celeba),
                "photos": self.photos, "held_out": self.held_out, "epochs": self.epochs_done,
                "held_out_accuracy": self.held_out_accuracy(), "config": dataclasses.asdict(c),
                "window": "ProGAN's 128x128 CelebA crop; give it generated faces as they are"}
        savedmodel.export(self.model, c.export_dir, meta, META_FILE, ["logits"])
        return meta


class LoadedClassifier(savedmodel.SavedModel):
    """An exported classifier: generated faces [N, 128, 128, 3] -> logits [N, 40]."""

    def __init__(self, folder):
        super().__init__(folder, META_FILE, "attribute classifier", "interfacegan_svm.py classifier")
        self.attributes = self.meta["attributes"]

    def __call__(self, faces):
        return super().__call__(faces)["logits"]
