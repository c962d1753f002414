"""Generator tuning for a photo (faceinv/inversion/tuning.py) and the scripts that use it."""
import dataclasses
import importlib.util
import json
import os
import threading

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

import interfacegan_svm
import invert_photo
from faceinv.data.alignment import FaceDetector, mouth_width, render_landmarks, yaw
from faceinv.data.offline_photos import ASTRONAUT
from faceinv.errors import InputError
from faceinv.inversion import tuning
from faceinv.inversion.encoder_choice import SHIPPED, load_chosen
from faceinv.models import weights_file
from faceinv.models.generators import DCGAN, load_generator, sample_latents

BOUNDARIES = os.path.join(ROOT, "boundaries", DCGAN)
EDITS = {"pose": yaw, "smile": mouth_width}  # the committed boundaries and the landmark score each moves
FLOAT16_TOLERANCE = 2e-3  # a reloaded tuned generator's faces, against the tuned one's, in [0, 1] pixels


@pytest.fixture(scope="module")
def dcgan():
    return load_generator(DCGAN)


@pytest.fixture(scope="module")
def face_and_pivot(dcgan):
    """The astronaut's face aligned to the DCGAN, and the shipped encoder's guess as the pivot."""
    aligned, _ = FaceDetector().align_photo_face(ASTRONAUT.read(), dcgan.resolution, dcgan.template)
    face = aligned.astype(np.float32) / 255.0
    return face, np.asarray(load_chosen(SHIPPED[DCGAN].path)(face[None]))


@pytest.fixture(scope="module")
def tuned(dcgan, face_and_pivot):
    face, pivot = face_and_pivot
    return tuning.tune_generator(dcgan, face, pivot, tuning.TuneSettings(steps=20, learning_rate=1e-3))


