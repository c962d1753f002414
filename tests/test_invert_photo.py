"""A real photograph end to end: align, invert, edit, identity similarity."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import interfacegan_svm
import invert_photo
from faceinv import files
from faceinv.inversion import comparison
from faceinv.models.encoder import build_encoder, export_encoder
from faceinv.models.facenet import DEFAULT as FACENET_DEFAULT
from faceinv.models.facenet import load_facenet

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
                       "--boundaries", str(boundaries), "--edit-steps", "3", "--tune", "0", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "no trained encoder" in printed and "falling back to optimisation" in printed
    assert "identity similarity" in printed
    record = json.loads((out / "photo.json").read_text())
    assert record["encoder"] is None and record["steps"] == 3
    # The identity similarity is FaceNet's cosine of the aligned photo and its
    # reconstruction, recomputed here from the two PNGs (8-bit rounding aside).
    facenet = load_facenet(FACENET_DEFAULT)
    pair = [files.read_image(str(out / name)) for name in ("aligned.png", "reconstruction.png")]
    _, embeddings = facenet(np.stack(pair))
    by_hand = float(np.sum(np.asarray(embeddings[0]) * np.asarray(embeddings[1])))
    assert record["facenet"] == facenet.label and np.isfinite(record["identity_similarity"])
    assert abs(record["identity_similarity"] - by_hand) < 0.01, (record["identity_similarity"], by_hand)
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
                       "--steps", "2", "--boundaries", str(tmp_path / "none"), "--tune", "0", "--out", str(out)])
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
                       "--tune", "0", "--out", str(out)])
    record = json.loads((out / "photo.json").read_text())
    setting = comparison.SETTINGS["cpu-2h"]
    assert record["encoder"] == os.path.abspath(folder)
    assert (record["steps"], record["learning_rate"]) == (setting["hybrid_steps"], setting["hybrid_lr"])
    invert_photo.main([str(photos / "astronaut.png"), "--generator", HANDLE, "--encoder", "none", "--steps", "2",
                       "--boundaries", str(tmp_path / "none"), "--tune", "0", "--out", str(out)])
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


def test_the_committed_boundaries_have_interfacegans_layout():
    from faceinv.editing.boundaries import load_boundary
    for attribute in ("pose", "smile"):
        path = os.path.join(invert_photo.PATH_BOUNDARIES, HANDLE, f"{attribute}.npy")
        assert np.load(path).shape == (1, 100)  # InterFaceGAN's layout
        assert abs(np.linalg.norm(load_boundary(path, 100)) - 1) < 1e-5


@pytest.mark.slow
def test_the_committed_boundaries_fit_the_dcgan():
    """Faces rendered 2 units each side of a face along the committed `pose` boundary
    turn the way it points (MTCNN's yaw grows) and `smile` widens the mouth (mouth
    width over eye distance grows), the scores the boundaries were fitted to
    (faceinv/editing/attributes.py). A random unit vector that happens to lean
    towards pose turns heads too, but by a fraction of the boundary's turn, so each
    median change must also exceed how much that score differs from face to face
    (its standard deviation over the faces edited along the other boundary, which
    leaves it alone)."""
    from faceinv.data import alignment
    from faceinv.editing.boundaries import load_boundary
    from faceinv.editing.edits import edit_path, render_edits
    from faceinv.models.generators import load_generator, sample_latents
    generator, detector = load_generator(HANDLE), alignment.FaceDetector()
    latents = sample_latents(24, interfacegan_svm.EDIT_SEED, 100)  # not the scored faces (seed 2) they were fit on
    scorers = {"pose": alignment.yaw, "smile": alignment.mouth_width}
    scores = {}
    for attribute in scorers:
        normal = load_boundary(os.path.join(invert_photo.PATH_BOUNDARIES, HANDLE, f"{attribute}.npy"), 100)
        faces = render_edits(generator, edit_path(latents, normal, -2.0, 2.0, 2)[0])  # [24, 2 ends, 64, 64, 3]
        scores[attribute] = np.full((24, 2, 2), np.nan)  # face, end, (yaw, mouth width)
        for i, j in np.ndindex(24, 2):
            points, _ = detector.landmarks(faces[i, j])
            if points is not None:
                scores[attribute][i, j] = [scorer(points) for scorer in scorers.values()]
    for column, (attribute, other) in enumerate((("pose", "smile"), ("smile", "pose"))):
        change = scores[attribute][:, 1, column] - scores[attribute][:, 0, column]
        change = change[np.isfinite(change)]
        assert len(change) >= 20, f"MTCNN found both ends of only {len(change)} of 24 faces ({attribute})"
        assert (change > 0).mean() >= 0.8, f"{attribute}: {(change > 0).sum()} of {len(change)} faces moved its way"
        spread = np.nanstd(scores[other][:, :, column])
        assert np.median(change) > spread, (attribute, np.median(change), spread)
