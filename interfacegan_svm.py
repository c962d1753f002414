"""InterFaceGAN: score generated faces, fit linear-SVM attribute boundaries, edit along them.

Commands (each has --help):
  classifier   train the CelebA attribute classifier (ResNet18, 40 attributes)
  score        sample latents, render their faces and score them: --source
               synthetic (true scores of the built-in generator), landmarks
               (MTCNN pose and smile), eyeglasses (the line across the nose
               bridge) or classifier
  boundaries   one linear SVM per attribute on the highest and lowest scores;
               writes <attribute>.npy and the accuracy / cosine / correlation tables
  sorted       a grid of scored faces from the highest score to the lowest, to
               check a score by eye
  edit         move latents along a boundary (optionally holding others fixed)
               and save each edit as a row of faces

    python interfacegan_svm.py score --generator synthetic --source synthetic
    python interfacegan_svm.py boundaries --scores results/interfacegan/synthetic/scores
    python interfacegan_svm.py edit --boundaries results/interfacegan/synthetic/boundaries \\
        --attribute age --condition gender
    python interfacegan_svm.py edit --boundaries ... --attribute smile --latents results/resnet
    python interfacegan_svm.py edit --boundaries ... --attribute age --absolute   # to z . n = -3 ... 3
    python interfacegan_svm.py edit --boundaries boundaries/dcgan-digiface --attribute smile \
        --tuned results/photos/astronaut/tuned.npz   # a photo's face, through its tuned generator
The paper's setting: a CelebA classifier, `score --n 500000`, `boundaries --top 10000`.
"""
import dataclasses
import os

import numpy as np

from faceinv import cli, config, files, shards  # cli first: it quiets TensorFlow's start-up
from faceinv.config import override, setting
from faceinv.editing import attributes, boundaries, edits, eyeglasses_score
from faceinv.editing.attribute_classifier import ClassifierConfig
from faceinv.errors import InputError
from faceinv.inversion import tuning
from faceinv.models.generators import (
    GENERATOR,
    GENERATOR_HELP,
    generator_tag,
    load_generator,
    render_batches,
    sample_latents,
)
from faceinv.paths import PATH_CELEBA, PATH_CHECKPOINTS, PATH_LOGS, PATH_RESULTS, PATH_SAVED_MODEL

PATH_CLASSIFIER = os.path.join(PATH_SAVED_MODEL, "attributes_celeba")
PATH_INTERFACEGAN = os.path.join(PATH_RESULTS, "interfacegan")
SCORE_SEED = 2  # not 0 or 1: those seeds drew the test and training face sets
EDIT_SEED = 3


@dataclasses.dataclass
class ClassifierCommand(ClassifierConfig):
    """The classifier's settings (faceinv/editing/attribute_classifier.py) with this script's folders."""
    celeba: str = override(ClassifierConfig, "celeba", PATH_CELEBA)
    export_dir: str = override(ClassifierConfig, "export_dir", PATH_CLASSIFIER)
    checkpoint_dir: str = override(ClassifierConfig, "checkpoint_dir", "")
    log_dir: str = override(ClassifierConfig, "log_dir", "")


@dataclasses.dataclass
class ScoreCommand:
    generator: str = setting(GENERATOR, GENERATOR_HELP)
    source: str = setting("classifier", "synthetic: the built-in generator's true scores; landmarks: MTCNN pose "
                                        "and smile; eyeglasses: the line across the nose bridge between MTCNN's "
                                        "eyes; classifier: the CelebA classifier", choices=attributes.SOURCES)
    classifier: str = setting(PATH_CLASSIFIER, "for --source classifier")
    attributes: str = setting(None, "classifier columns to keep, comma-separated (default: all 40)", type=str)
    n: int = setting(20000, "latents to sample", paper=500000)
    seed: int = setting(SCORE_SEED, "seed of the latents")
    batch_size: int = setting(64, "faces per generator call (shards and resumable parts split on its multiples)")
    shard: str = setting("", "score only shard i of n (i from 0), into <out>/shards/<i>-of-<n>; every face "
                             "is the one an unsharded run scores", metavar="I/N")
    merge: bool = setting(False, "join the finished shards of <out> into <out> itself (checked: same job, "
                                 "every face exactly once)")
    out: str = setting(None, f"score folder (default: {PATH_INTERFACEGAN}/<generator>/scores, or "
                             f"{PATH_INTERFACEGAN}/<generator>/eyeglasses/scores for --source eyeglasses); a "
                             "killed run resumes there", type=str, output=True)


