"""A real photograph end to end: align, invert, edit, identity similarity."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import invert_photo
from faceinv import files
from faceinv.inversion import comparison
from faceinv.models.encoder import build_encoder, export_encoder

HANDLE = "dcgan-digiface"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from skimage import data
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    return folder


@pytest.fixture(scope="module")
def boundaries(tmp_path_factory):
    folder = tmp_path_factory.mktemp("boundaries")
    normal = np.random.default_rng(0).standard_normal((1, 100)).astype(np.float32)
    np.save(folder / "pose.npy", normal / np.linalg.norm(normal))
    return folder


@pytest.fixture
def no_saved_encoders(tmp_path, monkeypatch, no_shipped_encoder):
    """No shipped encoder, and where the comparison's encoders would be, an empty folder (this
    checkout may hold trained ones)."""
    folder = tmp_path / "saved_model"
    folder.mkdir()
    monkeypatch.setattr(comparison, "PATH_SAVED_MODEL", str(folder))
    return folder


def test_without_an_encoder_it_falls_back_to_optimisation(photos, boundaries, no_saved_encoders, tmp_path, capsys):
    out = tmp_path / "out"
    invert_photo.main([str(photos / "astronaut.png"), "--generator", HANDLE, "--steps", "3",
                       "--boundaries", str(boundaries), "--edit-steps", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "no trained encoder" in printed and "falling back to optimisation" in printed
    assert "identity similarity" in printed
    record = json.loads((out / "photo.json").read_text())
    assert record["encoder"] is None and record["steps"] == 3 and -1 <= record["identity_similarity"] <= 1
    assert record["template"] == "the DCGAN's own 64x64 framing (mean MTCNN landmarks of its faces)"
    assert np.load(out / "latent.npy").shape == (1, 100)
    assert Image.open(out / "aligned.png").size == (64, 64)
    reconstruction = files.read_image(str(out / "reconstruction.png"))
    assert record["psnr_db"] > 8 and reconstruction.shape == (64, 64, 3)
    assert Image.open(out / "pose.png").size[0] == 3 * 64  # three steps along the boundary


@pytest.mark.slow
def test_with_an_encoder_it_refines_the_encoders_guess(photos, tmp_path, capsys):
    encoder = tmp_path / "encoder"
    export_encoder(build_encoder(32, 100), str(encoder), {"generator": HANDLE, "latent_dim": 100})
    out = tmp_path / "out"
    invert_photo.main([str(photos / "astronaut.png"), "--generator", HANDLE, "--encoder", str(encoder),
                       "--steps", "2", "--boundaries", str(tmp_path / "none"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "encoder + Adam: 2 steps" in printed and "no pose boundary" in printed
    assert (out / "encoder.png").exists() and not (out / "pose.png").exists()
    assert Image.open(out / "summary.png").size[0] == 3 * 64


@pytest.mark.slow
def test_the_comparisons_encoder_is_found_with_its_hybrid_settings(photos, no_saved_encoders, tmp_path, capsys):
    folder = comparison.encoder_folder(HANDLE, "cpu-2h", comparison.SETTINGS["cpu-2h"]["hybrid_encoder"])
    export_encoder(build_encoder(32, 100), folder, {"generator": HANDLE, "latent_dim": 100})
    out = tmp_path / "out"
    invert_photo.main([str(photos / "astronaut.png"), "--generator", HANDLE, "--boundaries", str(tmp_path / "none"),
                       "--out", str(out)])
    record = json.loads((out / "photo.json").read_text())
    setting = comparison.SETTINGS["cpu-2h"]
    assert record["encoder"] == os.path.abspath(folder)
    assert (record["steps"], record["learning_rate"]) == (setting["hybrid_steps"], setting["hybrid_lr"])
    invert_photo.main([str(photos / "astronaut.png"), "--generator", HANDLE, "--encoder", "none", "--steps", "2",
                       "--boundaries", str(tmp_path / "none"), "--out", str(out)])
    record = json.loads((out / "photo.json").read_text())
    assert record["encoder"] is None and record["learning_rate"] == invert_photo.BASELINE_LR  # asked for: no encoder
    assert "falling back" not in capsys.readouterr().out


def test_bad_input_is_one_line_and_writes_nothing(photos, tmp_path, one_line_error):
    out = tmp_path / "out"
    for photo, message in ((tmp_path / "missing.jpg", "does not exist"), (photos / "coffee.png", "no face")):
        error = one_line_error(invert_photo.main, [str(photo), "--generator", HANDLE, "--out", str(out)])
        assert message in error
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a picture")
    assert "cannot read image" in one_line_error(invert_photo.main, [str(not_an_image), "--generator", HANDLE,
                                                                     "--out", str(out)])
    for flags in (["--steps", "-1"], ["--lr", "0"]):
        assert "--lr positive" in one_line_error(invert_photo.main, [str(photos / "astronaut.png"), "--generator",
                                                                     HANDLE, "--out", str(out)] + flags)
    assert not os.path.exists(out)


def test_the_committed_boundaries_fit_the_dcgan():
    from faceinv.editing.boundaries import load_boundary
    for attribute in ("pose", "smile"):
        path = os.path.join(invert_photo.PATH_BOUNDARIES, HANDLE, f"{attribute}.npy")
        assert np.load(path).shape == (1, 100)  # InterFaceGAN's layout
        assert abs(np.linalg.norm(load_boundary(path, 100)) - 1) < 1e-5
