"""Encoder training steps per second and recovered faces per second.

    python benchmarks/bench_encoder.py                         # synthetic + ProGAN stand-in
    python benchmarks/bench_encoder.py --generators synthetic --input-size 224

A training step here is one online batch: the generator renders the faces,
the encoder predicts latents, and with --pixel the generator renders them
again for the pixel loss (backpropagated through it). Recovery is encoder +
generator on a batch of faces, as resnet_test.py times it. No FaceNet: its
cost is the same for every method.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faceinv import cli  # noqa: E402  (quiets TensorFlow first)
from faceinv.encoder_training import EncoderTrainer, TrainConfig  # noqa: E402
from faceinv.generators import load_generator, sample_latents  # noqa: E402


def timed(function, repeats):
    function()  # trace / compile outside the clock
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generators", nargs="+", default=["synthetic", "progan-standin"])
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"input {args.input_size}px, batch {args.batch_size}")
    print("generator | losses | train steps/s | faces/s")
    for handle in args.generators:
        generator = load_generator(handle)
        for name, pixel in (("z", 0.0), ("z + pixel", 1.0)):
            scratch = tempfile.mkdtemp()
            config = TrainConfig(generator=handle, online=True, batch_size=args.batch_size,
                                 input_size=args.input_size, perceptual_weight=0.0,
                                 pixel_weight=pixel, steps_per_epoch=args.repeats + 1,
                                 log_dir=scratch, checkpoint_dir=scratch, export_dir=scratch)
            trainer = EncoderTrainer(config, generator=generator)
            batches = iter(trainer._dataset("generated", 0))
            seconds = timed(lambda: float(trainer.steps["generated"](next(batches))["loss"]), args.repeats)
            print(f"{handle} | {name} | {1 / seconds:.3f} | {args.batch_size / seconds:.1f}", flush=True)
            shutil.rmtree(scratch)
        faces = generator(sample_latents(args.batch_size, 0, generator.latent_dim))
        encoder = trainer.encoder
        seconds = timed(lambda: generator(encoder(faces, training=False)).numpy(), args.repeats)
        print(f"{handle} | recovery (encoder + generator) | - | {args.batch_size / seconds:.1f}", flush=True)


if __name__ == "__main__":
    cli.run(main)