@dataclasses.dataclass
class BoundariesCommand:
    scores: str = setting(None, "a score folder, or a scores .npy [N, K]", type=str)
    latents: str = setting(None, "with a scores .npy: its latents .npy [N, latent_dim]", type=str)
    names: str = setting(None, "with a scores .npy: a text file naming its K columns, one per line", type=str)
    attributes: str = setting(None, "comma-separated subset (default: every column)", type=str)
    top: int = setting(None, "positives (and negatives) per attribute, instead of --ratio (eyeglasses scores: "
                             "by default the faces clearly on each side, at least "
                             f"{eyeglasses_score.MIN_SIDE_FACES})", type=int, paper=10000)
    ratio: float = setting(boundaries.RATIO, "or this fraction of the scored latents, per side")
    split: float = setting(boundaries.SPLIT, "train fraction of the chosen latents")
    solver: str = setting("linear-svc", "linear-svc (fast), sgd, or svc (InterFaceGAN's SVC(kernel='linear'))",
                          choices=boundaries.SOLVERS)
    seed: int = setting(0, "seed of the train/validation split")
    out: str = setting(None, "boundary folder (default: 'boundaries' beside the score folder or file)", type=str,
                       output=True)


@dataclasses.dataclass
class SortedCommand:
    scores: str = setting(None, "a score folder (the score command writes one)", type=str)
    attribute: str = setting(None, "the score column to sort by", type=str)
    rows: int = setting(8, "rows of faces, highest scores first")
    columns: int = setting(12, "faces per row")
    out: str = setting(None, "the grid (default: <attribute>_sorted.png in the score folder)", type=str,
                       output=True)


@dataclasses.dataclass
class EditCommand:
    boundaries: str = setting(None, "folder written by the boundaries command", type=str)
    attribute: str = setting(None, "the attribute to change", type=str)
    condition: list = setting([], "an attribute to hold fixed (repeatable): conditional editing")
    latents: str = setting(None, "a .npy [N, latent_dim], or a folder holding latents.npy (a face set from "
                                 "generate_faces.py, or results of resnet_test.py or gradient_based_recovery.py); "
                                 "default: random latents", type=str)
    count: int = setting(8, "latents to edit")
    seed: int = setting(EDIT_SEED, "for random latents")
    start: float = setting(edits.EDIT_START, "first step along the direction (with --absolute: first distance)")
    end: float = setting(edits.EDIT_END, "last step along the direction (with --absolute: last distance)")
    absolute: bool = setting(False, "--start and --end are signed distances z . n from the boundary that every "
                                    "latent is moved to (InterFaceGAN's linear_interpolate, intercept dropped), "
                                    "not offsets from where it is")
    steps: int = setting(edits.EDIT_STEPS, "faces along each edit")
    generator: str = setting(None, "(default: the one the boundaries were fitted for)", type=str)
    tuned: str = setting(None, "render through a generator tuned to a photo: the tuned.npz invert_photo.py "
                               "writes (default latents: the latent.npy beside it)", type=str)
    out: str = setting(None, "edit folder (default: beside the boundary folder, 'edits')", type=str, output=True)


COMMANDS = {"classifier": (ClassifierCommand, "train the CelebA attribute classifier"),
            "score": (ScoreCommand, "sample latents and score their faces"),
            "boundaries": (BoundariesCommand, "fit one linear SVM per attribute"),
            "sorted": (SortedCommand, "a grid of scored faces at evenly spaced ranks, to check a score by eye"),
            "edit": (EditCommand, "edit latents along a boundary")}


def _names(text):
    return [a.strip() for a in text.split(",") if a.strip()] if text else None


def classifier(c):
    from faceinv.editing.attribute_classifier import ClassifierTrainer
    run = os.path.basename(os.path.normpath(c.export_dir))
    c = dataclasses.replace(c, checkpoint_dir=c.checkpoint_dir or os.path.join(PATH_CHECKPOINTS, run),
                            log_dir=c.log_dir or os.path.join(PATH_LOGS, run))
    trainer = ClassifierTrainer(c)
    trainer.fit()
    meta = trainer.export()
    config.write(c.export_dir, c)
    print(f"exported the classifier to {c.export_dir}; held-out accuracy:")
    for name, accuracy in meta["held_out_accuracy"].items():
        print(f"  {name}: {accuracy:.3f}")


