"""Recover the latents of test faces with a trained encoder (the paper's step 3).

Reads a face set (generate_faces.py; latent errors are reported against its
true latents) or any folder of aligned face images, runs encoder + generator,
and writes results/<name>/: reconstructions, latents.npy, a target |
reconstruction grid, metrics.json (PSNR, timing) and config.json. Optionally
interpolates spherically from a recovered latent to another one (strip + GIF).

    python resnet_test.py                                               # paper setting
    python resnet_test.py --encoder saved_model/encoder_synthetic \\
        --faces z_vectors/synthetic/test --interpolate 8
"""
import dataclasses
import os
import time

import numpy as np

from faceinv import cli, config
from faceinv.config import setting
from faceinv.data.face_sets import read_targets
from faceinv.errors import InputError
from faceinv.inversion.encoder_choice import NONE, choose_encoder, load_chosen
from faceinv.inversion.interpolation import write_interpolation
from faceinv.models.generators import GENERATOR, generator_tag, load_generator, sample_latents, tagged_path
from faceinv.paths import PATH_ENCODER, PATH_RESULTS, PATH_TEST_FACES
from faceinv.progress import progress
from faceinv.report import metrics
from faceinv.report.results import write_results


@dataclasses.dataclass
class Config:
    encoder: str = setting(None, "encoder weights file (.npz) or exported folder (default: the one shipped for "
                                 f"the generator in weights/, else one trained here, e.g. {PATH_ENCODER}; "
                                 "{generator}: the tag of --generator)", type=str)
    faces: str = setting(PATH_TEST_FACES, "face set or folder of faces")
    generator: str = setting(None, "generator handle (default: the one the encoder was trained with; "
                                   f"{GENERATOR} names the default paths)", type=str)
    name: str = setting("resnet", "the row's name: results subfolder and report row (--method is its old name)",
                        flags=("--name", "--method"))
    out: str = setting(None, f"output folder (default: {PATH_RESULTS}/<name>)", type=str, output=True)
    batch_size: int = setting(50, "faces per encoder call")
    interpolate: int = setting(0, "also interpolate from the first recovered latent to a random one",
                               metavar="FRAMES")


def resolve(c):
    if c.batch_size <= 0:
        raise InputError(f"the batch size must be positive, not {c.batch_size}")
    paths_for = c.generator or GENERATOR
    choice = choose_encoder(generator_tag(paths_for), c.encoder and tagged_path(c.encoder, paths_for))
    if choice.path == NONE:
        raise InputError(f"no exported encoder in {tagged_path(PATH_ENCODER, paths_for)} and none shipped for "
                         f"{generator_tag(paths_for)} (resnet.py writes one)")
    print(choice.describe())
    return dataclasses.replace(c, encoder=choice.path, faces=tagged_path(c.faces, paths_for),
                               out=c.out or os.path.join(PATH_RESULTS, c.name))


def test(c):
    c = resolve(c)
    encoder = load_chosen(c.encoder)
    generator = load_generator(c.generator or encoder.meta["generator"])
    encoder.check_generator(generator)
    targets, names, true_latents, _ = read_targets(c.faces, generator.resolution, generator.handle)
    label = encoder.label(generator.label)
    print(f"generator: {generator.label}")

    def recover(batch):
        latents = encoder(batch)
        return latents, np.asarray(generator(latents))

    recover(targets[:c.batch_size])  # trace (and compile) outside the clock, at the timed shape
    bar, outputs = progress(len(targets)), []
    start = time.perf_counter()
    for i in range(0, len(targets), c.batch_size):
        outputs.append(recover(targets[i:i + c.batch_size]))
        bar.add(len(outputs[-1][0]))
    seconds = time.perf_counter() - start
    latents = np.concatenate([o[0] for o in outputs])
    reconstructions = np.concatenate([o[1] for o in outputs])
    # Baselines: the face of the mean latent (zero), and a random latent's error.
    mean_face = np.asarray(generator(np.zeros((1, generator.latent_dim), np.float32)))
    baselines = {"mean_latent_psnr": float(metrics.psnr(targets, np.broadcast_to(mean_face, targets.shape)).mean())}
    if true_latents is not None:
        baselines["random_latent_mae"] = float(
            metrics.latent_mae(true_latents, sample_latents(len(true_latents), 999, generator.latent_dim)).mean())
    settings = {"encoder": os.path.abspath(c.encoder),
                "encoder_init_from": encoder.meta.get("config", {}).get("init_from"),
                "encoder_facenet": encoder.meta.get("facenet"), **baselines}
    record = write_results(c.out, c.name, names, targets, reconstructions, latents, label=label,
                           seconds=seconds, faces_folder=c.faces, evaluations_per_face=1,
                           true_latents=true_latents, extra=settings)
    config.write(c.out, c)
    summary = (f"{len(names)} faces in {seconds:.2f} s, PSNR {record['psnr_mean']:.2f} dB "
               f"(mean-latent face: {baselines['mean_latent_psnr']:.2f} dB)")
    if true_latents is not None:
        summary += (f", latent MAE {record['latent_mae']:.3f} "
                    f"(random latent: {baselines['random_latent_mae']:.3f})")
    print(f"{summary}; wrote {c.out}")
    if c.interpolate > 1:
        write_interpolation(c.out, generator, latents[0], sample_latents(1, 12345, generator.latent_dim)[0],
                            c.interpolate, label)
    return record


def main(argv=None):
    test(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
