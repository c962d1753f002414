"""The attribute inverter on synthetic eyeglasses: generator variants side by side.

    python benchmarks/bench_inverter.py                       # every variant, 64 px, width 8, 12 epochs
    python benchmarks/bench_inverter.py --variants transposed resize --epochs 4
    python benchmarks/bench_inverter.py --facenet-cost     # seconds per step with and without FaceNet
    python benchmarks/bench_inverter.py --runs c_s0 c_s1 c_s2  # mean and spread of finished, evaluated runs
    python benchmarks/bench_inverter.py --judge-calibration  # the strict judge on the true change, moved a pixel
    python benchmarks/bench_inverter.py --supervised 0 4     # can `add` draw glasses at all, given the answer?
    python benchmarks/bench_inverter.py --failures c_s0      # do a run's edits miss on colour or on placement?

Each variant trains with the same data, seed and loss weights through
attribute_inverter.py (runs bench_<variant>, kept under saved_model/, results/,
checkpoints/ and logs/ like any run, so a killed benchmark resumes), then
`evaluate` judges it on the same held-out faces. Printed per variant: seconds
per training step (median epoch after the first, which also compiles), the
strict success rate each way (amount >= 0.8 / <= 0.2 and change cosine >= 0.8)
with the lenient one (amount past 0.5) beside it, the mean change outside the
eye region, and the share of the residual's power at period 2 (checkerboard).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import attribute_inverter  # noqa: E402
from faceinv import cli, files  # noqa: E402
from faceinv.editing.eyeglasses import OUTSIDE_THRESHOLD, SUCCESS_TARGET  # noqa: E402
from faceinv.errors import InputError  # noqa: E402
from faceinv.paths import PATH_INVERTERS  # noqa: E402

VARIANTS = {
    "transposed": ["--upsample", "transposed"],                                   # the paper's generator
    "resize": [],
    "transposed_skips_attention": ["--upsample", "transposed", "--skips", "--attention"],
    "resize_skips_attention": ["--skips", "--attention"],
    "resize_skips_blend": ["--skips", "--edit", "blend", "--d-lr", "5e-5", "--keep", "best"],
}
MASKED = ("--attention", "blend")  # variants whose mask --mask-weight penalises


def _box_blur(images):
    """3x3 box blur of each channel (edges zero-padded)."""
    import tensorflow as tf
    kernel = np.full((3, 3, 3, 1), 1 / 9, np.float32)
    return np.asarray(tf.nn.depthwise_conv2d(np.asarray(images, np.float32), kernel, [1] * 4, "SAME"))


def judge_calibration(args):
    """How strict the strict judge is: the ground truth's own change, moved by a pixel,
    blurred or at part strength, scored like an edit on held-out faces at 64 and 128 px."""
    from faceinv.editing import eyeglasses
    from faceinv.models.generators import load_generator
    generator = load_generator("synthetic")
    changes = {"the true change": lambda d: d,
               "moved 1 px right": lambda d: np.roll(d, 1, 2),
               "moved 1 px down": lambda d: np.roll(d, 1, 1),
               "moved 1 px down and right": lambda d: np.roll(d, (1, 1), (1, 2)),
               "blurred (3x3 box)": _box_blur,
               "at 80% strength": lambda d: 0.8 * d}
    rows = []
    for size in (64, 128):
        held_out = eyeglasses.held_out_faces(generator, args.test_count, attribute_inverter.SYNTHETIC_TEST_SEED,
                                             size, batch_size=args.test_count)
        faces, off, on, region = held_out["add"][0]  # the faces without glasses, in one batch
        for name, change in changes.items():
            edited = faces + change(on - off)
            amount = eyeglasses.glasses_amount(edited, off, on)
            cosine = eyeglasses.change_cosine(faces, edited, on, region)
            strict = eyeglasses.successes("add", amount, cosine)[0]
            rows.append([f"{size} px", name, f"{np.median(amount):.3f}", f"{np.median(cosine):.3f}",
                         f"{100 * strict.mean():.1f}%"])
    print(f"\n{generator.label}: glasses put on {args.test_count} held-out faces (seed {attribute_inverter.SYNTHETIC_TEST_SEED}) by "
          "adding the renderer's own change, altered; strict: amount >= "
          f"{eyeglasses.ADD_AMOUNT} and cosine >= {eyeglasses.MIN_COSINE}")
    print(files.markdown_table(["size", "edit", "median amount", "median cosine", "strict success"], rows))


def failures(args):
    """What a trained run's failed edits miss: its test faces judged again with both
    the change each edit made and the true change in grey (each pixel's mean over
    the channels: a wrong tint no longer counts), and with both blurred by a 3x3
    box (a rim drawn a pixel thick or off no longer counts). The amount is the
    edit's own in every column; only the cosine changes."""
    from faceinv.editing import eyeglasses
    from faceinv.editing.residual_gan import LoadedInverter
    from faceinv.models.generators import load_generator
    generator = load_generator("synthetic")
    rows = []
    for run in args.failures:
        inverter = LoadedInverter(os.path.join(PATH_INVERTERS, run))
        if inverter.meta["source"] != "synthetic":
            raise InputError(f"--failures needs a run trained on --data synthetic (the renderer's ground truth), "
                             f"not {run!r} ({inverter.meta['source']})")
        held_out = eyeglasses.held_out_faces(generator, args.test_count, attribute_inverter.SYNTHETIC_TEST_SEED,
                                             inverter.size)
        for direction, batches in held_out.items():
            judged = {"as judged": [], "both changes in grey": [], "both changes blurred": []}
            for faces, off, on, region in batches:
                edited = np.asarray(inverter(faces, direction)[0])
                target = on if direction == "add" else off
                amount = eyeglasses.glasses_amount(edited, off, on)
                grey = [x.mean(-1, keepdims=True) for x in (faces, edited, target)]
                blurred = [_box_blur(x) for x in (faces, edited, target)]
                for name, cosine in (("as judged", eyeglasses.change_cosine(faces, edited, target, region)),
                                     ("both changes in grey", eyeglasses.change_cosine(*grey, region)),
                                     ("both changes blurred", eyeglasses.change_cosine(*blurred, region))):
                    judged[name].append(eyeglasses.successes(direction, amount, cosine)[0])
            rows.append([run, direction] + [f"{100 * np.concatenate(v).mean():.1f}%" for v in judged.values()])
    print(f"\n{generator.label}: strict success on {args.test_count} held-out faces a class (seed "
          f"{attribute_inverter.SYNTHETIC_TEST_SEED}), with the change cosine taken three ways")
    print(files.markdown_table(["run", "edit", "as judged", "both changes in grey", "both changes blurred (3x3 box)"],
                               rows))


