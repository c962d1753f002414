"""The attribute inverter: two residual generators that add (G0) or remove (G1) one attribute.

Commands (each has --help):
  train     train on CelebA split by --attribute, on two folders (--without,
            --with), on synthetic faces split by their true eyeglasses, or on
            DCGAN faces split by their eyeglasses score (--data dcgan); exports
            both generators as SavedModels, recording the generator they are for
  apply     edit a folder of faces or one photo (MTCNN-aligned unless it is
            already a crop) and save the grid
            input | added | added residual | removed | removed residual
  evaluate  judge an inverter on held-out synthetic faces against the
            renderer's ground truth: glasses put on, glasses taken off, and the
            change outside the eye region; with --data dcgan, on held-out DCGAN
            faces by their eyeglasses score and FaceNet, beside the InterFaceGAN
            boundary edit

    python attribute_inverter.py train --data celeba --attribute Eyeglasses
    python attribute_inverter.py apply --model saved_model/attribute_inverter/eyeglasses_celeba \\
        --input photo.jpg
    python attribute_inverter.py train --config configs/inverter-synthetic.json --run d_s0   # offline
    python attribute_inverter.py evaluate --model saved_model/attribute_inverter/d_s0
The paper's setting: CelebA, 1000 faces, 100 epochs, width 64 at 128x128.
Residuals are shown as 0.5 + residual / 2: grey is no change.
"""
import dataclasses
import os

import numpy as np

from faceinv import cli, config, files  # cli first: it quiets TensorFlow's start-up
from faceinv.config import override, setting
from faceinv.data.alignment import MIN_FACE_SIZE
from faceinv.data.celeba import PROGAN_WINDOW
from faceinv.editing import attribute_data, edits, eyeglasses, eyeglasses_score
from faceinv.editing.inverter_training import InverterConfig
from faceinv.editing.residual_gan import LoadedInverter
from faceinv.errors import InputError
from faceinv.models import facenet
from faceinv.paths import PATH_CELEBA, PATH_CHECKPOINTS, PATH_INVERTERS, PATH_LOGS, PATH_RESULTS
from faceinv.progress import progress
from faceinv.report import plots

PATH_INVERTER_RESULTS = os.path.join(PATH_RESULTS, "attribute_inverter")
# Synthetic faces: training, test (evaluate's default) and validation (each epoch
# of a synthetic run is judged on these, and --keep best chooses by them) seeds.
SYNTHETIC_TRAIN_SEED, SYNTHETIC_TEST_SEED, SYNTHETIC_VALIDATION_SEED = 0, 1, 2
VALIDATION_FACES = 100  # per class
PATH_DCGAN_EYEGLASSES = os.path.join(PATH_RESULTS, "interfacegan", "dcgan-digiface", "eyeglasses")
PATH_DCGAN_EYEGLASSES_SCORES = os.path.join(PATH_DCGAN_EYEGLASSES, "scores")
GRID_COLUMNS = ["input", "added", "residual", "removed", "residual"]


@dataclasses.dataclass
class TrainCommand(InverterConfig):
    """The inverter's settings (faceinv/editing/inverter_training.py), the data it learns from, the run's folders."""
    data: str = setting("celeba", "CelebA split by --attribute, two folders, synthetic faces split by "
                                  "their true eyeglasses, or DCGAN faces split by their eyeglasses score (--scores)",
                        choices=("celeba", "folders", "synthetic", "dcgan"))
    celeba: str = setting(PATH_CELEBA, "CelebA folder")
    attribute: str = setting("Eyeglasses", "CelebA attribute to split by (the authors' other: Wearing_Hat)")
    without: str = setting(None, "--data folders: faces without the attribute", type=str)
    with_: str = setting(None, "--data folders: faces with the attribute", type=str, flags=("--with",))
    limit: int = setting(0, "at most this many faces per class (0: all)")
    count: int = setting(1000, "--data synthetic: faces per class")
    min_faces: int = setting(eyeglasses_score.MIN_SIDE_FACES, "fewer faces on either side is refused")
    scores: str = setting(PATH_DCGAN_EYEGLASSES_SCORES, "--data dcgan: a score folder of interfacegan_svm.py score "
                                                        "--source eyeglasses")
    checkpoint_dir: str = override(InverterConfig, "checkpoint_dir", "")
    log_dir: str = override(InverterConfig, "log_dir", "")
    export_dir: str = override(InverterConfig, "export_dir", "")
    run: str = setting(None, "run name: checkpoints, logs, export and results are kept under it "
                             "(default: <attribute>_<data>, plus _attention and _blend)", type=str, output=True)


