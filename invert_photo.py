"""Invert a photograph end to end: align its face, recover its latent, edit it.

The face is found and aligned with MTCNN onto the generator's own framing
(`generator.template`), then inverted as the comparison's hybrid does it: the
trained encoder's guess, refined by a few Adam steps on the pixel loss. The
encoder and its steps follow one rule (faceinv/inversion/encoder_choice.py): the
one named with --encoder, else the one the repository ships for the generator
(weights/), else one trained here. With none it falls back to the paper's
optimisation baseline (Adam from a random start) and says so. A copy of the
generator is then tuned to the face at that latent (pivotal tuning,
faceinv/inversion/tuning.py; --tune 0 skips it), and the latent is moved along
an InterFaceGAN boundary through the tuned generator. The FaceNet identity
similarity (cosine of the embeddings) between the aligned face and each
reconstruction is printed. In a group photo, --face N picks a face (0: the
largest, as on the page).

    python invert_photo.py photo.jpg                                # offline: the trained DCGAN (dcgan-digiface)
    python invert_photo.py photo.jpg --generator https://tfhub.dev/google/progan-128/1   # the paper's ProGAN-128

Writes results/photos/<photo name>/: aligned.png, encoder.png (the encoder's
guess, when there is an encoder), reconstruction.png (the untuned generator's
face at the latent), latent.npy [1, latent_dim], tuned.npz (the tuned
generator as float16 differences; interfacegan_svm.py edit --tuned reads it)
and tuned.png, <attribute>.png (the edit: one face per step along the
boundary), summary.png, photo.json (figures) and config.json (settings).
"""
import dataclasses
import os
import time

import numpy as np

from faceinv import cli, config, files
from faceinv.config import setting
from faceinv.data.alignment import MIN_FACE_SIZE, FaceDetector
from faceinv.editing.boundaries import load_boundary, load_boundary_folder
from faceinv.editing.edits import EDIT_END, EDIT_START, EDIT_STEPS, edit_path, render_edits, save_edit_grid
from faceinv.errors import InputError
from faceinv.inversion import tuning
from faceinv.inversion.encoder_choice import NONE, choose_encoder, fallback_message, hybrid_settings, load_chosen
from faceinv.inversion.gradient_recovery import BASELINE_LR, BASELINE_STEPS, INIT_SEED, ImageLoss, recover_latents
from faceinv.models.facenet import DEFAULT as FACENET
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.facenet import load_facenet
from faceinv.models.generators import GENERATOR_HELP, PHOTO_GENERATOR, generator_tag, load_generator, sample_latents
from faceinv.paths import PATH_BOUNDARIES, PATH_RESULTS
from faceinv.report import metrics

PATH_PHOTO_RESULTS = os.path.join(PATH_RESULTS, "photos")


@dataclasses.dataclass
class Config(tuning.TuneOptions):
    photo: str = setting(None, "an image file with a face in it", type=str, positional=True)
    generator: str = setting(PHOTO_GENERATOR, GENERATOR_HELP)
    encoder: str = setting(None, "encoder weights file (.npz) or exported folder, or none for optimisation "
                                 "alone (default: the one shipped for the generator in weights/, else one "
                                 "trained here)", type=str)
    steps: int = setting(None, f"Adam steps after the encoder (default: the encoder's own; {BASELINE_STEPS} "
                               "without an encoder)", type=int)
    learning_rate: float = setting(None, f"Adam learning rate (default: the encoder's own; {BASELINE_LR} "
                                         "without an encoder)", type=float, flags=("--lr",))
    face: int = setting(0, "which face of a group photo: 0 is the largest, 1 the next, ...")
    boundaries: str = setting(None, f"boundary folder (default: {PATH_BOUNDARIES}/<generator>)", type=str)
    attribute: str = setting("pose", "the boundary to edit along")
    start: float = setting(EDIT_START, "first step along the boundary")
    end: float = setting(EDIT_END, "last step along the boundary")
    edit_steps: int = setting(EDIT_STEPS, "faces along the edit")
    facenet: str = setting(FACENET, FACENET_HELP)
    min_face_size: int = setting(MIN_FACE_SIZE, "MTCNN's smallest face, in pixels")
    out: str = setting(None, f"output folder (default: {PATH_PHOTO_RESULTS}/<photo name>)", type=str, output=True)


