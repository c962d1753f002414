"""attribute_inverter.py: losses on hand-made tensors, one train step, export, the judge, bad input."""
import os
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from skimage import data as skimage_data

import attribute_inverter
from faceinv import files
from faceinv.editing import attribute_data, eyeglasses
from faceinv.editing import residual_gan as gan
from faceinv.editing.inverter_training import InverterConfig, InverterTrainer
from faceinv.editing.residual_gan import LoadedInverter
from faceinv.errors import InputError
from faceinv.models.generators import PROGAN_HANDLE, sample_latents

SMALL = ["--size", "64", "--width", "4", "--batch-size", "2", "--min-faces", "2"]


def _ce(logits, label):
    logits = np.asarray(logits, np.float64)
    return float(np.mean(np.log(np.exp(logits).sum(-1)) - logits[:, label]))


def test_discriminator_and_adversarial_losses_are_three_way_cross_entropy():
    uniform = tf.zeros([2, 3])
    assert gan.discriminator_loss(uniform, uniform, uniform).numpy() == pytest.approx(np.log(3), 1e-6)
    sure = tf.constant([[9.0, 0.0, 0.0]]), tf.constant([[0.0, 9.0, 0.0]]), tf.constant([[0.0, 0.0, 9.0]])
    assert gan.discriminator_loss(*sure).numpy() < 1e-3
    # Swapping the real classes makes every real answer wrong.
    assert gan.discriminator_loss(sure[1], sure[0], sure[2]).numpy() > 5.0
    logits = np.array([[0.5, 2.0, -1.0], [1.0, 0.0, 3.0]], np.float32)
    for target in (gan.WITHOUT, gan.WITH):
        assert gan.adversarial_loss(tf.constant(logits), target).numpy() == pytest.approx(_ce(logits, target), 1e-5)


def test_image_losses_on_hand_made_tensors():
    faces = tf.zeros([2, 4, 4, 3])
    shifted = tf.concat([tf.fill([1, 4, 4, 3], 0.1), tf.zeros([1, 4, 4, 3])], 0)
    assert gan.dual_loss(faces, shifted).numpy() == pytest.approx(0.05)
    residual = np.zeros([1, 4, 4, 3], np.float32)
    residual[0, :1] = 0.5
    residual[0, 1:2] = -0.5
    assert gan.residual_loss(tf.constant(residual)).numpy() == pytest.approx(0.25)
    features = np.zeros([2, 2, 2, 4], np.float32)
    edited = features.copy()
    edited[..., 0] = 2.0
    assert gan.discriminator_feature_loss(tf.constant(features), tf.constant(edited)).numpy() == pytest.approx(0.5)
    mask = np.zeros([1, 4, 4, 1], np.float32)
    mask[0, :, :2] = 1.0
    assert gan.mask_loss(tf.constant(mask)).numpy() == pytest.approx(0.5)


def test_generators_start_as_the_identity_and_attention_bounds_the_residual():
    faces = tf.random.uniform([2, 64, 64, 3], seed=1)
    edited, residual = gan.build_generator("add", width=4)(faces)
    np.testing.assert_array_equal(edited.numpy(), faces.numpy())
    assert not residual.numpy().any()
    model = gan.build_generator("add", width=4, attention=True)
    last = model.get_layer("residual_conv")
    last.set_weights([np.random.default_rng(0).normal(0, 0.5, w.shape) for w in last.get_weights()])
    edited, residual, mask = (o.numpy() for o in model(faces))
    assert mask.shape == (2, 64, 64, 1) and residual.shape == edited.shape == (2, 64, 64, 3)
    assert (np.abs(residual) <= mask + 1e-6).all() and np.abs(residual).max() > 0.05
    np.testing.assert_allclose(edited, np.clip(faces.numpy() + residual, 0, 1), atol=1e-6)
    logits, _ = gan.build_discriminator(64, width=4)(faces)
    assert logits.shape == (2, 3)


