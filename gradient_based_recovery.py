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
Writes results/<method>/: reconstructions, latents.npy, grid.png, metrics.json,
and the per-step loss curves losses.csv and losses.png.

    python gradient_based_recovery.py --method adam                     # paper setting
    python gradient_based_recovery.py --method stochastic-clipping --faces z_vectors/synthetic/test
    python gradient_based_recovery.py --method encoder-init --encoder saved_model/encoder_synthetic \\
        --faces z_vectors/synthetic/test --loss mae=1,ms-ssim=0.5
"""
import argparse
import os
import time

import numpy as np

from faceinv import cli
from faceinv.encoder import LoadedEncoder
from faceinv.errors import InputError
from faceinv.face_sets import face_set_files, is_face_set, read_targets
from faceinv.facenet import DEFAULT as FACENET_HANDLE, HELP as FACENET_HELP, load_facenet
from faceinv.generators import PROGAN_HANDLE, load_generator, sample_latents, tagged_path
from faceinv.gradient_recovery import (BASELINE_LR, BASELINE_STEPS, FACENET, HYBRID_LR, HYBRID_STEPS, ImageLoss,
                                       parse_loss_weights, recover_latents)
from faceinv.progress import progress
from faceinv.results import write_loss_curves, write_results

PATH_TEST = "z_vectors/{generator}/test"  # {generator}: the tag of --generator, else of GENERATOR
PATH_ENCODER = "saved_model/encoder_{generator}"
PATH_RESULTS = "results"
GENERATOR = PROGAN_HANDLE
METHODS = ("adam", "stochastic-clipping", "encoder-init", "mean-latent")
INIT_SEED = 2020  # not 0 or 1: those seeds drew the test and training sets


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=METHODS, default="adam")
    p.add_argument("--faces", help=f"face set or folder of faces (default: {PATH_TEST})")
    p.add_argument("--generator", help="generator handle (default: the face set's or the encoder's, "
                                       f"else {GENERATOR}); its tag names the default --faces and --encoder")
    p.add_argument("--encoder", help=f"exported encoder, for encoder-init (default: {PATH_ENCODER})")
    p.add_argument("--steps", type=int, help=f"Adam steps (default: {BASELINE_STEPS}; "
                                             f"{HYBRID_STEPS} for encoder-init)")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default: {BASELINE_LR}; "
                                            f"{HYBRID_LR} for encoder-init)")
    p.add_argument("--loss", default="mae", help="image loss, e.g. mae or mae=1,ms-ssim=0.5 "
                                                 "(default: %(default)s)")
    p.add_argument("--clip", type=float, default=1.0, help="stochastic-clipping bound c (default: %(default)s)")
    p.add_argument("--facenet", default=FACENET_HANDLE, help="for the facenet loss: " + FACENET_HELP + " (default: %(default)s)")
    p.add_argument("--seed", type=int, default=INIT_SEED, help="seed of the random start and the clipping draws")
    p.add_argument("--batch-size", type=int, default=50, help="faces optimised at once (default: %(default)s)")
    p.add_argument("--name", help="results subfolder (default: the method)")
    p.add_argument("--out", help=f"output folder (default: {PATH_RESULTS}/<name>)")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    hybrid = a.method == "encoder-init"
    steps = a.steps if a.steps is not None else (HYBRID_STEPS if hybrid else BASELINE_STEPS)
    if a.method == "mean-latent":
        steps = 0
    lr = a.lr if a.lr is not None else (HYBRID_LR if hybrid else BASELINE_LR)
    if steps < 0 or a.batch_size <= 0 or lr <= 0 or a.clip <= 0:
        raise InputError("--steps must be >= 0 and --batch-size, --lr and --clip positive")
    weights = parse_loss_weights(a.loss)
    paths_for = a.generator or GENERATOR
    a.faces = a.faces or tagged_path(PATH_TEST, paths_for)
    if hybrid:
        a.encoder = a.encoder or tagged_path(PATH_ENCODER, paths_for)
    encoder = LoadedEncoder(a.encoder) if hybrid else None
    handle = a.generator
    if handle is None and is_face_set(a.faces):
        handle = face_set_files(a.faces)[2].get("generator")
    handle = handle or (encoder.meta["generator"] if encoder else GENERATOR)
    generator = load_generator(handle)
    if encoder is not None:
        encoder.check_generator(generator)
    targets, names, true_latents, _ = read_targets(a.faces, generator.resolution, generator.handle)
    facenet = load_facenet(a.facenet) if FACENET in weights else None
    label = encoder.label(generator.label) if encoder else generator.label
    if facenet is not None and facenet.is_standin:
        label += " | STAND-IN random FaceNet loss"
    print(f"generator: {generator.label}")

    init_seconds = 0.0
    if encoder is not None:
        encoder(targets)  # trace outside the clock
        start = time.perf_counter()
        initial = encoder(targets).numpy()
        init_seconds = time.perf_counter() - start
    elif a.method == "mean-latent":
        initial = np.zeros((len(targets), generator.latent_dim), np.float32)
    else:
        initial = sample_latents(len(targets), a.seed, generator.latent_dim)
    batches = -(-len(targets) // a.batch_size)
    bar = progress(max(steps * batches, 1), unit="step")
    recovery = recover_latents(generator, targets, initial, ImageLoss(weights, facenet), steps, lr,
                               a.clip if a.method == "stochastic-clipping" else None, a.seed,
                               a.batch_size, bar)
    name = a.name or a.method
    out = a.out or os.path.join(PATH_RESULTS, name)
    settings = {"steps": steps, "learning_rate": lr, "loss": weights, "seed": a.seed,
                "batch_size": a.batch_size,
                "start": "encoder" if encoder else "zero" if a.method == "mean-latent" else "standard normal",
                "clip_bound": a.clip if a.method == "stochastic-clipping" else None,
                "encoder": os.path.abspath(a.encoder) if encoder else None,
                "encoder_seconds": init_seconds, "final_loss": recovery.curves["loss"][-1],
                "arguments": vars(a)}
    record = write_results(out, name, names, targets, recovery.images, recovery.latents, label=label,
                           seconds=init_seconds + recovery.seconds, faces_folder=a.faces,
                           evaluations_per_face=recovery.evaluations_per_face, true_latents=true_latents,
                           extra=settings)
    write_loss_curves(out, recovery.curves, f"{name}: mean loss per face", label)
    summary = (f"{len(names)} faces, {steps} steps in {record['seconds']:.2f} s, "
               f"PSNR {record['psnr_mean']:.2f} dB")
    if true_latents is not None:
        summary += f", latent MAE {record['latent_mae']:.3f}"
    print(f"{summary}; wrote {out}")


if __name__ == "__main__":
    cli.run(main)
