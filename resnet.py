"""Train the ResNet18 encoder that maps a face to its latent (the paper's step 2).

Generated faces come from a face set written by generate_faces.py (or, with
--online, are rendered fresh every batch). With --real, epochs alternate
between generated faces (z-loss + perceptual loss) and real aligned faces
(pixel + perceptual loss), the paper's schedule. A checkpoint is written after
every epoch; rerun the same command to resume. The trained encoder is
exported as a SavedModel for resnet_test.py; the run's settings go beside the
checkpoints as config.json (`--config checkpoints/<run>/config.json` reruns it).

    python resnet.py                                           # the paper's setting
    python resnet.py --generator dcgan-digiface --online \\
        --input-size 64 --epochs 3 --steps-per-epoch 200      # offline, CPU, minutes
    tensorboard --logdir logs                                  # loss curves
"""
import dataclasses
import os

from faceinv import cli, config
from faceinv.config import override, setting
from faceinv.inversion.encoder_training import EncoderTrainer, TrainConfig
from faceinv.models.generators import generator_tag, tagged_path
from faceinv.paths import PATH_CHECKPOINTS, PATH_LOGS, PATH_SAVED_MODEL
from faceinv.training import is_chief

PATH_TRAIN_generated = "z_vectors/{generator}/train"  # {generator}: the generator's tag
PATH_TRAIN_real = ""  # aligned real faces (prepare_real_faces.py); "" trains on generated faces only


@dataclasses.dataclass
class Config(TrainConfig):
    """The encoder's settings (faceinv/inversion/encoder_training.py), with this script's paths."""
    train_faces: str = override(TrainConfig, "train_faces", PATH_TRAIN_generated)
    real_faces: str = override(TrainConfig, "real_faces", PATH_TRAIN_real)
    log_dir: str = override(TrainConfig, "log_dir", "")
    checkpoint_dir: str = override(TrainConfig, "checkpoint_dir", "")
    export_dir: str = override(TrainConfig, "export_dir", "")
    run: str = setting("", f"run name: {PATH_LOGS}/<run>, {PATH_CHECKPOINTS}/<run> and "
                           f"{PATH_SAVED_MODEL}/encoder_<run>, unless given one by one (default: the "
                           "generator's tag)", output=True)


def resolve(c):
    """Fill the folders the run's name and the generator's tag decide."""
    run = c.run or generator_tag(c.generator)
    return dataclasses.replace(
        c, run=run, train_faces="" if c.online else tagged_path(c.train_faces, c.generator),
        log_dir=c.log_dir or os.path.join(PATH_LOGS, run),
        checkpoint_dir=c.checkpoint_dir or os.path.join(PATH_CHECKPOINTS, run),
        export_dir=c.export_dir or os.path.join(PATH_SAVED_MODEL, f"encoder_{run}"))


def train(c):
    c = resolve(c)
    trainer = EncoderTrainer(c)
    print(f"generator: {trainer.generator.label}")
    for record in trainer.fit():
        print("  " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in record.items()))
    trainer.export()
    if is_chief():  # the other workers of a cluster trained the same encoder
        config.write(c.export_dir, c)
        print(f"exported the encoder to {c.export_dir}")
    return c


def main(argv=None):
    train(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
