"""Real photographs through every inversion method, then edited: is it still the same person?

    python benchmarks/bench_photos.py                          # the offline photo set, DCGAN, defaults
    python benchmarks/bench_photos.py --tune 200 --tune-layers 3 --locality-weight 0.5
    python benchmarks/bench_photos.py --photos my1.jpg --photos my2.png --out results/photos_bench/mine

The photos are those that install offline (faceinv/data/offline_photos.py):
scikit-image's astronaut and insightface 2.1's sample images; every face MTCNN
finds at confidence >= 0.95 is one test face, aligned to the generator's
framing. Methods, each timed per face on its own (batch 1, as invert_photo.py
runs): Adam-200 from a random start (the fallback without an encoder), the
shipped encoder alone, the hybrid (encoder + its card's Adam steps), and the
hybrid followed by generator tuning (faceinv/inversion/tuning.py).

Per face it prints PSNR, FaceNet identity (cosine to the aligned photo) and
seconds; then, for edits along the pose and smile boundaries at -2 and +2
from the pivot, through the untuned and the tuned generator: the identity
against the photo (mean of the two ends) and the edit's effect, the change of
its landmark score from -2 to +2 (yaw for pose, mouth width for smile, by
MTCNN on the rendered faces) through the tuned generator as a fraction of
the untuned generator's at the same latents. Means and the worst face close
each table.

Writes --out: photos.json (every figure), table.md, config.json, and grid.png:
one row per face of a public-domain photo (photo, hybrid, tuned, then pose
and smile at -2 / +2 untuned and tuned). Faces of photos without stated terms
are measured, never drawn.
"""
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from faceinv import cli, config, files  # noqa: E402, I001  (cli first: it quiets TensorFlow)
from faceinv.config import setting  # noqa: E402
from faceinv.data.alignment import FaceDetector, mouth_width, render_landmarks, yaw  # noqa: E402
from faceinv.data.offline_photos import PHOTOS  # noqa: E402
from faceinv.editing.boundaries import load_boundary  # noqa: E402
from faceinv.inversion import tuning  # noqa: E402
from faceinv.inversion.encoder_choice import choose_encoder, hybrid_settings, load_chosen  # noqa: E402
from faceinv.inversion.gradient_recovery import BASELINE_LR, BASELINE_STEPS, INIT_SEED, ImageLoss, recover_latents  # noqa: E402
from faceinv.models.facenet import DEFAULT as FACENET  # noqa: E402
from faceinv.models.facenet import HELP as FACENET_HELP  # noqa: E402
from faceinv.models.facenet import load_facenet  # noqa: E402
from faceinv.models.generators import GENERATOR_HELP, PHOTO_GENERATOR, generator_tag, load_generator, sample_latents  # noqa: E402
from faceinv.paths import PATH_BOUNDARIES, PATH_RESULTS  # noqa: E402
from faceinv.report import metrics  # noqa: E402

EDITS = {"pose": yaw, "smile": mouth_width}  # the boundary and the landmark score that measures it
EDIT_ALPHA = 2.0
GRID_SIZE = 128      # the grid's faces, enlarged from the DCGAN's 64 px so that people can see them


@dataclasses.dataclass
class Face:
    name: str
    aligned: np.ndarray
    public: bool


def photo_faces(paths, generator, detector):
    """Every face of every photo at MTCNN confidence >= 0.95, aligned; (name, face, public domain)."""
    if paths:
        sources = [(os.path.splitext(os.path.basename(p))[0], p, False) for p in paths]
    else:
        sources = [(photo.name, photo.path, photo.public_domain) for photo in PHOTOS]
    faces = []
    for name, path, public in sources:
        image = files.to_uint8(files.read_image(path))
        found = detector.photo_faces(image)
        for index in range(len(found)):
            aligned, _ = detector.align_photo_face(image, generator.resolution, generator.template, index, path)
            faces.append(Face(f"{name}#{index}" if len(found) > 1 else name,
                              aligned.astype(np.float32) / 255.0, public))
    return faces


def identity(facenet, faces, references):
    _, a = facenet(np.asarray(faces, np.float32))
    _, b = facenet(np.asarray(references, np.float32))
    return np.sum(np.asarray(a) * np.asarray(b), axis=1)