PROBE_SEED = 3  # held-out faces for choosing settings: neither training (0), test (1) nor validation (2)


def supervised(args, batch_size=16):
    """What the `add` generator can draw when shown the answer: trained alone with L1
    to the renderer's own face with glasses (no discriminator, no round trip), for
    each number of residual blocks, then judged on held-out faces. A generator that
    fails here cannot learn the edit from a discriminator either."""
    import keras
    import tensorflow as tf

    from faceinv.editing import eyeglasses
    from faceinv.editing import residual_gan as gan
    from faceinv.models.generators import load_generator
    from faceinv.progress import progress
    generator = load_generator("synthetic")
    latents = eyeglasses.split_latents(generator, args.count, attribute_inverter.SYNTHETIC_TRAIN_SEED)[0]
    faces, targets = [], []
    for start in range(0, args.count, 100):
        faces.append(np.asarray(generator(latents[start:start + 100])))
        targets.append(eyeglasses.counterfactuals(generator, latents[start:start + 100])[1])
    faces, targets = np.concatenate(faces), np.concatenate(targets)
    held_out = {"add": eyeglasses.held_out_faces(generator, args.test_count, PROBE_SEED)["add"]}
    rows = []
    for blocks in args.supervised:
        keras.utils.set_random_seed(args.seed)
        add = gan.build_generator("add", args.width, skips=True, edit="blend", blocks=blocks)
        optimizer = keras.optimizers.Adam(2e-4, 0.5)

        @tf.function(jit_compile=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.abs(add(x, training=True)[0] - y))
            optimizer.apply(tape.gradient(loss, add.trainable_variables), add.trainable_variables)
            return loss

        order, bar = np.random.default_rng(args.seed), progress(args.steps, "step")
        for _ in range(args.steps):
            chosen = order.integers(0, len(faces), batch_size)
            loss = step(faces[chosen], targets[chosen])
            bar.add(1)
        r = eyeglasses.judge(held_out, lambda x, direction: add(x)[:2])["add"]
        strict, lenient = eyeglasses.successes("add", r["amount"], r["cosine"])
        rows.append([blocks, f"{float(loss):.4f}", f"{100 * strict.mean():.1f}%", f"{100 * lenient.mean():.1f}%",
                     f"{np.median(r['amount']):.2f}", f"{np.median(r['cosine']):.2f}", f"{r['outside'].mean():.4f}"])
    print(f"\n{generator.label}: `add` at {generator.resolution} px, width {args.width}, skips, blend, trained "
          f"{args.steps} steps (batch {batch_size}) with L1 to the face with glasses on {args.count} faces; "
          f"judged on {args.test_count} held-out faces (seed {PROBE_SEED})")
    print(files.markdown_table(["--blocks", "last L1", "strict", "lenient", "median amount", "median cosine",
                                "outside change"], rows))


