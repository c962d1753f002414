"""Training the attribute inverter, as attribute_inverter.py train runs it.

One step sees a batch of faces without the attribute (x) and one with it (y):
    add(x), remove(y)                      the edits
    remove(add(x)), add(remove(y))         the dual round trips
The discriminator learns the three classes (x: without, y: with, edits:
generated); both generators learn together from
    adversarial   the discriminator should see add(x) as "with", remove(y) as "without"
                  (with --eye-discriminator, the eye region's discriminator too)
    dual          each round trip should give back its input (L1)
    residual      L1 of both residuals: small, local edits
    perceptual    the discriminator's features of an edit should match its input's
    mask          with --attention, the mean attention mask
    facenet       with --facenet-weight, FaceNet's features of each edit should
                  match its input's (the encoder's perceptual loss; costly)
All three networks update from the same forward pass. With --ema, a moving
average of the generators' weights is kept beside them, and it is the average
that is validated, previewed and exported: the adversarial game makes the
generators' edits swing from one epoch to the next, and the average of nearby
weights draws steadier ones (as StyleGAN's and BigGAN's published generators
are). A checkpoint is written after every epoch; rerunning the same command
resumes after the last one.
"""
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from faceinv import files
from faceinv.config import check_non_negative, check_positive, setting
from faceinv.editing import attribute_data, eyeglasses
from faceinv.editing import residual_gan as gan
from faceinv.errors import InputError
from faceinv.inversion.losses import perceptual_loss
from faceinv.models.facenet import DEFAULT as FACENET
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.facenet import load_facenet
from faceinv.paths import PATH_CHECKPOINTS, PATH_INVERTERS, PATH_LOGS
from faceinv.training import Training, adam

PREVIEW_COLUMNS = ["without", "added", "with", "removed"]


@dataclasses.dataclass
class InverterConfig:
    """The inverter's training settings (attribute_inverter.py train's flags come from them)."""
    size: int = setting(None, "training resolution (default: the data's own)", type=int)
    width: int = setting(64, "channels of the first layer; the rest scale with it")
    attention: bool = setting(False, "learn a mask: residual = mask * tanh(r), with the mean mask penalised")
    upsample: str = setting("resize", "the generators' upsampling: bilinear resize then conv, or the paper's "
                                      "stride-2 transposed conv (leaves a checkerboard)",
                            choices=gan.UPSAMPLING, paper="transposed")
    skips: bool = setting(False, "U-Net skip connections: each upsampling block also sees the encoder's map")
    blocks: int = setting(0, "residual blocks at a quarter of the size, each widening the window a generator "
                             "draws a pixel from by up to 16 px (CycleGAN's generator has 6)")
    edit: str = setting("residual", "how an edit is drawn: a residual added to the face (the paper's), or a "
                                    "colour blended over it under a learnt mask (implies a mask, penalised by "
                                    "--mask-weight)", choices=gan.EDITS, paper="residual")
    epochs: int = setting(100, "epochs in all (a rerun resumes up to this)")
    batch_size: int = setting(8, "faces of each class per step")
    learning_rate: float = setting(2e-4, "Adam's learning rate (both generators and the discriminator)",
                                   flags=("--lr",))
    d_learning_rate: float = setting(None, "the discriminator's learning rate (default: --lr)", type=float,
                                     flags=("--d-lr",))
    beta1: float = setting(0.5, "Adam's beta1")
    adversarial_weight: float = setting(1.0, "the discriminator should see add(x) as with, remove(y) as without")
    dual_weight: float = setting(10.0, "each round trip should give back its input (L1)")
    residual_weight: float = setting(5.0, "L1 of both residuals: small, local edits")
    perceptual_weight: float = setting(0.1, "the discriminator's features of an edit should match its input's")
    mask_weight: float = setting(0.05, "the mean mask, with --attention or --edit blend (both learn one)")
    facenet_weight: float = setting(0.0, "FaceNet perceptual loss: FaceNet's features of an edit should match "
                                         "its input's (the encoder's perceptual_loss)")
    facenet: str = setting(FACENET, FACENET_HELP)
    eye_discriminator: bool = setting(False, "a second discriminator on the eye region alone (the face's central "
                                             "half) at full detail; needs --size 128 or more")
    eye_width: int = setting(None, "channels of the eye discriminator's first layer (default: --width): it sees "
                                   "a quarter of the pixels, so a wider one costs little and can judge a rim's "
                                   "thickness and colour", type=int)
    ema: float = setting(0.0, "decay of the generators' weight average, per step, validated and exported in "
                              "their place (0: none; 0.995 averages over about 200 steps)", paper=0.0)
    keep: str = setting("last", "which epoch's generators are exported: the last, or the best on validation "
                                "faces, counting a face only when its edit also keeps the outside of the eye "
                                "region (needs a validation set: attribute_inverter.py has one for --data synthetic)",
                        choices=("last", "best"), paper="last")
    seed: int = setting(0, "seeds the networks' initial weights and the batches")
    checkpoint_dir: str = setting(os.path.join(PATH_CHECKPOINTS, "attribute_inverter"),
                                  "checkpoint folder (resumed from)", output=True)
    log_dir: str = setting(os.path.join(PATH_LOGS, "attribute_inverter"), "TensorBoard folder", output=True)
    export_dir: str = setting(PATH_INVERTERS,
                              "where both generators are exported", output=True)

    def check(self):
        if self.size % 32 or self.size < 64:
            raise InputError(f"--size must be a multiple of 32 and at least 64 (the discriminator halves "
                             f"it five times, and instance norm needs maps of 2x2 or more), not {self.size}")
        if self.eye_discriminator and self.size < 128:
            raise InputError(f"--eye-discriminator needs --size 128 or more (it sees half the face), not {self.size}")
        check_positive(self, "epochs", "batch_size", "width", "learning_rate")
        for optional in ("d_learning_rate", "eye_width"):
            if getattr(self, optional) is not None:
                check_positive(self, optional)
        if not 0.0 <= self.ema < 1.0:
            raise InputError(f"--ema must be in [0, 1), not {self.ema}")
        check_non_negative(self, "adversarial_weight", "dual_weight", "residual_weight", "perceptual_weight",
                           "mask_weight", "facenet_weight", "blocks")