@dataclasses.dataclass
class ApplyCommand:
    model: str = setting(None, "an exported inverter (train writes one)", type=str)
    input: str = setting(None, "an image, or a folder of images", type=str)
    align: str = setting("auto", "MTCNN alignment: auto aligns images that are not square crops of the "
                                 "model's size; never takes every image as such a crop", choices=("auto", "always", "never"))
    min_face_size: int = setting(MIN_FACE_SIZE, "MTCNN's smallest face, in pixels")
    out: str = setting(None, f"output folder (default: {PATH_INVERTER_RESULTS}/<run>/applied)", type=str,
                       output=True)


@dataclasses.dataclass
class EvaluateCommand:
    model: str = setting(None, "an exported inverter", type=str)
    count: int = setting(200, "held-out faces per class")
    seed: int = setting(SYNTHETIC_TEST_SEED, "seed of the held-out faces")
    data: str = setting("synthetic", "synthetic: judged against the renderer's ground truth; dcgan: held-out DCGAN "
                                     "faces judged by their eyeglasses score, beside the InterFaceGAN boundary edit",
                        choices=("synthetic", "dcgan"))
    boundaries: str = setting(os.path.join(PATH_DCGAN_EYEGLASSES, "boundaries"),
                              "--data dcgan: the boundary folder holding eyeglasses.npy")
    alpha: float = setting(edits.EDIT_END, "--data dcgan: the boundary edit moves the latent this far along "
                                           "the normal (add) or back (remove)")
    facenet: str = setting(facenet.DEFAULT, f"--data dcgan: FaceNet for identity similarity: {facenet.HELP}")
    out: str = setting(None, f"output folder (default: {PATH_INVERTER_RESULTS}/<run>/evaluation)", type=str,
                       output=True)


COMMANDS = {"train": (TrainCommand, "train both generators and export them"),
            "apply": (ApplyCommand, "add and remove the attribute on faces"),
            "evaluate": (EvaluateCommand, "judge an eyeglasses inverter on held-out faces: synthetic ones against "
                                          "the renderer's truth, or DCGAN ones by their eyeglasses score "
                                          "(--data dcgan)")}


def _split(a):
    if a.data == "celeba":
        return attribute_data.celeba_split(a.celeba, a.attribute, a.limit)
    if a.data == "folders":
        if not a.without or not a.with_:
            raise InputError("--data folders needs both --without and --with")
        return attribute_data.folder_split(a.without, a.with_, a.limit)
    if a.data == "dcgan":
        return attribute_data.eyeglasses_scored_split(a.scores, a.limit)
    from faceinv.models.generators import load_generator
    if a.count <= 0:
        raise InputError(f"--count must be positive, not {a.count}")
    return attribute_data.synthetic_split(load_generator("synthetic"), a.count, SYNTHETIC_TRAIN_SEED)


def _data_size(a):
    """The faces' own resolution, known before any face is read or rendered."""
    if a.data == "celeba":
        return PROGAN_WINDOW[2]
    if a.data == "folders":
        if not a.without or not a.with_:
            raise InputError("--data folders needs both --without and --with")
        first = os.path.join(a.without, files.list_images(a.without)[0])
        return files.read_image(first).shape[0]
    from faceinv.models.generators import load_generator
    if a.data == "dcgan":
        _, _, meta = attribute_data.read_eyeglasses_scores(a.scores)
        return load_generator(meta["generator"]).resolution
    return load_generator("synthetic").resolution


