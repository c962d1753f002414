"""Training the attribute inverter, as attribute_inverter.py train runs it.

One step sees a batch of faces without the attribute (x) and one with it (y):
    add(x), remove(y)                      the edits
    remove(add(x)), add(remove(y))         the dual round trips
The discriminator learns the three classes (x: without, y: with, edits:
generated); both generators learn together from
    adversarial   the discriminator should see add(x) as "with", remove(y) as "without"
    dual          each round trip should give back its input (L1)
    residual      L1 of both residuals: small, local edits
    perceptual    the discriminator's features of an edit should match its input's
    mask          with --attention, the mean attention mask
All three networks update from the same forward pass. A checkpoint is written
after every epoch; rerunning the same command resumes after the last one.
"""
import dataclasses
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from faceinv import attribute_data, files
from faceinv import residual_gan as gan
from faceinv.progress import progress
from faceinv.errors import InputError, TrainingDiverged

PREVIEW_COLUMNS = ["without", "added", "with", "removed"]


@dataclasses.dataclass
class InverterConfig:
    data: str                       # description of the data (resume check)
    size: int                       # the faces' resolution
    width: int = 64
    attention: bool = False
    epochs: int = 100
    batch_size: int = 8
    learning_rate: float = 2e-4
    beta1: float = 0.5
    adversarial_weight: float = 1.0
    dual_weight: float = 10.0
    residual_weight: float = 5.0
    perceptual_weight: float = 0.1
    mask_weight: float = 0.05
    seed: int = 0
    checkpoint_dir: str = "checkpoints/attribute_inverter"
    log_dir: str = "logs/attribute_inverter"
    export_dir: str = "saved_model/attribute_inverter"

    # What a resumed run may change: how long it runs and where it writes.
    FREE_KEYS = ("epochs", "checkpoint_dir", "log_dir", "export_dir")

    def check(self):
        if self.size % 32 or self.size < 64:
            raise InputError(f"--size must be a multiple of 32 and at least 64 (the discriminator halves "
                             f"it five times, and instance norm needs maps of 2x2 or more), not {self.size}")
        if min(self.epochs, self.batch_size, self.width) <= 0:
            raise InputError("epochs, batch size and width must be positive")
        weights = [self.adversarial_weight, self.dual_weight, self.residual_weight,
                   self.perceptual_weight, self.mask_weight]
        if min(weights) < 0:
            raise InputError("loss weights must be non-negative")