def _mae(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


def test_tuning_fits_the_face_and_leaves_the_shared_generator_as_it_was(dcgan, face_and_pivot, tuned):
    face, pivot = face_and_pivot
    others = sample_latents(4, 5, dcgan.latent_dim)
    before = np.asarray(dcgan(others))
    renders = []  # another user of the process renders while a photo is tuned
    worker = threading.Thread(target=lambda: renders.append(np.asarray(dcgan(others))))
    worker.start()
    again = tuning.tune_generator(dcgan, face, pivot, tuning.TuneSettings(steps=3, learning_rate=1e-3))
    worker.join()
    assert np.array_equal(renders[0], before) and np.array_equal(np.asarray(dcgan(others)), before)
    untuned_loss = _mae(dcgan(pivot)[0], face)
    assert tuned.losses[0] == pytest.approx(untuned_loss, rel=1e-4)  # the first step starts from the generator
    assert _mae(tuned.generator(pivot)[0], face) < 0.6 * untuned_loss
    assert again.generator is not tuned.generator and not tuned.generator.model.trainable
    assert "tuned" in tuned.generator.label and tuned.generator.handle == dcgan.handle


def test_each_photo_starts_from_the_generator_though_the_traced_steps_are_reused(dcgan, face_and_pivot, tuned):
    """Another photo tuned in between leaves nothing behind: the same photo tunes the same again."""
    face, pivot = face_and_pivot
    settings = tuning.TuneSettings(steps=20, learning_rate=1e-3)  # the `tuned` fixture's
    reused = tuning._tuning_steps.cache_info().hits
    tuning.tune_generator(dcgan, np.ascontiguousarray(face[:, ::-1]), pivot, dataclasses.replace(
        settings, learning_rate=3e-3))
    again = tuning.tune_generator(dcgan, face, pivot, settings)
    assert tuning._tuning_steps.cache_info().hits >= reused + 2
    np.testing.assert_allclose(again.losses, tuned.losses, rtol=1e-4)
    np.testing.assert_allclose(again.generator(pivot), tuned.generator(pivot), atol=1e-4)


def test_every_tuning_flag_reaches_the_settings_it_gives():
    flags = {"tune": 7, "tune_lr": 0.01, "tune_layers": 2, "locality_weight": 0.5, "locality_radius": 1.5,
             "tune_edit_steps": 9, "identity_weight": 0.1, "structure_weight": 0.3, "structure_pool": 3,
             "edit_range": 2.5, "tune_seed": 4}
    assert set(flags) == {field.name for field in dataclasses.fields(tuning.TuneOptions)}
    settings = dataclasses.asdict(tuning.TuneOptions(**flags).tune_settings())
    assert len(settings) == len(flags) and sorted(settings.values()) == sorted(flags.values()), settings


def test_tuning_only_the_last_layers_leaves_the_others_unchanged(dcgan, face_and_pivot):
    face, pivot = face_and_pivot
    late = tuning.tune_generator(dcgan, face, pivot, tuning.TuneSettings(steps=2, learning_rate=1e-3, layers=2))
    weighted = [layer for layer in late.generator.model.layers if layer.weights]
    # The DCGAN's last two layers: the 32 -> 64 px convolution with its batch norm, and the RGB one.
    last_two = {v.path for layer in weighted[-3:] for v in layer.weights if "moving" not in v.path}
    changed = {b.path for a, b in zip(dcgan.model.weights, late.generator.model.weights)
               if not np.array_equal(np.asarray(a), np.asarray(b))}
    assert changed == last_two, (changed, last_two)


@pytest.mark.slow
def test_the_locality_term_holds_faces_away_from_the_pivot_near_the_untuned_generators(dcgan, face_and_pivot):
    face, pivot = face_and_pivot
    far = tuning._nearby(np.random.default_rng(9), pivot, 2.0, count=8)

    def drift(weight):
        settings = tuning.TuneSettings(steps=20, learning_rate=1e-3, locality_weight=weight)
        return _mae(tuning.tune_generator(dcgan, face, pivot, settings).generator(far), dcgan(far))
    free, held = drift(0.0), drift(1.0)
    assert held < 0.7 * free, (held, free)


@pytest.fixture(scope="module")
def normals():
    return np.stack([np.load(os.path.join(BOUNDARIES, f"{name}.npy")).ravel() for name in EDITS]).astype(np.float32)


@pytest.fixture(scope="module")
def targets(dcgan, face_and_pivot, normals):
    face, pivot = face_and_pivot
    return tuning.edit_targets(dcgan, face, pivot, normals, 2.0)


def test_edit_targets_move_the_photos_landmarks_as_the_untuned_generator_moves_its_own(dcgan, face_and_pivot,
                                                                                      normals, targets):
    """Each edit's target is the photo, changed: its pose and smile scores move from one end
    to the other as the untuned generator's faces' do, and at every edit it stays the photo
    more than the untuned face is."""
    face, pivot = face_and_pivot
    detector = FaceDetector()
    alphas = np.einsum("md,md->m", targets.latents - pivot, normals[targets.directions])
    assert set(np.round(alphas, 3)) <= set(np.arange(-2.0, 2.01, tuning.EDIT_STEP).round(3)) - {0.0}
    for k, score in enumerate(EDITS.values()):
        ends = [np.flatnonzero((targets.directions == k) & np.isclose(alphas, a, atol=1e-3)) for a in (-2.0, 2.0)]
        assert all(len(end) == 1 for end in ends), f"MTCNN lost an end of edit {k}"
        low, high = (targets.faces[end[0]] for end in ends)
        wanted = score(render_landmarks(detector, high)) - score(render_landmarks(detector, low))
        untuned = np.asarray(dcgan(targets.latents[[ends[0][0], ends[1][0]]]))
        moved = score(render_landmarks(detector, untuned[1])) - score(render_landmarks(detector, untuned[0]))
        assert 0.6 < wanted / moved < 1.5, (list(EDITS)[k], wanted, moved)
    untuned = np.asarray(dcgan(targets.latents))
    assert all(_mae(target, face) < _mae(render, face) for target, render in zip(targets.faces, untuned))


def test_a_photo_that_is_the_untuned_face_moved_gets_the_untuned_edits_moved_alike(dcgan, face_and_pivot, normals):
    """The photo is the untuned pivot face, 4 px to the right: each target must be the untuned
    edit 4 px to the right, what the bending explains and what it does not (the residual left
    where the untuned face has its features would sit 4 px off)."""
    _, pivot = face_and_pivot

    def moved(image, by=4):
        return np.concatenate([np.repeat(image[:, :1], by, 1), image[:, :-by]], 1)
    photo = moved(np.asarray(dcgan(pivot))[0])
    targets = tuning.edit_targets(dcgan, photo, pivot, normals, 2.0)
    renders = np.asarray(dcgan(targets.latents))
    assert len(renders) >= 12
    wanted = np.stack([moved(render) for render in renders])
    inner = np.s_[:, :, 8:-8]  # the columns the move leaves inside the picture
    error = np.abs(targets.faces - wanted)[inner].mean()
    unmoved = np.abs(renders - wanted)[inner].mean()
    assert error < 0.35 * unmoved, (error, unmoved)


@pytest.mark.slow
def test_edit_aware_steps_bring_the_edits_to_their_targets(dcgan, face_and_pivot, normals, targets, tuned, capsys):
    face, pivot = face_and_pivot
    settings = tuning.TuneSettings(steps=20, learning_rate=1e-3, edit_steps=20, identity_weight=0.0, edit_range=2.0)
    aware = tuning.tune_generator(dcgan, face, pivot, settings, directions=normals)
    error = {name: _mae(t.generator(targets.latents), targets.faces) for name, t in (("plain", tuned), ("aware", aware))}
    assert error["aware"] < 0.8 * error["plain"], error
    assert len(aware.losses) == 40 and len(tuned.losses) == 20
    assert len(tuning.tune_generator(dcgan, face, pivot, settings).losses) == 20  # no boundaries: plain steps alone
    blank = tuning.tune_generator(dcgan, np.zeros_like(face), pivot, settings, directions=normals)
    assert len(blank.losses) == 20 and "MTCNN found no landmarks" in capsys.readouterr().out


@pytest.mark.slow
def test_facenet_sees_one_edited_face_an_edit_aware_step(dcgan, face_and_pivot, normals):
    """A stand-in FaceNet that counts the faces it is given: the photo's, then one a step
    (FaceNet is most of a step's cost), though each step draws an edit along both boundaries."""
    import tensorflow as tf
    face, pivot = face_and_pivot
    seen = tf.Variable(0)

    def counting_facenet(images):
        seen.assign_add(tf.shape(images)[0])
        return None, tf.math.l2_normalize(tf.reduce_mean(images, axis=[1, 2]), axis=1)
    settings = tuning.TuneSettings(steps=2, edit_steps=6)
    tuned = tuning.tune_generator(dcgan, face, pivot, settings, directions=normals, facenet=counting_facenet)
    assert len(tuned.losses) == 8 and int(seen.numpy()) == 1 + 6


def test_a_saved_tuned_generator_reloads_and_renders_the_same_face(dcgan, face_and_pivot, tuned, tmp_path):
    _, pivot = face_and_pivot
    path = str(tmp_path / "tuned.npz")
    tuning.save_tuned(path, tuned.generator, {"pivot": pivot[0].tolist()})
    arrays, meta = weights_file.read(path)
    assert all(a.dtype == np.float16 for a in arrays.values()) and meta["generator"] == DCGAN
    assert os.path.getsize(path) < 8e6  # float16 differences of the DCGAN's 3.6M weights
    again, meta = tuning.load_tuned(path, dcgan)
    latents = np.concatenate([pivot, sample_latents(3, 1, dcgan.latent_dim)])
    difference = np.abs(np.asarray(again(latents)) - np.asarray(tuned.generator(latents))).max()
    assert difference < FLOAT16_TOLERANCE, difference
    assert _mae(again(pivot), dcgan(pivot)) > 10 * FLOAT16_TOLERANCE  # it is the tuned generator, not the untuned


def test_a_tuned_file_is_refused_by_another_generator_or_when_damaged(dcgan, synthetic, tuned, tmp_path):
    path = str(tmp_path / "tuned.npz")
    tuning.save_tuned(path, tuned.generator, {})
    with pytest.raises(InputError, match="was tuned for the generator dcgan-digiface, not synthetic"):
        tuning.load_tuned(path, synthetic)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 1
    open(path, "wb").write(bytes(data))
    with pytest.raises(InputError, match="damaged or altered"):
        tuning.load_tuned(path, dcgan)


def test_bad_settings_and_untunable_generators_are_one_line(synthetic, face_and_pivot):
    with pytest.raises(InputError, match="--tune must be 0"):
        tuning.TuneSettings(steps=-1).check()
    with pytest.raises(InputError, match="cannot be tuned"):
        tuning.check_tunable(synthetic)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(ASTRONAUT.read()).save(folder / "astronaut.png")
    pair = Image.new("RGB", (1024, 512))
    pair.paste(Image.fromarray(ASTRONAUT.read()), (0, 0))
    pair.paste(Image.fromarray(ASTRONAUT.read()).resize((256, 256)), (640, 128))
    pair.save(folder / "pair.png")
    return folder


@pytest.mark.slow
def test_invert_photo_tunes_and_edits_through_the_tuned_generator(dcgan, photos, tmp_path, capsys):
    out = tmp_path / "out"
    invert_photo.main([str(photos / "pair.png"), "--face", "1", "--steps", "5", "--tune", "10", "--tune-lr", "1e-3",
                       "--tune-edit-steps", "2",
                       "--edit-steps", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "2 faces in" in printed and "tuned: 12 steps (10 plain" in printed
    record = json.loads((out / "photo.json").read_text())
    assert record["face"] == 1 and record["tuned_psnr_db"] > record["psnr_db"] + 1
    tuned, meta = tuning.load_tuned(str(out / "tuned.npz"), dcgan)
    latent = np.load(out / "latent.npy")
    assert meta["face"] == 1 and np.allclose(meta["pivot"], latent[0])
    normal = np.load(os.path.join(BOUNDARIES, "pose.npy")).reshape(1, -1)
    edit = np.asarray(Image.open(out / "pose.png").convert("RGB"))
    first = (np.asarray(tuned(latent - 3 * normal))[0] * 255).round()
    width = first.shape[1]
    # The grid's first face (below its title) is the tuned generator's, not the untuned one's.
    tile = edit[-width:, :width].astype(np.float64)
    untuned = (np.asarray(dcgan(latent - 3 * normal))[0] * 255).round()
    assert np.abs(tile - first).mean() < 2 < np.abs(tile - untuned).mean()

    edits = tmp_path / "edits"
    interfacegan_svm.main(["edit", "--boundaries", BOUNDARIES, "--attribute", "smile", "--tuned",
                           str(out / "tuned.npz"), "--steps", "2", "--out", str(edits)])
    path = np.load(edits / "smile_latents.npy")
    assert np.allclose(path[0, 0], latent[0] - 3 * np.load(os.path.join(BOUNDARIES, "smile.npy")).ravel(), atol=1e-5)
    summary = json.loads((edits / "smile.json").read_text())
    assert summary["tuned"] == str(out / "tuned.npz") and summary["count"] == 1


def test_photo_bad_input_is_one_line_and_writes_nothing(photos, tmp_path, one_line_error, monkeypatch):
    out = tmp_path / "out"
    photo = str(photos / "astronaut.png")
    assert "--tune must be 0" in one_line_error(invert_photo.main, [photo, "--tune", "-3", "--out", str(out)])
    assert "has 1 face (0 to 0" in one_line_error(invert_photo.main, [photo, "--face", "1", "--out", str(out)])
    assert "cannot be tuned" in one_line_error(invert_photo.main, [photo, "--generator", "synthetic", "--tune", "5",
                                                                   "--out", str(out)])
    assert not out.exists()
    tuned = tmp_path / "tuned.npz"
    weights_file.write(str(tuned), {"x": np.zeros(1, np.float16)}, {"kind": tuning.KIND, "generator": "synthetic"})
    error = one_line_error(interfacegan_svm.main, ["edit", "--boundaries", BOUNDARIES, "--attribute", "pose",
                                                   "--tuned", str(tuned), "--out", str(out)])
    assert "tuned for the generator synthetic, not dcgan-digiface" in error and not out.exists()


@pytest.mark.slow
def test_the_photo_benchmark_measures_every_method_and_draws_public_photos_only(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_photos", os.path.join(ROOT, "benchmarks", "bench_photos.py"))
    bench_photos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_photos)
    monkeypatch.setattr(bench_photos, "BASELINE_STEPS", 5)  # the methods' own step counts are not what is tested
    monkeypatch.setattr(bench_photos, "hybrid_settings", lambda path: (5, 0.1))
    out = tmp_path / "bench"
    bench_photos.main(["--limit", "1", "--tune", "3", "--tune-edit-steps", "2", "--out", str(out)])
    result = json.loads((out / "photos.json").read_text())
    row = result["rows"][0]
    assert row["face"] == "astronaut" and result["tuning"]["edit_steps"] == 2
    for method in ("adam", "encoder", "hybrid", "tuned"):
        assert np.isfinite(row[f"{method}_psnr"]) and np.isfinite(row[f"{method}_id"]) and row[f"{method}_s"] > 0
    assert row["tuned_psnr"] > row["hybrid_psnr"]  # three steps of tuning already fit more of the photo
    for attribute in ("pose", "smile"):
        assert row[f"{attribute}_effect"] == pytest.approx(
            row[f"{attribute}_tuned_change"] / row[f"{attribute}_untuned_change"])
    assert Image.open(out / "grid.png").size[0] == 11 * bench_photos.GRID_SIZE  # photo, hybrid, tuned, 8 edits
    Image.fromarray(ASTRONAUT.read()).save(tmp_path / "someone.png")
    dcgan = load_generator(DCGAN)
    given = bench_photos.photo_faces([str(tmp_path / "someone.png")], dcgan, FaceDetector())
    assert [(f.name, f.public) for f in given] == [("someone", False)]  # a user's photo is never drawn