def resolve_train(c):
    """Fill the resolution, the run's name and its folders."""
    if c.data == "folders" and (not c.without or not c.with_):
        raise InputError("--data folders needs both --without and --with")
    attribute = "eyeglasses" if c.data in ("synthetic", "dcgan") else c.attribute.lower()
    if c.keep == "best" and c.data != "synthetic":
        raise InputError("--keep best needs --data synthetic: only its faces have a ground truth to validate on")
    suffix = ("_attention" if c.attention else "") + ("_blend" if c.edit == "blend" else "")
    run = c.run or f"{attribute}_{c.data}{suffix}"
    return dataclasses.replace(
        c, run=run, size=c.size or _data_size(c),
        checkpoint_dir=c.checkpoint_dir or os.path.join(PATH_CHECKPOINTS, "attribute_inverter", run),
        log_dir=c.log_dir or os.path.join(PATH_LOGS, "attribute_inverter", run),
        export_dir=c.export_dir or os.path.join(PATH_INVERTERS, run))


def train(c):
    from faceinv.editing.inverter_training import InverterTrainer
    c = resolve_train(c)
    c.check()
    split = _split(c)
    attribute_data.check_enough(split, c.min_faces)
    print(f"data: {split.label}: {split.counts()[0]} faces without, {split.counts()[1]} with")
    validation = None
    if c.data == "synthetic":
        from faceinv.models.generators import load_generator
        validation = eyeglasses.held_out_faces(load_generator("synthetic"), VALIDATION_FACES,
                                               SYNTHETIC_VALIDATION_SEED, c.size)
    trainer = InverterTrainer(c, split, validation)
    history = trainer.fit()
    trainer.export()
    out = os.path.join(PATH_INVERTER_RESULTS, c.run)
    os.makedirs(out, exist_ok=True)
    files.save_png(os.path.join(out, "preview.png"), trainer.preview(exported=True))
    if history:
        keys = list(history[-1])
        path = os.path.join(out, "history.csv")
        previous = files.read_csv(path) if os.path.exists(path) else []
        rows = [[r.get(k, "") for k in keys] for r in previous if int(r["epoch"]) <= history[0]["epoch"] - 1]
        files.save_text(path, files.csv_text(keys, rows + [[h.get(k, "") for k in keys] for h in history]))
    config.write(out, c)
    print(f"exported the generators to {c.export_dir}; preview in {out}/preview.png")


def _inputs(path):
    if os.path.isdir(path):
        return [os.path.join(path, n) for n in files.list_images(path)]
    if not os.path.isfile(path):
        raise InputError(f"input {path} does not exist")
    return [path]


def _check_sizes(paths, size, model):
    """--align never edits images as they are: each must be a size x size crop."""
    for path in paths:
        width, height = files.image_size(path)
        if (width, height) != (size, size):
            raise InputError(f"{path} is {width}x{height}, but the inverter {model} edits {size}x{size} faces: "
                             "crop them to its size, or let it align them (--align auto)")


def _face(path, size, align, detector):
    """The model-sized float face of an image file, or None when alignment finds no face."""
    image = files.read_image(path)
    if align == "never" or (align == "auto" and image.shape[0] == image.shape[1] == size):
        return image
    crop = detector.align(files.to_uint8(image), size)
    return None if crop is None else crop.astype(np.float32) / 255.0


