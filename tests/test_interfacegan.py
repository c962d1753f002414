"""interfacegan_svm.py: scores, boundaries and edits, checked against the synthetic ground truth."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import interfacegan_svm
from faceinv import files
from faceinv.editing import boundaries, edits
from faceinv.models.synthetic import ATTRIBUTE_COSINES, ATTRIBUTES


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The acceptance run: 20,000 synthetic latents, true scores, default boundaries."""
    root = tmp_path_factory.mktemp("interfacegan")
    interfacegan_svm.main(["score", "--generator", "synthetic", "--source", "synthetic",
                           "--n", "20000", "--out", str(root / "scores")])
    interfacegan_svm.main(["boundaries", "--scores", str(root / "scores")])
    return root


def test_boundaries_find_the_true_directions(fitted, synthetic):
    record = files.load_json(fitted / "boundaries" / "boundaries.json")
    assert set(record["attributes"]) == set(ATTRIBUTES)
    for name in ATTRIBUTES:
        normal = boundaries.load_boundary(str(fitted / "boundaries" / f"{name}.npy"), 512)
        assert np.load(fitted / "boundaries" / f"{name}.npy").shape == (1, 512)
        assert normal @ synthetic.attribute_directions[name] >= 0.95, name
        entry = record["attributes"][name]
        assert entry["validation_accuracy"] > 0.95
        assert entry["train"] + entry["validation"] + entry["remaining"] == 20000
    # Table 2 reproduces the cosines built into the generator, Table 3 the scores' correlations.
    cosines = np.loadtxt(fitted / "boundaries" / "table2_cosines.csv", delimiter=",", skiprows=1,
                         usecols=range(1, 6))
    np.testing.assert_allclose(cosines, ATTRIBUTE_COSINES, atol=0.05)
    scores = np.load(fitted / "scores" / "scores.npy")
    correlations = np.loadtxt(fitted / "boundaries" / "table3_correlations.csv", delimiter=",",
                              skiprows=1, usecols=range(1, 6))
    np.testing.assert_allclose(correlations, np.corrcoef(scores.T), atol=0.006)
    text = (fitted / "boundaries" / "tables.md").read_text()
    assert "STAND-IN" in text and "Table 1" in text and "InterFaceGAN" in text
    assert "70% train, 30% validation" in text
    entry = record["attributes"]["smile"]  # the default share per side, one definition for library and script
    assert entry["train"] + entry["validation"] == 2 * round(boundaries.RATIO * 20000)


def test_the_tables_state_the_split_they_used(fitted, tmp_path):
    interfacegan_svm.main(["boundaries", "--scores", str(fitted / "scores"), "--attributes", "smile",
                           "--split", "0.6", "--out", str(tmp_path)])
    entry = files.load_json(tmp_path / "boundaries.json")["attributes"]["smile"]
    assert entry["train"] == round(0.6 * (entry["train"] + entry["validation"]))
    assert "60% train, 40% validation" in (tmp_path / "tables.md").read_text()


def _true_scores(synthetic, path):
    latents = np.load(path)
    return synthetic.attribute_scores(latents.reshape(-1, 512)).reshape(*latents.shape[:2], -1)


@pytest.mark.slow
def test_conditional_age_edit_holds_gender(fitted, synthetic, tmp_path):
    """Holding gender, its true score moves by at most 5% of its spread over
    faces (the scores' standard deviation) anywhere along the edit; plain age
    editing drags it along. Age rises monotonically either way."""
    spread = np.load(fitted / "scores" / "scores.npy")[:, ATTRIBUTES.index("gender")].std()
    out = tmp_path / "edits"
    for extra in ([], ["--condition", "gender"]):
        interfacegan_svm.main(["edit", "--boundaries", str(fitted / "boundaries"), "--attribute", "age",
                               "--count", "6", "--out", str(out)] + extra)
    plain = _true_scores(synthetic, out / "age_latents.npy")
    held = _true_scores(synthetic, out / "age_holding_gender_latents.npy")
    gender, age = ATTRIBUTES.index("gender"), ATTRIBUTES.index("age")
    drift = np.abs(held[:, :, gender] - held[:, :1, gender]).max()
    assert drift <= 0.05 * spread
    assert np.abs(plain[:, :, gender] - plain[:, :1, gender]).max() > 0.05 * spread
    for scores in (plain, held):
        assert (np.diff(scores[:, :, age], axis=1) > 0).all()
    grid = np.asarray(Image.open(out / "age_holding_gender.png"))
    assert grid.shape[1] == 7 * 128 and grid.shape[0] >= 6 * 128


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_every_edit_raises_its_true_score_monotonically(fitted, synthetic, tmp_path, attribute):
    edits = tmp_path / "edits"
    interfacegan_svm.main(["edit", "--boundaries", str(fitted / "boundaries"), "--attribute", attribute,
                           "--count", "3", "--steps", "5", "--out", str(edits)])
    scores = _true_scores(synthetic, edits / f"{attribute}_latents.npy")[:, :, ATTRIBUTES.index(attribute)]
    assert (np.diff(scores, axis=1) > 0).all()


