"""The encoder the repository ships (weights/): its file, its card, the one rule that picks it,
and the weights files a user writes or names."""
import os
import pickle
import re
import shutil
import zipfile

import numpy as np
import pytest
import tensorflow as tf

import demo
import gradient_based_recovery
import invert_photo
import resnet_test
import ship_encoder
from faceinv import config
from faceinv.errors import InputError
from faceinv.inversion import encoder_choice
from faceinv.inversion.encoder_choice import SHIPPED, choose_encoder, hybrid_settings, load_chosen
from faceinv.models import weights_file
from faceinv.models.encoder import build_encoder, load_encoder, write_encoder_weights

HANDLE = "dcgan-digiface"
SHIPPED_ENCODER = SHIPPED[HANDLE]
CARD = os.path.splitext(SHIPPED_ENCODER.path)[0] + ".md"


def card_figures():
    """The per-face PSNR of the first test faces that the model card states."""
    with open(CARD) as f:
        line = next(line for line in f if "first four test faces" in line)
    return [float(x) for x in re.findall(r"\d+\.\d+", line.split(":", 1)[1])]


def tiny_weights(path, generator=HANDLE, latent_dim=100, **extra):
    model = build_encoder(16, latent_dim, head=(), width=4)
    write_encoder_weights(model, {"input_size": 16, "latent_dim": latent_dim, "width": 4, "head": [],
                                  "generator": generator, **extra}, str(path))
    return model


def test_the_shipped_file_matches_its_sha256_and_size_limit():
    assert weights_file.sha256(SHIPPED_ENCODER.path) == SHIPPED_ENCODER.sha256
    assert os.path.getsize(SHIPPED_ENCODER.path) <= 25 * 1000 * 1000
    encoder = load_chosen(SHIPPED_ENCODER.path)
    assert encoder.meta["generator"] == HANDLE and encoder.meta["latent_dim"] == 100
    steps, lr = hybrid_settings(SHIPPED_ENCODER.path)
    assert 0 < steps <= 99 and lr > 0  # the hybrid stays within 100 generator passes per face


@pytest.mark.slow
def test_the_shipped_encoder_reproduces_its_cards_psnr(tmp_path):
    from faceinv.data.face_sets import write_face_set
    from faceinv.models.generators import load_generator
    faces = tmp_path / "faces"
    write_face_set(str(faces), load_generator(HANDLE), 4, seed=0, batch_size=4)  # the test set's first faces
    record = resnet_test.test(resnet_test.Config(faces=str(faces), generator=HANDLE, out=str(tmp_path / "out")))
    assert record["encoder"] == SHIPPED_ENCODER.path
    np.testing.assert_allclose(record["psnr"], card_figures(), atol=0.02)


def test_every_script_picks_the_shipped_encoder_and_its_steps(tmp_path, capsys):
    photo = invert_photo.resolve(config.parse(invert_photo.Config, ["photo.png", "--generator", HANDLE]))
    page = demo.resolve(config.parse(demo.Config, ["--generator", HANDLE]))
    test = resnet_test.resolve(config.parse(resnet_test.Config, ["--generator", HANDLE]))
    hybrid = gradient_based_recovery.resolve(config.parse(
        gradient_based_recovery.Config, ["--generator", HANDLE, "--method", "encoder-init"]))
    assert {photo.encoder, page.encoder, test.encoder, hybrid.encoder} == {SHIPPED_ENCODER.path}
    assert (hybrid.steps, hybrid.learning_rate) == hybrid_settings(SHIPPED_ENCODER.path)
    assert invert_photo.with_encoder_steps(photo).steps == hybrid.steps
    assert capsys.readouterr().out.count(f"{SHIPPED_ENCODER.path} (shipped)") == 4
    named = tmp_path / "mine.npz"
    tiny_weights(named, hybrid={"steps": 7, "learning_rate": 0.3})
    assert choose_encoder(HANDLE, str(named)).path == str(named)  # a named encoder wins
    assert hybrid_settings(str(named)) == (7, 0.3)                 # with its own steps


