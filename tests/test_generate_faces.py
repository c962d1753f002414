import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import generate_faces
from faceinv import config, files
from faceinv.data.face_sets import read_face_set
from faceinv.models.generators import sample_latents


def generate(out, *extra):
    generate_faces.main(["--generator", "synthetic", "--out", str(out), *extra])


def faces(folder):
    names = sorted(os.listdir(os.path.join(folder, "faces")))
    return names, np.stack([np.asarray(Image.open(os.path.join(folder, "faces", n))) for n in names])


def test_writes_the_documented_layout(tmp_path, synthetic):
    generate(tmp_path / "set", "--n", "6", "--batch-size", "4", "--seed", "3")
    folder = tmp_path / "set"
    names, images = faces(folder)
    assert names == [f"{i:06d}.png" for i in range(6)]
    latents = np.load(folder / "latents.npy")
    np.testing.assert_array_equal(latents, sample_latents(6, 3, 512))
    np.testing.assert_array_equal(images, files.to_uint8(synthetic(latents).numpy()))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["complete"] and meta["standin"] and meta["count"] == 6 and meta["seed"] == 3
    assert "STAND-IN" in Image.open(folder / "faces" / "000000.png").text["generator"]
    grid = Image.open(folder / "grid.png")
    assert "STAND-IN" in grid.text["generator"] and grid.size[0] == 6 * 128
    loaded, loaded_latents, loaded_meta = read_face_set(folder)
    assert loaded.shape == (6, 128, 128, 3) and loaded_meta["seed"] == 3
    np.testing.assert_array_equal(loaded_latents, latents)


def test_default_folder_and_test_set_preset(tmp_path, monkeypatch):
    monkeypatch.setattr(generate_faces, "PATH_Z_VECTORS", str(tmp_path / "zv"))
    args = generate_faces.resolve(config.parse(generate_faces.Config, ["--generator", "synthetic"]))
    assert (args.n, args.seed) == (50, 0)
    assert args.out == os.path.join(str(tmp_path / "zv"), "synthetic", "test")
    args = generate_faces.resolve(config.parse(generate_faces.Config, ["--set", "train"]))
    assert (args.n, args.seed) == (100_000, 1) and args.out.endswith(os.path.join("progan-128", "train"))


def test_face_i_is_the_same_whatever_the_batch_size(tmp_path):
    for batch in (1, 3, 7):
        generate(tmp_path / f"b{batch}", "--n", "7", "--batch-size", str(batch))
    _, reference = faces(tmp_path / "b7")
    for batch in (1, 3):
        np.testing.assert_array_equal(faces(tmp_path / f"b{batch}")[1], reference)


def test_resumes_after_a_crash_without_redoing_finished_faces(tmp_path, monkeypatch):
    generate(tmp_path / "clean", "--n", "10", "--batch-size", "4")
    real = generate_faces.load_generator("synthetic")

    class Crashing:
        """The synthetic generator, killed on its second batch."""
        def __init__(self):
            self.calls = 0
            self.handle, self.label, self.is_standin = real.handle, real.label, real.is_standin
            self.latent_dim, self.resolution = real.latent_dim, real.resolution

        def __call__(self, z):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("killed")
            return real(z)

    monkeypatch.setattr(generate_faces, "load_generator", lambda handle: Crashing())
    with pytest.raises(RuntimeError):
        generate(tmp_path / "resumed", "--n", "10", "--batch-size", "4")
    folder = tmp_path / "resumed"
    assert sorted(os.listdir(folder / "faces")) == [f"{i:06d}.png" for i in range(4)]
    assert not json.loads((folder / "meta.json").read_text())["complete"]

    # A second kill left a temporary file and lost face 2; finished faces stay untouched.
    (folder / "faces" / "000005.png.tmp123-4").write_bytes(b"half a png")
    os.remove(folder / "faces" / "000002.png")
    before = {n: os.stat(folder / "faces" / n).st_mtime_ns for n in ("000000.png", "000003.png")}
    monkeypatch.setattr(generate_faces, "load_generator", lambda handle: real)
    generate(folder, "--n", "10", "--batch-size", "4")
    names, images = faces(folder)
    assert names == [f"{i:06d}.png" for i in range(10)]
    np.testing.assert_array_equal(images, faces(tmp_path / "clean")[1])
    assert {n: os.stat(folder / "faces" / n).st_mtime_ns for n in before} == before
    assert json.loads((folder / "meta.json").read_text())["complete"]


def test_refuses_to_mix_another_seed_or_generator(tmp_path, one_line_error, tiny_module):
    out = str(tmp_path / "set")
    generate(out, "--n", "3")
    assert "seed" in one_line_error(
        generate_faces.main, ["--generator", "synthetic", "--out", out, "--n", "3", "--seed", "9"])
    assert "generator" in one_line_error(
        generate_faces.main, ["--generator", tiny_module, "--out", out, "--n", "3"])
    assert "count" in one_line_error(
        generate_faces.main, ["--generator", "synthetic", "--out", out, "--n", "4"])


