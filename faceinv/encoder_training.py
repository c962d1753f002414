"""Training the encoder, as resnet.py runs it.

The paper's schedule: an epoch on generated faces (z-loss + perceptual loss,
pixel loss optional), then, when a folder of real faces is given, an epoch on
real faces (pixel + perceptual loss: their latents are unknown), alternating.
Training on real faces alone makes the encoder forget the latent mapping.

The steps run under a tf.distribute strategy: MirroredStrategy over the visible
GPUs, or MultiWorkerMirroredStrategy when TF_CONFIG names several machines, so
scaling out changes no code. A checkpoint is written after every epoch; a
rerun resumes after the last finished epoch and, because each epoch's shuffle
is seeded by (seed, epoch), sees the same batches it would have seen.
"""
import dataclasses
import math
import os

import keras
import tensorflow as tf

from faceinv import data, files, losses
from faceinv.progress import progress
from faceinv.encoder import build_encoder, export_encoder
from faceinv.errors import InputError, TrainingDiverged
from faceinv.face_sets import face_set_files
from faceinv.facenet import DEFAULT as DEFAULT_FACENET, load_facenet
from faceinv.generators import load_generator


@dataclasses.dataclass
class TrainConfig:
    generator: str
    train_faces: str = ""           # a face set folder (generate_faces.py); "" with online
    online: bool = False            # render fresh faces every batch instead
    real_faces: str = ""            # a folder of aligned real faces; "" for none
    epochs: int = 10
    steps_per_epoch: int = 500      # online epochs only
    batch_size: int = 32
    input_size: int = 224
    learning_rate: float = 2e-4
    beta1: float = 0.5
    z_weight: float = 1.0
    pixel_weight: float = 0.0
    perceptual_weight: float = 1.0
    real_pixel_weight: float = 1.0
    real_perceptual_weight: float = 1.0
    facenet: str = DEFAULT_FACENET
    mixed_precision: bool = False
    seed: int = 0
    init_from: str = ""             # another run's checkpoint folder: start from its encoder weights
    log_dir: str = "logs/encoder"
    checkpoint_dir: str = "checkpoints/encoder"
    export_dir: str = "saved_model/encoder"

    # Fields a resumed run must share with the run that wrote the checkpoints.
    RESUME_KEYS = ("generator", "train_faces", "online", "real_faces", "batch_size",
                   "input_size", "steps_per_epoch", "seed", "init_from")


def make_strategy():
    """Several machines (TF_CONFIG), several GPUs, or the default one-device strategy."""
    if "TF_CONFIG" in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _check(config):
    if config.epochs <= 0 or config.batch_size <= 0 or config.steps_per_epoch <= 0:
        raise InputError("epochs, batch size and steps per epoch must be positive")
    if config.online == bool(config.train_faces):
        raise InputError("give either a face set (--train) or --online, not both or neither")
    weights = [config.z_weight, config.pixel_weight, config.perceptual_weight,
               config.real_pixel_weight, config.real_perceptual_weight]
    if min(weights) < 0:
        raise InputError("loss weights must be non-negative")


def _check_resume(config):
    files.check_same_settings(os.path.join(config.checkpoint_dir, "run.json"),
                              {k: getattr(config, k) for k in TrainConfig.RESUME_KEYS},
                              "use another --checkpoint-dir or delete it")


