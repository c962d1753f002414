import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import latent_gradient
from PIL import Image

import gradient_based_recovery
from faceinv import files
from faceinv.data.face_sets import write_face_set
from faceinv.errors import InputError
from faceinv.inversion import similarity
from faceinv.inversion.gradient_recovery import (
    ImageLoss,
    LatentAdam,
    parse_loss_weights,
    recover_latents,
    stochastic_clip,
)
from faceinv.models.encoder import build_encoder, export_encoder
from faceinv.models.generators import sample_latents
from faceinv.report import metrics


@pytest.fixture(scope="module")
def faces(tmp_path_factory, synthetic):
    folder = str(tmp_path_factory.mktemp("sets") / "test")
    write_face_set(folder, synthetic, 4, seed=0, batch_size=4)
    return folder


@pytest.fixture(scope="module")
def targets(synthetic):
    return np.asarray(synthetic(sample_latents(4, 0, 512)))


def test_loss_specs():
    assert parse_loss_weights("mae") == {"mae": 1.0}
    assert parse_loss_weights("MAE=1, ms-ssim=0.5,mse=0") == {"mae": 1.0, "ms-ssim": 0.5}
    for bad in ("l3", "mae=-1", "mae=x", "mae=0", "", "mae=nan"):
        with pytest.raises(InputError):
            parse_loss_weights(bad)