def resolve(c):
    """Fill the encoder by the one rule, and the folders; "none" means no encoder."""
    if c.edit_steps < 2:
        raise InputError(f"--edit-steps must be at least 2, not {c.edit_steps}")
    if (c.steps is not None and c.steps < 0) or (c.learning_rate is not None and c.learning_rate <= 0):
        raise InputError("--steps must be >= 0 and --lr positive")
    if c.face < 0:
        raise InputError(f"--face must be 0 or more, not {c.face}")
    c.tune_settings()
    tag = generator_tag(c.generator)
    choice = choose_encoder(tag, c.encoder)
    print(choice.describe() if choice.path != NONE or c.encoder else fallback_message(tag))
    return dataclasses.replace(
        c, encoder=choice.path, boundaries=c.boundaries or os.path.join(PATH_BOUNDARIES, tag),
        out=c.out or os.path.join(PATH_PHOTO_RESULTS, os.path.splitext(os.path.basename(c.photo))[0]))


def with_encoder_steps(c):
    """The hybrid's steps and learning rate: the flags', else the encoder's own (encoder_choice.py)."""
    steps, lr = hybrid_settings(c.encoder)
    return dataclasses.replace(c, steps=steps if c.steps is None else c.steps,
                               learning_rate=lr if c.learning_rate is None else c.learning_rate)


def with_tuning(c, generator):
    """--tune's default: tuning.TUNE_STEPS where the generator can be tuned, else none (said once)."""
    if c.tune is None and not tuning.tunable(generator):
        print(f"{generator.label} cannot be tuned: no tuning")
    if c.tune:
        tuning.check_tunable(generator)
    return dataclasses.replace(c, tune=c.tune_settings(generator).steps)


def align(photo, generator, min_face_size, index=0):
    """Face `index` of the photo (largest first), aligned to the generator's framing, in [0, 1]."""
    if not os.path.isfile(photo):
        raise InputError(f"photo {photo} does not exist")
    image = files.to_uint8(files.read_image(photo))
    face, count = FaceDetector(min_face_size).align_photo_face(image, generator.resolution, generator.template,
                                                               index, photo)
    if count > 1:
        print(f"{count} faces in {photo}: face {index} is inverted (--face picks another; 0 is the largest)")
    return face.astype(np.float32) / 255.0


def identity_similarity(facenet, face, reconstruction):
    _, embeddings = facenet(np.stack([face, reconstruction]))
    return float(np.sum(np.asarray(embeddings[0]) * np.asarray(embeddings[1])))