class EncoderTrainer:
    """Holds the networks and the compiled steps; `fit()` runs the epochs."""

    def __init__(self, config, generator=None):
        _check(config)
        self.config = config
        self.generator = generator or load_generator(config.generator)
        if config.online:
            self.paths = self.latents = None
        else:
            self.paths, self.latents, meta = face_set_files(config.train_faces)
            if meta.get("generator") not in (None, self.generator.handle):
                raise InputError(f"{config.train_faces} was drawn by {meta['generator']!r}, "
                                 f"but the generator here is {self.generator.handle!r}")
            if len(self.paths) < config.batch_size:
                raise InputError(f"{config.train_faces} holds {len(self.paths)} faces, "
                                 f"fewer than one batch of {config.batch_size}")
            data.check_image_files(self.paths)
        self.real_paths = data.folder_paths(config.real_faces) if config.real_faces else None
        needs_facenet = config.perceptual_weight > 0 or bool(self.real_paths and config.real_perceptual_weight > 0)
        self.facenet = load_facenet(config.facenet) if needs_facenet else None
        _check_resume(config)

        self.strategy = make_strategy()
        keras.utils.set_random_seed(config.seed)  # same seed, same initial encoder
        with self.strategy.scope():
            if config.mixed_precision:
                keras.mixed_precision.set_global_policy("mixed_float16")
            self.encoder = build_encoder(config.input_size, self.generator.latent_dim)
            keras.mixed_precision.set_global_policy("float32")
            optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta1)
            if config.mixed_precision:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.encoder.trainable_variables)
            self.optimizer = optimizer
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(encoder=self.encoder, optimizer=self.optimizer,
                                              epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(self.checkpoint, config.checkpoint_dir, max_to_keep=3)
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            print(f"resuming from {self.manager.latest_checkpoint} (epoch {int(self.epoch.numpy())} done)")
        elif config.init_from:
            self._start_from(config.init_from)
        self.steps = {"generated": self._compile(self._generated_step),
                      "real": self._compile(self._real_step)}

    def _start_from(self, folder):
        """The encoder weights of another run's last checkpoint (not its optimiser state):
        a costly loss can then refine an encoder that a cheap one trained first."""
        latest = tf.train.latest_checkpoint(folder)
        if latest is None:
            raise InputError(f"--init-from {folder} holds no checkpoint (resnet.py writes them)")
        try:
            tf.train.Checkpoint(encoder=self.encoder).restore(latest).expect_partial().assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise InputError(f"the encoder in {latest} does not fit this one "
                             f"({str(error).splitlines()[0][:120]})") from None
        print(f"starting from the encoder weights of {latest}")

    def _compile(self, step):
        @tf.function
        def run(*batch):
            out = self.strategy.run(step, args=batch)
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                    for k, v in out.items()}
        return run

    def _losses(self, faces, true_latents, z_weight, pixel_weight, perceptual_weight):
        predicted = tf.cast(self.encoder(faces, training=True), tf.float32)
        out, total = {}, 0.0
        if true_latents is not None and z_weight > 0:
            out["z_loss"] = losses.z_loss(true_latents, predicted)
            total += z_weight * out["z_loss"]
        if pixel_weight > 0 or perceptual_weight > 0:
            reconstructions = self.generator(predicted)
            out["pixel_loss"] = losses.pixel_loss(faces, reconstructions)
            total += pixel_weight * out["pixel_loss"]
            if perceptual_weight > 0:
                target_features, target_embedding = self.facenet(faces)
                features, embedding = self.facenet(reconstructions)
                out["perceptual_loss"] = losses.perceptual_loss(target_features, features)
                out["embedding_distance"] = losses.embedding_distance(target_embedding, embedding)
                total += perceptual_weight * out["perceptual_loss"]
        out["loss"] = total
        return out

    def _replica_loss(self, loss):
        """The replica's share of the global mean, loss-scaled for float16; call inside the tape."""
        loss = loss / self.strategy.num_replicas_in_sync
        return self.optimizer.scale_loss(loss) if self.config.mixed_precision else loss

    def _apply(self, tape, loss):
        variables = self.encoder.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)

    def _generated_step(self, *batch):
        c = self.config
        with tf.GradientTape() as tape:
            if c.online:
                latents = batch[0]
                faces = tf.stop_gradient(self.generator(latents))
            else:
                faces, latents = batch
            out = self._losses(faces, latents, c.z_weight, c.pixel_weight, c.perceptual_weight)
            loss = self._replica_loss(out["loss"])
        self._apply(tape, loss)
        return out

    def _real_step(self, faces):
        c = self.config
        with tf.GradientTape() as tape:
            out = self._losses(faces, None, 0.0, c.real_pixel_weight, c.real_perceptual_weight)
            loss = self._replica_loss(out["loss"])
        self._apply(tape, loss)
        return out

    def _dataset(self, phase, epoch):
        c = self.config
        resolution = self.generator.resolution
        if phase == "real":
            return data.faces_only(self.real_paths, c.batch_size, c.seed, epoch, resolution)
        if c.online:
            return data.online_latents(c.steps_per_epoch, c.batch_size, c.seed, epoch,
                                       self.generator.latent_dim)
        return data.faces_with_latents(self.paths, self.latents, c.batch_size, c.seed, epoch, resolution)

    def phase(self, epoch):
        return "real" if self.real_paths and epoch % 2 == 1 else "generated"

    def fit(self):
        c = self.config
        writer = tf.summary.create_file_writer(c.log_dir)
        history = []
        for epoch in range(int(self.epoch.numpy()), c.epochs):
            phase = self.phase(epoch)
            batches = self._dataset(phase, epoch)
            steps = int(batches.cardinality())
            dataset = self.strategy.experimental_distribute_dataset(batches)
            print(f"epoch {epoch + 1}/{c.epochs} ({phase} faces)")
            bar, sums = progress(steps, unit="step"), {}
            for step, batch in enumerate(dataset):
                batch = batch if isinstance(batch, tuple) else (batch,)
                values = {k: float(v) for k, v in self.steps[phase](*batch).items()}
                if not math.isfinite(values["loss"]):
                    kept = self.manager.latest_checkpoint or "none yet"
                    raise TrainingDiverged(
                        f"loss became {values['loss']} at epoch {epoch + 1}, step {step + 1}; "
                        f"the last good checkpoint ({kept}) is intact: lower the learning "
                        "rate or check the data, then rerun to resume from it")
                with writer.as_default(step=epoch * steps + step):
                    for key, value in values.items():
                        tf.summary.scalar(f"{phase}/{key}", value)
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                bar.update(step + 1, values=list(values.items()))
            means = {k: v / max(steps, 1) for k, v in sums.items()}
            history.append({"epoch": epoch + 1, "phase": phase, **means})
            self.epoch.assign(epoch + 1)
            self.manager.save(checkpoint_number=epoch + 1)
            writer.flush()
        return history

    def export(self):
        meta = {"input_size": self.config.input_size, "latent_dim": self.generator.latent_dim,
                "resolution": self.generator.resolution, "generator": self.generator.handle,
                "generator_label": self.generator.label, "standin": bool(self.generator.is_standin),
                "facenet": self.facenet.label if self.facenet else None,
                "facenet_standin": bool(self.facenet and self.facenet.is_standin),
                "epochs": int(self.epoch.numpy()), "config": dataclasses.asdict(self.config)}
        export_encoder(self.encoder, self.config.export_dir, meta)
        return meta
