import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import resnet
import resnet_test
from faceinv.data.face_sets import write_face_set
from faceinv.errors import InputError, TrainingDiverged
from faceinv.files import save_png
from faceinv.inversion import losses
from faceinv.inversion.encoder_training import EncoderTrainer, TrainConfig, head_units
from faceinv.models.encoder import LoadedEncoder, build_encoder, export_encoder, write_encoder_weights
from faceinv.models.generators import DCGAN, load_generator
from faceinv.training import local_worker_configs


@pytest.fixture(scope="module")
def face_set(tmp_path_factory, synthetic):
    folder = str(tmp_path_factory.mktemp("sets") / "train")
    write_face_set(folder, synthetic, 8, seed=4, batch_size=8)
    return folder


@pytest.fixture(scope="module")
def dcgan_face_set(tmp_path_factory):
    """Faces of the trained DCGAN (64x64): the pixel loss differentiates through the
    generator, and XLA compiles the DCGAN's convolutions in seconds where the
    synthetic renderer's gradient takes over a minute."""
    folder = str(tmp_path_factory.mktemp("sets") / "dcgan")
    write_face_set(folder, load_generator(DCGAN), 8, seed=4, batch_size=8)
    return folder


def config_for(tmp_path, face_set, **changes):
    base = TrainConfig(generator="synthetic", train_faces=face_set, epochs=2, batch_size=4,
                       input_size=32, perceptual_weight=0.0, real_perceptual_weight=0.0,
                       learning_rate=1e-3,
                       log_dir=str(tmp_path / "logs"), checkpoint_dir=str(tmp_path / "ckpt"),
                       export_dir=str(tmp_path / "encoder"))
    return dataclasses.replace(base, **changes)


def test_encoder_maps_any_face_size_to_a_latent():
    encoder = build_encoder(32, 512)
    assert encoder(np.zeros((2, 128, 128, 3), np.float32)).shape == (2, 512)
    assert encoder(np.zeros((1, 90, 70, 3), np.float32)).shape == (1, 512)
    assert any(layer.name == "head_2048" for layer in encoder.layers)


def test_losses_on_hand_made_tensors():
    assert float(losses.z_loss([[0.0, 2.0]], [[1.0, 0.0]])) == pytest.approx(1.5)
    a, b = tf.zeros((1, 2, 2, 3)), tf.fill((1, 2, 2, 3), 0.25)
    assert float(losses.pixel_loss(a, b)) == pytest.approx(0.25)
    features_a = [tf.zeros((1, 2)), tf.zeros((1, 4))]
    features_b = [tf.fill((1, 2), 1.0), tf.fill((1, 4), 3.0)]
    assert float(losses.perceptual_loss(features_a, features_b)) == pytest.approx((1.0 + 9.0) / 2)
    e = tf.math.l2_normalize(tf.constant([[1.0, 0.0], [1.0, 1.0]]), axis=1)
    f = tf.math.l2_normalize(tf.constant([[-1.0, 0.0], [1.0, 1.0]]), axis=1)
    assert float(losses.embedding_distance(e, f)) == pytest.approx(1.0)  # (2 + 0) / 2


@pytest.mark.slow
def test_loss_falls_on_a_fixed_tiny_batch(tmp_path, face_set):
    trainer = EncoderTrainer(config_for(tmp_path, face_set, epochs=12, batch_size=8))
    history = trainer.fit()
    assert history[-1]["z_loss"] < 0.8 * history[0]["z_loss"]


@pytest.mark.slow
def test_pixel_loss_trains_through_the_generator(tmp_path, dcgan_face_set):
    trainer = EncoderTrainer(config_for(tmp_path, dcgan_face_set, epochs=1, z_weight=0.0, pixel_weight=1.0,
                                        generator=DCGAN))
    before = [w.numpy().copy() for w in trainer.encoder.trainable_weights]
    record = trainer.fit()[0]
    assert "pixel_loss" in record and "z_loss" not in record
    after = trainer.encoder.trainable_weights
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))


