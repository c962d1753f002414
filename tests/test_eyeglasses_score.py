"""The eyeglasses score of DCGAN faces, the DCGAN split it gives the inverter, and the judge of edits by it."""
import os

import numpy as np
import pytest
from PIL import Image

import attribute_inverter
import interfacegan_svm
from faceinv import files
from faceinv.editing import attribute_data, attributes, eyeglasses_score
from faceinv.editing.eyeglasses_score import MIN_SIDE_FACES, WITH_MIN, WITHOUT_MAX
from faceinv.errors import InputError
from faceinv.models.generators import DCGAN, load_generator, sample_latents

# Faces of the DCGAN for latents of seed 7, looked at one by one: these wear glasses
# (blue frames, dark frames, thin frames, green frames) ...
WITH_GLASSES = [32, 82, 6, 36]
# ... and these do not.
WITHOUT_GLASSES = [29, 1, 70, 48]


@pytest.fixture(scope="module")
def dcgan_faces():
    generator = load_generator(DCGAN)
    latents = sample_latents(128, 7, generator.latent_dim)[WITH_GLASSES + WITHOUT_GLASSES]
    return generator, files.to_uint8(np.asarray(generator(latents)))


def test_faces_seen_with_glasses_score_above_faces_seen_without(dcgan_faces):
    generator, faces = dcgan_faces
    scores = eyeglasses_score.EyeglassesScorer(generator.template)(faces)
    with_, without = scores[:len(WITH_GLASSES)], scores[len(WITH_GLASSES):]
    assert (with_ >= WITH_MIN).all() and (without <= WITHOUT_MAX).all(), scores


def test_a_bar_painted_across_the_nose_bridge_raises_the_score(dcgan_faces):
    """A 1-pixel black bar between the eyes, a tenth of their distance above them: a
    bridge of glasses and nothing else. A grey square has no face: NaN."""
    generator, faces = dcgan_faces
    scorer = eyeglasses_score.EyeglassesScorer(generator.template)
    plain = faces[[len(WITH_GLASSES), -1]]
    painted = plain.copy()
    for face in painted:
        (left_x, left_y), (right_x, right_y) = scorer.detector.landmarks(face)[0][:2]
        distance = right_x - left_x
        row = int((left_y + right_y) / 2 - 0.1 * distance)
        face[row, int(left_x + 0.2 * distance):int(right_x - 0.2 * distance) + 1] = 0
    before, after = scorer(plain), scorer(painted)
    assert (before <= WITHOUT_MAX).all() and (after >= WITH_MIN).all(), (before, after)
    assert np.isnan(scorer(np.full((1, 64, 64, 3), 128, np.uint8)))[0]


def _score_folder(folder, with_count, without_count=40, middle=5):
    """A score folder as `score --source eyeglasses` writes it, with chosen scores."""
    scores = np.concatenate([np.full(with_count, WITH_MIN + 5), np.full(without_count, WITHOUT_MAX - 2),
                             np.full(middle, (WITH_MIN + WITHOUT_MAX) / 2), [np.nan]]).astype(np.float32)
    latents = sample_latents(len(scores), 5, 100)
    attributes.write_scores(str(folder), latents, scores[:, None], ["eyeglasses"],
                            {"generator": DCGAN, "generator_label": "DCGAN", "source": "eyeglasses"})
    return latents, scores


def test_the_dcgan_split_renders_the_faces_on_each_side(tmp_path):
    latents, scores = _score_folder(tmp_path / "scores", with_count=MIN_SIDE_FACES)
    split = attribute_data.eyeglasses_scored_split(str(tmp_path / "scores"))
    assert split.counts() == (40, MIN_SIDE_FACES) and split.source == "dcgan"
    generator = load_generator(DCGAN)
    assert np.array_equal(split.with_[:3], files.to_uint8(np.asarray(generator(latents[:3]))))
    assert np.array_equal(split.without[:3], files.to_uint8(np.asarray(
        generator(latents[MIN_SIDE_FACES:MIN_SIDE_FACES + 3]))))
    c = attribute_inverter.resolve_train(attribute_inverter.TrainCommand(data="dcgan", scores=str(tmp_path / "scores")))
    assert c.size == 64 and c.run == "eyeglasses_dcgan"


