"""Recover the latents of test faces with a trained encoder (the paper's step 3).

Reads a face set (generate_faces.py; latent errors are reported against its
true latents) or any folder of aligned face images, runs encoder + generator,
and writes results/<method>/: reconstructions, latents.npy, a target |
reconstruction grid and metrics.json (PSNR, timing). Optionally interpolates
spherically from a recovered latent to another one (strip + GIF).

    python resnet_test.py                                               # paper setting
    python resnet_test.py --encoder saved_model/encoder_synthetic \\
        --faces z_vectors/synthetic/test --interpolate 8
"""
import argparse
import os
import time

import numpy as np

from faceinv import cli, metrics
from faceinv.encoder import LoadedEncoder
from faceinv.errors import InputError
from faceinv.face_sets import read_targets
from faceinv.generators import PROGAN_HANDLE, load_generator, sample_latents, tagged_path
from faceinv.interpolation import write_interpolation
from faceinv.progress import progress
from faceinv.results import write_results

PATH_ENCODER = "saved_model/encoder_{generator}"  # {generator}: the tag of --generator, else of GENERATOR
PATH_TEST = "z_vectors/{generator}/test"
PATH_RESULTS = "results"
GENERATOR = PROGAN_HANDLE


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", help=f"exported encoder (default: {PATH_ENCODER})")
    p.add_argument("--faces", help=f"face set or folder of faces (default: {PATH_TEST})")
    p.add_argument("--generator", help="generator handle (default: the one the encoder was trained with); "
                                       "its tag also names the default --encoder and --faces")
    p.add_argument("--name", "--method", dest="name", default="resnet",
                   help="the row's name: results subfolder and report row (default: %(default)s; --method is its old name)")
    p.add_argument("--out", help=f"output folder (default: {PATH_RESULTS}/<name>)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--interpolate", type=int, default=0, metavar="FRAMES",
                   help="also interpolate from the first recovered latent to a random one")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.batch_size <= 0:
        raise InputError(f"the batch size must be positive, not {args.batch_size}")
    paths_for = args.generator or GENERATOR
    args.encoder = args.encoder or tagged_path(PATH_ENCODER, paths_for)
    args.faces = args.faces or tagged_path(PATH_TEST, paths_for)
    encoder = LoadedEncoder(args.encoder)
    generator = load_generator(args.generator or encoder.meta["generator"])
    encoder.check_generator(generator)
    targets, names, true_latents, _ = read_targets(args.faces, generator.resolution, generator.handle)
    label = encoder.label(generator.label)
    print(f"generator: {generator.label}")

    def recover(batch):
        latents = encoder(batch)
        return latents.numpy(), np.asarray(generator(latents))

    recover(targets[:args.batch_size])  # trace (and compile) outside the clock, at the timed shape
    bar, outputs = progress(len(targets)), []
    start = time.perf_counter()
    for i in range(0, len(targets), args.batch_size):
        outputs.append(recover(targets[i:i + args.batch_size]))
        bar.add(len(outputs[-1][0]))
    seconds = time.perf_counter() - start
    latents = np.concatenate([o[0] for o in outputs])
    reconstructions = np.concatenate([o[1] for o in outputs])
    # Baselines: the face of the mean latent (zero), and a random latent's error.
    mean_face = np.asarray(generator(np.zeros((1, generator.latent_dim), np.float32)))
    baselines = {"mean_latent_psnr": float(metrics.psnr(targets, np.broadcast_to(mean_face, targets.shape)).mean())}
    if true_latents is not None:
        baselines["random_latent_mae"] = float(
            metrics.latent_mae(true_latents, sample_latents(len(true_latents), 999, generator.latent_dim)).mean())
    out = args.out or os.path.join(PATH_RESULTS, args.name)
    settings = {"encoder": os.path.abspath(args.encoder), "arguments": vars(args),
                "encoder_init_from": encoder.meta.get("config", {}).get("init_from"),
                "encoder_facenet": encoder.meta.get("facenet"), **baselines}
    record = write_results(out, args.name, names, targets, reconstructions, latents, label=label,
                           seconds=seconds, faces_folder=args.faces, evaluations_per_face=1,
                           true_latents=true_latents, extra=settings)
    summary = (f"{len(names)} faces in {seconds:.2f} s, PSNR {record['psnr_mean']:.2f} dB "
               f"(mean-latent face: {baselines['mean_latent_psnr']:.2f} dB)")
    if true_latents is not None:
        summary += (f", latent MAE {record['latent_mae']:.3f} "
                    f"(random latent: {baselines['random_latent_mae']:.3f})")
    print(f"{summary}; wrote {out}")
    if args.interpolate > 1:
        write_interpolation(out, generator, latents[0], sample_latents(1, 12345, generator.latent_dim)[0],
                            args.interpolate, label)


if __name__ == "__main__":
    cli.run(main)