@pytest.mark.slow
def test_resume_continues_after_the_last_finished_epoch(tmp_path, face_set):
    straight = EncoderTrainer(config_for(tmp_path / "a", face_set, epochs=3))
    straight_history = straight.fit()
    first = EncoderTrainer(config_for(tmp_path / "b", face_set, epochs=1))
    first.fit()
    resumed = EncoderTrainer(config_for(tmp_path / "b", face_set, epochs=3))
    history = resumed.fit()
    assert [h["epoch"] for h in history] == [2, 3]
    faces = np.random.default_rng(0).random((2, 128, 128, 3)).astype(np.float32)
    np.testing.assert_allclose(resumed.encoder(faces).numpy(), straight.encoder(faces).numpy(),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(history[-1]["z_loss"], straight_history[-1]["z_loss"], rtol=1e-4)
    with pytest.raises(InputError, match="other settings"):
        EncoderTrainer(config_for(tmp_path / "b", face_set, epochs=3, input_size=48))

    # Another run can start from b's encoder (not its optimiser), with another loss.
    refined = EncoderTrainer(config_for(tmp_path / "c", face_set, pixel_weight=1.0,
                                        init_from=str(tmp_path / "b" / "ckpt")))
    np.testing.assert_array_equal(refined.encoder(faces).numpy(), resumed.encoder(faces).numpy())
    assert int(refined.optimizer.iterations) == 0
    with pytest.raises(InputError, match="holds no checkpoint"):
        EncoderTrainer(config_for(tmp_path / "d", face_set, init_from=str(tmp_path / "nowhere")))

    # ... or from an encoder weights file (the shipped format), but only one for its generator.
    base = config_for(tmp_path, face_set)
    settings = {"input_size": 32, "latent_dim": resumed.generator.latent_dim, "width": base.width,
                "head": list(head_units(base.head))}
    write_encoder_weights(resumed.encoder, {**settings, "generator": "synthetic"}, str(tmp_path / "b.npz"))
    from_file = EncoderTrainer(config_for(tmp_path / "e", face_set, init_from=str(tmp_path / "b.npz")))
    np.testing.assert_array_equal(from_file.encoder(faces).numpy(), resumed.encoder(faces).numpy())
    write_encoder_weights(resumed.encoder, {**settings, "generator": "dcgan-digiface"}, str(tmp_path / "o.npz"))
    with pytest.raises(InputError, match="was trained for generator dcgan-digiface"):
        EncoderTrainer(config_for(tmp_path / "f", face_set, init_from=str(tmp_path / "o.npz")))


@pytest.mark.slow
def test_export_and_reload_give_identical_predictions(tmp_path):
    encoder = build_encoder(32, 512)
    export_encoder(encoder, str(tmp_path / "enc"), {"generator": "synthetic"})
    loaded = LoadedEncoder(str(tmp_path / "enc"))
    faces = np.random.default_rng(2).random((3, 128, 128, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(faces), encoder(faces, training=False).numpy())
    assert loaded.meta["generator"] == "synthetic"
    assert not os.path.exists(str(tmp_path / "enc") + ".partial")


@pytest.mark.slow
def test_a_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, dcgan_face_set):
    dcgan = load_generator(DCGAN)

    class PoisonedAfterOneEpoch:
        """The DCGAN, returning NaN from its third call (epoch 2, step 1)."""
        handle, label, is_standin = dcgan.handle, dcgan.label, False
        latent_dim, resolution = dcgan.latent_dim, dcgan.resolution
        calls = tf.Variable(0)  # counted in the graph: the step is traced once

        def __call__(self, z):
            images = dcgan(z)
            poisoned = self.calls.assign_add(1) > 2
            return tf.where(poisoned, tf.fill(tf.shape(images), np.nan), images)

    config = config_for(tmp_path, dcgan_face_set, epochs=3, pixel_weight=1.0, generator=DCGAN)
    trainer = EncoderTrainer(config, generator=PoisonedAfterOneEpoch())
    with pytest.raises(TrainingDiverged, match="epoch 2, step 1"):
        trainer.fit()
    assert trainer.manager.latest_checkpoint.endswith("ckpt-1")
    resumed = EncoderTrainer(config)  # a healthy generator resumes from epoch 1
    assert int(resumed.epoch.numpy()) == 1


@pytest.mark.slow
def test_real_faces_alternate_with_generated_ones(tmp_path, dcgan_face_set):
    real = tmp_path / "real"
    real.mkdir()
    dcgan = load_generator(DCGAN)
    latents = np.random.default_rng(9).standard_normal((4, dcgan.latent_dim)).astype(np.float32)
    for i, image in enumerate(dcgan(latents)):
        save_png(str(real / f"{i}.png"), np.asarray(image))
    trainer = EncoderTrainer(config_for(tmp_path, dcgan_face_set, epochs=3, real_faces=str(real), generator=DCGAN))
    history = trainer.fit()
    assert [h["phase"] for h in history] == ["generated", "real", "generated"]
    assert "z_loss" not in history[1] and "pixel_loss" in history[1]


def test_bad_training_input_gives_one_line(tmp_path, one_line_error, synthetic, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --run bad: ./checkpoints/bad, ./logs/bad
    folder = tmp_path / "set"
    write_face_set(str(folder), synthetic, 4, seed=1, batch_size=4)
    base = ["--generator", "synthetic", "--train", str(folder), "--run", "bad",
            "--perceptual-weight", "0", "--batch-size", "2", "--input-size", "32"]
    (folder / "faces" / "000003.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is no png")
    assert "corrupt" in one_line_error(resnet.main, base)
    os.remove(folder / "faces" / "000003.png")
    assert "3 faces but" in one_line_error(resnet.main, base)
    np.save(folder / "latents.npy", np.zeros((3, 100), np.float32))
    assert "shape" in one_line_error(resnet.main, base)
    assert "not found" in one_line_error(resnet.main, ["--generator", "synthetic", "--online",
                                                          "--facenet", str(tmp_path / "none.h5")])


@pytest.mark.slow
def test_resnet_test_end_to_end(tmp_path, synthetic):
    faces = tmp_path / "test"
    write_face_set(str(faces), synthetic, 4, seed=0, batch_size=4)
    encoder = build_encoder(32, 512)
    export_encoder(encoder, str(tmp_path / "enc"), {"generator": "synthetic", "facenet_standin": False})
    out = tmp_path / "results"
    resnet_test.main(["--encoder", str(tmp_path / "enc"), "--faces", str(faces), "--out", str(out),
                      "--batch-size", "3", "--interpolate", "5"])
    record = __import__("json").loads((out / "metrics.json").read_text())
    assert record["count"] == 4 and len(record["psnr"]) == 4 and record["seconds"] > 0
    assert "latent_mae" in record and "STAND-IN" in record["label"]
    latents = np.load(out / "latents.npy")
    expected = encoder(np.stack([np.asarray(__import__("PIL.Image").Image.open(faces / "faces" / f"{i:06d}.png"))
                                 for i in range(4)]).astype(np.float32) / 255.0, training=False).numpy()
    np.testing.assert_allclose(latents, expected, atol=1e-4)
    assert sorted(os.listdir(out / "reconstructions")) == [f"{i:06d}.png" for i in range(4)]
    for name in ("grid.png", "interpolation.png", "interpolation.gif"):
        assert (out / name).exists()


def test_slerp_keeps_to_the_latent_shell():
    from faceinv.inversion.interpolation import slerp
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(512), rng.standard_normal(512)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-5)
    middle = slerp(a, b, 0.5)
    linear = 0.5 * (a + b)
    assert np.linalg.norm(middle) > 1.3 * np.linalg.norm(linear)  # the straight line sags inward
    assert abs(np.linalg.norm(middle) - 0.5 * (np.linalg.norm(a) + np.linalg.norm(b))) < 1e-3


def test_resnet_test_needs_an_encoder(tmp_path, one_line_error, synthetic):
    faces = tmp_path / "test"
    write_face_set(str(faces), synthetic, 2, seed=0, batch_size=2)
    assert "no exported encoder" in one_line_error(
        resnet_test.main, ["--encoder", str(tmp_path / "none"), "--faces", str(faces)])


@pytest.mark.slow
def test_mixed_precision_computes_in_float16_and_exports(tmp_path, face_set):
    trainer = EncoderTrainer(config_for(tmp_path, face_set, epochs=1, mixed_precision=True))
    conv = next(layer for layer in trainer.encoder.layers if layer.name == "stem_conv")
    assert conv.compute_dtype == "float16" and trainer.encoder.layers[-1].dtype == "float32"
    assert np.isfinite(trainer.fit()[0]["loss"])
    trainer.export()
    faces = np.zeros((1, 128, 128, 3), np.float32)
    assert LoadedEncoder(trainer.config.export_dir)(faces).dtype == np.float32
    assert keras_policy() == "float32"  # later models are built in float32 again


def keras_policy():
    import keras
    return keras.mixed_precision.global_policy().name


def test_the_fast_convolution_has_keras_gradients():
    from faceinv.models.resnet18 import Conv2D
    x = tf.random.stateless_normal([4, 5, 5, 16], [1, 2])
    stock = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)
    fast = Conv2D(32, 3, padding="same", use_bias=False)
    stock.build(x.shape), fast.build(x.shape)
    fast.kernel.assign(stock.kernel + tf.random.stateless_normal(stock.kernel.shape, [3, 4]) * 0.1)
    stock.kernel.assign(fast.kernel)  # an asymmetric kernel: a missing flip would show
    gradients = []
    for layer in (stock, fast):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.sin(y))
        gradients.append([np.asarray(g) for g in tape.gradient(loss, [x, layer.kernel])])
    for ours, theirs in zip(gradients[1], gradients[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_two_workers_train_the_encoder_one_worker_trains(tmp_path, face_set):
    """Two local worker processes (TF_CONFIG, MultiWorkerMirroredStrategy, 2 faces
    each per step) train the encoder one worker trains on the same 4-face global
    batches: the same losses, and the same weights up to float noise. Adam divides
    each gradient entry by its own size, so rounding in near-zero entries grows
    step by step: the weights are compared relative to how far training moved them."""
    import re
    import subprocess
    import sys
    c = config_for(tmp_path / "two", face_set, epochs=1)
    tf_configs = local_worker_configs(2)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = [sys.executable, os.path.join(root, "resnet.py"), "--generator", "synthetic", "--train", face_set,
            "--epochs", str(c.epochs), "--batch-size", str(c.batch_size), "--input-size", str(c.input_size),
            "--lr", str(c.learning_rate), "--perceptual-weight", "0", "--checkpoint-dir", c.checkpoint_dir,
            "--log-dir", c.log_dir, "--export-dir", c.export_dir]
    workers = [subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, TF_CONFIG=tf_config))
               for tf_config in tf_configs]
    one = EncoderTrainer(config_for(tmp_path / "one", face_set, epochs=1))  # meanwhile, one worker
    initial = build_encoder(c.input_size, 512)
    initial.set_weights(one.encoder.get_weights())
    record = one.fit()[0]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]

    # Each worker prints the epoch's mean loss over the global batches. Had each replica
    # normalised by its own 2 faces, it would differ in the third decimal (0.8597 against
    # 0.8688 for 4 random faces, checked by hand).
    for output in outputs:
        assert f"z_loss {record['z_loss']:.4f}" in re.sub(r"\x1b\[[0-9;]*m", "", output)
    two = build_encoder(c.input_size, 512)
    tf.train.Checkpoint(encoder=two).restore(tf.train.latest_checkpoint(c.checkpoint_dir)).expect_partial()
    faces = np.random.default_rng(0).random((4, 128, 128, 3)).astype(np.float32)
    start, trained, distributed = (model(faces, training=False).numpy() for model in (initial, one.encoder, two))
    # measured: 1.2% of what training changed
    assert np.linalg.norm(distributed - trained) < 0.05 * np.linalg.norm(trained - start)
    assert os.path.exists(os.path.join(c.export_dir, "saved_model.pb"))  # the chief exported it
    assert sorted(os.listdir(c.checkpoint_dir)) == sorted(os.listdir(one.config.checkpoint_dir))