def enlarged(face, size):
    return np.asarray(Image.fromarray(files.to_uint8(face)).resize((size, size), Image.Resampling.BICUBIC))


def landmark_score(detector, face, score):
    """The landmark score of one rendered face, NaN where MTCNN finds none."""
    points = render_landmarks(detector, face)
    return float("nan") if points is None else score(points)


def invert(generator, face, initial, steps, lr):
    started = time.perf_counter()
    recovery = recover_latents(generator, face[None], initial, ImageLoss({"mae": 1.0}), steps, lr,
                               seed=INIT_SEED, batch_size=1)
    return recovery.latents, recovery.images[0], time.perf_counter() - started


def measure_face(face, generator, encoder, hybrid, settings, normals, facenet, detector):
    """Every figure of one face, and the pictures of its grid row."""
    row, pictures = {"face": face.name}, [face.aligned]
    start = sample_latents(1, INIT_SEED, generator.latent_dim)
    _, adam_face, row["adam_s"] = invert(generator, face.aligned, start, BASELINE_STEPS, BASELINE_LR)
    started = time.perf_counter()
    guess = encoder(face.aligned[None])
    guess_face = np.asarray(generator(guess))[0]
    row["encoder_s"] = time.perf_counter() - started
    pivot, hybrid_face, seconds = invert(generator, face.aligned, guess, *hybrid)
    row["hybrid_s"] = row["encoder_s"] + seconds
    tuned = tuning.tune_generator(generator, face.aligned, pivot, settings, directions=np.concatenate(
        list(normals.values())), facenet=facenet, detector=detector)
    tuned_face = np.asarray(tuned.generator(pivot))[0]
    row["tuned_s"] = row["hybrid_s"] + tuned.seconds
    row["tune_only_s"] = tuned.seconds
    shown = {"adam": adam_face, "encoder": guess_face, "hybrid": hybrid_face, "tuned": tuned_face}
    similarity = identity(facenet, list(shown.values()), [face.aligned] * len(shown))
    for (method, picture), sim in zip(shown.items(), similarity):
        row[f"{method}_psnr"] = float(metrics.psnr(face.aligned[None], picture[None])[0])
        row[f"{method}_id"] = float(sim)
    pictures += [hybrid_face, tuned_face]
    for attribute, normal in normals.items():
        ends = np.concatenate([pivot - EDIT_ALPHA * normal, pivot + EDIT_ALPHA * normal]).astype(np.float32)
        for which, gen in (("untuned", generator), ("tuned", tuned.generator)):
            edited = np.asarray(gen(ends))
            pictures += list(edited)
            row[f"{attribute}_{which}_id"] = float(np.mean(identity(facenet, edited, [face.aligned] * 2)))
            # The ceiling an edit allows: the same generator's face before and after it.
            unedited = np.asarray(gen(pivot))[0]
            row[f"{attribute}_{which}_self_id"] = float(np.mean(identity(facenet, edited, [unedited] * 2)))
            scores = [landmark_score(detector, f, EDITS[attribute]) for f in edited]
            row[f"{attribute}_{which}_change"] = scores[1] - scores[0]
        row[f"{attribute}_effect"] = row[f"{attribute}_tuned_change"] / row[f"{attribute}_untuned_change"]
    return row, pictures


def table(rows, attributes):
    methods = ("adam", "encoder", "hybrid", "tuned")
    header = ["face"] + [f"{m} {what}" for m in methods for what in ("PSNR", "id", "s")]
    body = [[r["face"]] + [f"{r[f'{m}_{k}']:.{p}f}" for m in methods for k, p in (("psnr", 2), ("id", 3), ("s", 2))]
            for r in rows]
    edit_header = ["face"] + [f"{a} {what}" for a in attributes
                              for what in ("id untuned", "id tuned", "effect")]
    edit_body = [[r["face"]] + [f"{r[f'{a}_{k}']:.{p}f}" for a in attributes
                                for k, p in (("untuned_id", 3), ("tuned_id", 3), ("effect", 2))] for r in rows]
    return header, body, edit_header, edit_body


