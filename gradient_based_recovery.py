"""Recover latents by gradient descent through the generator (the paper's baselines) or
from the encoder's guess refined by a few steps (the hybrid).

Methods:
  adam                 Adam (lr 0.01) on the image loss from a N(0, 1) start, 200 steps.
  stochastic-clipping  the same; after every step, each latent entry outside [-c, c] is
                       redrawn uniformly from [-c, c] (Lipton and Tripathi 2017; c = 1).
  encoder-init         start from a trained encoder's prediction, then 30 Adam steps at lr 0.05.
  mean-latent          no search: every face gets the generator's face of z = 0, the
                       floor that a method must beat to have learned anything.

Losses (--loss, combinable with weights): mae, mse, ssim, ms-ssim, facenet.
With several GPUs visible, each batch is split over all of them; every face gets
the result one device gives it.
Writes results/<name>/: reconstructions, latents.npy, grid.png, metrics.json,
config.json and the per-step loss curves losses.csv and losses.png.

    python gradient_based_recovery.py --method adam                     # paper setting
    python gradient_based_recovery.py --method stochastic-clipping --faces z_vectors/synthetic/test
    python gradient_based_recovery.py --method encoder-init --encoder saved_model/encoder_synthetic \\
        --faces z_vectors/synthetic/test --loss mae=1,ms-ssim=0.5
"""
import dataclasses
import os
import time

import numpy as np

from faceinv import cli, config
from faceinv.config import setting
from faceinv.data.face_sets import face_set_files, is_face_set, read_targets
from faceinv.errors import InputError
from faceinv.inversion.encoder_choice import NONE, choose_encoder, hybrid_settings, load_chosen
from faceinv.inversion.gradient_recovery import (
    BASELINE_LR,
    BASELINE_STEPS,
    FACENET,
    INIT_SEED,
    ImageLoss,
    parse_loss_weights,
    recover_latents,
)
from faceinv.models.facenet import DEFAULT as FACENET_DEFAULT
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.facenet import load_facenet
from faceinv.models.generators import GENERATOR, generator_tag, load_generator, sample_latents, tagged_path
from faceinv.paths import PATH_ENCODER, PATH_RESULTS, PATH_TEST_FACES
from faceinv.progress import progress
from faceinv.report.results import write_loss_curves, write_results

METHODS = ("adam", "stochastic-clipping", "encoder-init", "mean-latent")


@dataclasses.dataclass
class Config:
    method: str = setting("adam", "the search", choices=METHODS)
    faces: str = setting(PATH_TEST_FACES, "face set or folder of faces ({generator}: the generator's tag)")
    generator: str = setting(None, "generator handle (default: the face set's or the encoder's, else "
                                   f"{GENERATOR}); its tag names the default --faces and --encoder", type=str)
    encoder: str = setting(None, "for encoder-init: encoder weights file (.npz) or exported folder (default: "
                                 "the one shipped for the generator in weights/, else one trained here, e.g. "
                                 f"{PATH_ENCODER})", type=str)
    steps: int = setting(None, f"Adam steps (default: {BASELINE_STEPS}; the encoder's own for encoder-init)",
                         type=int)
    learning_rate: float = setting(None, f"Adam learning rate (default: {BASELINE_LR}; the encoder's own for "
                                         "encoder-init)", type=float, flags=("--lr",))
    loss: str = setting("mae", "image loss, e.g. mae or mae=1,ms-ssim=0.5")
    clip: float = setting(1.0, "stochastic-clipping bound c")
    facenet: str = setting(FACENET_DEFAULT, "for the facenet loss: " + FACENET_HELP)
    seed: int = setting(INIT_SEED, "seed of the random start and the clipping draws")
    batch_size: int = setting(50, "faces optimised at once")
    name: str = setting(None, "results subfolder (default: the method)", type=str)
    out: str = setting(None, f"output folder (default: {PATH_RESULTS}/<name>)", type=str, output=True)