@pytest.mark.slow
def test_edit_takes_recovered_latents(fitted, tmp_path):
    """Latents from a results folder (as resnet_test.py writes it) are what gets edited."""
    recovered = np.random.default_rng(5).standard_normal((4, 512)).astype(np.float32)
    os.makedirs(tmp_path / "resnet")
    np.save(tmp_path / "resnet" / "latents.npy", recovered)
    interfacegan_svm.main(["edit", "--boundaries", str(fitted / "boundaries"), "--attribute", "smile",
                           "--latents", str(tmp_path / "resnet"), "--out", str(tmp_path / "e")])
    path = np.load(tmp_path / "e" / "smile_latents.npy")
    assert path.shape == (4, 7, 512)
    np.testing.assert_allclose(path[:, 3], recovered, atol=1e-6)  # alpha 0 is the latent itself


def test_conditional_direction_is_orthogonal_to_every_condition():
    rng = np.random.default_rng(0)
    primary, a, b = rng.standard_normal((3, 512))
    direction = edits.conditional_direction(primary, [a, b])
    assert np.linalg.norm(direction) == pytest.approx(1.0)
    assert abs(direction @ a) < 1e-9 and abs(direction @ b) < 1e-9
    assert direction @ primary > 0
    # With one condition it is InterFaceGAN's n1 - (n1 . n2) n2, renormalised.
    n1, n2 = primary / np.linalg.norm(primary), a / np.linalg.norm(a)
    expected = n1 - (n1 @ n2) * n2
    np.testing.assert_allclose(edits.conditional_direction(n1, [n2]), expected / np.linalg.norm(expected))


def test_solvers_agree(fitted, synthetic):
    """LinearSVC, averaged SGD and InterFaceGAN's SVC(kernel="linear") all find the direction."""
    latents = np.load(fitted / "scores" / "latents.npy")[:8000]
    scores = np.load(fitted / "scores" / "scores.npy")[:8000, ATTRIBUTES.index("smile")]
    truth = synthetic.attribute_directions["smile"]
    for solver in boundaries.SOLVERS:
        b = boundaries.train_boundary(latents, scores, "smile", top=2000, solver=solver)
        assert b.normal @ truth > 0.95, solver
        assert b.solver == solver and b.train == 2 * 1400 and b.validation_accuracy > 0.95


@pytest.mark.slow
def test_landmark_scores_track_the_true_pose_and_smile(tmp_path, synthetic):
    """MTCNN on rendered faces: undetected faces are NaN and counted, never dropped."""
    out = tmp_path / "scores"
    interfacegan_svm.main(["score", "--generator", "synthetic", "--source", "landmarks", "--n", "96",
                           "--out", str(out)])
    scores = np.load(out / "scores.npy")
    meta = files.load_json(out / "meta.json")
    assert scores.shape == (96, 2) and meta["attributes"] == ["pose", "smile"]
    invalid = np.isnan(scores[:, 0])
    assert meta["invalid"] == {"pose": int(invalid.sum()), "smile": int(invalid.sum())}
    assert 10 <= (~invalid).sum()
    truth = synthetic.attribute_scores(np.load(out / "latents.npy"))[~invalid]
    assert np.corrcoef(scores[~invalid, 0], truth[:, 0])[0, 1] > 0.8
    assert np.corrcoef(scores[~invalid, 1], truth[:, 1])[0, 1] > 0.6


