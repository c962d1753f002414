"""The attribute inverter: two residual generators that add (G0) or remove (G1) one attribute.

Commands (each has --help):
  train     train on CelebA split by --attribute, on two folders (--without,
            --with) or on synthetic faces split by their true eyeglasses;
            exports both generators as SavedModels
  apply     edit a folder of faces or one photo (MTCNN-aligned unless it is
            already a crop) and save the grid
            input | added | added residual | removed | removed residual
  evaluate  judge an inverter on held-out synthetic faces against the
            renderer's ground truth: glasses put on, glasses taken off, and the
            change outside the eye region

    python attribute_inverter.py train --data celeba --attribute Eyeglasses
    python attribute_inverter.py apply --model saved_model/attribute_inverter/eyeglasses_celeba \\
        --input photo.jpg
    python attribute_inverter.py train --data synthetic --width 8 --epochs 10 --attention  # offline
    python attribute_inverter.py evaluate --model saved_model/attribute_inverter/eyeglasses_synthetic_attention
The paper's setting: CelebA, 1000 faces, 100 epochs, width 64 at 128x128.
Residuals are shown as 0.5 + residual / 2: grey is no change.
"""
import argparse
import os

import numpy as np

from faceinv import cli  # first: it quiets TensorFlow's start-up
from faceinv import attribute_data, data, eyeglasses, files
from faceinv.attribute_classifier import PROGAN_WINDOW
from faceinv.errors import InputError
from faceinv.progress import progress
from faceinv.residual_gan import LoadedInverter

PATH_CELEBA = "datasets/celeba"
PATH_MODELS = "saved_model/attribute_inverter"
PATH_RESULTS = "results/attribute_inverter"
PATH_CHECKPOINTS = "checkpoints/attribute_inverter"
PATH_LOGS = "logs/attribute_inverter"
SYNTHETIC_TRAIN_SEED, SYNTHETIC_TEST_SEED = 0, 1
GRID_COLUMNS = ["input", "added", "residual", "removed", "residual"]


def _add_train(sub):
    p = sub.add_parser("train", help="train both generators and export them")
    p.add_argument("--data", choices=("celeba", "folders", "synthetic"), default="celeba")
    p.add_argument("--celeba", default=PATH_CELEBA, help="CelebA folder (default: %(default)s)")
    p.add_argument("--attribute", default="Eyeglasses",
                   help="CelebA attribute to split by (default: %(default)s; the authors' other: Wearing_Hat)")
    p.add_argument("--without", help="--data folders: faces without the attribute")
    p.add_argument("--with", dest="with_", help="--data folders: faces with the attribute")
    p.add_argument("--limit", type=int, default=0, help="at most this many faces per class (0: all)")
    p.add_argument("--count", type=int, default=1000, help="--data synthetic: faces per class")
    p.add_argument("--size", type=int, help="training resolution (default: the data's own: the generator's "
                                         "for synthetic faces, the images' for folders, 128 for CelebA)")
    p.add_argument("--width", type=int, default=64,
                   help="channels of the first layer, the rest scale with it (paper: 64)")
    p.add_argument("--attention", action="store_true",
                   help="learn a mask: residual = mask * tanh(r), with the mean mask penalised")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--adversarial-weight", type=float, default=1.0)
    p.add_argument("--dual-weight", type=float, default=10.0)
    p.add_argument("--residual-weight", type=float, default=5.0)
    p.add_argument("--perceptual-weight", type=float, default=0.1)
    p.add_argument("--mask-weight", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run", help="run name: checkpoints, logs, export and results are kept under it "
                                 "(default: <attribute>_<data>, plus _attention)")