class InverterTrainer(Training):
    """The two generators, the discriminator and the compiled step; `fit()` runs the epochs.

    With `validation` (eyeglasses.held_out_faces), every epoch is judged on those
    faces (strict success each way, in the history), and with keep="best" the
    generators of the epoch whose worse direction did best are kept and exported:
    the discriminator can win late in training and the edits then degrade. A
    face counts for that choice only if its edit also changes the face outside
    the eye region by less than eyeglasses.OUTSIDE_THRESHOLD: late epochs can
    buy a few more glasses with blotches on cheeks and hair."""
    shown = ("generator", "discriminator")

    def __init__(self, config, split, validation=None):
        config.check()
        if config.keep == "best" and validation is None:
            raise InputError("--keep best needs validation faces with a ground truth (--data synthetic)")
        self.validation = validation
        super().__init__(config, config.checkpoint_dir, config.log_dir)
        self.split = split
        self.steps_per_epoch = attribute_data.steps_per_epoch(split, config.batch_size)
        keras.utils.set_random_seed(config.seed)
        c = config
        self.add = self._generator("add")
        self.remove = self._generator("remove")
        self.discriminator = gan.build_discriminator(c.size, c.width)
        self.eye_discriminator = (gan.build_discriminator(c.size // 2, c.eye_width or c.width)
                                  if c.eye_discriminator else None)
        self.facenet = load_facenet(c.facenet) if c.facenet_weight > 0 else None
        self.generator_variables = self.add.trainable_variables + self.remove.trainable_variables
        self.g_optimizer = adam(c.learning_rate, c.beta1, self.generator_variables)
        self.d_variables = self.discriminator.trainable_variables + (
            self.eye_discriminator.trainable_variables if self.eye_discriminator else [])
        self.d_optimizer = adam(c.d_learning_rate or c.learning_rate, c.beta1, self.d_variables)
        # The weight average (--ema): validated, previewed and exported in the generators' place.
        averaged = {}
        if c.ema:
            self.ema_add, self.ema_remove = self._generator("ema_add"), self._generator("ema_remove")
            self.ema_add.set_weights(self.add.get_weights())
            self.ema_remove.set_weights(self.remove.get_weights())
            self.ema_variables = self.ema_add.trainable_variables + self.ema_remove.trainable_variables
            averaged = {"ema_add": self.ema_add, "ema_remove": self.ema_remove}
        # The best epoch so far on the validation faces: its generators, and its score.
        self.best_add = self._generator("best_add")
        self.best_remove = self._generator("best_remove")
        self.best_score = tf.Variable(-1.0, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        eye = {"eye_discriminator": self.eye_discriminator} if self.eye_discriminator else {}
        self.track(**eye, **averaged, add=self.add, remove=self.remove, discriminator=self.discriminator,
                   g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, best_add=self.best_add,
                   best_remove=self.best_remove, best_score=self.best_score, best_epoch=self.best_epoch)
        self.step = tf.function(self._train_step, jit_compile=True)

    def _generator(self, name):
        c = self.config
        return gan.build_generator(name, c.width, c.attention, c.upsample, c.skips, c.edit, c.blocks)

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
        if self.facenet:
            inputs = self.facenet(tf.concat([without, with_], 0))[0]
            out["facenet"] = perceptual_loss(inputs, self.facenet(tf.concat([added, removed], 0))[0])
            generator += c.facenet_weight * out["facenet"]
        if c.attention or c.edit == "blend":
            out["mask"] = (gan.mask_loss(added_mask[0]) + gan.mask_loss(removed_mask[0])) / 2
            generator += c.mask_weight * out["mask"]
        if self.eye_discriminator:
            batch = tf.concat([without, with_, added, removed], 0)
            e_without, e_with, e_added, e_removed = tf.split(self.eye_discriminator(gan.eye_crop(batch),
                                                                                    training=True)[0], 4)
            out["discriminator"] += gan.discriminator_loss(e_without, e_with, tf.concat([e_added, e_removed], 0))
            out["eye_adversarial"] = (gan.adversarial_loss(e_added, gan.WITH)
                                      + gan.adversarial_loss(e_removed, gan.WITHOUT)) / 2
            generator += c.adversarial_weight * out["eye_adversarial"]
        out["generator"] = generator
        return out

    def _train_step(self, without, with_):
        with tf.GradientTape(persistent=True) as tape:
            out = self.losses(without, with_)
        self.g_optimizer.apply(tape.gradient(out["generator"], self.generator_variables),
                               self.generator_variables)
        self.d_optimizer.apply(tape.gradient(out["discriminator"], self.d_variables), self.d_variables)
        del tape
        if self.config.ema:
            decay = self.config.ema
            for average, weight in zip(self.ema_variables, self.generator_variables):
                average.assign(decay * average + (1.0 - decay) * weight)
        return out

    def current_generators(self):
        """(add, remove) as this epoch ends: the weight average with --ema."""
        return (self.ema_add, self.ema_remove) if self.config.ema else (self.add, self.remove)

    def exported_generators(self):
        """(add, remove) as `export` writes them: the best epoch's with keep="best"."""
        return (self.best_add, self.best_remove) if self.config.keep == "best" else self.current_generators()

    def preview(self, count=4, exported=False):
        """A uint8 grid of fixed faces, one row each: without | added | with | removed
        (by the generators being trained, or with `exported` by those export writes)."""
        add, remove = self.exported_generators() if exported else self.current_generators()
        without, with_ = attribute_data.preview(self.split, self.config.size, count)
        added = add(without, training=False)[0].numpy()
        removed = remove(with_, training=False)[0].numpy()
        rows = np.stack([without, added, with_, removed], 1).reshape(-1, *without.shape[1:])
        return files.image_grid(rows, 4, self.split.label, PREVIEW_COLUMNS)

    def epoch_batches(self, epoch):
        c = self.config
        return "loss", attribute_data.pairs(self.split, c.size, c.batch_size, c.seed, epoch), self.steps_per_epoch

    def validate(self):
        """Strict success rates each way on the validation faces, the worse direction's
        mean outside change, and the score the best epoch is chosen by: the worse
        direction's rate of strict successes that also keep the outside
        (`success_kept`), ties broken by the better one's."""
        add, remove = self.current_generators()

        def edit(faces, direction):
            return (add if direction == "add" else remove)(faces, training=False)[:2]
        summary = eyeglasses.summarise(eyeglasses.judge(self.validation, edit))
        figures = {"validation_add": summary["add"]["success"], "validation_remove": summary["remove"]["success"],
                   "validation_outside": max(summary[d]["outside_mean"] for d in ("add", "remove"))}
        kept = summary["add"]["success_kept"], summary["remove"]["success_kept"]
        return figures, min(kept) + 1e-3 * max(kept)

    def end_of_epoch(self, epoch, writer):
        figures = {}
        with writer.as_default(step=epoch + 1):
            tf.summary.image("preview", self.preview()[None])
            if self.validation is not None:
                figures, score = self.validate()
                for key, value in figures.items():
                    tf.summary.scalar(f"validation/{key}", value)
                print(", ".join(f"{k} {v:.1%}" if "outside" not in k else f"{k} {v:.4f}"
                                for k, v in figures.items()))
                if score > self.best_score.numpy():
                    self.best_score.assign(score)
                    self.best_epoch.assign(epoch + 1)
                    add, remove = self.current_generators()
                    self.best_add.set_weights(add.get_weights())
                    self.best_remove.set_weights(remove.get_weights())
        return figures

    def export(self):
        best = self.config.keep == "best"
        epochs = int(self.best_epoch.numpy()) if best else self.epochs_done
        meta = {"size": self.config.size, "label": self.split.label, "source": self.split.source,
                "generator": self.split.generator, "attribute": self.split.attribute,
                "standin": self.split.source == "synthetic", "epochs": epochs, "epochs_trained": self.epochs_done,
                "faces_without": self.split.counts()[0], "faces_with": self.split.counts()[1],
                "facenet": self.facenet.label if self.facenet else None,
                "config": dataclasses.asdict(self.config)}
        gan.export_inverter(*self.exported_generators(), self.config.export_dir, meta)
        return meta
