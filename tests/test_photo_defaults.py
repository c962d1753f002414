"""The photo scripts' defaults: invert_photo.py and the page (demo.py) start from the same
generator and boundaries, and the page finds an inverter by the generator it was trained for."""
import dataclasses
import os

import pytest
from conftest import ROOT

import demo
import invert_photo
from faceinv import config, files
from faceinv.editing.residual_gan import META_FILE
from faceinv.inversion import comparison
from faceinv.models.generators import DCGAN, PHOTO_GENERATOR, PROGAN_HANDLE, SYNTHETIC


@pytest.fixture
def no_saved_models(tmp_path, monkeypatch):
    """Empty folders where the comparison's encoders and the inverters would be (this checkout may hold some)."""
    models = tmp_path / "saved_model"
    (models / "attribute_inverter").mkdir(parents=True)
    monkeypatch.setattr(comparison, "PATH_SAVED_MODEL", str(models))
    monkeypatch.setattr(demo, "default_inverter", lambda generator: None)
    return models


def test_the_page_and_invert_photo_resolve_the_same_defaults(no_saved_models, tmp_path):
    photo = invert_photo.resolve(config.parse(invert_photo.Config, [str(tmp_path / "a.png")]))
    page = demo.resolve(config.parse(demo.Config, []))
    assert photo.generator == page.generator == PHOTO_GENERATOR == DCGAN
    assert photo.boundaries == page.boundaries == os.path.join("boundaries", "dcgan-digiface")
    assert os.path.isfile(os.path.join(ROOT, photo.boundaries, "pose.npy"))  # committed, so a clean clone can edit
    assert (photo.encoder, photo.steps, photo.learning_rate) == (page.encoder, page.steps, page.learning_rate)


def _export(folder, run, meta, model=True):
    """A stand-in export: what the page reads before it loads one (the SavedModel file and the record)."""
    add = folder / run / "add"
    add.mkdir(parents=True)
    if model:
        (add / "saved_model.pb").write_bytes(b"")
    files.save_json(str(add / META_FILE), dict(meta, direction="add"))


def test_the_page_finds_the_inverter_trained_for_its_generator_under_any_run_name(tmp_path):
    folder = tmp_path / "inverters"
    _export(folder, "a_hats", {"source": "celeba", "generator": PROGAN_HANDLE, "attribute": "wearing_hat"})
    _export(folder, "b_unfinished", {"source": "dcgan", "generator": DCGAN, "attribute": "eyeglasses"}, model=False)
    _export(folder, "c_folders", {"source": "folders", "generator": None, "attribute": None})
    _export(folder, "d_s0", {"source": "synthetic", "generator": SYNTHETIC, "attribute": "eyeglasses"})
    _export(folder, "e_my_run", {"source": "dcgan", "generator": DCGAN, "attribute": "eyeglasses"})
    _export(folder, "f_celeba", {"source": "celeba", "generator": PROGAN_HANDLE, "attribute": "eyeglasses"})
    assert demo.default_inverter(DCGAN, str(folder)) == str(folder / "e_my_run")
    assert demo.default_inverter(SYNTHETIC, str(folder)) == str(folder / "d_s0")
    assert demo.default_inverter(PROGAN_HANDLE, str(folder)) == str(folder / "f_celeba")
    assert demo.default_inverter("progan-standin", str(folder)) is None
    assert demo.default_inverter(DCGAN, str(tmp_path / "missing")) is None


def test_exports_made_before_the_record_are_read_by_their_data(tmp_path):
    folder = tmp_path / "inverters"
    scores = tmp_path / "scores"
    scores.mkdir()
    files.save_json(str(scores / "meta.json"), {"generator": DCGAN, "source": "eyeglasses"})
    _export(folder, "old_synthetic", {"source": "synthetic", "config": {}})
    _export(folder, "old_dcgan", {"source": "dcgan", "config": {"scores": str(scores)}})
    assert demo.default_inverter(SYNTHETIC, str(folder)) == str(folder / "old_synthetic")
    assert demo.default_inverter(DCGAN, str(folder)) == str(folder / "old_dcgan")


def test_the_page_takes_the_found_inverter_unless_given_one(no_saved_models, monkeypatch):
    monkeypatch.setattr(demo, "default_inverter", lambda generator: f"found for {generator}")
    assert demo.resolve(config.parse(demo.Config, [])).inverter == f"found for {DCGAN}"
    given = dataclasses.replace(config.parse(demo.Config, []), inverter="mine")
    assert demo.resolve(given).inverter == "mine"
