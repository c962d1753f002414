"""Seconds and peak memory of each latent-recovery method on one batch of faces.

    python benchmarks/bench_recovery.py                       # GPU: 50 faces x 200 steps, ProGAN stand-in
    python benchmarks/bench_recovery.py --faces 4 --steps 5   # CPU: a smaller scale

Each method runs in its own process, so that its peak memory is its own: the
peak resident set size of the process, and on a GPU also TensorFlow's peak
device allocation. Times exclude loading and tracing, as the scripts' do.
encoder-init uses an untrained encoder (random weights): its cost, not its
quality, is measured. The generator is the ProGAN-128 architecture with random
weights by default, which costs what the real model costs.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faceinv import cli  # noqa: E402  (quiets TensorFlow first)

METHODS = ("adam", "stochastic-clipping", "encoder-init")


def measure(method, handle, faces, steps, hybrid_steps):
    """One method in this process; returns its figures."""
    import tensorflow as tf

    from faceinv.inversion.gradient_recovery import ImageLoss, recover_latents
    from faceinv.models.encoder import build_encoder
    from faceinv.models.generators import load_generator, sample_latents

    generator = load_generator(handle)
    latents = sample_latents(faces, 0, generator.latent_dim)
    targets = tf.concat([generator(latents[i:i + 8]) for i in range(0, faces, 8)], 0).numpy()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    start_seconds = 0.0
    if method == "encoder-init":
        encoder = build_encoder(224, generator.latent_dim)
        encoder(targets[:1], training=False)
        clock = time.perf_counter()
        initial = encoder(targets, training=False).numpy()
        start_seconds, steps = time.perf_counter() - clock, hybrid_steps
    else:
        initial = sample_latents(faces, 2020, generator.latent_dim)
    recovery = recover_latents(generator, targets, initial, ImageLoss({"mae": 1.0}), steps,
                               clip_bound=1.0 if method == "stochastic-clipping" else None,
                               batch_size=faces)
    figures = {"method": method, "faces": faces, "steps": steps,
               "seconds": start_seconds + recovery.seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
               "device": "GPU" if gpu else "CPU", "generator": generator.label}
    if gpu:
        figures["peak_gpu_mb"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="progan-standin")
    parser.add_argument("--faces", type=int, default=50)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--hybrid-steps", type=int, default=30)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.generator, args.faces, args.steps, args.hybrid_steps)))
        return
    print("method | faces | steps | seconds | s per face-step | peak RSS (MB) | peak GPU (MB)")
    for method in args.methods:
        command = [sys.executable, os.path.abspath(__file__), "--child", method, "--generator", args.generator,
                   "--faces", str(args.faces), "--steps", str(args.steps), "--hybrid-steps", str(args.hybrid_steps)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{method} failed:\n{done.stderr[-2000:]}")
        f = json.loads(done.stdout.strip().splitlines()[-1])
        per = f["seconds"] / max(f["faces"] * max(f["steps"], 1), 1)
        print(f"{f['method']} | {f['faces']} | {f['steps']} | {f['seconds']:.2f} | {per:.4f} | "
              f"{f['peak_rss_mb']:.0f} | {f.get('peak_gpu_mb', float('nan')):.0f}", flush=True)
    print(f"device: {f['device']}; generator: {f['generator']}")


if __name__ == "__main__":
    cli.run(main)