def apply(a):
    config.require(a, "model", "input")
    inverter = LoadedInverter(a.model)
    paths = _inputs(a.input)
    if a.align == "never":
        _check_sizes(paths, inverter.size, a.model)
    detector = None
    if a.align != "never":
        from faceinv.data.alignment import FaceDetector
        detector = FaceDetector(a.min_face_size)
    run = os.path.basename(os.path.normpath(a.model))
    out = a.out or os.path.join(PATH_INVERTER_RESULTS, run, "applied")
    for sub in ("added", "removed"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    rows, skipped = [], []
    bar = progress(len(paths))
    for i, path in enumerate(paths):
        face = _face(path, inverter.size, a.align, detector)
        if face is None:
            skipped.append(path)
        else:
            face = face[None]
            added, added_residual = inverter(face, "add")
            removed, removed_residual = inverter(face, "remove")
            name = os.path.splitext(os.path.basename(path))[0] + ".png"
            files.save_png(os.path.join(out, "added", name), files.to_uint8(added[0]), inverter.label)
            files.save_png(os.path.join(out, "removed", name), files.to_uint8(removed[0]), inverter.label)
            rows.append(np.concatenate([face, added, 0.5 + added_residual / 2, removed,
                                        0.5 + removed_residual / 2]))
        bar.update(i + 1)
    if skipped:
        files.save_text(os.path.join(out, "skipped.txt"), "".join(p + "\n" for p in skipped))
    if not rows:
        raise InputError(f"no face found in {a.input}")
    files.save_grid(os.path.join(out, "grid.png"), np.concatenate(rows), len(GRID_COLUMNS),
                    inverter.label, GRID_COLUMNS)
    config.write(out, dataclasses.replace(a, out=out))
    print(f"edited {len(rows)} faces into {out} (grid.png, added/, removed/)"
          + (f"; no face found in {len(skipped)}, listed in skipped.txt" if skipped else ""))


def _save_judgement(out, report, summary, label):
    """per_face.csv (every judged face) and judge.png (amount against cosine, the success box shaded)."""
    columns, rows, panels = ["amount", "cosine", "outside", "checkerboard"], [], []
    for d in ("add", "remove"):
        r = report[d]
        strict = eyeglasses.successes(d, r["amount"], r["cosine"])[0]
        rows += [[d, *(f"{r[k][i]:.5f}" for k in columns), int(strict[i])] for i in range(len(strict))]
        amounts = (eyeglasses.ADD_AMOUNT, 1.25) if d == "add" else (-0.25, eyeglasses.REMOVE_AMOUNT)
        panels.append(plots.scatter_plot(
            r["amount"], r["cosine"], f"{d}: {100 * summary[d]['success']:.1f}% in the shaded box (strict)",
            "glasses amount (0: the render without, 1: with)", "change cosine",
            (amounts, (eyeglasses.MIN_COSINE, 1.0)), label))
    files.save_text(os.path.join(out, "per_face.csv"), files.csv_text(["direction", *columns, "strict"], rows))
    files.save_png(os.path.join(out, "judge.png"), np.concatenate(panels, axis=1))


def evaluate(a):
    from faceinv.models.generators import load_generator
    config.require(a, "model")
    if a.count <= 0:
        raise InputError(f"--count must be positive, not {a.count}")
    if a.data == "dcgan":
        return evaluate_dcgan(a)
    inverter = LoadedInverter(a.model)
    if inverter.meta.get("config", {}).get("keep") == "best" and a.seed == SYNTHETIC_VALIDATION_SEED:
        raise InputError(f"{a.model} kept its best epoch by the faces of seed {a.seed}: judge it on other faces "
                         f"(--seed {SYNTHETIC_TEST_SEED})")
    generator = load_generator("synthetic")
    report = eyeglasses.judge_edits(generator, inverter, a.count, a.seed, inverter.size)
    summary = eyeglasses.summarise(report)
    run = os.path.basename(os.path.normpath(a.model))
    out = a.out or os.path.join(PATH_INVERTER_RESULTS, run, "evaluation")
    os.makedirs(out, exist_ok=True)
    label = f"{generator.label} | judged against the renderer's ground truth"
    config.write(out, dataclasses.replace(a, out=out))
    files.save_json(os.path.join(out, "evaluation.json"),
                    dict(summary, model=os.path.abspath(a.model), label=label, count=a.count, seed=a.seed))
    _save_judgement(out, report, summary, label)
    shown = [report[d]["shown"] for d in ("add", "remove")]
    rows = np.concatenate([np.stack([faces, edited, 0.5 + residual / 2], 1)[:8]
                           for faces, edited, residual in shown], axis=1)
    files.save_grid(os.path.join(out, "grid.png"), rows.reshape(-1, *rows.shape[2:]), 6, label,
                    ["without", "added", "residual", "with", "removed", "residual"])
    for direction in ("add", "remove"):
        s = summary[direction]
        print(f"{direction}: glasses {'on' if direction == 'add' else 'off'} in {100 * s['success']:.1f}% of "
              f"{a.count} held-out faces (strict: amount {'>=' if direction == 'add' else '<='} "
              f"{eyeglasses.ADD_AMOUNT if direction == 'add' else eyeglasses.REMOVE_AMOUNT} and change cosine "
              f">= {eyeglasses.MIN_COSINE}; {100 * s['success_kept']:.1f}% with the outside of the eye region "
              f"also kept; lenient, amount past 0.5: {100 * s['success_lenient']:.1f}%); "
              f"median amount {s['amount_quartiles'][1]:.2f}, median cosine {s['cosine_quartiles'][1]:.2f}; "
              f"mean change outside the eye region {s['outside_mean']:.4f} "
              f"(threshold {eyeglasses.OUTSIDE_THRESHOLD})")
    print(f"wrote {out}/evaluation.json, per_face.csv, judge.png (amount against cosine) and grid.png")


def evaluate_dcgan(a):
    """The inverter and the InterFaceGAN boundary, each adding and removing eyeglasses on held-out
    DCGAN faces, judged by the eyeglasses score and FaceNet."""
    from faceinv.editing.boundaries import load_boundary
    from faceinv.models.facenet import load_facenet
    from faceinv.models.generators import DCGAN, load_generator
    boundary_path = os.path.join(a.boundaries, "eyeglasses.npy")
    if not os.path.isfile(boundary_path):
        raise InputError(f"{a.boundaries} holds no eyeglasses.npy (interfacegan_svm.py boundaries writes it)")
    inverter = LoadedInverter(a.model)
    generator = load_generator(DCGAN)
    if inverter.size != generator.resolution:
        raise InputError(f"the inverter {a.model} edits {inverter.size}x{inverter.size} faces, but the DCGAN draws "
                         f"{generator.resolution}x{generator.resolution}: train one with --data dcgan")
    normal = load_boundary(boundary_path, generator.latent_dim)
    network = load_facenet(a.facenet)

    def boundary_edit(faces, latents, direction):
        sign = 1.0 if direction == "add" else -1.0
        return np.asarray(generator((latents + sign * a.alpha * normal).astype(np.float32)))

    def inverter_edit(faces, latents, direction):
        return inverter(np.asarray(faces, np.float32), direction)[0]

    scorer = eyeglasses_score.EyeglassesScorer(generator.template)
    editors = {"boundary": boundary_edit, "inverter": inverter_edit}
    summary, pictures = eyeglasses_score.judge_edits(generator, scorer, network, editors, a.count, a.seed)
    out = a.out or os.path.join(PATH_INVERTER_RESULTS, os.path.basename(os.path.normpath(a.model)), "evaluation")
    os.makedirs(out, exist_ok=True)
    # What the figures rest on comes first: a 64 px grid's banner shows only some 60 characters.
    label = f"judged by the eyeglasses score, not labels | {generator.label} | identity: {network.label}"
    config.write(out, dataclasses.replace(a, out=out))
    files.save_json(os.path.join(out, "evaluation.json"), dict(
        summary, model=os.path.abspath(a.model), boundary=os.path.abspath(boundary_path), alpha=a.alpha,
        label=label, inverter=inverter.label, count=a.count, seed=a.seed, facenet=network.label,
        thresholds={"without_max": eyeglasses_score.WITHOUT_MAX, "with_min": eyeglasses_score.WITH_MIN}))
    rows = np.concatenate([np.stack(pictures[d], 1) for d in ("add", "remove")], axis=1)
    files.save_grid(os.path.join(out, "grid.png"), rows.reshape(-1, *rows.shape[2:]), rows.shape[1], label,
                    ["without", "boundary+", "inverter+", "with", "boundary-", "inverter-"])
    for direction in ("add", "remove"):
        for name in editors:
            s = summary[direction][name]
            after = "no face found" if s["score_after"] is None else f"{s['score_after']:.2f}"
            print(f"{direction} eyeglasses, {name}: the score crossed in {100 * s['flip_rate']:.1f}% of "
                  f"{a.count} held-out faces (mean {summary[direction]['score_before']:.2f} -> {after}); "
                  f"FaceNet identity similarity {s['identity_similarity']:.3f}")
    print(f"wrote {out}/evaluation.json and grid.png")


def main(argv=None):
    command, settings = config.parse_command(COMMANDS, argv, __doc__)
    return {"train": train, "apply": apply, "evaluate": evaluate}[command](settings)


if __name__ == "__main__":
    cli.run(main)
