"""Train the ResNet18 encoder that maps a face to its latent (the paper's step 2).

Generated faces come from a face set written by generate_faces.py (or, with
--online, are rendered fresh every batch). With --real, epochs alternate
between generated faces (z-loss + perceptual loss) and real aligned faces
(pixel + perceptual loss), the paper's schedule. A checkpoint is written after
every epoch; rerun the same command to resume. The trained encoder is
exported as a SavedModel for resnet_test.py.

    python resnet.py                                           # the paper's setting
    python resnet.py --generator dcgan-digiface --online \\
        --input-size 64 --epochs 3 --steps-per-epoch 200      # offline, CPU, minutes
    tensorboard --logdir logs                                  # loss curves
"""
import argparse
import os

from faceinv import cli
from faceinv.encoder_training import EncoderTrainer, TrainConfig
from faceinv.facenet import DEFAULT as FACENET, HELP as FACENET_HELP
from faceinv.generators import PROGAN_HANDLE, generator_tag, tagged_path

PATH_TRAIN_generated = "z_vectors/{generator}/train"  # {generator}: the generator's tag
PATH_TRAIN_real = ""  # aligned real faces (prepare_real_faces.py); "" trains on generated faces only
PATH_LOGS = "logs"
PATH_CHECKPOINTS = "checkpoints"
PATH_SAVED_MODEL = "saved_model"
GENERATOR = PROGAN_HANDLE


def parse_args(argv=None):
    d = TrainConfig(generator=GENERATOR)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default=GENERATOR, help="generator handle (default: %(default)s)")
    p.add_argument("--train", help=f"face set folder (default: {PATH_TRAIN_generated})")
    p.add_argument("--online", action="store_true", help="render fresh faces every batch instead of --train")
    p.add_argument("--real", default=PATH_TRAIN_real, help="folder of aligned real faces: alternate epochs")
    p.add_argument("--facenet", default=FACENET, help=FACENET_HELP + " (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch, help="with --online")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--input-size", type=int, default=d.input_size, help="encoder input (paper: 224)")
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--beta1", type=float, default=d.beta1)
    p.add_argument("--z-weight", type=float, default=d.z_weight)
    p.add_argument("--pixel-weight", type=float, default=d.pixel_weight)
    p.add_argument("--perceptual-weight", type=float, default=d.perceptual_weight)
    p.add_argument("--real-pixel-weight", type=float, default=d.real_pixel_weight)
    p.add_argument("--real-perceptual-weight", type=float, default=d.real_perceptual_weight)
    p.add_argument("--mixed-precision", action="store_true", help="float16 compute (GPUs)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--init-from", default=d.init_from, metavar="CHECKPOINTS",
                   help="start from the encoder weights of another run's checkpoint folder "
                        "(e.g. checkpoints/<run>): a costly loss refines what a cheap one trained")
    p.add_argument("--run", help="run name for logs/, checkpoints/ and saved_model/encoder_<run> "
                                 "(default: the generator's name)")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    run = a.run or generator_tag(a.generator)
    config = TrainConfig(
        generator=a.generator, train_faces="" if a.online else a.train or tagged_path(PATH_TRAIN_generated, a.generator),
        online=a.online,
        real_faces=a.real, epochs=a.epochs, steps_per_epoch=a.steps_per_epoch,
        batch_size=a.batch_size, input_size=a.input_size, learning_rate=a.lr, beta1=a.beta1,
        z_weight=a.z_weight, pixel_weight=a.pixel_weight, perceptual_weight=a.perceptual_weight,
        real_pixel_weight=a.real_pixel_weight, real_perceptual_weight=a.real_perceptual_weight,
        facenet=a.facenet, mixed_precision=a.mixed_precision, seed=a.seed, init_from=a.init_from,
        log_dir=os.path.join(PATH_LOGS, run), checkpoint_dir=os.path.join(PATH_CHECKPOINTS, run),
        export_dir=os.path.join(PATH_SAVED_MODEL, f"encoder_{run}"))
    trainer = EncoderTrainer(config)
    print(f"generator: {trainer.generator.label}")
    for record in trainer.fit():
        print("  " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in record.items()))
    trainer.export()
    print(f"exported the encoder to {config.export_dir}")


if __name__ == "__main__":
    cli.run(main)