def test_scores_from_a_users_npy(tmp_path, fitted, synthetic):
    """A user's columns (true pose and smile scores, named yaw and happy): the boundary
    named happy is the one of the smile column, within 15 degrees of the true direction."""
    latents = np.load(fitted / "scores" / "latents.npy")[:8000]
    columns = [ATTRIBUTES.index("pose"), ATTRIBUTES.index("smile")]
    scores = np.load(fitted / "scores" / "scores.npy")[:8000][:, columns]
    np.save(tmp_path / "z.npy", latents)
    np.save(tmp_path / "s.npy", scores)
    (tmp_path / "names.txt").write_text("yaw\nhappy\n")
    interfacegan_svm.main(["boundaries", "--scores", str(tmp_path / "s.npy"), "--latents", str(tmp_path / "z.npy"),
                           "--names", str(tmp_path / "names.txt"), "--top", "2000", "--attributes", "happy",
                           "--out", str(tmp_path / "b")])
    record = files.load_json(tmp_path / "b" / "boundaries.json")
    assert list(record["attributes"]) == ["happy"] and os.path.exists(tmp_path / "b" / "happy.npy")
    happy = boundaries.load_boundary(str(tmp_path / "b" / "happy.npy"), 512)
    cosine = float(happy @ synthetic.attribute_directions["smile"])
    assert cosine >= np.cos(np.radians(15)), f"happy is {np.degrees(np.arccos(cosine)):.0f} degrees from smile"


def test_bad_input_is_one_line(tmp_path, fitted, one_line_error):
    main = interfacegan_svm.main
    np.save(tmp_path / "z.npy", np.zeros((10, 512), np.float32))
    np.save(tmp_path / "s.npy", np.zeros((12, 1), np.float32))
    (tmp_path / "names.txt").write_text("smile\n")
    file_args = ["--latents", str(tmp_path / "z.npy"), "--names", str(tmp_path / "names.txt")]
    assert "must match row for row" in one_line_error(main, ["boundaries", "--scores", str(tmp_path / "s.npy")]
                                                      + file_args)
    err = one_line_error(main, ["boundaries", "--scores", str(fitted / "scores"), "--attributes", "beard"])
    assert "'beard' is not in the scores" in err
    err = one_line_error(main, ["boundaries", "--scores", str(fitted / "scores"), "--top", "15000"])
    assert "cannot give 15000 positives" in err
    err = one_line_error(main, ["edit", "--boundaries", str(fitted / "boundaries"), "--attribute", "beard"])
    assert "no boundary for 'beard'" in err
    np.save(tmp_path / "bad.npy", np.zeros((3, 100), np.float32))
    err = one_line_error(main, ["edit", "--boundaries", str(fitted / "boundaries"), "--attribute", "age",
                                "--latents", str(tmp_path / "bad.npy")])
    assert "expected [N, 512]" in err


CELEBA_NAMES = ["Eyeglasses", "Smiling", "Male", "Young"]