@pytest.mark.parametrize("size, scales", [(128, 4), (64, 3)])
def test_ssim_and_ms_ssim_agree_with_tensorflow(size, scales):
    rng = np.random.default_rng(0)
    a = rng.random((2, size, size, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    np.testing.assert_allclose(similarity.ssim(a, b), tf.image.ssim(a, b, 1.0), atol=1e-5)
    assert similarity.ms_ssim_scales(size) == scales  # the coarsest scale still holds an 11-px window
    weights = np.asarray(similarity.MS_SSIM_WEIGHTS[:scales]) / np.sum(similarity.MS_SSIM_WEIGHTS[:scales])
    np.testing.assert_allclose(similarity.ms_ssim(a, b),
                               tf.image.ssim_multiscale(a, b, 1.0, power_factors=weights), atol=1e-5)


@pytest.mark.slow
def test_every_loss_is_zero_on_the_target_and_has_finite_gradients_from_far_away(targets):
    from faceinv.models.facenet import load_facenet
    facenet = load_facenet("random")
    far = tf.Variable(np.random.default_rng(1).random(targets.shape, np.float32))
    for name in ("mae", "mse", "ssim", "ms-ssim", "facenet"):
        loss = ImageLoss({name: 1.0}, facenet)
        features = loss.target_features(targets)
        same, _ = loss(targets, features, targets)
        np.testing.assert_allclose(same, 0.0, atol=1e-5, err_msg=name)
        with tf.GradientTape() as tape:
            total, _ = loss(targets, features, far)
            objective = tf.reduce_sum(total)
        gradient = tape.gradient(objective, far).numpy()
        assert total.shape == (4,) and np.all(total.numpy() > 0), name
        assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0, name


def test_latent_adam_matches_keras_adam():
    start = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    mine, theirs = tf.Variable(start), tf.Variable(start)
    adam = LatentAdam(mine, 0.01)
    reference = keras.optimizers.Adam(0.01, epsilon=1e-8)
    for step in range(5):
        gradient = tf.constant(np.random.default_rng(step + 1).normal(size=(3, 5)).astype(np.float32))
        adam.apply(mine, gradient)
        reference.apply_gradients([(gradient, theirs)])
    np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-6)
    adam.reset()
    assert float(adam.t) == 0 and not adam.m.numpy().any()


def test_stochastic_clip_redraws_only_entries_outside_the_bound():
    values = np.array([[-3.0, 0.5, 2.0, -0.2, 1.0, -1.5]], np.float32)
    latents = tf.Variable(values)
    stochastic_clip(latents, 1.0, tf.random.Generator.from_seed(0).uniform(values.shape, -1.0, 1.0))
    out = latents.numpy()
    inside = np.abs(values) <= 1.0
    np.testing.assert_array_equal(out[inside], values[inside])
    assert np.all(np.abs(out) <= 1.0) and np.all(out[~inside] != values[~inside])


def small_generator(latents):
    """A differentiable 512-d to 8x8 stand-in for tests of the optimiser, not of the faces:
    tracing it costs nothing, where each new recovery traces the synthetic renderer's gradient anew."""
    weights = tf.constant(0.05 * np.random.default_rng(0).standard_normal((512, 8 * 8 * 3)).astype(np.float32))
    return tf.sigmoid(tf.reshape(tf.matmul(latents, weights), [-1, 8, 8, 3]))


def test_stochastic_clipping_acts_on_the_optimised_latents():
    start = sample_latents(2, 7, 512)
    loss = ImageLoss({"mae": 1.0})
    targets = small_generator(sample_latents(2, 0, 512)).numpy()
    plain = recover_latents(small_generator, targets, start, loss, 4)
    clipped = recover_latents(small_generator, targets, start, loss, 4, clip_bound=1.0)
    assert np.abs(plain.latents).max() > 1.5  # N(0, 1) entries beyond the bound survive plain Adam
    assert np.abs(clipped.latents).max() <= 1.0
    assert np.abs(plain.latents - clipped.latents).max() > 0.5
    assert plain.curves["loss"][1] != clipped.curves["loss"][1]  # the trajectory changed after step 1


@pytest.mark.slow
def test_loss_falls_and_each_face_follows_its_own_loss(synthetic, targets):
    start = sample_latents(4, 3, 512)
    loss = ImageLoss({"mae": 1.0})
    together = recover_latents(synthetic, targets, start, loss, 6)
    assert len(together.curves["loss"]) == 7 and together.evaluations_per_face == 7
    assert together.curves["loss"][-1] < 0.8 * together.curves["loss"][0]
    # batches of 3 (the second padded with copies of its last face) give each face the same path
    split = recover_latents(synthetic, targets, start, loss, 6, batch_size=3)
    np.testing.assert_allclose(split.latents, together.latents, atol=1e-4)
    np.testing.assert_allclose(split.curves["loss"], together.curves["loss"], rtol=1e-4)
    np.testing.assert_allclose(together.final_loss.mean(), together.curves["loss"][-1], rtol=1e-5)
    rendered = np.asarray(synthetic(together.latents))
    np.testing.assert_allclose(together.images, rendered, atol=1e-5)


@pytest.mark.slow
def test_the_renderers_gradients_are_finite_and_nonzero(synthetic):
    """The synthetic renderer's gradient with respect to the latent. It sits in this file,
    after a recovery, so that XLA compiles the renderer's gradient once per test process."""
    grad = latent_gradient(synthetic, sample_latents(2, 0, 512))
    assert np.isfinite(grad).all()
    assert (np.abs(grad) > 0).mean() > 0.9


@pytest.mark.slow
def test_the_script_writes_results_and_loss_curves(faces, tmp_path):
    out = tmp_path / "adam"
    gradient_based_recovery.main(["--faces", faces, "--steps", "3", "--out", str(out)])
    record = files.load_json(out / "metrics.json")
    assert record["generator_evaluations_per_face"] == 4 and record["start"] == "standard normal"
    assert record["steps"] == 3 and "STAND-IN" in record["label"]
    assert files.load_json(out / "config.json")["steps"] == 3  # the settings it ran with
    with open(out / "losses.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "loss", "mae"] and len(rows) == 5
    assert float(rows[-1][1]) == pytest.approx(record["final_loss"], rel=1e-5)
    plot = Image.open(out / "losses.png")
    assert plot.size[0] > 300 and "STAND-IN" in plot.text["generator"]
    # the recorded PSNR is that of the saved 8-bit faces
    saved, _ = files.read_face_folder(str(out / "reconstructions"))
    targets, _ = files.read_face_folder(os.path.join(faces, "faces"))
    np.testing.assert_allclose(record["psnr"], metrics.psnr(targets, saved), rtol=1e-6)
    assert np.load(out / "latents.npy").shape == (4, 512)


@pytest.mark.slow
def test_encoder_init_starts_from_the_encoder(faces, tmp_path):
    folder = str(tmp_path / "encoder")
    export_encoder(build_encoder(32, 512), folder, {"generator": "synthetic"})
    out = tmp_path / "hybrid"
    gradient_based_recovery.main(["--method", "encoder-init", "--encoder", folder, "--faces", faces,
                                  "--steps", "0", "--out", str(out)])
    record = files.load_json(out / "metrics.json")
    assert record["start"] == "encoder" and record["generator_evaluations_per_face"] == 1
    from faceinv.models.encoder import LoadedEncoder
    targets, _ = files.read_face_folder(os.path.join(faces, "faces"))
    np.testing.assert_allclose(np.load(out / "latents.npy"), LoadedEncoder(folder)(targets), atol=1e-5)


def test_bad_input_gives_one_line(tmp_path, one_line_error, faces):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("RGB", (128, 128)).save(mixed / "a.png")
    Image.new("RGB", (64, 64)).save(mixed / "b.png")
    assert "mixes image sizes" in one_line_error(
        gradient_based_recovery.main, ["--faces", str(mixed), "--generator", "synthetic"])
    (tmp_path / "empty").mkdir()
    assert "holds no images" in one_line_error(
        gradient_based_recovery.main, ["--faces", str(tmp_path / "empty"), "--generator", "synthetic"])
    assert "no exported encoder" in one_line_error(
        gradient_based_recovery.main,
        ["--method", "encoder-init", "--encoder", str(tmp_path / "nope"), "--faces", faces])
    assert "unknown loss" in one_line_error(gradient_based_recovery.main, ["--faces", faces, "--loss", "l7"])
    assert not os.path.exists(tmp_path / "results")


SPLIT_OVER_TWO_DEVICES = """
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from faceinv.inversion.gradient_recovery import ImageLoss, recover_latents
rng = np.random.default_rng(0)
weights = tf.constant(0.3 * rng.standard_normal((16, 8 * 8 * 3)).astype(np.float32))
def generator(z):  # a small differentiable stand-in: what is compared is the split, not the faces
    return tf.sigmoid(tf.reshape(tf.matmul(z, weights), [-1, 8, 8, 3]))
targets = generator(rng.standard_normal((5, 16)).astype(np.float32)).numpy()
start = 1.5 * rng.standard_normal((5, 16)).astype(np.float32)
results = {}
for name, devices in (("one", ["/CPU:0"]), ("two", ["/CPU:0", "/CPU:1"])):
    r = recover_latents(generator, targets, start, ImageLoss({"mae": 1.0}), 20, 0.05, clip_bound=1.0,
                        batch_size=4, devices=devices)
    results.update({name + "_latents": r.latents, name + "_loss": r.final_loss, name + "_curve": r.curves["loss"]})
np.savez(sys.argv[1], start=start, **results)
"""


@pytest.mark.slow
def test_a_batch_split_over_two_devices_gives_each_face_its_one_device_result(tmp_path):
    """Two logical CPUs stand in for two GPUs: 5 faces in batches of 4 (the second
    padded), each batch's rows split 2 + 2, Adam and stochastic clipping (whose
    draws each face must see unchanged)."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", SPLIT_OVER_TWO_DEVICES, str(tmp_path / "out.npz")], cwd=root, check=True,
                   env=dict(os.environ, PYTHONPATH=root))
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["two_latents"], out["one_latents"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["two_loss"], out["one_loss"], rtol=1e-6)
    np.testing.assert_allclose(out["two_curve"], out["one_curve"], rtol=1e-6)
    assert np.abs(out["one_latents"] - out["start"]).max() > 0.5 and np.abs(out["one_latents"]).max() <= 1.0