class InverterTrainer:
    """The two generators, the discriminator and the compiled step; `fit()` runs the epochs."""

    def __init__(self, config, split):
        config.check()
        self.config, self.split = config, split
        self.steps_per_epoch = attribute_data.steps_per_epoch(split, config.batch_size)
        settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in config.FREE_KEYS}
        files.check_same_settings(os.path.join(config.checkpoint_dir, "run.json"), settings,
                                  "use another --run or delete its checkpoints")
        keras.utils.set_random_seed(config.seed)
        c = config
        self.add = gan.build_generator("add", c.width, c.attention)
        self.remove = gan.build_generator("remove", c.width, c.attention)
        self.discriminator = gan.build_discriminator(c.size, c.width)
        self.generator_variables = self.add.trainable_variables + self.remove.trainable_variables
        self.g_optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1)
        self.d_optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1)
        self.g_optimizer.build(self.generator_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(add=self.add, remove=self.remove,
                                              discriminator=self.discriminator,
                                              g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                                              epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(self.checkpoint, c.checkpoint_dir, max_to_keep=3)
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            print(f"resuming from {self.manager.latest_checkpoint} (epoch {int(self.epoch.numpy())} done)")
        self.train_step = tf.function(self._train_step, jit_compile=True)

    def losses(self, without, with_):
        """Every loss of one batch pair, as a dict of scalars (the step differentiates
        `generator` and `discriminator`)."""
        c = self.config
        added, added_residual, *added_mask = self.add(without, training=True)
        removed, removed_residual, *removed_mask = self.remove(with_, training=True)
        without_back = self.remove(added, training=True)[0]
        with_back = self.add(removed, training=True)[0]
        logits, features = self.discriminator(tf.concat([without, with_, added, removed], 0), training=True)
        l_without, l_with, l_added, l_removed = tf.split(logits, 4)
        f_without, f_with, f_added, f_removed = tf.split(features, 4)
        out = {
            "discriminator": gan.discriminator_loss(l_without, l_with, tf.concat([l_added, l_removed], 0)),
            "adversarial": (gan.adversarial_loss(l_added, gan.WITH)
                            + gan.adversarial_loss(l_removed, gan.WITHOUT)) / 2,
            "dual": (gan.dual_loss(without, without_back) + gan.dual_loss(with_, with_back)) / 2,
            "residual": (gan.residual_loss(added_residual) + gan.residual_loss(removed_residual)) / 2,
            "perceptual": (gan.discriminator_feature_loss(f_without, f_added)
                           + gan.discriminator_feature_loss(f_with, f_removed)) / 2,
        }
        generator = (c.adversarial_weight * out["adversarial"] + c.dual_weight * out["dual"]
                     + c.residual_weight * out["residual"] + c.perceptual_weight * out["perceptual"])
        if c.attention:
            out["mask"] = (gan.mask_loss(added_mask[0]) + gan.mask_loss(removed_mask[0])) / 2
            generator += c.mask_weight * out["mask"]
        out["generator"] = generator
        return out

    def _train_step(self, without, with_):
        with tf.GradientTape(persistent=True) as tape:
            out = self.losses(without, with_)
        d_variables = self.discriminator.trainable_variables
        self.g_optimizer.apply(tape.gradient(out["generator"], self.generator_variables),
                               self.generator_variables)
        self.d_optimizer.apply(tape.gradient(out["discriminator"], d_variables), d_variables)
        del tape
        return out

    def preview(self, count=4):
        """A uint8 grid of fixed faces, one row each: without | added | with | removed."""
        without, with_ = attribute_data.preview(self.split, self.config.size, count)
        added = self.add(without, training=False)[0].numpy()
        removed = self.remove(with_, training=False)[0].numpy()
        rows = np.stack([without, added, with_, removed], 1).reshape(-1, *without.shape[1:])
        return files.image_grid(rows, 4, self.split.label, PREVIEW_COLUMNS)

    def fit(self):
        c = self.config
        writer = tf.summary.create_file_writer(c.log_dir)
        history = []
        for epoch in range(int(self.epoch.numpy()), c.epochs):
            print(f"epoch {epoch + 1}/{c.epochs}")
            bar, sums, started = progress(self.steps_per_epoch, unit="step"), {}, time.perf_counter()
            batches = attribute_data.pairs(self.split, c.size, c.batch_size, c.seed, epoch)
            for step, (without, with_) in enumerate(batches):
                values = {k: float(v) for k, v in self.train_step(without, with_).items()}
                if not all(map(math.isfinite, values.values())):
                    kept = self.manager.latest_checkpoint or "none yet"
                    raise TrainingDiverged(
                        f"a loss became non-finite at epoch {epoch + 1}, step {step + 1} ({values}); "
                        f"the last good checkpoint ({kept}) is intact: lower the learning rate, "
                        "then rerun to resume from it")
                with writer.as_default(step=epoch * self.steps_per_epoch + step):
                    for key, value in values.items():
                        tf.summary.scalar(f"loss/{key}", value)
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                bar.update(step + 1, values=[(k, values[k]) for k in ("generator", "discriminator")])
            history.append({"epoch": epoch + 1, **{k: v / self.steps_per_epoch for k, v in sums.items()},
                            "seconds": time.perf_counter() - started})
            with writer.as_default(step=epoch + 1):
                tf.summary.image("preview", self.preview()[None])
            self.epoch.assign(epoch + 1)
            self.manager.save(checkpoint_number=epoch + 1)
            writer.flush()
        return history

    def export(self):
        meta = {"size": self.config.size, "label": self.split.label, "source": self.split.source,
                "standin": self.split.source == "synthetic", "epochs": int(self.epoch.numpy()),
                "faces_without": self.split.counts()[0], "faces_with": self.split.counts()[1],
                "config": dataclasses.asdict(self.config)}
        gan.export_inverter(self.add, self.remove, self.config.export_dir, meta)
        return meta