def facenet_cost(args, steps=10):
    """Seconds per training step of the skips + attention generator without, with and again
    without the FaceNet perceptual loss, in one process on one batch."""
    import shutil
    import tempfile
    import time

    from faceinv.editing import attribute_data
    from faceinv.editing.inverter_training import InverterConfig, InverterTrainer
    from faceinv.models.facenet import SANDBERG
    from faceinv.models.generators import load_generator
    split = attribute_data.synthetic_split(load_generator("synthetic"), 2 * args.batch_size, 0)
    batch = next(iter(attribute_data.pairs(split, args.size, args.batch_size, 0, 0)))
    rows = []
    for weight in (0.0, 1.0, 0.0):
        folder = tempfile.mkdtemp()
        config = InverterConfig(size=args.size, width=args.width, batch_size=args.batch_size, attention=True,
                                skips=True, facenet_weight=weight, facenet=SANDBERG, checkpoint_dir=folder,
                                log_dir=folder, export_dir=folder)
        trainer = InverterTrainer(config, split)
        trainer.step(*batch)  # compiles
        started = time.perf_counter()
        for _ in range(steps):
            float(trainer.step(*batch)["generator"])
        rows.append([f"{weight:g}", f"{(time.perf_counter() - started) / steps:.3f}"])
        shutil.rmtree(folder)
    print(f"\nwidth {args.width}, {args.size} px, batch {args.batch_size}, {steps} steps each; FaceNet: {SANDBERG}")
    print(files.markdown_table(["--facenet-weight", "s / step"], rows))


