"""Scaling out: encoder training on one worker against two, the price of synchronised
BatchNorm on one device, and face generation in one process against n shards.

    python benchmarks/bench_scale.py                 # 2 workers, 2 shards
    python benchmarks/bench_scale.py --shards 4 --faces 2048

Each pair is measured side by side in this one run and printed as a ratio:
- training: `resnet.py --online` on `synthetic` (z-loss, no FaceNet), first in one
  process, then as two local workers (TF_CONFIG on loopback ports) sharing the
  same global batch; steps/s of the second epoch (the first traces);
- BatchNorm: the same encoder step in one process with `synchronized=True` (the
  encoder's) and with Keras' default; the best of --repeats timings of 5 steps;
- generation: `generate_faces.py --generator synthetic`, one process against
  --shards processes started together, then `--merge`; wall time from the
  first start to the merged set, process start-up included.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from faceinv import cli  # noqa: E402, F401  (quiets TensorFlow's start-up in this process)
from faceinv.training import local_worker_configs  # noqa: E402


def _run_all(commands, envs=None):
    """Start every command at once; wait for all; return the wall time and their outputs."""
    start = time.perf_counter()
    processes = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=dict(os.environ, **(env or {})))
                 for c, env in zip(commands, envs or [None] * len(commands))]
    outputs = [p.communicate()[0] for p in processes]
    for p, out in zip(processes, outputs):
        if p.returncode:
            raise SystemExit(f"a benchmark command failed:\n{out[-2000:]}")
    return time.perf_counter() - start, outputs


def training(folder, workers, args):
    """Steps/s of the second epoch of resnet.py on `workers` local processes."""
    command = [sys.executable, "resnet.py", "--generator", "synthetic", "--online", "--perceptual-weight", "0",
               "--input-size", str(args.input_size), "--batch-size", str(args.batch_size), "--epochs", "2",
               "--steps-per-epoch", str(args.steps), "--run", "bench",
               "--checkpoint-dir", os.path.join(folder, "ckpt"), "--log-dir", os.path.join(folder, "logs"),
               "--export-dir", os.path.join(folder, "encoder")]
    envs = None
    if workers > 1:
        envs = [{"TF_CONFIG": tf_config} for tf_config in local_worker_configs(workers)]
    _, outputs = _run_all([command] * workers, envs)
    seconds = float(re.search(r"epoch 2, .*seconds ([0-9.]+)", outputs[0]).group(1))
    return args.steps / seconds


def batch_norm_cost(args):
    """Seconds per encoder step with synchronised BatchNorm and with Keras' default."""
    import keras
    import numpy as np
    import tensorflow as tf

    from faceinv.models import resnet18
    from faceinv.models.encoder import build_encoder

    synchronised = resnet18.batch_norm
    faces = np.random.default_rng(0).random((args.batch_size, 64, 64, 3)).astype(np.float32)
    latents = np.random.default_rng(1).standard_normal((args.batch_size, 512)).astype(np.float32)
    times = {}
    for name, make in (("synchronized", synchronised),
                       ("default", lambda layer: keras.layers.BatchNormalization(name=layer))):
        resnet18.batch_norm = make
        encoder = build_encoder(args.input_size, 512)
        optimizer = keras.optimizers.Adam(2e-4)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.abs(encoder(faces, training=True) - latents))
            optimizer.apply(tape.gradient(loss, encoder.trainable_variables), encoder.trainable_variables)

        step()
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(5):
                step()
            best = min(best, (time.perf_counter() - start) / 5)
        times[name] = best
    resnet18.batch_norm = synchronised
    return times


def generation(folder, shards, faces):
    """Wall seconds of one process, and of `shards` processes plus the merge."""
    base = [sys.executable, "generate_faces.py", "--generator", "synthetic", "--n", str(faces)]
    whole, _ = _run_all([base + ["--out", os.path.join(folder, "whole")]])
    split = base + ["--out", os.path.join(folder, "split")]
    sharded, _ = _run_all([split + ["--shard", f"{i}/{shards}"] for i in range(shards)])
    merged, _ = _run_all([split + ["--merge"]])
    return whole, sharded + merged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch")
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--faces", type=int, default=1024)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        one = training(os.path.join(folder, "one"), 1, args)
        many = training(os.path.join(folder, "many"), args.workers, args)
        print(f"encoder training, global batch {args.batch_size}, input {args.input_size} px: "
              f"1 worker {one:.3f} steps/s, {args.workers} workers {many:.3f} steps/s (ratio {many / one:.2f})")
        times = batch_norm_cost(args)
        print(f"one device, batch {args.batch_size}: synchronised BatchNorm {times['synchronized']:.3f} s/step, "
              f"Keras' default {times['default']:.3f} s/step "
              f"(ratio {times['synchronized'] / times['default']:.2f})")
        whole, sharded = generation(folder, args.shards, args.faces)
        print(f"generation, {args.faces} synthetic faces: 1 process {whole:.1f} s ({args.faces / whole:.1f} faces/s), "
              f"{args.shards} shards + merge {sharded:.1f} s ({args.faces / sharded:.1f} faces/s; "
              f"ratio {whole / sharded:.2f})")


if __name__ == "__main__":
    main()
