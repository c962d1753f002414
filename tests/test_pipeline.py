"""The whole workflow at smoke scale, on a generator of each shape: the trained
DCGAN (100-d latents, 64x64 faces) and the synthetic renderer (512-d, 128x128,
ProGAN's sizes). Every script must take the sizes from the generator."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

import attribute_inverter
import interfacegan_svm
import reproduce_table1
from faceinv import files
from faceinv.models.generators import load_generator

SHAPES = {"dcgan-digiface": (100, 64), "synthetic": (512, 128)}
METHODS = ["mean-latent", "adam", "stochastic-clipping", "resnet-z", "resnet-z-perceptual", "resnet-z-pixel", "hybrid"]
SHIPPED_ROWS = {"dcgan-digiface": ["resnet-shipped", "hybrid-shipped"], "synthetic": []}  # weights/ has the DCGAN's


def read_rows(path):
    with open(path) as f:
        return {row["folder"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_every_step_takes_its_sizes_from_the_dcgan(tmp_path, monkeypatch, capsys):
    check_every_step("dcgan-digiface", tmp_path, monkeypatch, capsys)


def check_every_step(handle, tmp_path, monkeypatch, capsys):
    """The workflow on `handle`; tests/test_pipeline_synthetic.py runs it on the
    synthetic renderer, in a file of its own so that the test processes share the two."""
    latent_dim, resolution = SHAPES[handle]
    generator = load_generator(handle)
    assert (generator.latent_dim, generator.resolution) == (latent_dim, resolution)
    monkeypatch.chdir(tmp_path)

    # generate -> encoders (train and test) -> recovery -> report
    reproduce_table1.main(["--generator", handle, "--setting", "smoke"])
    results = tmp_path / "results" / handle
    rows = read_rows(results / "table1.csv")
    methods = METHODS + SHIPPED_ROWS[handle]
    assert list(rows) == methods
    assert all(float(r["psnr_db"]) > 5 for r in rows.values())
    assert rows["hybrid"]["generator_passes_per_face"] == "2"
    # Latent MAE, measured against the set's own latents: a finite number that a
    # computation by hand from each method's latents.npy gives again.
    true_latents = np.load(tmp_path / "z_vectors" / handle / "smoke" / "latents.npy")
    for method, row in rows.items():
        mae = float(row["latent_mae"])
        assert np.isfinite(mae), method
        assert mae == pytest.approx(np.abs(np.load(results / method / "latents.npy") - true_latents).mean(),
                                    abs=1e-4), method
    assert not np.load(results / "mean-latent" / "latents.npy").any()  # the floor: z = 0 for every face
    floor = json.loads((results / "resnet-z" / "metrics.json").read_text())["mean_latent_psnr"]
    assert float(rows["mean-latent"]["psnr_db"]) == pytest.approx(floor, abs=0.05)
    for method in methods:
        assert np.load(results / method / "latents.npy").shape == (4, latent_dim)
        reconstruction = Image.open(results / method / "reconstructions" / "000000.png")
        assert reconstruction.size == (resolution, resolution)
    figure = Image.open(results / "figure4.png")
    assert figure.size[0] == (len(methods) + 1) * resolution
    table = (results / "table1.md").read_text()
    assert generator.label in table and "sandberg-20180408" in table  # the trained FaceNet, named
    encoder = json.loads((tmp_path / "saved_model" / f"encoder_{handle}-smoke-z" / "encoder.json").read_text())
    assert encoder["latent_dim"] == latent_dim and encoder["resolution"] == resolution
    if handle == "dcgan-digiface":  # the cheaper of the two checks the rerun
        capsys.readouterr()
        reproduce_table1.main(["--generator", handle, "--setting", "smoke"])
        assert capsys.readouterr().out.count("done before with these settings") == len(methods)
        shipped = json.loads((results / "hybrid-shipped" / "metrics.json").read_text())
        assert float(rows["hybrid-shipped"]["psnr_db"]) > float(rows["resnet-shipped"]["psnr_db"]) > 15
        assert int(rows["hybrid-shipped"]["generator_passes_per_face"]) == shipped["steps"] + 1 <= 100

    # score -> boundaries -> edit the recovered latents
    source = ["--source", "synthetic"] if handle == "synthetic" else ["--source", "landmarks"]
    interfacegan_svm.main(["score", "--generator", handle, "--n", "24"] + source)
    scores = tmp_path / "results" / "interfacegan" / handle / "scores"
    interfacegan_svm.main(["boundaries", "--scores", str(scores), "--top", "4"])
    boundary_folder = scores.parent / "boundaries"
    attribute = "pose"
    assert np.load(boundary_folder / f"{attribute}.npy").shape == (1, latent_dim)
    interfacegan_svm.main(["edit", "--boundaries", str(boundary_folder), "--attribute", attribute,
                           "--latents", str(results / "hybrid"), "--count", "2", "--steps", "3"])
    edits = scores.parent / "edits"
    assert np.load(edits / f"{attribute}_latents.npy").shape == (2, 3, latent_dim)
    grid = Image.open(edits / f"{attribute}.png")
    assert grid.size[0] == 3 * resolution

    # one epoch of the attribute inverter, at the faces' own size
    faces = sorted(os.listdir(tmp_path / "z_vectors" / handle / "smoke" / "faces"))
    for name, chosen in (("without", faces[:2]), ("with", faces[2:])):
        os.makedirs(name)
        for face in chosen:
            os.link(tmp_path / "z_vectors" / handle / "smoke" / "faces" / face, os.path.join(name, face))
    attribute_inverter.main(["train", "--data", "folders", "--without", "without", "--with", "with",
                             "--epochs", "1", "--batch-size", "2", "--width", "4", "--run", "smoke", "--min-faces", "2"])
    inverter = files.load_json(tmp_path / "saved_model" / "attribute_inverter" / "smoke" / "add" / "inverter.json")
    assert inverter["size"] == resolution