def summary(rows, attributes):
    """Means, the worst face, and the issue's targets met or not."""
    mean = {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0] if key != "face"}
    worst = min(rows, key=lambda r: r["tuned_id"])
    edit_ids = [r[f"{a}_tuned_id"] for r in rows for a in attributes]
    acting = [all(r[f"{a}_effect"] >= 0.7 for a in attributes) for r in rows]
    return {"mean": mean, "worst_face": worst["face"], "worst_tuned_id": worst["tuned_id"],
            "edit_id_mean": float(np.mean(edit_ids)), "faces_with_edits_acting": float(np.mean(acting)),
            "targets": {"tuned identity >= 0.95": mean["tuned_id"] >= 0.95,
                        "tuned PSNR >= 32": mean["tuned_psnr"] >= 32.0,
                        "tuning <= 30 s a face": mean["tune_only_s"] <= 30.0,
                        "edit identity >= 0.75": float(np.mean(edit_ids)) >= 0.75,
                        "edits >= 70% on >= 80% of faces": float(np.mean(acting)) >= 0.8}}


@dataclasses.dataclass
class Config(tuning.TuneOptions):
    photos: list = setting([], "a photo file (repeatable; default: the offline set)")
    generator: str = setting(PHOTO_GENERATOR, GENERATOR_HELP)
    encoder: str = setting(None, "default: by the one rule (faceinv/inversion/encoder_choice.py)", type=str)
    facenet: str = setting(FACENET, FACENET_HELP)
    limit: int = setting(None, "only the first N faces", type=int)
    out: str = setting(os.path.join(PATH_RESULTS, "photos_bench"), "output folder", output=True)


def main(argv=None):
    args = config.parse(Config, argv, __doc__)
    settings = args.tune_settings()
    generator = load_generator(args.generator)
    tuning.check_tunable(generator)
    choice = choose_encoder(generator_tag(args.generator), args.encoder)
    print(choice.describe())
    encoder = load_chosen(choice.path)
    if encoder is None:
        raise SystemExit("bench_photos.py needs an encoder for the hybrid")
    hybrid = hybrid_settings(choice.path)
    folder = os.path.join(PATH_BOUNDARIES, generator_tag(args.generator))
    normals = {a: load_boundary(os.path.join(folder, f"{a}.npy"), generator.latent_dim)[None] for a in EDITS}
    facenet = load_facenet(args.facenet)
    detector = FaceDetector()
    faces = photo_faces(args.photos, generator, detector)[:args.limit]
    print(f"{len(faces)} faces; hybrid {hybrid[0]} steps at lr {hybrid[1]}; tuning {settings}")
    rows, grid = [], []
    for face in faces:
        row, pictures = measure_face(face, generator, encoder, hybrid, settings, normals, facenet, detector)
        rows.append(row)
        if face.public:
            grid += [enlarged(picture, GRID_SIZE) for picture in pictures]
        print("  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    header, body, edit_header, edit_body = table(rows, list(EDITS))
    result = summary(rows, list(EDITS))
    mean = result["mean"]
    os.makedirs(args.out, exist_ok=True)
    text = (files.markdown_table(header, body) + "\n\n" + files.markdown_table(edit_header, edit_body) +
            "\n\nmeans: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()) +
            f"\nworst face (tuned identity): {result['worst_face']} {result['worst_tuned_id']:.3f}"
            f"\nedit identity (tuned, mean over faces, attributes and ends): {result['edit_id_mean']:.3f}"
            f"\nfaces whose every edit acts at >= 70%: {result['faces_with_edits_acting']:.0%}"
            f"\ntargets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in result["targets"].items()))
    print(text)
    files.save_text(os.path.join(args.out, "table.md"), text + "\n")
    files.save_json(os.path.join(args.out, "photos.json"), {"rows": rows, **result, "generator": generator.label,
                                                            "encoder": choice.path, "hybrid": hybrid,
                                                            "tuning": dataclasses.asdict(settings)})
    config.write(args.out, args)
    if grid:
        titles = ["photo", "hybrid", "tuned"] + [f"{a} {s}{EDIT_ALPHA:g} {w}" for a in EDITS
                                                 for w in ("plain", "tuned") for s in "-+"]
        files.save_grid(os.path.join(args.out, "grid.png"), np.stack(grid), len(titles),
                        generator.label, titles)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    cli.run(main)
