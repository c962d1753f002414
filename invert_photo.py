"""Invert a photograph end to end: align its face, recover its latent, edit it.

The face is found and aligned with MTCNN onto the generator's own framing
(`generator.template`), then inverted as the comparison's hybrid does it: the
trained encoder's guess, refined by a few Adam steps on the pixel loss. With
no trained encoder it falls back to the paper's optimisation baseline (Adam
from a random start) and says so. The recovered latent is then moved along an
InterFaceGAN boundary. The FaceNet identity similarity (cosine of the
embeddings) between the aligned face and its reconstruction is printed.

    python invert_photo.py photo.jpg --generator dcgan-digiface    # offline
    python invert_photo.py photo.jpg                                # the paper's ProGAN-128

Writes results/photos/<photo name>/: aligned.png, encoder.png (the encoder's
guess, when there is an encoder), reconstruction.png, latent.npy
[1, latent_dim], <attribute>.png (the edit: one face per step along the
boundary), summary.png and photo.json (settings and figures).
"""
import argparse
import os
import time

import numpy as np

from faceinv import cli, files, metrics
from faceinv.alignment import FaceDetector
from faceinv.boundaries import load_boundary
from faceinv.editing import edit_path, render_edits, save_edit_grid
from faceinv.encoder import LoadedEncoder
from faceinv.errors import InputError
from faceinv.facenet import DEFAULT as FACENET, HELP as FACENET_HELP, load_facenet
from faceinv.generators import PROGAN_HANDLE, generator_tag, load_generator, sample_latents
from faceinv.gradient_recovery import (BASELINE_LR, BASELINE_STEPS, HYBRID_LR, HYBRID_STEPS, ImageLoss,
                                       recover_latents)

PATH_RESULTS = "results/photos"
PATH_BOUNDARIES = "boundaries"          # committed boundaries: boundaries/<generator>/
PATH_SAVED_MODEL = "saved_model"
GENERATOR = PROGAN_HANDLE
INIT_SEED = 2020


def default_encoder(tag):
    """The encoder the comparison trains for the hybrid (reproduce_table1.py) and that setting's
    hybrid steps and step size; the paper setting first, then the CPU ones. None if none exists."""
    import reproduce_table1
    for setting in ("paper", "cpu-2h", "cpu"):
        folder = reproduce_table1.encoder_folder(tag, setting, reproduce_table1.hybrid_kind(setting))
        if os.path.exists(os.path.join(folder, "saved_model.pb")):
            s = reproduce_table1.SETTINGS[setting]
            return folder, s["hybrid_steps"], s.get("hybrid_lr", HYBRID_LR)
    return None, HYBRID_STEPS, HYBRID_LR


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photo", help="an image file with a face in it")
    p.add_argument("--generator", default=GENERATOR, help="generator handle (default: %(default)s)")
    p.add_argument("--encoder", help="exported encoder, or none for optimisation alone (default: the one "
                                     "reproduce_table1.py trains for the hybrid on this generator, if it exists)")
    p.add_argument("--steps", type=int, help=f"Adam steps after the encoder (default: the comparison's for that encoder, else {HYBRID_STEPS}; "
                                             f"{BASELINE_STEPS} without an encoder)")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default: the comparison's, else {HYBRID_LR}; "
                                            f"{BASELINE_LR} without an encoder)")
    p.add_argument("--boundaries", help=f"boundary folder (default: {PATH_BOUNDARIES}/<generator>)")
    p.add_argument("--attribute", default="pose", help="the boundary to edit along (default: %(default)s)")
    p.add_argument("--start", type=float, default=-3.0)
    p.add_argument("--end", type=float, default=3.0)
    p.add_argument("--edit-steps", type=int, default=7)
    p.add_argument("--facenet", default=FACENET, help=FACENET_HELP + " (default: %(default)s)")
    p.add_argument("--min-face-size", type=int, default=20, help="MTCNN's smallest face, in pixels")
    p.add_argument("--out", help=f"output folder (default: {PATH_RESULTS}/<photo name>)")
    return p.parse_args(argv)


def align(photo, generator, min_face_size):
    """The photo's most confident face, aligned to the generator's framing, in [0, 1]."""
    if not os.path.isfile(photo):
        raise InputError(f"photo {photo} does not exist")
    image = files.to_uint8(files.read_image(photo))
    face = FaceDetector(min_face_size).align(image, generator.resolution, generator.template)
    if face is None:
        raise InputError(f"MTCNN found no face in {photo}")
    return face.astype(np.float32) / 255.0


