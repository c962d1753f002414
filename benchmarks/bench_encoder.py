"""Encoder training steps per second and recovered faces per second; the shipped encoder's cost.

    python benchmarks/bench_encoder.py                         # DCGAN, synthetic, ProGAN stand-in
    python benchmarks/bench_encoder.py --generators synthetic --input-size 224
    python benchmarks/bench_encoder.py --generators dcgan-digiface --widths 64 32 --head ''
    python benchmarks/bench_encoder.py --shipped               # weights/ encoder vs Adam-200/1000

--shipped times, in one process on the same faces, the encoder the repository
ships for the DCGAN (one pass), the hybrid from it (its card's steps), Adam for
200 and for 1000 steps, and prints each one's seconds per face and its ratio to
Adam-200, with the PSNR each reaches on those faces.

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
import itertools
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
    parser.add_argument("--widths", type=int, nargs="+", default=[64], help="ResNet18 first-stage widths to time")
    parser.add_argument("--head", default="2048,1024", help="the encoder's dense head (resnet.py --head)")
    parser.add_argument("--shipped", action="store_true", help="time the shipped encoder against Adam instead")
    parser.add_argument("--faces", type=int, default=16, help="faces for --shipped")
    args = parser.parse_args(argv)
    if args.shipped:
        return shipped_costs(args.faces)
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
    print(f"head {args.head or 'none'}")
    print("generator | width | losses | train steps/s | faces/s")
    for handle, width in itertools.product(args.generators, args.widths):
        generator = load_generator(handle)
        for name, pixel in (("z", 0.0), ("z + pixel", 1.0)):
            scratch = tempfile.mkdtemp()
            config = TrainConfig(generator=handle, online=True, batch_size=args.batch_size,
                                 input_size=args.input_size, perceptual_weight=0.0,
                                 pixel_weight=pixel, steps_per_epoch=args.repeats + 1,
                                 width=width, head=args.head,
                                 log_dir=scratch, checkpoint_dir=scratch, export_dir=scratch)
            trainer = EncoderTrainer(config, generator=generator)
            _, batches, _ = trainer.epoch_batches(0)
            batches = iter(batches)
            seconds = timed(lambda: trainer.train_step("generated", next(batches))["loss"].numpy(), args.repeats)
            print(f"{handle} | {width} | {name} | {1 / seconds:.3f} | {args.batch_size / seconds:.1f}", flush=True)
            shutil.rmtree(scratch)
        faces = generator(sample_latents(args.batch_size, 0, generator.latent_dim))
        encoder = trainer.encoder
        seconds = timed(lambda: generator(encoder(faces, training=False)).numpy(), args.repeats)
        print(f"{handle} | {width} | recovery (encoder + generator) | - | {args.batch_size / seconds:.1f}",
              flush=True)


def shipped_costs(count, handle="dcgan-digiface"):
    """Seconds per face of the shipped encoder, the hybrid from it and Adam-200/1000, side by side."""
    from faceinv.inversion.encoder_choice import SHIPPED, hybrid_settings, load_chosen
    from faceinv.inversion.gradient_recovery import BASELINE_LR, INIT_SEED, ImageLoss, recover_latents
    from faceinv.report import metrics
    generator = load_generator(handle)
    path = SHIPPED[handle].path
    encoder = load_chosen(path)
    steps, lr = hybrid_settings(path)
    targets = generator(sample_latents(count, 7, generator.latent_dim)).numpy()

    def encode():
        return encoder(targets)
    encoder_seconds = timed(lambda: generator(encode()).numpy(), 3)
    rows = [("shipped encoder", 1, encoder_seconds, generator(encode()).numpy())]
    runs = [("hybrid from it", steps, lr, encode()), ("Adam, 200 steps", 200, BASELINE_LR, None),
            ("Adam, 1000 steps", 1000, BASELINE_LR, None)]
    for name, run_steps, run_lr, start in runs:
        initial = start if start is not None else sample_latents(count, INIT_SEED, generator.latent_dim)
        recovery = recover_latents(generator, targets, initial, ImageLoss({"mae": 1.0}), run_steps, run_lr,
                                   batch_size=count)
        seconds = recovery.seconds + (encoder_seconds if start is not None else 0.0)
        rows.append((name, recovery.evaluations_per_face, seconds, recovery.images))
    print(f"{path}, {count} faces of {generator.label}, one process")
    print("method | generator passes / face | s / face | time vs Adam-200 | PSNR (dB)")
    adam_200 = rows[2][2]
    for name, passes, seconds, images in rows:
        print(f"{name} | {passes} | {seconds / count:.4f} | {seconds / adam_200:.4f} | "
              f"{metrics.psnr(targets, images).mean():.2f}", flush=True)


if __name__ == "__main__":
    cli.run(main)
