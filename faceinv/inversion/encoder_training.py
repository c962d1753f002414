"""Training the encoder, as resnet.py runs it.

The paper's schedule: an epoch on generated faces (z-loss + perceptual loss,
pixel loss optional), then, when a folder of real faces is given, an epoch on
real faces (pixel + perceptual loss: their latents are unknown), alternating.
Training on real faces alone makes the encoder forget the latent mapping.

The steps run under a tf.distribute strategy: MirroredStrategy over the visible
GPUs, or MultiWorkerMirroredStrategy when TF_CONFIG names several machines, so
scaling out changes no code. Each replica takes its slice of every global batch,
its loss is its share of the global mean, and BatchNorm's statistics are summed
over the replicas (resnet18.py), so several workers train the model one worker
would train on the same global batches (tested with two local workers). A checkpoint is written after every epoch; a
rerun resumes after the last finished epoch and, because each epoch's shuffle
is seeded by (seed, epoch), sees the same batches it would have seen.
"""
import dataclasses
import os
import tempfile

import keras
import tensorflow as tf

from faceinv import files
from faceinv.config import CONFIG_FILE, check_non_negative, check_positive, setting
from faceinv.data import pipelines
from faceinv.data.face_sets import face_set_files
from faceinv.errors import InputError
from faceinv.inversion import losses
from faceinv.models import weights_file
from faceinv.models.encoder import EncoderWeights, build_encoder, export_encoder
from faceinv.models.facenet import DEFAULT as FACENET
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.facenet import RANDOM as FACENET_RANDOM
from faceinv.models.facenet import load_facenet
from faceinv.models.generators import GENERATOR, GENERATOR_HELP, load_generator
from faceinv.paths import PATH_CHECKPOINTS, PATH_LOGS, PATH_SAVED_MODEL
from faceinv.training import Training, is_chief


@dataclasses.dataclass
class TrainConfig:
    """The encoder's training settings (resnet.py's flags come from them)."""
    generator: str = setting(GENERATOR, GENERATOR_HELP)
    train_faces: str = setting("", "face set folder of training faces (generate_faces.py)", flags=("--train",))
    online: bool = setting(False, "render fresh faces every batch instead of reading a face set")
    real_faces: str = setting("", "folder of aligned real faces (prepare_real_faces.py): epochs alternate "
                                  "between generated and real faces", flags=("--real",))
    epochs: int = setting(10, "epochs in all (a rerun resumes up to this)")
    steps_per_epoch: int = setting(500, "batches per epoch with --online")
    batch_size: int = setting(32, "faces per step")
    input_size: int = setting(224, "the encoder's input resolution (faces are resized inside the model)")
    width: int = setting(64, "channels of ResNet18's first stage (64, He et al.'s; the later stages double it)")
    head: str = setting("2048,1024", "units of the ReLU dense layers between ResNet18 and the latent, "
                                     "comma-separated (the paper's 2048,1024; '' maps features to latents linearly)")
    learning_rate: float = setting(2e-4, "Adam's learning rate", flags=("--lr",))
    lr_schedule: str = setting("constant", "constant, or cosine: decays the learning rate to 0 over --epochs "
                                           "(a longer rerun stretches the decay)", choices=("constant", "cosine"))
    beta1: float = setting(0.5, "Adam's beta1")
    z_weight: float = setting(1.0, "weight of the z-loss (mean absolute error of latents) on generated faces")
    pixel_weight: float = setting(0.0, "weight of the pixel loss (mean absolute error of images) on generated faces")
    perceptual_weight: float = setting(1.0, "weight of the FaceNet feature loss on generated faces")
    real_pixel_weight: float = setting(1.0, "weight of the pixel loss on real faces")
    real_perceptual_weight: float = setting(1.0, "weight of the FaceNet feature loss on real faces")
    facenet: str = setting(FACENET, FACENET_HELP)
    mixed_precision: bool = setting(False, "float16 compute (GPUs)")
    seed: int = setting(0, "seeds the initial encoder and each epoch's shuffle")
    init_from: str = setting("", "start from the encoder weights of another run's checkpoint folder "
                                 "(e.g. checkpoints/<run>) or of an encoder weights file (.npz, such as "
                                 "the shipped one): a costly loss or a longer schedule refines what a "
                                 "cheap one trained", metavar="CHECKPOINTS_OR_NPZ")
    log_dir: str = setting(os.path.join(PATH_LOGS, "encoder"), "TensorBoard folder", output=True)
    checkpoint_dir: str = setting(os.path.join(PATH_CHECKPOINTS, "encoder"), "checkpoint folder (resumed from)",
                                  output=True)
    export_dir: str = setting(os.path.join(PATH_SAVED_MODEL, "encoder"), "where the trained encoder is exported",
                              output=True)