def main(argv=None):
    a = parse_args(argv)
    if a.edit_steps < 2:
        raise InputError(f"--edit-steps must be at least 2, not {a.edit_steps}")
    if (a.steps is not None and a.steps < 0) or (a.lr is not None and a.lr <= 0):
        raise InputError("--steps must be >= 0 and --lr positive")
    generator = load_generator(a.generator)
    print(f"generator: {generator.label}")
    tag = generator_tag(a.generator)
    encoder_folder, hybrid_steps, hybrid_lr = default_encoder(tag)
    if a.encoder == "none":
        encoder_folder = None
    elif a.encoder:
        encoder_folder, hybrid_steps, hybrid_lr = a.encoder, HYBRID_STEPS, HYBRID_LR
    encoder = LoadedEncoder(encoder_folder) if encoder_folder else None
    if encoder is not None:
        encoder.check_generator(generator)
    boundaries = a.boundaries or os.path.join(PATH_BOUNDARIES, tag)
    boundary_path = os.path.join(boundaries, f"{a.attribute}.npy")
    normal = load_boundary(boundary_path, generator.latent_dim) if os.path.exists(boundary_path) else None
    facenet = load_facenet(a.facenet)
    face = align(a.photo, generator, a.min_face_size)

    start = time.perf_counter()
    if encoder is not None:
        initial = encoder(face[None]).numpy()
        steps, lr, how = a.steps if a.steps is not None else hybrid_steps, a.lr if a.lr is not None else hybrid_lr, "encoder + Adam"
    else:
        if a.encoder != "none":
            print(f"no trained encoder for {tag} (reproduce_table1.py --generator {a.generator} trains one): "
                  "falling back to optimisation from a random start")
        initial = sample_latents(1, INIT_SEED, generator.latent_dim)
        steps, lr, how = a.steps if a.steps is not None else BASELINE_STEPS, a.lr if a.lr is not None else BASELINE_LR, "Adam"
    recovery = recover_latents(generator, face[None], initial, ImageLoss({"mae": 1.0}), steps, lr,
                               seed=INIT_SEED, batch_size=1)
    seconds = time.perf_counter() - start
    reconstruction = recovery.images[0]
    _, embeddings = facenet(np.stack([face, reconstruction]))
    similarity = float(np.sum(np.asarray(embeddings[0]) * np.asarray(embeddings[1])))

    out = a.out or os.path.join(PATH_RESULTS, os.path.splitext(os.path.basename(a.photo))[0])
    os.makedirs(out, exist_ok=True)
    label = encoder.label(generator.label) if encoder else generator.label
    files.save_png(os.path.join(out, "aligned.png"), face)
    files.save_png(os.path.join(out, "reconstruction.png"), reconstruction, label)
    files.save_npy(os.path.join(out, "latent.npy"), recovery.latents)
    shown, titles = [face, reconstruction], ["aligned", how]
    if encoder is not None:
        guess = np.asarray(generator(initial))[0]
        files.save_png(os.path.join(out, "encoder.png"), guess, label)
        shown, titles = [face, guess, reconstruction], ["aligned", "encoder", how]
    files.save_grid(os.path.join(out, "summary.png"), np.stack(shown), len(shown), label, titles)
    record = {"photo": os.path.abspath(a.photo), "generator": generator.handle, "generator_label": generator.label,
              "template": generator.template.framing, "encoder": os.path.abspath(encoder_folder) if encoder else None,
              "steps": steps, "learning_rate": lr, "seconds": seconds, "facenet": facenet.label,
              "identity_similarity": similarity,
              "psnr_db": float(metrics.psnr(face[None], reconstruction[None])[0])}
    if normal is None:
        print(f"no {a.attribute} boundary in {boundaries} (interfacegan_svm.py score and boundaries make one): "
              "no edit written")
    else:
        path, alphas = edit_path(recovery.latents, normal, a.start, a.end, a.edit_steps)
        save_edit_grid(os.path.join(out, f"{a.attribute}.png"), render_edits(generator, path), alphas,
                       f"{label} | {a.attribute}")
        record.update(edit=a.attribute, boundary=os.path.abspath(boundary_path), alphas=alphas.tolist())
    files.save_json(os.path.join(out, "photo.json"), record)
    print(f"{how}: {steps} steps in {seconds:.1f} s, PSNR {record['psnr_db']:.2f} dB; FaceNet identity "
          f"similarity of the reconstruction {similarity:.3f} ({facenet.label}); wrote {out}")


if __name__ == "__main__":
    cli.run(main)
