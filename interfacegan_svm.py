"""InterFaceGAN: score generated faces, fit linear-SVM attribute boundaries, edit along them.

Commands (each has --help):
  classifier   train the CelebA attribute classifier (ResNet18, 40 attributes)
  score        sample latents, render their faces and score them: --source
               synthetic (true scores of the built-in generator), landmarks
               (MTCNN pose and smile) or classifier
  boundaries   one linear SVM per attribute on the highest and lowest scores;
               writes <attribute>.npy and the accuracy / cosine / correlation tables
  edit         move latents along a boundary (optionally holding others fixed)
               and save each edit as a row of faces

    python interfacegan_svm.py score --generator synthetic --source synthetic
    python interfacegan_svm.py boundaries --scores results/interfacegan/synthetic/scores
    python interfacegan_svm.py edit --boundaries results/interfacegan/synthetic/boundaries \\
        --attribute age --condition gender
    python interfacegan_svm.py edit --boundaries ... --attribute smile --latents results/resnet
The paper's setting: a CelebA classifier, `score --n 500000`, `boundaries --top 10000`.
"""
import argparse
import os

import numpy as np

from faceinv import cli  # first: it quiets TensorFlow's start-up
from faceinv import attributes, boundaries, editing, files
from faceinv.errors import InputError
from faceinv.generators import PROGAN_HANDLE, generator_tag, load_generator, sample_latents

PATH_CELEBA = "datasets/celeba"
PATH_CLASSIFIER = "saved_model/attributes_celeba"
PATH_RESULTS = "results/interfacegan"
PATH_CHECKPOINTS = "checkpoints"
PATH_LOGS = "logs"
GENERATOR = PROGAN_HANDLE
SCORE_SEED = 2  # not 0 or 1: those seeds drew the test and training face sets
EDIT_SEED = 3