def make_strategy():
    """Several machines (TF_CONFIG), several GPUs, or the default one-device strategy."""
    if "TF_CONFIG" in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def head_units(head):
    """'2048,1024' -> (2048, 1024); '' -> ()."""
    try:
        units = tuple(int(u) for u in head.replace(" ", "").split(",") if u)
    except ValueError:
        raise InputError(f"--head {head!r} is not a comma-separated list of layer sizes") from None
    if any(u <= 0 for u in units):
        raise InputError(f"--head {head!r}: layer sizes must be positive")
    return units


def _check(config):
    check_positive(config, "epochs", "batch_size", "steps_per_epoch", "input_size", "learning_rate", "width")
    head_units(config.head)
    check_non_negative(config, "z_weight", "pixel_weight", "perceptual_weight", "real_pixel_weight",
                       "real_perceptual_weight")
    if config.online == bool(config.train_faces):
        raise InputError("give either a face set (--train) or --online, not both or neither")


class EncoderTrainer(Training):
    """Holds the networks and the compiled steps; `fit()` runs the epochs."""
    shown = ("loss", "z_loss", "pixel_loss", "perceptual_loss")

    def __init__(self, config, generator=None):
        _check(config)
        self.strategy = make_strategy()  # first: collective ops must be set up before TensorFlow starts
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
            pipelines.check_image_files(self.paths)
        self.real_paths = pipelines.folder_paths(config.real_faces) if config.real_faces else None
        needs_facenet = config.perceptual_weight > 0 or bool(self.real_paths and config.real_perceptual_weight > 0)
        self.facenet = load_facenet(config.facenet) if needs_facenet else None
        super().__init__(config, config.checkpoint_dir, config.log_dir)  # data checked: now the resume rule

        keras.utils.set_random_seed(config.seed)  # same seed, same initial encoder
        with self.strategy.scope():
            if config.mixed_precision:
                keras.mixed_precision.set_global_policy("mixed_float16")
            self.encoder = build_encoder(config.input_size, self.generator.latent_dim,
                                         head_units(config.head), config.width)
            keras.mixed_precision.set_global_policy("float32")
            optimizer = keras.optimizers.Adam(self._learning_rate(), beta_1=config.beta1)
            if config.mixed_precision:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.encoder.trainable_variables)
            self.optimizer = optimizer
            resumed = self.track(encoder=self.encoder, optimizer=self.optimizer)
        if not resumed and config.init_from:
            self._start_from(config.init_from)
        self.steps = {"generated": self._compile(self._generated_step),
                      "real": self._compile(self._real_step)}

    def _learning_rate(self):
        """The schedule follows the optimiser's step count, which the checkpoint keeps, so a resumed run
        continues the decay where it stopped."""
        c = self.config
        if c.lr_schedule == "cosine":
            steps = c.epochs * (c.steps_per_epoch if c.online else len(self.paths) // c.batch_size)
            return keras.optimizers.schedules.CosineDecay(c.learning_rate, decay_steps=max(steps, 1))
        return c.learning_rate

    def _start_from(self, folder):
        """The encoder weights of another run's last checkpoint or of a weights file (not an
        optimiser state): a costly loss can then refine an encoder that a cheap one trained first."""
        if folder.endswith(".npz"):
            start = EncoderWeights(folder)  # read as every script reads one: SHA-256, format, settings
            start.check_generator(self.generator)
            weights_file.assign_keras(self.encoder, weights_file.keras_arrays(start.model), folder)
            print(f"starting from the encoder weights of {folder}")
            return
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

    def epoch_batches(self, epoch):
        """The paper's schedule: generated faces, alternating with real ones when there are any."""
        c = self.config
        resolution = self.generator.resolution
        phase = "real" if self.real_paths and epoch % 2 == 1 else "generated"
        if phase == "real":
            batches = pipelines.faces_only(self.real_paths, c.batch_size, c.seed, epoch, resolution)
        elif c.online:
            batches = pipelines.online_latents(c.steps_per_epoch, c.batch_size, c.seed, epoch,
                                               self.generator.latent_dim)
        else:
            batches = pipelines.faces_with_latents(self.paths, self.latents, c.batch_size, c.seed, epoch,
                                                   resolution)
        steps = int(batches.cardinality())
        options = tf.data.Options()
        # Every worker builds the same batches and keeps its replicas' slices of each one.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return phase, self.strategy.experimental_distribute_dataset(batches.with_options(options)), steps

    def train_step(self, phase, batch):
        return self.steps[phase](*(batch if isinstance(batch, tuple) else (batch,)))

    def export(self):
        meta = run_meta(self.config, self.generator, self.epochs_done, self.facenet)
        if is_chief():
            export_encoder(self.encoder, self.config.export_dir, meta)
        else:  # every worker takes part in the export; only the chief's is kept
            with tempfile.TemporaryDirectory(prefix="faceinv-worker-") as scratch:
                export_encoder(self.encoder, os.path.join(scratch, "encoder"), meta)
        return meta


def run_meta(config, generator, epochs, facenet=None):
    """What an exported encoder records of the run that trained it (its encoder.json, or the
    settings inside a weights file): enough to rebuild it and to label its results."""
    return {"input_size": config.input_size, "latent_dim": generator.latent_dim,
            "width": config.width, "head": list(head_units(config.head)),
            "resolution": generator.resolution, "generator": generator.handle,
            "generator_label": generator.label, "standin": bool(generator.is_standin),
            "facenet": facenet.label if facenet else None,
            "facenet_standin": bool(facenet and facenet.is_standin),
            "epochs": epochs, "config": dataclasses.asdict(config)}


def encoder_from_checkpoints(folder):
    """(encoder, meta) of a resnet.py run's last checkpoint, rebuilt from the run's config.json.
    The FaceNet it trained with is named from its settings, not loaded."""
    settings_path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(settings_path):
        raise InputError(f"{folder} holds no resnet.py run (no {CONFIG_FILE})")
    values = files.load_json(settings_path)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = dataclasses.replace(TrainConfig(), **{k: v for k, v in values.items() if k in known})
    latest = tf.train.latest_checkpoint(folder)
    if latest is None:
        raise InputError(f"{folder} holds no checkpoint yet (resnet.py writes one after every epoch)")
    generator = load_generator(config.generator)
    encoder = build_encoder(config.input_size, generator.latent_dim, head_units(config.head), config.width)
    try:
        tf.train.Checkpoint(encoder=encoder).restore(latest).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        raise InputError(f"the encoder in {latest} does not fit its settings "
                         f"({str(error).splitlines()[0][:120]})") from None
    epochs = int(tf.train.load_variable(latest, "epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    meta = run_meta(config, generator, epochs)
    uses_facenet = config.perceptual_weight > 0 or (config.real_faces and config.real_perceptual_weight > 0)
    meta.update(facenet=config.facenet if uses_facenet else None,
                facenet_standin=bool(uses_facenet and config.facenet == FACENET_RANDOM), checkpoint=latest)
    return encoder, meta