def test_the_blend_paints_one_colour_under_a_mask_that_starts_small():
    faces = tf.random.uniform([2, 64, 64, 3], seed=2)
    model = gan.build_generator("add", width=4, skips=True, edit="blend")
    edited, residual, mask = (o.numpy() for o in model(faces))
    # At the start every pixel is the face under grey 0.5 at opacity sigmoid(-4).
    start = 1 / (1 + np.exp(4.0))
    np.testing.assert_allclose(mask, start, rtol=1e-5)
    np.testing.assert_allclose(edited, faces.numpy() + start * (0.5 - faces.numpy()), atol=1e-6)
    # Opaque black paints every face black, whatever was beneath; a closed mask keeps it.
    last = model.get_layer("residual_conv")
    kernel, _ = last.get_weights()
    last.set_weights([np.zeros_like(kernel), np.array([-30.0, -30.0, -30.0, 30.0], np.float32)])
    edited, residual, mask = (o.numpy() for o in model(faces))
    assert np.abs(edited).max() < 1e-6 and (mask > 0.999).all()
    np.testing.assert_allclose(residual, -faces.numpy(), atol=1e-6)
    last.set_weights([np.zeros_like(kernel), np.array([30.0, 30.0, 30.0, -30.0], np.float32)])
    np.testing.assert_allclose(model(faces)[0].numpy(), faces.numpy(), atol=1e-6)