def _add_classifier(sub):
    p = sub.add_parser("classifier", help="train the CelebA attribute classifier")
    p.add_argument("--celeba", default=PATH_CELEBA, help="CelebA folder (default: %(default)s)")
    p.add_argument("--out", default=PATH_CLASSIFIER, help="export folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=0, help="use only the first N photos (0: all)")
    p.add_argument("--seed", type=int, default=0)


def _add_score(sub):
    p = sub.add_parser("score", help="sample latents and score their faces")
    p.add_argument("--generator", default=GENERATOR, help="(default: %(default)s)")
    p.add_argument("--source", choices=attributes.SOURCES, default="classifier")
    p.add_argument("--classifier", default=PATH_CLASSIFIER, help="for --source classifier")
    p.add_argument("--attributes", help="classifier columns to keep, comma-separated "
                                        "(default: all 40)")
    p.add_argument("--n", type=int, default=20000, help="latents to sample (paper: 500000)")
    p.add_argument("--seed", type=int, default=SCORE_SEED)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", help=f"score folder (default: {PATH_RESULTS}/<generator>/scores)")


def _add_boundaries(sub):
    p = sub.add_parser("boundaries", help="fit one linear SVM per attribute")
    p.add_argument("--scores", required=True, help="a score folder, or a scores .npy [N, K]")
    p.add_argument("--latents", help="with a scores .npy: its latents .npy [N, latent_dim]")
    p.add_argument("--names", help="with a scores .npy: a text file naming its K columns, one per line")
    p.add_argument("--attributes", help="comma-separated subset (default: every column)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--top", type=int, help="positives (and negatives) per attribute (paper: 10000)")
    group.add_argument("--ratio", type=float, default=boundaries.RATIO,
                       help="or this fraction of the scored latents (default: %(default)s)")
    p.add_argument("--split", type=float, default=boundaries.SPLIT, help="train fraction (default: %(default)s)")
    p.add_argument("--solver", choices=boundaries.SOLVERS, default="linear-svc",
                   help="linear-svc (fast), sgd, or svc (InterFaceGAN's SVC(kernel='linear'))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="boundary folder (default: 'boundaries' beside the score folder or file)")


def _add_edit(sub):
    p = sub.add_parser("edit", help="edit latents along a boundary")
    p.add_argument("--boundaries", required=True, help="folder written by the boundaries command")
    p.add_argument("--attribute", required=True, help="the attribute to change")
    p.add_argument("--condition", action="append", default=[],
                   help="an attribute to hold fixed (repeatable): conditional editing")
    p.add_argument("--latents", help="a .npy [N, latent_dim], or a folder holding latents.npy (a face set "
                                     "from generate_faces.py, or results of resnet_test.py or "
                                     "gradient_based_recovery.py); default: random latents")
    p.add_argument("--count", type=int, default=8, help="latents to edit (default: %(default)s)")
    p.add_argument("--seed", type=int, default=EDIT_SEED, help="for random latents")
    p.add_argument("--start", type=float, default=-3.0)
    p.add_argument("--end", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=7)
    p.add_argument("--generator", help="(default: the one the boundaries were fitted for)")
    p.add_argument("--out", help="edit folder (default: beside the boundary folder, 'edits')")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_classifier, _add_score, _add_boundaries, _add_edit):
        add(sub)
    return p.parse_args(argv)


def _names(text):
    return [a.strip() for a in text.split(",") if a.strip()] if text else None


def classifier(a):
    from faceinv.attribute_classifier import train_classifier
    run = os.path.basename(os.path.normpath(a.out))
    meta = train_classifier(a.celeba, a.out, os.path.join(PATH_CHECKPOINTS, run), os.path.join(PATH_LOGS, run),
                            a.epochs, a.batch_size, a.input_size, a.lr, a.limit, seed=a.seed)
    print(f"exported the classifier to {a.out}; held-out accuracy:")
    for name, accuracy in meta["held_out_accuracy"].items():
        print(f"  {name}: {accuracy:.3f}")


def score(a):
    if a.n <= 0:
        raise InputError(f"--n must be positive, not {a.n}")
    generator = load_generator(a.generator)
    print(f"generator: {generator.label}")
    latents = sample_latents(a.n, a.seed, generator.latent_dim)
    meta = {"generator": generator.handle, "generator_label": generator.label, "source": a.source,
            "seed": a.seed, "latent_dim": generator.latent_dim}
    if a.source == "synthetic":
        scores, names = attributes.synthetic_scores(generator, latents)
    elif a.source == "landmarks":
        scores, names = attributes.landmark_scores(generator, latents, a.batch_size)
        meta["scorer"] = "MTCNN landmarks: pose = yaw, smile = mouth width / eye distance"
    else:
        from faceinv.attribute_classifier import LoadedClassifier
        model = LoadedClassifier(a.classifier)
        scores, names = attributes.classifier_scores(generator, latents, model, _names(a.attributes),
                                                     a.batch_size)
        meta["scorer"] = f"CelebA classifier {os.path.abspath(a.classifier)}"
    out = a.out or os.path.join(PATH_RESULTS, generator_tag(a.generator), "scores")
    meta = attributes.write_scores(out, latents, scores, names, meta)
    invalid = ", ".join(f"{k} {v}" for k, v in meta["invalid"].items() if v)
    print(f"scored {a.n} latents ({', '.join(names)}) into {out}"
          + (f"; unscored (no face detected): {invalid}" if invalid else ""))


def fit_boundaries(a):
    latents, scores, names, meta = attributes.read_scores(a.scores, a.latents, a.names)
    wanted = _names(a.attributes) or names
    for name in wanted:
        if name not in names:
            raise InputError(f"attribute {name!r} is not in the scores; they hold {', '.join(names)}")
    # Check every attribute's sample count before the first (possibly slow) fit.
    for name in wanted:
        boundaries.chosen_count(int((~np.isnan(scores[:, names.index(name)])).sum()), a.top, a.ratio)
    beside = os.path.normpath(a.scores) if os.path.isdir(a.scores) else os.path.abspath(a.scores)
    out = a.out or os.path.join(os.path.dirname(beside), "boundaries")
    os.makedirs(out, exist_ok=True)
    truth = load_generator("synthetic") if meta.get("generator") == "synthetic" else None
    label = meta.get("generator_label", "scores from " + os.path.abspath(a.scores))
    fitted, record = [], {"generator": meta.get("generator"), "generator_label": label,
                          "latent_dim": latents.shape[1], "source": meta.get("source", "file"),
                          "solver": a.solver, "attributes": {}}
    for name in wanted:
        b = boundaries.train_boundary(latents, scores[:, names.index(name)], name, a.top, a.ratio,
                                      a.split, a.solver, a.seed)
        boundaries.save_boundary(os.path.join(out, f"{name}.npy"), b)
        entry = {k: v for k, v in vars(b).items() if k != "normal"}
        if truth is not None and name in truth.attribute_directions:
            entry["cosine_with_true_direction"] = float(b.normal @ truth.attribute_directions[name])
        record["attributes"][name] = entry
        fitted.append(b)
        print(f"  {name}: validation {100 * b.validation_accuracy:.1f}%, remaining "
              f"{100 * b.remaining_accuracy:.1f}%, fit {b.fit_seconds:.2f} s"
              + (f", cosine with the true direction {entry['cosine_with_true_direction']:.4f}"
                 if "cosine_with_true_direction" in entry else ""))
    files.save_json(os.path.join(out, "boundaries.json"), record)
    boundaries.write_tables(out, fitted, scores, names, label)
    print(f"wrote {len(fitted)} boundaries and tables.md to {out}")


def _edit_latents(a, latent_dim):
    if a.latents is None:
        return sample_latents(a.count, a.seed, latent_dim)
    path = os.path.join(a.latents, "latents.npy") if os.path.isdir(a.latents) else a.latents
    return files.load_latents(path, latent_dim)[:a.count]


def edit(a):
    record_path = os.path.join(a.boundaries, "boundaries.json")
    if not os.path.exists(record_path):
        raise InputError(f"{a.boundaries} holds no boundaries.json (the boundaries command writes it)")
    record = files.load_json(record_path)
    if a.steps < 2 or a.count < 1:
        raise InputError(f"--steps must be at least 2 and --count at least 1, not {a.steps} and {a.count}")

    for name in [a.attribute] + a.condition:  # before the generator takes time to load
        if name not in record["attributes"]:
            raise InputError(f"no boundary for {name!r} in {a.boundaries}; it has "
                             f"{', '.join(record['attributes'])}")
    generator = load_generator(a.generator or record.get("generator") or GENERATOR)

    def normal(name):
        return boundaries.load_boundary(os.path.join(a.boundaries, f"{name}.npy"), generator.latent_dim)

    direction = editing.conditional_direction(normal(a.attribute), [normal(c) for c in a.condition])
    latents = _edit_latents(a, generator.latent_dim)
    path, alphas = editing.edit_path(latents, direction, a.start, a.end, a.steps)
    name = a.attribute + "".join(f"_holding_{c}" for c in a.condition)
    out = a.out or os.path.join(os.path.dirname(os.path.normpath(a.boundaries)), "edits")
    os.makedirs(out, exist_ok=True)
    files.save_npy(os.path.join(out, f"{name}_latents.npy"), path)
    faces = editing.render_edits(generator, path)
    title = f"{generator.label} | {a.attribute}" + (f" holding {', '.join(a.condition)}" if a.condition else "")
    editing.save_edit_grid(os.path.join(out, f"{name}.png"), faces, alphas, title)
    summary = {"attribute": a.attribute, "conditions": a.condition, "alphas": alphas.tolist(),
               "latents": a.latents or f"random, seed {a.seed}", "count": len(latents),
               "generator": generator.handle, "generator_label": generator.label}
    if hasattr(generator, "attribute_scores"):
        true = generator.attribute_scores(path.reshape(-1, generator.latent_dim)).reshape(*path.shape[:2], -1)
        summary["true_scores_mean"] = {n: true[:, :, i].mean(axis=0).round(4).tolist()
                                       for i, n in enumerate(generator.attribute_names)}
    files.save_json(os.path.join(out, f"{name}.json"), summary)
    print(f"wrote {os.path.join(out, name + '.png')} ({len(latents)} faces x {a.steps} steps) "
          f"and {name}_latents.npy")


def main(argv=None):
    a = parse_args(argv)
    {"classifier": classifier, "score": score, "boundaries": fit_boundaries, "edit": edit}[a.command](a)


if __name__ == "__main__":
    cli.run(main)
