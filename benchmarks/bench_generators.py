"""Faces per second of each generator at batch sizes 1, 16 and 64, and of the
whole generate_faces.py pipeline (drawing + PNG encoding on worker threads).

    python benchmarks/bench_generators.py                  # DCGAN, synthetic, ProGAN stand-in
    python benchmarks/bench_generators.py --generators synthetic

Figures are wall-clock on this machine; compare ratios measured in one run.
The ProGAN-128 stand-in has the real architecture and random weights: its
speed is the real model's, its faces are not faces.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faceinv import cli  # noqa: E402  (quiets TensorFlow first)
from faceinv.data.face_sets import write_face_set  # noqa: E402
from faceinv.models.generators import load_generator, sample_latents  # noqa: E402


def faces_per_second(generator, batch, min_seconds):
    z = sample_latents(batch, 0, generator.latent_dim)
    generator(z).numpy()  # trace / compile outside the clock
    calls, start = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - start < min_seconds:
        generator(z).numpy()
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generators", nargs="+", default=["dcgan-digiface", "synthetic", "progan-standin"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=5.0, help="minimum timing per figure")
    parser.add_argument("--pipeline-faces", type=int, default=1024,
                        help="faces written by the generate_faces pipeline (synthetic only)")
    args = parser.parse_args(argv)
    print("generator | batch | faces/s")
    for handle in args.generators:
        generator = load_generator(handle)
        for batch in args.batches:
            rate = faces_per_second(generator, batch, args.seconds)
            print(f"{handle} | {batch} | {rate:.1f}", flush=True)
        if handle == "synthetic" and args.pipeline_faces:
            raw = faces_per_second(generator, 64, args.seconds)
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                write_face_set(out, generator, args.pipeline_faces, seed=0, batch_size=64)
                piped = args.pipeline_faces / (time.perf_counter() - start)
            print(f"{handle} | generate_faces pipeline, batch 64, {args.pipeline_faces} PNGs | "
                  f"{piped:.1f} (generator alone {raw:.1f}; ratio {piped / raw:.2f})", flush=True)


if __name__ == "__main__":
    cli.run(main)