def reach(model, size=128):
    """How far from the centre pixel (in pixels, Chebyshev) an input pixel
    still sways its residual by 5% of the most any pixel does. Instance norm
    lets every pixel sway it a little (about 2% here), through the map's mean."""
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    faces = tf.constant(rng.uniform(0, 1, (1, size, size, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(faces)
        centre = tf.reduce_sum(model(faces)[1][0, size // 2, size // 2])
    sway = np.abs(tape.gradient(centre, faces).numpy()[0]).sum(-1)
    rows, cols = np.nonzero(sway >= 0.05 * sway.max())
    return max(np.abs(rows - size // 2).max(), np.abs(cols - size // 2).max())


def test_residual_blocks_widen_what_a_generator_sees():
    paper, two_blocks = (reach(gan.build_generator("add", 4, skips=True, blocks=b)) for b in (0, 2))
    assert 8 <= paper <= 16 and two_blocks >= paper + 8


def test_checkerboard_energy_finds_period_two_patterns():
    y, x = np.mgrid[:64, :64]
    checkerboard = np.repeat(((-1.0) ** (x + y))[None, ..., None], 3, -1)
    blob = np.exp(-((x - 32) ** 2 + (y - 20) ** 2) / 50.0)[..., None]
    stripes = np.repeat(((-1.0) ** x)[None, ..., None], 3, -1) * blob  # a local pattern, as around the eyes
    smooth = np.repeat(np.sin(x / 10.0)[None, ..., None] * np.cos(y / 7.0)[..., None], 3, -1)
    energy = gan.checkerboard_energy(np.concatenate([checkerboard, stripes, smooth]))
    assert energy[0] > 0.99 and energy[1] > 0.9 and energy[2] < 0.01


def _faces64(split):
    return np.asarray(tf.image.resize(np.asarray(split.without, np.float32) / 255.0, (64, 64)))


@pytest.mark.slow
def test_resize_upsampling_leaves_no_checkerboard_where_transposed_convs_do(synthetic):
    """Random non-zero weights everywhere (the zero-initialised last conv given random
    ones): the paper's transposed convs put a large share of the residual's power at
    period 2, resizing then convolving almost none."""
    faces = np.asarray(tf.image.resize(synthetic(sample_latents(4, 0, synthetic.latent_dim)), (64, 64)))
    energy = {}
    for upsample in gan.UPSAMPLING:
        keras.utils.set_random_seed(0)
        model = gan.build_generator("add", width=4, upsample=upsample, skips=True)
        last = model.get_layer("residual_conv")
        last.set_weights([np.random.default_rng(1).normal(0, 0.05, w.shape) for w in last.get_weights()])
        residual = model(faces)[1].numpy()
        assert np.abs(residual).max() > 0.01
        energy[upsample] = gan.checkerboard_energy(residual)
    assert energy["resize"].max() < 0.03 and energy["transposed"].min() > 10 * energy["resize"].max()


@pytest.fixture(scope="module")
def small_split(synthetic):
    return attribute_data.synthetic_split(synthetic, 4, seed=0)


def test_synthetic_split_follows_the_true_eyeglasses_score(synthetic):
    without, with_ = eyeglasses.split_latents(synthetic, 50, seed=0)
    d = synthetic.attribute_directions["eyeglasses"]
    assert (without @ d <= eyeglasses.WITHOUT_MAX).all() and (with_ @ d >= eyeglasses.WITH_MIN).all()
    moved = eyeglasses.set_eyeglasses(synthetic, without[:5], 2.0)
    np.testing.assert_allclose(moved @ d, 2.0, atol=1e-4)
    others = np.stack([synthetic.attribute_directions[a] for a in ("pose", "smile", "age", "gender")])
    np.testing.assert_allclose(moved @ others.T, without[:5] @ others.T, atol=1e-4)


@pytest.mark.slow
def test_one_train_step_changes_both_generators_and_the_discriminator_and_moves_their_average(small_split,
                                                                                              tmp_path):
    config = InverterConfig(size=64, width=4, batch_size=2, ema=0.75, checkpoint_dir=str(tmp_path / "ck"),
                            log_dir=str(tmp_path / "log"), export_dir=str(tmp_path / "model"))
    trainer = InverterTrainer(config, small_split)
    without, with_ = next(iter(attribute_data.pairs(small_split, 64, 2, 0, 0)))
    models = (trainer.add, trainer.remove, trainer.discriminator)
    before = [[w.copy() for w in m.get_weights()] for m in models]
    for model, average in ((trainer.add, trainer.ema_add), (trainer.remove, trainer.ema_remove)):
        for a, b in zip(model.get_weights(), average.get_weights()):
            np.testing.assert_array_equal(a, b)  # the average starts at the initial weights
    out = trainer.step(without, with_)
    assert set(out) == {"discriminator", "adversarial", "dual", "residual", "perceptual", "generator"}
    for model, old in zip(models, before):
        assert any(not np.array_equal(a, b) for a, b in zip(old, model.get_weights())), model.name
    assert np.abs(trainer.add(without)[1].numpy()).max() > 0
    assert np.abs(trainer.remove(with_)[1].numpy()).max() > 0
    # --ema 0.75: the average moved a quarter of the way to the new weights, and it is
    # what is validated and exported.
    for model, average, old in ((trainer.add, trainer.ema_add, before[0]), (trainer.remove, trainer.ema_remove,
                                                                           before[1])):
        for w0, w1, a in zip(old, model.get_weights(), average.get_weights()):
            np.testing.assert_allclose(a, 0.75 * w0 + 0.25 * w1, rtol=1e-5, atol=1e-7)
    assert trainer.exported_generators() == (trainer.ema_add, trainer.ema_remove)


@pytest.mark.slow
def test_the_eye_crop_holds_the_glasses(synthetic):
    """Whatever a synthetic face's pose and proportions, its glasses' change lies
    in the eye discriminator's crop, but for the tips of the temples of a few
    faces (under 0.1% of the change's energy, no pixel changed by 0.3 or more)."""
    latents = np.concatenate(eyeglasses.split_latents(synthetic, 100, seed=3))
    off, on = eyeglasses.counterfactuals(synthetic, latents)
    energy = ((on - off) ** 2).sum(-1)
    pixels = np.arange(128 * 128).reshape(1, 128, 128, 1)
    inside = np.isin(pixels[0, ..., 0], gan.eye_crop(pixels))
    assert inside.mean() == 0.25 and inside[54, 44] and inside[54, 83]  # ProGAN's CelebA eyes
    assert (energy * ~inside).sum() < 1e-3 * energy.sum()
    assert not (np.abs(on - off).max(-1)[:, ~inside] >= 0.3).any()


def test_the_eye_discriminator_has_its_own_width(small_split, tmp_path):
    def config(eye_width):
        return InverterConfig(size=128, width=4, batch_size=2, eye_discriminator=True, eye_width=eye_width,
                              checkpoint_dir=str(tmp_path / "ck"), log_dir=str(tmp_path / "log"),
                              export_dir=str(tmp_path / "model"))
    trainer = InverterTrainer(config(12), small_split)
    first_conv = [[layer.filters for layer in d.layers if isinstance(layer, keras.layers.Conv2D)][0]
                  for d in (trainer.discriminator, trainer.eye_discriminator)]
    assert first_conv == [4, 12]
    with pytest.raises(InputError, match="--eye-width 0"):
        InverterTrainer(config(0), small_split)


@pytest.mark.slow
def test_the_eye_discriminator_trains_beside_the_whole_face_one(synthetic, tmp_path):
    split = attribute_data.synthetic_split(synthetic, 4, seed=0)
    config = InverterConfig(size=128, width=4, batch_size=2, edit="blend", skips=True, eye_discriminator=True,
                            checkpoint_dir=str(tmp_path / "ck"), log_dir=str(tmp_path / "log"),
                            export_dir=str(tmp_path / "model"))
    trainer = InverterTrainer(config, split)
    without, with_ = next(iter(attribute_data.pairs(split, 128, 2, 0, 0)))
    models = (trainer.discriminator, trainer.eye_discriminator, trainer.add)
    before = [[w.copy() for w in m.get_weights()] for m in models]
    out = trainer.step(without, with_)
    for model, old in zip(models, before):
        assert any(not np.array_equal(a, b) for a, b in zip(old, model.get_weights())), model.name
    # The eye discriminator's cross entropy is added to the whole face's: more than either alone.
    assert float(out["discriminator"]) > np.log(3) * 1.5 and float(out["eye_adversarial"]) > 0


def test_the_eye_discriminator_needs_128_px(small_split, tmp_path):
    config = InverterConfig(size=64, width=4, eye_discriminator=True, checkpoint_dir=str(tmp_path / "ck"),
                            log_dir=str(tmp_path / "log"), export_dir=str(tmp_path / "model"))
    with pytest.raises(InputError, match="--eye-discriminator needs --size 128"):
        InverterTrainer(config, small_split)


@pytest.mark.slow
def test_export_and_reload_give_identical_outputs(small_split, tmp_path):
    config = InverterConfig(size=64, width=4, batch_size=2, attention=True, blocks=1,
                            checkpoint_dir=str(tmp_path / "ck"), log_dir=str(tmp_path / "log"),
                            export_dir=str(tmp_path / "model"))
    trainer = InverterTrainer(config, small_split)
    assert any(isinstance(layer, keras.layers.Add) for layer in trainer.add.layers)  # the residual block
    for model in (trainer.add, trainer.remove):  # no longer the identity edit
        last = model.get_layer("residual_conv")
        last.set_weights([np.random.default_rng(1).normal(0, 0.3, w.shape) for w in last.get_weights()])
    meta = trainer.export()
    assert meta["standin"] and "STAND-IN" in meta["label"]
    assert (meta["generator"], meta["attribute"]) == ("synthetic", "eyeglasses")
    loaded = LoadedInverter(str(tmp_path / "model"))
    faces = np.random.default_rng(0).random((3, 64, 64, 3), dtype=np.float32)
    for direction, model in (("add", trainer.add), ("remove", trainer.remove)):
        edited, residual = loaded(faces, direction)
        expected = model(faces, training=False)
        np.testing.assert_array_equal(edited, expected[0].numpy())
        np.testing.assert_array_equal(residual, expected[1].numpy())
        assert np.abs(residual).max() > 0.05
    raw = tf.saved_model.load(str(tmp_path / "model" / "add")).signatures["serving_default"]
    assert set(raw(faces=tf.constant(faces))) == {"edited", "residual", "mask"}


@pytest.mark.slow
def test_keep_best_exports_the_epoch_that_validated_best_and_survives_a_resume(small_split, synthetic, tmp_path):
    validation = eyeglasses.held_out_faces(synthetic, 4, seed=2, size=64, batch_size=4)
    scores, seen = iter([0.6, 0.3, 0.9]), []  # the validation scores of epochs 1, 2 and 3

    def trainer(epochs):
        config = InverterConfig(size=64, width=4, batch_size=2, epochs=epochs, edit="blend", skips=True,
                                keep="best", checkpoint_dir=str(tmp_path / "ck"), log_dir=str(tmp_path / "log"),
                                export_dir=str(tmp_path / "model"))
        made = InverterTrainer(config, small_split, validation)

        def validate():
            seen.append(made.add.get_weights())
            return {"validation_add": 0.0, "validation_remove": 0.0}, next(scores)
        return made, validate

    first, validate = trainer(2)
    # An untouched generator edits nothing: no glasses put on or taken off, and
    # only the blend's faint starting grey outside the eye region.
    figures = first.validate()[0]
    assert (figures["validation_add"], figures["validation_remove"]) == (0.0, 0.0)
    assert 0 < figures["validation_outside"] < eyeglasses.OUTSIDE_THRESHOLD
    # The score counts strict successes that keep the outside: here every edit is a
    # strict success, but half the added faces leak.
    perfect = {"amount": np.array([1.0, 1.0, 1.0, 1.0]), "cosine": np.ones(4), "checkerboard": np.zeros(4)}
    judged = {"add": dict(perfect, outside=np.array([0.0, 0.0, 0.05, 0.05])),
              "remove": dict(perfect, amount=np.zeros(4), outside=np.zeros(4))}
    with mock.patch.object(eyeglasses, "judge", lambda faces, edit: judged):
        figures, score = first.validate()
    assert (figures["validation_add"], figures["validation_remove"]) == (1.0, 1.0)
    assert score == pytest.approx(0.5 + 1e-3)
    first.validate = validate
    assert "validation_add" in first.fit()[0]
    assert int(first.best_epoch.numpy()) == 1  # epoch 2 validated worse
    meta = first.export()
    assert (meta["epochs"], meta["epochs_trained"]) == (1, 2)
    faces = _faces64(small_split)
    np.testing.assert_array_equal(LoadedInverter(str(tmp_path / "model"))(faces, "add")[0],
                                  first.best_add(faces, training=False)[0].numpy())
    assert not np.array_equal(first.add(faces)[0].numpy(), first.best_add(faces)[0].numpy())
    # Its validation faces chose the epoch: evaluate will not judge it on them.
    with pytest.raises(InputError, match="kept its best epoch by the faces of seed 2"):
        attribute_inverter.main(["evaluate", "--model", str(tmp_path / "model"), "--seed", "2"])

    second, validate = trainer(3)  # resumed: the best so far comes back from the checkpoint
    assert int(second.best_epoch.numpy()) == 1
    for best, kept in zip(second.best_add.get_weights(), seen[0]):
        np.testing.assert_array_equal(best, kept)
    second.validate = validate
    second.fit()
    assert int(second.best_epoch.numpy()) == 3


def test_keep_best_needs_validation_faces(small_split, tmp_path):
    config = InverterConfig(size=64, width=4, batch_size=2, keep="best", checkpoint_dir=str(tmp_path / "ck"),
                            log_dir=str(tmp_path / "log"), export_dir=str(tmp_path / "model"))
    with pytest.raises(InputError, match="--keep best"):
        InverterTrainer(config, small_split)


@pytest.mark.slow
def test_the_judge_tells_glasses_from_none_and_finds_leaks(synthetic):
    """A cheating inverter that returns the renderer's own counterfactuals passes;
    doing nothing, or brightening the face, fails."""
    # judge_edits draws these same latents; a face's counterfactuals are found by matching its render.
    latents = np.concatenate(eyeglasses.split_latents(synthetic, 6, seed=1))
    renders = np.asarray(synthetic(latents))
    off, on = eyeglasses.counterfactuals(synthetic, latents)

    def perfect(faces, direction):
        index = [np.argmin(np.abs(renders - face).mean((1, 2, 3))) for face in faces]
        target = (on if direction == "add" else off)[index]
        return target, target - faces

    report = eyeglasses.judge_edits(synthetic, perfect, count=6, seed=1, batch_size=6)
    summary = eyeglasses.summarise(report)
    assert summary["add"]["success"] == 1.0 and summary["remove"]["success"] == 1.0
    assert summary["add"]["outside_mean"] < 1e-5 and summary["passes"]
    assert summary["add"]["cosine_mean"] > 0.99 and summary["remove"]["cosine_mean"] > 0.99
    nothing = eyeglasses.summarise(eyeglasses.judge_edits(
        synthetic, lambda f, d: (f, 0 * f), count=6, seed=1, batch_size=6))
    assert nothing["add"]["success"] == 0.0 and nothing["remove"]["success"] == 0.0
    brighter = eyeglasses.summarise(eyeglasses.judge_edits(
        synthetic, lambda f, d: (np.clip(f + 0.1, 0, 1), 0.1 + 0 * f), count=6, seed=1, batch_size=6))
    assert brighter["add"]["success"] == 0.0 and brighter["add"]["outside_mean"] > 0.05
    assert nothing["add"]["cosine_mean"] == 0.0 and brighter["add"]["cosine_mean"] < 0.5
    assert not brighter["passes"]
    # Faint glasses are nearer the render with glasses (lenient) but not most of the way
    # there; the full change drowned in noise has the amount but not the shape.
    noise = np.random.default_rng(0).normal(0, 0.15, renders.shape).astype(np.float32)

    def faint(faces, direction):
        target = perfect(faces, direction)[0]
        return faces + 0.6 * (target - faces), 0.6 * (target - faces)

    def noisy(faces, direction):
        target = perfect(faces, direction)[0]
        return target + noise[:len(faces)], target + noise[:len(faces)] - faces

    for edit in (faint, noisy):
        report = eyeglasses.judge_edits(synthetic, edit, count=6, seed=1, batch_size=6)
        judged = eyeglasses.summarise(report)
        assert judged["add"]["success_lenient"] == 1.0 and judged["remove"]["success_lenient"] == 1.0
        assert judged["add"]["success"] == 0.0 and judged["remove"]["success"] == 0.0, edit.__name__
    assert report["add"]["amount"].min() > 0.8 and report["add"]["cosine"].max() < 0.8
    # Glasses put on with a blotch on the chin: a strict success, but not one that
    # keeps the face (what --keep best counts).
    def blotched(faces, direction):
        target = perfect(faces, direction)[0].copy()
        target[:, -faces.shape[1] // 8:] += 0.2
        return target, target - faces

    judged = eyeglasses.summarise(eyeglasses.judge_edits(synthetic, blotched, count=6, seed=1, batch_size=6))
    assert judged["add"]["success"] == 1.0 and judged["add"]["outside_mean"] > eyeglasses.OUTSIDE_THRESHOLD
    assert judged["add"]["success_kept"] == 0.0 and summary["add"]["success_kept"] == 1.0


def _write_faces(folder, faces, size=None):
    os.makedirs(folder, exist_ok=True)
    for i, face in enumerate(faces):
        image = Image.fromarray(face)
        (image.resize((size, size)) if size else image).save(os.path.join(folder, f"{i:03d}.png"))


@pytest.fixture(scope="module")
def trained(small_split, tmp_path_factory):
    """The script's train on two folders (the synthetic faces written out), tiny and short."""
    root = tmp_path_factory.mktemp("inverter")
    _write_faces(root / "without", small_split.without)
    _write_faces(root / "with", small_split.with_)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        attribute_inverter.main(["train", "--data", "folders", "--without", "without", "--with", "with",
                                 "--epochs", "1", "--run", "tiny"] + SMALL)
        # Rerunning resumes from the last checkpoint: nothing is left to train, so no
        # checkpoint is written (and nothing compiles); other settings are refused.
        index = root / "checkpoints" / "attribute_inverter" / "tiny" / "checkpoint"
        written = index.stat().st_mtime_ns
        attribute_inverter.main(["train", "--data", "folders", "--without", "without", "--with", "with",
                                 "--epochs", "1", "--run", "tiny"] + SMALL)
        assert index.stat().st_mtime_ns == written
        with pytest.raises(InputError, match="other settings"):
            attribute_inverter.main(["train", "--data", "folders", "--without", "without", "--with",
                                     "with", "--epochs", "3", "--run", "tiny", "--dual-weight", "1"] + SMALL)
    finally:
        os.chdir(cwd)
    return root


@pytest.mark.slow
def test_train_writes_model_preview_and_history(trained):
    model = trained / "saved_model" / "attribute_inverter" / "tiny"
    assert (model / "add" / "saved_model.pb").exists() and (model / "remove" / "saved_model.pb").exists()
    meta = files.load_json(model / "add" / "inverter.json")
    assert meta["epochs"] == 1 and meta["size"] == 64 and meta["source"] == "folders"
    history = files.read_csv(trained / "results" / "attribute_inverter" / "tiny" / "history.csv")
    assert [int(r["epoch"]) for r in history] == [1] and float(history[0]["seconds"]) > 0
    assert Image.open(trained / "results" / "attribute_inverter" / "tiny" / "preview.png").size[0] == 4 * 64


@pytest.mark.slow
def test_a_trained_generator_draws_no_checkerboard(trained, small_split):
    """The residual starts at zero, so only a trained model shows the pattern it learns to draw."""
    inverter = LoadedInverter(str(trained / "saved_model" / "attribute_inverter" / "tiny"))
    assert inverter.meta["config"]["upsample"] == "resize"
    residual = inverter(_faces64(small_split), "add")[1]
    assert np.abs(residual).max() > 1e-3 and gan.checkerboard_energy(residual).max() < 0.01


@pytest.mark.slow
def test_apply_aligns_photos_and_grids_crops(trained, tmp_path):
    model = str(trained / "saved_model" / "attribute_inverter" / "tiny")
    photos = tmp_path / "photos"
    os.makedirs(photos)
    Image.fromarray(skimage_data.astronaut()).save(photos / "astronaut.jpg")
    Image.fromarray(skimage_data.coffee()).save(photos / "coffee.jpg")
    attribute_inverter.main(["apply", "--model", model, "--input", str(photos), "--out", str(tmp_path / "a")])
    grid = np.asarray(Image.open(tmp_path / "a" / "grid.png"))
    assert grid.shape[1] == 5 * 64 and grid.shape[0] == 32 + 64  # two banners, one face
    assert os.listdir(tmp_path / "a" / "added") == ["astronaut.png"]
    assert "coffee.jpg" in (tmp_path / "a" / "skipped.txt").read_text()
    # A single square crop of the model's size is used as it is.
    crop = tmp_path / "crop.png"
    Image.open(trained / "with" / "000.png").resize((64, 64)).save(crop)
    attribute_inverter.main(["apply", "--model", model, "--input", str(crop), "--out", str(tmp_path / "b")])
    added = np.asarray(Image.open(tmp_path / "b" / "added" / "crop.png"))
    edited, _ = LoadedInverter(model)(np.asarray(Image.open(crop), np.float32)[None] / 255.0, "add")
    np.testing.assert_array_equal(added, files.to_uint8(edited[0]))


@pytest.mark.slow
def test_evaluate_writes_the_judgement(trained, tmp_path, synthetic):
    """evaluation.json holds what the judge says when run by hand on the same faces;
    for an edit whose answer is known (the renderer's own counterfactuals) it says
    every face was edited and the inverter passes."""
    seed = attribute_inverter.SYNTHETIC_TEST_SEED
    model = str(trained / "saved_model" / "attribute_inverter" / "tiny")
    evaluate = ["evaluate", "--model", model, "--count", "4", "--seed", str(seed)]
    attribute_inverter.main(evaluate + ["--out", str(tmp_path)])
    result = files.load_json(tmp_path / "evaluation.json")
    assert set(result["add"]) >= {"success", "outside_mean"} and "STAND-IN" in result["label"]
    inverter = LoadedInverter(model)
    held_out = eyeglasses.held_out_faces(synthetic, 4, seed, inverter.size)  # the faces judge_edits draws
    by_hand = eyeglasses.summarise(eyeglasses.judge(held_out, inverter))
    for direction in ("add", "remove"):
        assert set(result[direction]) == set(by_hand[direction])
        for key, value in by_hand[direction].items():
            np.testing.assert_allclose(result[direction][key], value, rtol=1e-6, err_msg=f"{direction} {key}")
    assert isinstance(result["passes"], bool) and result["passes"] == by_hand["passes"]
    assert Image.open(tmp_path / "grid.png").size[0] == 6 * 64

    # A cheat that looks each face up among the judge's and returns its render
    # without or with glasses, as asked: a perfect edit (as in the judge's own test).
    faces, off, on = (np.concatenate([batch[i] for batches in held_out.values() for batch in batches])
                      for i in range(3))

    def perfect(edited, direction):
        index = [np.argmin(np.abs(faces - face).mean((1, 2, 3))) for face in edited]
        target = (on if direction == "add" else off)[index]
        return target, target - edited

    with mock.patch.object(attribute_inverter, "LoadedInverter", lambda folder: _KnownEdit(perfect, inverter.size)):
        attribute_inverter.main(evaluate + ["--out", str(tmp_path / "perfect")])
    known = files.load_json(tmp_path / "perfect" / "evaluation.json")
    assert (known["add"]["success"], known["remove"]["success"], known["passes"]) == (1.0, 1.0, True)


class _KnownEdit:
    """LoadedInverter's interface on an edit function, at `size` px, kept by no chosen epoch."""

    def __init__(self, edit, size):
        self.edit, self.size, self.meta = edit, size, {}

    def __call__(self, faces, direction):
        return self.edit(faces, direction)


def _celeba(root, attributes=("Eyeglasses", "Smiling"), labels=((1, -1), (-1, 1), (-1, -1), (1, 1))):
    os.makedirs(root / "img_align_celeba")
    photo = Image.fromarray(skimage_data.astronaut()).resize((178, 218))
    lines = [str(len(labels)), " ".join(attributes)]
    for i, row in enumerate(labels):
        photo.save(root / "img_align_celeba" / f"{i + 1:06d}.jpg")
        lines.append(f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in row))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")


def test_celeba_split_and_batches(tmp_path):
    _celeba(tmp_path)
    split = attribute_data.celeba_split(str(tmp_path), "Eyeglasses")
    assert [os.path.basename(p) for p in split.with_] == ["000001.jpg", "000004.jpg"]
    assert [os.path.basename(p) for p in split.without] == ["000002.jpg", "000003.jpg"]
    without, with_ = next(iter(attribute_data.pairs(split, 64, 2, 0, 0)))
    assert without.shape == with_.shape == (2, 64, 64, 3)


def test_each_split_names_the_generator_and_attribute_its_inverter_is_for(small_split, tmp_path):
    """What an export records (inverter.json) and the page picks an inverter by."""
    assert (small_split.generator, small_split.attribute) == ("synthetic", "eyeglasses")
    _celeba(tmp_path / "celeba")
    celeba = attribute_data.celeba_split(str(tmp_path / "celeba"), "Smiling")
    assert (celeba.generator, celeba.attribute) == (PROGAN_HANDLE, "smiling")  # ProGAN's CelebA window
    _write_faces(tmp_path / "without", small_split.without)
    _write_faces(tmp_path / "with", small_split.with_)
    folders = attribute_data.folder_split(str(tmp_path / "without"), str(tmp_path / "with"))
    assert (folders.generator, folders.attribute) == (None, None)  # crops of unknown framing


def test_bad_input_is_one_line(tmp_path, one_line_error, small_split):
    _celeba(tmp_path / "celeba")
    err = one_line_error(attribute_inverter.main, ["train", "--celeba", str(tmp_path / "celeba"),
                                                   "--attribute", "Wearing_Hat"])
    assert "'Wearing_Hat' is not in the CelebA attribute list" in err and "Smiling" in err
    _celeba(tmp_path / "no_glasses", labels=((-1, 1), (-1, -1)))
    err = one_line_error(attribute_inverter.main, ["train", "--celeba", str(tmp_path / "no_glasses")])
    assert "'with' empty" in err
    _write_faces(tmp_path / "with", small_split.with_)
    os.makedirs(tmp_path / "empty")
    err = one_line_error(attribute_inverter.main, ["train", "--data", "folders", "--without",
                                                   str(tmp_path / "empty"), "--with", str(tmp_path / "with")])
    assert "holds no images" in err
    _write_faces(tmp_path / "mixed", small_split.without[:2])
    _write_faces(tmp_path / "mixed_small", small_split.without[:1], size=100)
    os.replace(tmp_path / "mixed_small" / "000.png", tmp_path / "mixed" / "small.png")
    err = one_line_error(attribute_inverter.main, ["train", "--data", "folders", "--without",
                                                   str(tmp_path / "mixed"), "--with", str(tmp_path / "with")])
    assert "mix image sizes" in err and "100x100" in err and "128x128" in err
    err = one_line_error(attribute_inverter.main, ["apply", "--model", str(tmp_path), "--input", "x.png"])
    assert "no exported attribute inverter" in err
    err = one_line_error(attribute_inverter.main, ["train", "--data", "folders", "--without", str(tmp_path / "with"),
                                                   "--with", str(tmp_path / "with"), "--run", "few"])
    assert "only 4 faces without the attribute" in err and "at least 30" in err
    err = one_line_error(attribute_inverter.main, ["train", "--data", "folders", "--without", str(tmp_path / "with"),
                                                   "--with", str(tmp_path / "with"), "--keep", "best"])
    assert "--keep best needs --data synthetic" in err
    assert not os.path.exists("checkpoints/attribute_inverter/few") and not os.path.exists("results/attribute_inverter/few")


@pytest.mark.slow
def test_faces_of_another_size_than_the_inverter_are_refused(trained, tmp_path, one_line_error):
    """The tiny inverter edits 64x64 faces; --align never takes images as they are."""
    model = str(trained / "saved_model" / "attribute_inverter" / "tiny")
    err = one_line_error(attribute_inverter.main, ["apply", "--model", model, "--input", str(trained / "with"),
                                                   "--align", "never", "--out", str(tmp_path / "out")])
    assert "is 128x128, but the inverter" in err and "edits 64x64 faces" in err
    assert not os.path.exists(tmp_path / "out")
