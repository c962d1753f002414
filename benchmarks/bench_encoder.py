"""Encoder training steps per second and recovered faces per second.

    python benchmarks/bench_encoder.py                         # DCGAN, synthetic, ProGAN stand-in
    python benchmarks/bench_encoder.py --generators synthetic --input-size 224

It first times the input gradient of one convolution of ResNet18's last stage
(512 channels on a 2x2 map, the size at 64 px input): TensorFlow's own kernel
against the flipped forward convolution the encoder uses instead
(faceinv.models.encoder.Conv2D).

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

import tensorflow as tf  # noqa: E402, I001

from faceinv import cli  # noqa: E402  (quiets TensorFlow first)
from faceinv.inversion.encoder_training import EncoderTrainer, TrainConfig  # noqa: E402
from faceinv.models.generators import load_generator, sample_latents  # noqa: E402
from faceinv.models.resnet18 import conv_same  # noqa: E402


def timed(function, repeats):
    function()  # trace / compile outside the clock
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generators", nargs="+", default=["dcgan-digiface", "synthetic", "progan-standin"])
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    x = tf.random.stateless_normal([args.batch_size, 2, 2, 512], [0, 0])
    kernel = tf.random.stateless_normal([3, 3, 512, 512], [0, 1])
    upstream = tf.random.stateless_normal([args.batch_size, 2, 2, 512], [0, 2])
    stock = tf.function(lambda: tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.shape(x), filter=kernel, out_backprop=upstream, strides=[1, 1, 1, 1], padding="SAME"))

    @tf.function
    def ours():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = conv_same(x, kernel)
        return tape.gradient(y, x, output_gradients=upstream)
    seconds = [timed(lambda f=f: f().numpy(), 10 * args.repeats) for f in (stock, ours)]
    print(f"input gradient, 3x3 conv, 512 channels, 2x2 map, batch {args.batch_size}: TensorFlow "
          f"{1000 * seconds[0]:.1f} ms, flipped forward conv {1000 * seconds[1]:.1f} ms "
          f"(ratio {seconds[0] / seconds[1]:.1f})")
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
            _, batches, _ = trainer.epoch_batches(0)
            batches = iter(batches)
            seconds = timed(lambda: trainer.train_step("generated", next(batches))["loss"].numpy(), args.repeats)
            print(f"{handle} | {name} | {1 / seconds:.3f} | {args.batch_size / seconds:.1f}", flush=True)
            shutil.rmtree(scratch)
        faces = generator(sample_latents(args.batch_size, 0, generator.latent_dim))
        encoder = trainer.encoder
        seconds = timed(lambda: generator(encoder(faces, training=False)).numpy(), args.repeats)
        print(f"{handle} | recovery (encoder + generator) | - | {args.batch_size / seconds:.1f}", flush=True)


if __name__ == "__main__":
    cli.run(main)