def _add_apply(sub):
    p = sub.add_parser("apply", help="add and remove the attribute on faces")
    p.add_argument("--model", required=True, help="an exported inverter (train writes one)")
    p.add_argument("--input", required=True, help="an image, or a folder of images")
    p.add_argument("--align", choices=("auto", "always", "never"), default="auto",
                   help="MTCNN alignment: auto aligns images that are not square crops of the "
                        "model's size (default: %(default)s)")
    p.add_argument("--min-face-size", type=int, default=20, help="MTCNN's smallest face, in pixels")
    p.add_argument("--out", help="(default: results/attribute_inverter/<run>/applied)")


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="judge an eyeglasses inverter on held-out synthetic faces")
    p.add_argument("--model", required=True, help="an exported inverter")
    p.add_argument("--count", type=int, default=200, help="held-out faces per class (default: %(default)s)")
    p.add_argument("--seed", type=int, default=SYNTHETIC_TEST_SEED)
    p.add_argument("--out", help="(default: results/attribute_inverter/<run>/evaluation)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_apply, _add_evaluate):
        add(sub)
    return p.parse_args(argv)


def _split(a):
    if a.data == "celeba":
        return attribute_data.celeba_split(a.celeba, a.attribute, a.limit)
    if a.data == "folders":
        if not a.without or not a.with_:
            raise InputError("--data folders needs both --without and --with")
        return attribute_data.folder_split(a.without, a.with_, a.limit)
    from faceinv.generators import load_generator
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
    from faceinv.generators import load_generator
    return load_generator("synthetic").resolution


def train(a):
    from faceinv.inverter_training import InverterConfig, InverterTrainer
    attribute = "eyeglasses" if a.data == "synthetic" else a.attribute.lower()
    run = a.run or f"{attribute}_{a.data}" + ("_attention" if a.attention else "")
    described = {"celeba": f"{os.path.abspath(a.celeba)}:{a.attribute}:{a.limit}",
                 "folders": f"{a.without and os.path.abspath(a.without)}|{a.with_ and os.path.abspath(a.with_)}"
                            f":{a.limit}",
                 "synthetic": f"synthetic:{a.count}"}[a.data]
    config = InverterConfig(
        data=described, size=a.size or _data_size(a), width=a.width, attention=a.attention, epochs=a.epochs,
        batch_size=a.batch_size, learning_rate=a.lr, adversarial_weight=a.adversarial_weight,
        dual_weight=a.dual_weight, residual_weight=a.residual_weight,
        perceptual_weight=a.perceptual_weight, mask_weight=a.mask_weight, seed=a.seed,
        checkpoint_dir=os.path.join(PATH_CHECKPOINTS, run), log_dir=os.path.join(PATH_LOGS, run),
        export_dir=os.path.join(PATH_MODELS, run))
    config.check()
    split = _split(a)
    print(f"data: {split.label}: {split.counts()[0]} faces without, {split.counts()[1]} with")
    trainer = InverterTrainer(config, split)
    history = trainer.fit()
    trainer.export()
    out = os.path.join(PATH_RESULTS, run)
    os.makedirs(out, exist_ok=True)
    files.save_png(os.path.join(out, "preview.png"), trainer.preview())
    if history:
        keys = list(history[-1])
        path = os.path.join(out, "history.csv")
        previous = files.read_csv(path) if os.path.exists(path) else []
        rows = [[r[k] for k in keys] for r in previous if int(r["epoch"]) <= history[0]["epoch"] - 1]
        files.save_text(path, files.csv_text(keys, rows + [[h.get(k, "") for k in keys] for h in history]))
    print(f"exported the generators to {config.export_dir}; preview in {out}/preview.png")


def _inputs(path):
    if os.path.isdir(path):
        return [os.path.join(path, n) for n in files.list_images(path)]
    if not os.path.isfile(path):
        raise InputError(f"input {path} does not exist")
    return [path]


def _face(path, size, align, detector):
    """The model-sized float face of an image file, or None when alignment finds no face."""
    image = files.read_image(path)
    is_crop = image.shape[0] == image.shape[1] == size
    if align == "never" or (align == "auto" and is_crop):
        return np.asarray(data.resize(image, size))
    crop = detector.align(files.to_uint8(image), size)
    return None if crop is None else crop.astype(np.float32) / 255.0


def apply(a):
    inverter = LoadedInverter(a.model)
    paths = _inputs(a.input)
    detector = None
    if a.align != "never":
        from faceinv.alignment import FaceDetector
        detector = FaceDetector(a.min_face_size)
    run = os.path.basename(os.path.normpath(a.model))
    out = a.out or os.path.join(PATH_RESULTS, run, "applied")
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
    print(f"edited {len(rows)} faces into {out} (grid.png, added/, removed/)"
          + (f"; no face found in {len(skipped)}, listed in skipped.txt" if skipped else ""))


def evaluate(a):
    from faceinv.generators import load_generator
    if a.count <= 0:
        raise InputError(f"--count must be positive, not {a.count}")
    inverter = LoadedInverter(a.model)
    generator = load_generator("synthetic")
    report = eyeglasses.judge_edits(generator, inverter, a.count, a.seed, inverter.size)
    summary = eyeglasses.summarise(report)
    run = os.path.basename(os.path.normpath(a.model))
    out = a.out or os.path.join(PATH_RESULTS, run, "evaluation")
    os.makedirs(out, exist_ok=True)
    label = f"{generator.label} | judged against the renderer's ground truth"
    files.save_json(os.path.join(out, "evaluation.json"),
                    dict(summary, model=os.path.abspath(a.model), label=label, count=a.count, seed=a.seed))
    shown = [report[d]["shown"] for d in ("add", "remove")]
    rows = np.concatenate([np.stack([faces, edited, 0.5 + residual / 2], 1)[:8]
                           for faces, edited, residual in shown], axis=1)
    files.save_grid(os.path.join(out, "grid.png"), rows.reshape(-1, *rows.shape[2:]), 6, label,
                    ["without", "added", "residual", "with", "removed", "residual"])
    for direction in ("add", "remove"):
        s = summary[direction]
        print(f"{direction}: glasses {'on' if direction == 'add' else 'off'} in "
              f"{100 * s['success']:.1f}% of {a.count} held-out faces; mean change outside the eye "
              f"region {s['outside_mean']:.4f} (threshold {eyeglasses.OUTSIDE_THRESHOLD}); cosine "
              f"with the true change in the region {s['cosine_mean']:.3f}")
    print(f"wrote {out}/evaluation.json and grid.png")


def main(argv=None):
    a = parse_args(argv)
    return {"train": train, "apply": apply, "evaluate": evaluate}[a.command](a)


if __name__ == "__main__":
    cli.run(main)