def resolve(c):
    """Fill the method's defaults, the encoder (by the one rule, encoder_choice.py) and the paths
    the generator's tag decides. The hybrid's steps and learning rate, where not given, are the
    chosen encoder's own."""
    paths_for = c.generator or GENERATOR
    encoder = NONE
    if c.method == "encoder-init":
        choice = choose_encoder(generator_tag(paths_for), c.encoder and tagged_path(c.encoder, paths_for))
        if choice.path == NONE:
            raise InputError(f"encoder-init needs an encoder: none in {tagged_path(PATH_ENCODER, paths_for)} and "
                             f"none shipped for {generator_tag(paths_for)} (resnet.py writes one)")
        print(choice.describe())
        encoder = choice.path
    default_steps, default_lr = hybrid_settings(encoder)
    steps = c.steps if c.steps is not None else default_steps
    lr = c.learning_rate if c.learning_rate is not None else default_lr
    if c.method == "mean-latent":
        steps = 0
    if steps < 0 or c.batch_size <= 0 or lr <= 0 or c.clip <= 0:
        raise InputError("--steps must be >= 0 and --batch-size, --lr and --clip positive")
    parse_loss_weights(c.loss)
    name = c.name or c.method
    return dataclasses.replace(c, steps=steps, learning_rate=lr, name=name,
                               encoder=encoder if encoder != NONE else c.encoder,
                               faces=tagged_path(c.faces, paths_for),
                               out=c.out or os.path.join(PATH_RESULTS, name))


def recover(c):
    c = resolve(c)
    weights = parse_loss_weights(c.loss)
    encoder = load_chosen(c.encoder) if c.method == "encoder-init" else None
    handle = c.generator
    if handle is None and is_face_set(c.faces):
        handle = face_set_files(c.faces)[2].get("generator")
    handle = handle or (encoder.meta["generator"] if encoder else GENERATOR)
    generator = load_generator(handle)
    if encoder is not None:
        encoder.check_generator(generator)
    targets, names, true_latents, _ = read_targets(c.faces, generator.resolution, generator.handle)
    facenet = load_facenet(c.facenet) if FACENET in weights else None
    label = encoder.label(generator.label) if encoder else generator.label
    if facenet is not None and facenet.is_standin:
        label += " | STAND-IN random FaceNet loss"
    print(f"generator: {generator.label}")

    init_seconds = 0.0
    if encoder is not None:
        encoder(targets)  # trace outside the clock
        start = time.perf_counter()
        initial = encoder(targets)
        init_seconds = time.perf_counter() - start
    elif c.method == "mean-latent":
        initial = np.zeros((len(targets), generator.latent_dim), np.float32)
    else:
        initial = sample_latents(len(targets), c.seed, generator.latent_dim)
    batches = -(-len(targets) // c.batch_size)
    bar = progress(max(c.steps * batches, 1), unit="step")
    clip = c.clip if c.method == "stochastic-clipping" else None
    recovery = recover_latents(generator, targets, initial, ImageLoss(weights, facenet), c.steps, c.learning_rate,
                               clip, c.seed, c.batch_size, bar)
    settings = {"steps": c.steps, "learning_rate": c.learning_rate, "loss": weights, "seed": c.seed,
                "batch_size": c.batch_size,
                "start": "encoder" if encoder else "zero" if c.method == "mean-latent" else "standard normal",
                "clip_bound": clip, "encoder": os.path.abspath(c.encoder) if encoder else None,
                "encoder_seconds": init_seconds, "final_loss": recovery.curves["loss"][-1],
                "devices": [device or "default" for device in recovery.devices]}
    record = write_results(c.out, c.name, names, targets, recovery.images, recovery.latents, label=label,
                           seconds=init_seconds + recovery.seconds, faces_folder=c.faces,
                           evaluations_per_face=recovery.evaluations_per_face, true_latents=true_latents,
                           extra=settings)
    write_loss_curves(c.out, recovery.curves, f"{c.name}: mean loss per face", label)
    config.write(c.out, c)
    summary = (f"{len(names)} faces, {c.steps} steps in {record['seconds']:.2f} s, "
               f"PSNR {record['psnr_mean']:.2f} dB")
    if true_latents is not None:
        summary += f", latent MAE {record['latent_mae']:.3f}"
    print(f"{summary}; wrote {c.out}")
    return record


def main(argv=None):
    recover(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