def test_too_few_faces_on_one_side_is_one_line_and_writes_nothing(tmp_path, one_line_error, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _score_folder(tmp_path / "scores", with_count=MIN_SIDE_FACES - 1)
    before = sorted(os.listdir(tmp_path))
    err = one_line_error(attribute_inverter.main, ["train", "--data", "dcgan", "--scores", "scores"])
    assert f"{MIN_SIDE_FACES - 1} with" in err and f"at least {MIN_SIDE_FACES}" in err
    err = one_line_error(interfacegan_svm.main, ["boundaries", "--scores", "scores"])
    assert f"{MIN_SIDE_FACES - 1} with" in err
    assert sorted(os.listdir(tmp_path)) == before and sorted(os.listdir(tmp_path / "scores")) == sorted(
        ["latents.npy", "scores.npy", "attributes.txt", "meta.json"])
    with pytest.raises(InputError, match="does not exist"):
        attribute_data.eyeglasses_scored_split(str(tmp_path / "none"))
    err = one_line_error(attribute_inverter.main, ["evaluate", "--data", "dcgan", "--model", "none",
                                                   "--boundaries", "scores"])
    assert "holds no eyeglasses.npy" in err and sorted(os.listdir(tmp_path)) == before


def test_the_eyeglasses_boundary_is_fitted_on_the_faces_clearly_on_each_side(tmp_path):
    _score_folder(tmp_path / "scores", with_count=MIN_SIDE_FACES + 2, without_count=60)
    interfacegan_svm.main(["boundaries", "--scores", str(tmp_path / "scores")])
    entry = files.load_json(tmp_path / "boundaries" / "boundaries.json")["attributes"]["eyeglasses"]
    assert entry["train"] + entry["validation"] == 2 * (MIN_SIDE_FACES + 2)


class _Brightness:
    """A stand-in generator and scorer: a face is one grey level, 0.5 + 0.3 times its first
    latent entry; its score is 20 times that grey; a black face is "not found" (NaN)."""
    latent_dim = 4

    def __call__(self, latents):
        grey = np.clip(0.5 + 0.3 * np.asarray(latents)[:, :1], 0, 1)
        return np.broadcast_to(grey[:, :, None, None], (len(latents), 8, 8, 3)).astype(np.float32)

    @staticmethod
    def score(faces):
        grey = faces.astype(np.float32).mean((1, 2, 3)) / 255
        return np.where(grey == 0, np.nan, 20 * grey).astype(np.float32)


def test_the_judge_counts_flips_and_keeps_identity_of_unchanged_faces():
    generator = _Brightness()

    def facenet(faces):
        embedding = np.stack([faces[:, 0, 0, 0], 1 - faces[:, 0, 0, 0]], 1)
        return None, embedding / np.linalg.norm(embedding, axis=1, keepdims=True)

    editors = {"nothing": lambda faces, latents, direction: faces,
               "flip": lambda faces, latents, direction: np.full_like(faces, 0.9 if direction == "add" else 0.1),
               "blank": lambda faces, latents, direction: np.zeros_like(faces)}
    summary, pictures = eyeglasses_score.judge_edits(generator, generator.score, facenet, editors, 10, 0)
    for direction in ("add", "remove"):
        assert summary[direction]["faces"] == 10
        assert summary[direction]["nothing"]["flip_rate"] == 0.0
        assert summary[direction]["nothing"]["identity_similarity"] == pytest.approx(1.0)
        assert summary[direction]["flip"]["flip_rate"] == 1.0
        assert summary[direction]["flip"]["identity_similarity"] < 0.999
        assert summary[direction]["blank"]["flip_rate"] == 0.0
        assert summary[direction]["blank"]["lost_by_mtcnn"] == 10
        assert len(pictures[direction]) == 4 and len(pictures[direction][0]) == 8
    assert summary["add"]["score_before"] <= WITHOUT_MAX and summary["remove"]["score_before"] >= WITH_MIN


def test_the_sorted_grid_shows_faces_from_the_highest_score_down_without_the_unscored(tmp_path, dcgan_faces):
    generator, _ = dcgan_faces
    latents = sample_latents(5, 9, generator.latent_dim)
    scores = np.array([[0.3], [2.0], [np.nan], [-1.0], [1.0]], np.float32)
    attributes.write_scores(str(tmp_path / "s"), latents, scores, ["glasses"], {"generator": DCGAN})
    interfacegan_svm.main(["sorted", "--scores", str(tmp_path / "s"), "--attribute", "glasses", "--rows", "1",
                           "--columns", "4"])
    grid = np.asarray(Image.open(tmp_path / "s" / "glasses_sorted.png"))
    faces = files.to_uint8(np.asarray(generator(latents[[1, 4, 0, 3]])))
    size = generator.resolution
    assert grid.shape == (16 + size, 4 * size, 3)
    for i, face in enumerate(faces):
        assert np.array_equal(grid[16:, i * size:(i + 1) * size], face), i