def score(a):
    if a.n <= 0 or a.batch_size <= 0:
        raise InputError(f"--n and --batch-size must be positive, not {a.n} and {a.batch_size}")
    shard = shards.parse(a.shard)
    shards.check_request(shard, a.merge)
    start, stop = shard.range(a.n, a.batch_size) if shard else (0, a.n)
    generator = load_generator(a.generator)
    print(f"generator: {generator.label}")
    # Eyeglasses scores get a folder of their own: `score` writes every other source to the same one.
    out = a.out or os.path.join(PATH_INTERFACEGAN, generator_tag(a.generator),
                                *(["eyeglasses"] if a.source == "eyeglasses" else []), "scores")
    meta = {"generator": generator.handle, "generator_label": generator.label, "source": a.source,
            "seed": a.seed, "count": a.n, "batch_size": a.batch_size, "latent_dim": generator.latent_dim}
    if a.merge:
        meta = attributes.merge_scores(out, meta)
        config.write(out, dataclasses.replace(a, out=out))
        print(f"merged the shards' scores of {a.n} latents into {out}")
        return
    classifier = None
    if a.source == "landmarks":
        meta["scorer"] = "MTCNN landmarks: pose = yaw, smile = mouth width / eye distance"
    elif a.source == "eyeglasses":
        meta["scorer"] = "eyeglasses_score.py: grey levels of the strongest thin line across the nose bridge"
    elif a.source == "classifier":
        from faceinv.editing.attribute_classifier import LoadedClassifier
        classifier = LoadedClassifier(a.classifier)
        meta["scorer"] = f"CelebA classifier {os.path.abspath(a.classifier)}"
    names, score_batch = attributes.scorer(a.source, generator, a.batch_size, classifier, _names(a.attributes))
    folder = shard.folder(out) if shard else out
    if shard:
        meta.update(shard=str(shard), start=start, stop=stop)
    latents = sample_latents(a.n, a.seed, generator.latent_dim)[start:stop]
    meta = attributes.score_in_parts(folder, latents, start, score_batch, names, meta)
    config.write(folder, dataclasses.replace(a, out=out))
    invalid = ", ".join(f"{k} {v}" for k, v in meta["invalid"].items() if v)
    print(f"scored latents {start}..{stop - 1} of {a.n} ({', '.join(names)}) into {folder}"
          + (f"; unscored (no face detected): {invalid}" if invalid else ""))


def _top(a, meta, name, column):
    """--top; else, for the eyeglasses score, as many faces as lie clearly on each side: its
    top quarter would hold faces without glasses, which fewer than one in five wear."""
    if a.top or meta.get("source") != "eyeglasses" or name != "eyeglasses":
        return a.top
    return min(eyeglasses_score.check_sides(column, f"the eyeglasses scores in {a.scores}"))