def test_a_damaged_copy_is_refused_naming_the_file_and_its_rebuild(tmp_path, monkeypatch, one_line_error):
    weights = tmp_path / "weights"
    weights.mkdir()
    copy = weights / SHIPPED_ENCODER.file
    shutil.copy(SHIPPED_ENCODER.path, copy)
    with open(copy, "r+b") as f:
        f.seek(os.path.getsize(copy) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    monkeypatch.setattr(encoder_choice, "REPOSITORY", str(tmp_path))
    out = tmp_path / "out"
    error = one_line_error(invert_photo.main, ["photo.png", "--generator", HANDLE, "--out", str(out)])
    assert str(copy) in error and "damaged or altered" in error and "ship_encoder.py" in error
    assert not out.exists()


def test_weights_round_trip_in_both_dtypes(tmp_path):
    faces = np.random.default_rng(0).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    model = tiny_weights(tmp_path / "e32.npz")
    expected = model(faces, training=False).numpy()
    np.testing.assert_allclose(load_encoder(str(tmp_path / "e32.npz"))(faces), expected, atol=1e-6)
    write_encoder_weights(model, {"input_size": 16, "latent_dim": 100, "width": 4, "head": [],
                                  "generator": HANDLE}, str(tmp_path / "e16.npz"), np.float16)
    half = load_encoder(str(tmp_path / "e16.npz"))(faces)
    assert not np.array_equal(half, expected) and np.abs(half - expected).max() < 0.05 * np.abs(expected).max()
    assert os.path.getsize(tmp_path / "e16.npz") < 0.6 * os.path.getsize(tmp_path / "e32.npz")


def test_ship_encoder_writes_a_runs_last_checkpoint(tmp_path):
    import resnet
    run = tmp_path / "checkpoints"
    settings = resnet.Config(generator=HANDLE, online=True, input_size=16, width=4, head="8",
                             perceptual_weight=0.0, pixel_weight=1.0)
    config.write(str(run), settings)
    model = build_encoder(16, 100, head=(8,), width=4)
    tf.train.Checkpoint(encoder=model, epoch=tf.Variable(3, dtype=tf.int64)).save(str(run / "ckpt"))
    out = tmp_path / "shipped.npz"
    digest = ship_encoder.ship(config.parse(ship_encoder.Config, [
        "--checkpoints", str(run), "--out", str(out), "--hybrid-steps", "20", "--hybrid-lr", "0.2"]))
    assert digest == weights_file.sha256(out) and (tmp_path / "shipped.npz.sha256").read_text().startswith(digest)
    encoder = load_encoder(str(out))
    faces = np.random.default_rng(1).uniform(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(encoder(faces), model(faces, training=False).numpy(), atol=1e-6)
    assert encoder.meta["epochs"] == 3 and encoder.meta["hybrid"] == {"steps": 20, "learning_rate": 0.2}
    assert encoder.meta["trained_by"].startswith("python resnet.py --generator dcgan-digiface --online")
    assert "--head 8" in encoder.meta["trained_by"] and "--log-dir" not in encoder.meta["trained_by"]


def _bad_files(folder):
    """(file, what the error must say) for each kind of bad weights file."""
    other_generator = folder / "synthetic.npz"
    tiny_weights(other_generator, generator="synthetic", latent_dim=512)
    mislabelled = folder / "mislabelled.npz"
    tiny_weights(mislabelled, generator="synthetic")
    good = folder / "good.npz"
    tiny_weights(good)
    os.remove(str(good) + weights_file.SHA_SUFFIX)  # a user's copy without its checksum: the parser's checks
    truncated = folder / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: os.path.getsize(good) // 2])
    overclaiming = folder / "overclaiming.npz"
    with zipfile.ZipFile(overclaiming, "w") as archive:  # a .npy header that claims 1000 floats, holding 10
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1000, np.float32))
        with archive.open("stem_conv/kernel.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, header)
            member.write(np.zeros(10, np.float32).tobytes())
    pickled = folder / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"stem_conv/kernel": np.zeros(3)}))
    return [(other_generator, "predicts 512-d latents"), (mislabelled, "trained for generator synthetic"),
            (truncated, "truncated"), (overclaiming, "truncated"), (pickled, "pickle")]


def test_bad_weights_files_are_one_line_and_write_nothing(tmp_path, one_line_error):
    for path, message in _bad_files(tmp_path):
        out = tmp_path / f"out_{path.stem}"
        error = one_line_error(invert_photo.main, ["photo.png", "--generator", HANDLE, "--encoder", str(path),
                                                   "--out", str(out)])
        assert message in error and str(path) in error, error
        assert not out.exists()
    with pytest.raises(InputError, match="holds a single array"):
        np.save(tmp_path / "one.npy", np.zeros(3))
        os.replace(tmp_path / "one.npy", tmp_path / "one.npz")
        load_encoder(str(tmp_path / "one.npz"))


def test_a_weights_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="should end in .npz"):
        tiny_weights(tmp_path / "encoder.pkl")

    def killed(f, **arrays):
        f.write(b"PK half an archive")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        tiny_weights(tmp_path / "encoder.npz")
    assert os.listdir(tmp_path) == []