def invert(c):
    c = with_encoder_steps(resolve(c))
    generator = load_generator(c.generator)
    print(f"generator: {generator.label}")
    c = with_tuning(c, generator)
    encoder = load_chosen(c.encoder)
    if encoder is not None:
        encoder.check_generator(generator)
    boundary_path = os.path.join(c.boundaries, f"{c.attribute}.npy")
    normal = load_boundary(boundary_path, generator.latent_dim) if os.path.exists(boundary_path) else None
    facenet = load_facenet(c.facenet)
    face = align(c.photo, generator, c.min_face_size, c.face)

    start = time.perf_counter()
    if encoder is not None:
        initial, how = encoder(face[None]), "encoder + Adam"
    else:
        initial, how = sample_latents(1, INIT_SEED, generator.latent_dim), "Adam"
    recovery = recover_latents(generator, face[None], initial, ImageLoss({"mae": 1.0}), c.steps, c.learning_rate,
                               seed=INIT_SEED, batch_size=1)
    seconds = time.perf_counter() - start
    reconstruction = recovery.images[0]
    similarity = identity_similarity(facenet, face, reconstruction)
    tuned = None
    if c.tune > 0:
        # Edit-aware tuning keeps the person along every boundary of the folder (the page's sliders).
        directions = list(load_boundary_folder(c.boundaries, generator.latent_dim).values())
        tuned = tuning.tune_generator(generator, face, recovery.latents, c.tune_settings(),
                                      directions=directions, facenet=facenet)
        tuned_face = np.asarray(tuned.generator(recovery.latents))[0]

    os.makedirs(c.out, exist_ok=True)
    label = encoder.label(generator.label) if encoder else generator.label
    files.save_png(os.path.join(c.out, "aligned.png"), face)
    files.save_png(os.path.join(c.out, "reconstruction.png"), reconstruction, label)
    files.save_npy(os.path.join(c.out, "latent.npy"), recovery.latents)
    shown, titles = [face, reconstruction], ["aligned", how]
    if encoder is not None:
        guess = np.asarray(generator(initial))[0]
        files.save_png(os.path.join(c.out, "encoder.png"), guess, label)
        shown, titles = [face, guess, reconstruction], ["aligned", "encoder", "hybrid"]
    if tuned is not None:
        shown, titles = shown + [tuned_face], titles + ["tuned"]
    files.save_grid(os.path.join(c.out, "summary.png"), np.stack(shown), len(shown), label, titles)
    record = {"photo": os.path.abspath(c.photo), "generator": generator.handle, "generator_label": generator.label,
              "template": generator.template.framing, "encoder": os.path.abspath(c.encoder) if encoder else None,
              "steps": c.steps, "learning_rate": c.learning_rate, "seconds": seconds, "facenet": facenet.label,
              "identity_similarity": similarity,
              "psnr_db": float(metrics.psnr(face[None], reconstruction[None])[0]), "face": c.face, "tune": c.tune}
    if tuned is not None:
        record.update(tune_seconds=tuned.seconds,
                      tuned_identity_similarity=identity_similarity(facenet, face, tuned_face),
                      tuned_psnr_db=float(metrics.psnr(face[None], tuned_face[None])[0]))
        tuning.save_tuned(os.path.join(c.out, "tuned.npz"), tuned.generator,
                          {"photo": os.path.abspath(c.photo), "face": c.face, "pivot": recovery.latents[0].tolist(),
                           "settings": dataclasses.asdict(c.tune_settings())})
        files.save_png(os.path.join(c.out, "tuned.png"), tuned_face, tuned.generator.label)
        generator = tuned.generator
        label = encoder.label(generator.label) if encoder else generator.label
    if normal is None:
        print(f"no {c.attribute} boundary in {c.boundaries} (interfacegan_svm.py score and boundaries make one): "
              "no edit written")
    else:
        path, alphas = edit_path(recovery.latents, normal, c.start, c.end, c.edit_steps)
        save_edit_grid(os.path.join(c.out, f"{c.attribute}.png"), render_edits(generator, path), alphas,
                       f"{label} | {c.attribute}")
        record.update(edit=c.attribute, boundary=os.path.abspath(boundary_path), alphas=alphas.tolist())
    files.save_json(os.path.join(c.out, "photo.json"), record)
    config.write(c.out, c)
    print(f"{how}: {c.steps} steps in {seconds:.1f} s, PSNR {record['psnr_db']:.2f} dB; FaceNet identity "
          f"similarity of the reconstruction {similarity:.3f} ({facenet.label})")
    if tuned is not None:
        print(f"tuned: {len(tuned.losses)} steps ({c.tune} plain, then edit-aware) in {tuned.seconds:.1f} s, PSNR {record['tuned_psnr_db']:.2f} dB, identity "
              f"similarity {record['tuned_identity_similarity']:.3f}; edits render through the tuned generator")
    print(f"wrote {c.out}")
    return record


def main(argv=None):
    invert(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