def fit_boundaries(a):
    config.require(a, "scores")
    latents, scores, names, meta = attributes.read_scores(a.scores, a.latents, a.names)
    wanted = _names(a.attributes) or names
    for name in wanted:
        if name not in names:
            raise InputError(f"attribute {name!r} is not in the scores; they hold {', '.join(names)}")
    # Check every attribute's sample count before the first (possibly slow) fit.
    tops = {name: _top(a, meta, name, scores[:, names.index(name)]) for name in wanted}
    for name in wanted:
        boundaries.chosen_count(int((~np.isnan(scores[:, names.index(name)])).sum()), tops[name], a.ratio)
    beside = os.path.normpath(a.scores) if os.path.isdir(a.scores) else os.path.abspath(a.scores)
    out = a.out or os.path.join(os.path.dirname(beside), "boundaries")
    os.makedirs(out, exist_ok=True)
    truth = load_generator("synthetic") if meta.get("generator") == "synthetic" else None
    label = meta.get("generator_label", "scores from " + os.path.abspath(a.scores))
    fitted, record = [], {"generator": meta.get("generator"), "generator_label": label,
                          "latent_dim": latents.shape[1], "source": meta.get("source", "file"),
                          "solver": a.solver, "attributes": {}}
    for name in wanted:
        b = boundaries.train_boundary(latents, scores[:, names.index(name)], name, tops[name], a.ratio,
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
    config.write(out, dataclasses.replace(a, out=out))
    print(f"wrote {len(fitted)} boundaries and tables.md to {out}")


def sorted_grid(a):
    config.require(a, "scores", "attribute")
    if a.rows < 1 or a.columns < 1:
        raise InputError(f"--rows and --columns must be positive, not {a.rows} and {a.columns}")
    latents, scores, names, meta = attributes.read_scores(a.scores)
    if a.attribute not in names:
        raise InputError(f"attribute {a.attribute!r} is not in the scores; they hold {', '.join(names)}")
    column = scores[:, names.index(a.attribute)]
    scored = np.flatnonzero(~np.isnan(column))
    if not len(scored):
        raise InputError(f"no face in {a.scores} has a {a.attribute} score")
    ranked = scored[np.argsort(-column[scored], kind="stable")]
    shown = ranked[np.unique(np.linspace(0, len(ranked) - 1, a.rows * a.columns).round().astype(int))]
    generator = load_generator(meta.get("generator") or GENERATOR)
    faces = np.concatenate([faces for _, faces in render_batches(generator, latents[shown])])
    out = a.out or os.path.join(a.scores, f"{a.attribute}_sorted.png")
    low, high = column[shown[-1]], column[shown[0]]
    files.save_grid(out, faces, a.columns, f"{generator.label} | {a.attribute} {high:.1f} (top left) to {low:.1f}, "
                    f"even ranks of {len(scored)}")
    config.write(os.path.dirname(os.path.abspath(out)), dataclasses.replace(a, out=out),
                 f"{os.path.splitext(os.path.basename(out))[0]}_config.json")
    for row in range(0, len(shown), a.columns):
        print(f"row {row // a.columns + 1}: {a.attribute} {column[shown[row]]:.2f} to "
              f"{column[shown[min(row + a.columns, len(shown)) - 1]]:.2f}")
    print(f"wrote {out}")


def _edit_latents(a, latent_dim):
    if a.latents is None:
        return sample_latents(a.count, a.seed, latent_dim)
    path = os.path.join(a.latents, "latents.npy") if os.path.isdir(a.latents) else a.latents
    return files.load_latents(path, latent_dim)[:a.count]


def edit(a):
    config.require(a, "boundaries", "attribute")
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
    if a.tuned:
        generator, _ = tuning.load_tuned(a.tuned, generator)
        beside = os.path.join(os.path.dirname(os.path.abspath(a.tuned)), "latent.npy")
        if a.latents is None and os.path.isfile(beside):
            a = dataclasses.replace(a, latents=beside)

    def normal(name):
        return boundaries.load_boundary(os.path.join(a.boundaries, f"{name}.npy"), generator.latent_dim)

    direction = edits.conditional_direction(normal(a.attribute), [normal(c) for c in a.condition])
    latents = _edit_latents(a, generator.latent_dim)
    path, alphas = edits.edit_path(latents, direction, a.start, a.end, a.steps, a.absolute)
    name = a.attribute + "".join(f"_holding_{c}" for c in a.condition) + ("_at_distances" if a.absolute else "")
    out = a.out or os.path.join(os.path.dirname(os.path.normpath(a.boundaries)), "edits")
    os.makedirs(out, exist_ok=True)
    files.save_npy(os.path.join(out, f"{name}_latents.npy"), path)
    faces = edits.render_edits(generator, path)
    title = (f"{generator.label} | {a.attribute}" + (f" holding {', '.join(a.condition)}" if a.condition else "")
             + (" | columns: distance from the boundary" if a.absolute else ""))
    edits.save_edit_grid(os.path.join(out, f"{name}.png"), faces, alphas, title)
    summary = {"attribute": a.attribute, "conditions": a.condition, "alphas": alphas.tolist(),
               "alphas_are": "distances from the boundary" if a.absolute else "offsets along the direction",
               "latents": a.latents or f"random, seed {a.seed}", "count": len(latents),
               "generator": generator.handle, "generator_label": generator.label,
               "tuned": os.path.abspath(a.tuned) if a.tuned else None}
    if hasattr(generator, "attribute_scores"):
        true = generator.attribute_scores(path.reshape(-1, generator.latent_dim)).reshape(*path.shape[:2], -1)
        summary["true_scores_mean"] = {n: true[:, :, i].mean(axis=0).round(4).tolist()
                                       for i, n in enumerate(generator.attribute_names)}
    files.save_json(os.path.join(out, f"{name}.json"), summary)
    config.write(out, dataclasses.replace(a, out=out), f"{name}_config.json")
    print(f"wrote {os.path.join(out, name + '.png')} ({len(latents)} faces x {a.steps} steps) "
          f"and {name}_latents.npy")


def main(argv=None):
    command, settings = config.parse_command(COMMANDS, argv, __doc__)
    {"classifier": classifier, "score": score, "boundaries": fit_boundaries, "sorted": sorted_grid,
     "edit": edit}[command](settings)


if __name__ == "__main__":
    cli.run(main)