def test_bad_input_gives_one_line_and_no_output(tmp_path, one_line_error):
    out = tmp_path / "out"
    assert "positive" in one_line_error(
        generate_faces.main, ["--generator", "synthetic", "--out", str(out), "--n", "0"])
    assert "neither a URL" in one_line_error(
        generate_faces.main, ["--generator", "gan.pkl", "--out", str(out), "--n", "2"])
    assert "no saved_model.pb" in one_line_error(
        generate_faces.main, ["--generator", str(tmp_path), "--out", str(out)])
    assert not out.exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert "cannot write" in one_line_error(
        generate_faces.main, ["--generator", "synthetic", "--out", str(blocker / "x"), "--n", "2"])
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    np.save(wrong / "latents.npy", np.zeros((2, 10), np.float32))
    assert "shape" in one_line_error(
        generate_faces.main, ["--generator", "synthetic", "--out", str(wrong), "--n", "2"])
    assert sorted(os.listdir(wrong)) == ["latents.npy"]


def tree(folder):
    """Every file under `folder` with its modification time: what a refused command must leave alone."""
    return {os.path.join(d, n): os.stat(os.path.join(d, n)).st_mtime_ns
            for d, _, names in os.walk(folder) for n in names}


def test_shards_merge_into_the_set_an_unsharded_run_draws(tmp_path):
    generate(tmp_path / "whole", "--n", "10", "--batch-size", "3")
    split = tmp_path / "split"
    for i in range(3):
        generate(split, "--n", "10", "--batch-size", "3", "--shard", f"{i}/3")
    # 4 batches of 3 over 3 shards: whole batches, faces under their global names
    assert [sorted(os.listdir(split / "shards" / f"{i}-of-3" / "faces")) for i in range(3)] == [
        [f"{k:06d}.png" for k in ks] for ks in (range(0, 3), range(3, 6), range(6, 10))]
    assert not (split / "latents.npy").exists()
    generate(split, "--n", "10", "--batch-size", "3", "--merge")
    names, images = faces(split)
    assert names == [f"{i:06d}.png" for i in range(10)]
    np.testing.assert_array_equal(images, faces(tmp_path / "whole")[1])
    np.testing.assert_array_equal(np.load(split / "latents.npy"), np.load(tmp_path / "whole" / "latents.npy"))
    assert json.loads((split / "meta.json").read_text())["complete"]
    assert sorted(os.listdir(split)) == ["config.json", "faces", "grid.png", "latents.npy", "meta.json"]


def test_shard_and_merge_bad_input_is_one_line_and_changes_nothing(tmp_path, one_line_error, tiny_module):
    def run(folder, *extra):
        return one_line_error(generate_faces.main, ["--generator", "synthetic", "--out", str(folder),
                                                    "--n", "8", "--batch-size", "2", *extra])

    out = tmp_path / "split"
    assert "0..1" in run(out, "--shard", "3/2")
    assert "i/n" in run(out, "--shard", "x")
    assert "too few for 5 shards" in run(out, "--shard", "0/5")
    assert "not both" in run(out, "--shard", "0/2", "--merge")
    assert not out.exists()
    assert "holds no shards" in run(out, "--merge")
    for i in range(2):
        generate(out, "--n", "8", "--batch-size", "2", "--shard", f"{i}/2")
    before = tree(out)

    stray = tmp_path / "stray"
    generate(stray, "--n", "8", "--batch-size", "2", "--shard", "0/4")
    os.rename(stray / "shards" / "0-of-4", out / "shards" / "0-of-4")
    assert "overlap" in run(out, "--merge")
    os.rename(out / "shards" / "0-of-4", stray / "shards" / "0-of-4")

    os.rename(out / "shards" / "1-of-2", tmp_path / "kept")
    assert "faces 4..7 are in no shard" in run(out, "--merge")
    generate(stray, "--n", "8", "--batch-size", "2", "--shard", "1/2", "--seed", "9")
    os.rename(stray / "shards" / "1-of-2", out / "shards" / "1-of-2")
    assert "another job (seed=9, not 0)" in run(out, "--merge")
    shutil.rmtree(out / "shards" / "1-of-2")
    generate_faces.main(["--generator", tiny_module, "--out", str(stray / "tiny"), "--n", "8", "--batch-size", "2",
                         "--shard", "1/2"])
    os.rename(stray / "tiny" / "shards" / "1-of-2", out / "shards" / "1-of-2")
    assert "another job (generator=" in run(out, "--merge")
    shutil.rmtree(out / "shards" / "1-of-2")
    os.rename(tmp_path / "kept", out / "shards" / "1-of-2")
    assert tree(out) == before  # nothing written, moved or removed by the refusals
    generate(out, "--n", "8", "--batch-size", "2", "--merge")
    assert len(os.listdir(out / "faces")) == 8 and not (out / "shards").exists()