def _figures(run):
    """One run's figures from results/attribute_inverter/<run>/: history.csv and evaluation/evaluation.json."""
    results = os.path.join(attribute_inverter.PATH_INVERTER_RESULTS, run)
    r = files.load_json(os.path.join(results, "evaluation", "evaluation.json"))
    history = files.read_csv(os.path.join(results, "history.csv"))
    config = files.load_json(os.path.join(results, "config.json"))
    # The first epoch also compiles the step: time the others.
    seconds = np.median([float(e["seconds"]) for e in history[1:] or history]) / (config["count"] // config["batch_size"])
    figures = {"s / step": seconds}
    for d in ("add", "remove"):
        figures[f"{d}: strict"] = 100 * r[d]["success"]
        figures[f"{d}: strict, outside kept"] = 100 * r[d]["success_kept"]
        figures[f"{d}: lenient"] = 100 * r[d]["success_lenient"]
        figures[f"{d}: median cosine"] = r[d]["cosine_quartiles"][1]
        figures[f"{d}: outside change"] = r[d]["outside_mean"]
    figures["checkerboard"] = max(r[d]["checkerboard_mean"] for d in ("add", "remove"))
    return figures


def summarise(runs):
    """Each figure's mean and spread (sample standard deviation) over the runs, one row per figure."""
    table = [_figures(run) for run in runs]
    rows = []
    for key in table[0]:
        values = np.array([t[key] for t in table])
        spread = values.std(ddof=1) if len(values) > 1 else 0.0
        digits = 1 if "strict" in key or "lenient" in key else 4 if "change" in key or "checker" in key else 3
        rows.append([key, f"{values.mean():.{digits}f} ± {spread:.{digits}f}",
                     ", ".join(f"{v:.{digits}f}" for v in values)])
    print(f"\n{len(runs)} runs: {', '.join(runs)} (rates in % of held-out faces; ± is the standard deviation)")
    print(files.markdown_table(["figure", "mean ± spread", "each run"], rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--count", type=int, default=1000, help="training faces per class")
    parser.add_argument("--test-count", type=int, default=200, help="held-out faces per class")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--residual-weight", type=float, default=1.0)
    parser.add_argument("--mask-weight", type=float, default=0.2, help="for the attention variants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--facenet-cost", action="store_true", help="only time steps with and without FaceNet")
    parser.add_argument("--runs", nargs="+", help="only summarise these trained and evaluated runs")
    parser.add_argument("--judge-calibration", action="store_true",
                        help="only score the true change, moved, blurred or weakened, with the strict judge")
    parser.add_argument("--supervised", nargs="+", type=int, metavar="BLOCKS",
                        help="only train `add` with the answer (L1), once per number of residual blocks")
    parser.add_argument("--steps", type=int, default=1000, help="training steps of --supervised")
    parser.add_argument("--failures", nargs="+", metavar="RUN",
                        help="only judge these synthetic runs' exports again with both changes in grey, "
                             "or both blurred")
    args = parser.parse_args(argv)
    if args.supervised:
        return supervised(args)
    if args.facenet_cost:
        return facenet_cost(args)
    if args.judge_calibration:
        return judge_calibration(args)
    if args.failures:
        return failures(args)
    if args.runs:
        return summarise(args.runs)
    runs = []
    for variant in args.variants:
        run = f"bench_{variant}_s{args.seed}"
        masked = any(flag in VARIANTS[variant] for flag in MASKED)
        flags = VARIANTS[variant] + (["--mask-weight", str(args.mask_weight)] if masked else [])
        attribute_inverter.main(["train", "--data", "synthetic", "--size", str(args.size), "--count", str(args.count),
                                 "--width", str(args.width), "--epochs", str(args.epochs), "--seed", str(args.seed),
                                 "--batch-size", str(args.batch_size), "--run", run,
                                 "--residual-weight", str(args.residual_weight)] + flags)
        model = os.path.join(PATH_INVERTERS, run)
        attribute_inverter.main(["evaluate", "--model", model, "--count", str(args.test_count)])
        runs.append(run)
    figures = [_figures(run) for run in runs]
    print(f"\nSTAND-IN data: synthetic faces at {args.size} px; width {args.width}, {args.epochs} epochs, seed "
          f"{args.seed}, {args.count} faces a class, {args.test_count} held-out faces a class; target: at least "
          f"{100 * SUCCESS_TARGET:.0f}% each way (strict), outside change under {OUTSIDE_THRESHOLD}")
    print(files.markdown_table(["variant", *figures[0]], [[variant, *(f"{v:.4g}" for v in f.values())]
                                                          for variant, f in zip(args.variants, figures)]))


if __name__ == "__main__":
    cli.run(main)
