"""Fit time and accuracy of the boundary solvers on the same scored latents.

    python benchmarks/bench_boundaries.py                       # 20,000 latents, top 1000 / 2500 / 5000
    python benchmarks/bench_boundaries.py --n 100000 --tops 10000 --solvers linear-svc sgd

The latents and scores are the `synthetic` generator's ground truth (its `age`
attribute), so each boundary's cosine with the true direction is printed
beside its accuracies. Every solver fits the same train split.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from faceinv import cli  # noqa: E402  (quiets TensorFlow first)
from faceinv.editing.boundaries import SOLVERS, train_boundary  # noqa: E402
from faceinv.models.generators import load_generator, sample_latents  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--tops", type=int, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--attribute", default="age")
    args = parser.parse_args(argv)
    generator = load_generator("synthetic")
    latents = sample_latents(args.n, 2, generator.latent_dim)
    scores = generator.attribute_scores(latents)[:, generator.attribute_names.index(args.attribute)]
    truth = generator.attribute_directions[args.attribute]
    print(f"{args.n} latents, attribute {args.attribute} (synthetic ground truth)")
    print("top | solver | train points | fit (s) | validation acc. | remaining acc. | cosine with truth | "
          "fit time / linear-svc's")
    for top in args.tops:
        base = None
        for solver in args.solvers:
            b = train_boundary(latents, scores, args.attribute, top=top, solver=solver)
            base = base or b.fit_seconds
            print(f"{top} | {solver} | {b.train} | {b.fit_seconds:.2f} | {b.validation_accuracy:.4f} | "
                  f"{b.remaining_accuracy:.4f} | {float(b.normal @ truth):.4f} | {b.fit_seconds / base:.1f}x",
                  flush=True)


if __name__ == "__main__":
    cli.run(main)