@pytest.fixture(scope="module")
def tiny_celeba(tmp_path_factory, synthetic):
    """A CelebA-layout folder: 178x218 photos with a synthetic face in ProGAN's
    window, labelled by the faces' true scores."""
    from faceinv.models.generators import sample_latents
    root = tmp_path_factory.mktemp("celeba")
    os.makedirs(root / "img_align_celeba")
    latents = sample_latents(96, 11, 512)
    latents[::2] += 2.5 * synthetic.attribute_directions["eyeglasses"]  # half wear glasses
    faces = files.to_uint8(synthetic(latents).numpy())
    truth = synthetic.attribute_scores(latents)
    rows = []
    for i, face in enumerate(faces):
        photo = np.full((218, 178, 3), 90, np.uint8)
        photo[57:185, 25:153] = face
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(photo).save(root / "img_align_celeba" / name, quality=95)
        labels = [truth[i, 4] > 1.0, truth[i, 1] > 0, truth[i, 3] > 0, truth[i, 2] < 0]
        rows.append(name + " " + " ".join("1" if v else "-1" for v in labels))
    (root / "list_attr_celeba.txt").write_text(
        f"{len(rows)}\n{' '.join(CELEBA_NAMES)}\n" + "\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_celeba_classifier_trains_exports_and_scores(tiny_celeba, tmp_path, synthetic, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its checkpoints and logs go to ./checkpoints, ./logs
    out = tmp_path / "attributes_tiny"
    interfacegan_svm.main(["classifier", "--celeba", str(tiny_celeba), "--out", str(out),
                           "--epochs", "6", "--batch-size", "16", "--input-size", "48", "--lr", "2e-3"])
    meta = files.load_json(out / "classifier.json")
    assert meta["attributes"] == CELEBA_NAMES and meta["held_out"] == 10
    from faceinv.editing.attribute_classifier import LoadedClassifier
    model = LoadedClassifier(str(out))
    # The classifier reads a generated face as it reads the same face cut from a CelebA photo.
    from faceinv.models.generators import sample_latents
    latents = sample_latents(8, 12, 512)
    faces = synthetic(latents).numpy()
    logits = model(faces)
    assert logits.shape == (8, 4) and np.isfinite(logits).all()
    scores_dir = tmp_path / "scores"
    interfacegan_svm.main(["score", "--generator", "synthetic", "--source", "classifier", "--classifier",
                           str(out), "--attributes", "Eyeglasses,Smiling", "--n", "8", "--seed", "12",
                           "--out", str(scores_dir)])
    scores = np.load(scores_dir / "scores.npy")
    np.testing.assert_allclose(scores, logits[:, :2], atol=2e-2)
    # It learnt glasses: the training faces with glasses score higher than those without.
    photos, _ = files.read_face_folder(tiny_celeba / "img_align_celeba")
    glasses = model(photos[:, 57:185, 25:153])[:, 0]
    assert glasses[::2].mean() > glasses[1::2].mean()


def test_classifier_bad_input_is_one_line(tiny_celeba, tmp_path, one_line_error, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main = interfacegan_svm.main
    err = one_line_error(main, ["classifier", "--celeba", str(tmp_path), "--out", str(tmp_path / "c")])
    assert "list_attr_celeba.txt" in err
    err = one_line_error(main, ["score", "--generator", "synthetic", "--source", "classifier",
                                "--classifier", str(tmp_path / "none"), "--n", "4"])
    assert "no exported attribute classifier" in err


def _score(out, *extra):
    interfacegan_svm.main(["score", "--generator", "synthetic", "--source", "synthetic", "--out", str(out),
                           "--batch-size", "32", *extra])


def test_score_resumes_after_a_kill_with_nothing_lost_or_repeated(tmp_path, synthetic, monkeypatch):
    from faceinv.editing import attributes
    from faceinv.models.generators import sample_latents
    monkeypatch.setattr(attributes, "CHUNK", 64)  # parts of 64 faces: 0, 64, 128, 192, 256
    real, scored = attributes.synthetic_scores, []

    def killed_on_the_third_part(generator, latents):
        if len(scored) == 128:  # two parts done
            raise RuntimeError("killed")
        scored.extend(map(tuple, latents))
        return real(generator, latents)

    monkeypatch.setattr(attributes, "synthetic_scores", killed_on_the_third_part)
    out = tmp_path / "scores"
    with pytest.raises(RuntimeError, match="killed"):
        _score(out, "--n", "300")
    assert sorted(os.listdir(out / "parts")) == ["000000000.npy", "000000064.npy"]
    assert not files.load_json(out / "meta.json")["complete"]
    assert len(scored) == 128

    monkeypatch.setattr(attributes, "synthetic_scores", lambda g, z: (scored.extend(map(tuple, z)), real(g, z))[1])
    _score(out, "--n", "300")
    latents = sample_latents(300, interfacegan_svm.SCORE_SEED, 512)
    assert scored == list(map(tuple, latents))  # each face scored once, in order, across the kill
    np.testing.assert_array_equal(np.load(out / "scores.npy"), synthetic.attribute_scores(latents).astype(np.float32))
    np.testing.assert_array_equal(np.load(out / "latents.npy"), latents)
    assert files.load_json(out / "meta.json")["complete"] and not (out / "parts").exists()


def test_score_shards_merge_into_the_unsharded_scores(tmp_path):
    _score(tmp_path / "whole", "--n", "200")
    split = tmp_path / "split"
    for i in range(3):
        _score(split, "--n", "200", "--shard", f"{i}/3")
    assert [files.load_json(split / "shards" / f"{i}-of-3" / "meta.json")["start"] for i in range(3)] == [0, 64, 128]
    _score(split, "--n", "200", "--merge")
    for name in ("latents.npy", "scores.npy"):
        np.testing.assert_array_equal(np.load(split / name), np.load(tmp_path / "whole" / name))
    assert (split / "attributes.txt").read_text() == (tmp_path / "whole" / "attributes.txt").read_text()
    meta = files.load_json(split / "meta.json")
    assert meta["count"] == 200 and "shard" not in meta and not (split / "shards").exists()


def _files(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_score_shard_bad_input_is_one_line_and_changes_nothing(tmp_path, one_line_error):
    def run(*extra):
        return one_line_error(interfacegan_svm.main, ["score", "--generator", "synthetic", "--source", "synthetic",
                                                      "--out", str(out), "--n", "128", "--batch-size", "32", *extra])

    out = tmp_path / "split"
    assert "0..1" in run("--shard", "3/2")
    assert not out.exists()
    for i in range(2):
        _score(out, "--n", "128", "--shard", f"{i}/2")
    _score(tmp_path / "other", "--n", "128", "--shard", "0/4")
    os.rename(tmp_path / "other" / "shards" / "0-of-4", out / "shards" / "0-of-4")
    before = _files(out)
    assert "overlap" in run("--merge")
    shutil.rmtree(out / "shards" / "0-of-4")
    os.rename(out / "shards" / "1-of-2", tmp_path / "kept")
    _score(tmp_path / "other", "--n", "128", "--shard", "1/2", "--seed", "9")
    os.rename(tmp_path / "other" / "shards" / "1-of-2", out / "shards" / "1-of-2")
    assert "another job (seed=9, not 2)" in run("--merge")
    meta = files.load_json(out / "shards" / "1-of-2" / "meta.json")
    files.save_json(out / "shards" / "1-of-2" / "meta.json", dict(meta, seed=2, generator="dcgan-digiface"))
    assert "another job (generator='dcgan-digiface'" in run("--merge")
    assert not (out / "scores.npy").exists() and not (out / "meta.json").exists()
    shutil.rmtree(out / "shards" / "1-of-2")
    os.rename(tmp_path / "kept", out / "shards" / "1-of-2")
    assert _files(out) == {p: t for p, t in before.items() if "0-of-4" not in str(p)}  # no file rewritten


def test_absolute_edits_put_every_latent_at_the_given_distances(fitted, tmp_path):
    """InterFaceGAN's linear_interpolate: z + (d - z . n) n lies at z . n = d, whatever z . n was."""
    latents = np.random.default_rng(4).standard_normal((3, 512)).astype(np.float32)
    latents[0] += 5 * np.load(fitted / "boundaries" / "age.npy")[0]  # far on one side already
    np.save(tmp_path / "z.npy", latents)
    interfacegan_svm.main(["edit", "--boundaries", str(fitted / "boundaries"), "--attribute", "age",
                           "--condition", "gender", "--latents", str(tmp_path / "z.npy"), "--absolute",
                           "--start", "-2", "--end", "2", "--steps", "3", "--out", str(tmp_path / "e")])
    path = np.load(tmp_path / "e" / "age_holding_gender_at_distances_latents.npy")
    normal = lambda name: boundaries.load_boundary(str(fitted / "boundaries" / f"{name}.npy"), 512)  # noqa: E731
    direction = edits.conditional_direction(normal("age"), [normal("gender")])
    np.testing.assert_allclose(path @ direction, np.tile([-2.0, 0.0, 2.0], (3, 1)), atol=1e-4)
    np.testing.assert_allclose(path @ normal("gender"), np.repeat(latents @ normal("gender"), 3).reshape(3, 3),
                               atol=1e-4)  # the condition stays where it was
    offsets, _ = edits.edit_path(latents, direction, -2, 2, 3)  # relative edits keep each latent's own distance
    np.testing.assert_allclose(offsets @ direction - path @ direction, np.repeat(latents @ direction, 3).reshape(3, 3),
                               atol=1e-4)
    assert files.load_json(tmp_path / "e" / "age_holding_gender_at_distances.json")["alphas_are"] == \
        "distances from the boundary"
