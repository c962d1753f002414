"""The attribute inverter on synthetic eyeglasses: plain residuals against --attention, side by side.

    python benchmarks/bench_inverter.py                  # width 8, 8 epochs, 1000 faces a class
    python benchmarks/bench_inverter.py --width 16 --epochs 20

Both variants train with the same data, seed and settings through
attribute_inverter.py (runs bench_plain and bench_attention, kept under
saved_model/, results/, checkpoints/ and logs/ like any run, so a killed
benchmark resumes), then `evaluate` judges each on the same held-out faces.
Printed per variant: seconds per training step (median epoch after the
first, which also compiles), the share of glasses-free
faces given glasses and of faces with glasses freed of them, and the mean
change outside the eye region (the issue's threshold: 0.02).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import attribute_inverter  # noqa: E402
from faceinv import cli, files  # noqa: E402
from faceinv.editing.eyeglasses import OUTSIDE_THRESHOLD, SUCCESS_TARGET  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--count", type=int, default=1000, help="training faces per class")
    parser.add_argument("--test-count", type=int, default=200, help="held-out faces per class")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--residual-weight", type=float, default=5.0)
    parser.add_argument("--mask-weight", type=float, default=0.05, help="for the attention variant")
    args = parser.parse_args(argv)
    rows = []
    for variant in ("plain", "attention"):
        run = f"bench_{variant}"
        attribute_inverter.main(["train", "--data", "synthetic", "--count", str(args.count),
                                 "--width", str(args.width), "--epochs", str(args.epochs),
                                 "--batch-size", str(args.batch_size), "--run", run,
                                 "--residual-weight", str(args.residual_weight)]
                                + (["--attention", "--mask-weight", str(args.mask_weight)]
                                   if variant == "attention" else []))
        model = os.path.join(attribute_inverter.PATH_MODELS, run)
        attribute_inverter.main(["evaluate", "--model", model, "--count", str(args.test_count)])
        results = os.path.join(attribute_inverter.PATH_RESULTS, run)
        result = files.load_json(os.path.join(results, "evaluation", "evaluation.json"))
        # The first epoch also compiles the step: time the others.
        epochs = files.read_csv(os.path.join(results, "history.csv"))[1:]
        seconds = np.median([float(e["seconds"]) for e in epochs]) / (args.count // args.batch_size)
        rows.append([variant, f"{seconds:.3f}", f"{100 * result['add']['success']:.1f}%",
                     f"{100 * result['remove']['success']:.1f}%", f"{result['add']['outside_mean']:.4f}",
                     f"{result['remove']['outside_mean']:.4f}", "yes" if result["passes"] else "no"])
    print(f"\nSTAND-IN data: synthetic faces; width {args.width}, {args.epochs} epochs, {args.count} faces "
          f"a class, {args.test_count} held-out faces a class; target: at least {100 * SUCCESS_TARGET:.0f}% "
          f"each way, outside change under {OUTSIDE_THRESHOLD}")
    print(files.markdown_table(["variant", "s / step", "glasses added", "glasses removed",
                                "outside change (add)", "outside change (remove)", "passes"], rows))


if __name__ == "__main__":
    cli.run(main)
