"""prepare_real_faces.py on a tiny identity tree written from scikit-image's photos."""
import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

import prepare_real_faces
from faceinv import files
from faceinv.data import alignment
from faceinv.data.real_faces import select_folder, select_vggface2
from faceinv.errors import InputError
from faceinv.files import read_csv


def _variants():
    """The astronaut flipped, rotated and rescaled: one face each, framed differently."""
    photo = Image.fromarray(data.astronaut())
    return [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            photo.rotate(20, resample=Image.Resampling.BICUBIC),
            photo.rotate(-15, resample=Image.Resampling.BICUBIC),
            photo.resize((256, 256), Image.Resampling.LANCZOS),
            photo.resize((900, 900), Image.Resampling.LANCZOS)]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """identity_a: 4 faces; identity_b: 3 faces + a coffee cup + a corrupt JPEG;
    identity_c: 2 faces (too few for --min-images 3); identity_d: 3 faces + noise."""
    root = tmp_path_factory.mktemp("vggface2")
    faces = _variants()
    layout = {"identity_a": [0, 1, 2, 3], "identity_b": [4, 5, 1], "identity_c": [0, 2],
              "identity_d": [3, 5, 0]}
    for identity, picks in layout.items():
        os.makedirs(root / identity)
        for k, pick in enumerate(picks):
            faces[pick].save(root / identity / f"{k:04d}_01.jpg", quality=95)
    Image.fromarray(data.coffee()).save(root / "identity_b" / "0100_01.jpg")
    with open(root / "identity_b" / "0101_01.jpg", "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not a JPEG any more")
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "identity_d" / "0100_01.png")
    return root


def test_vggface2_selection_counts_and_seed(tree):
    selection = select_vggface2(str(tree), min_images=4, images_per_identity=3, identities=2, seed=0)
    identities = sorted({i for i, _ in selection})
    assert len(selection) == 6 and len(identities) == 2
    assert "identity_c" not in identities  # 2 photos < 4
    for identity in identities:
        sources = [s for i, s in selection if i == identity]
        assert len(set(sources)) == 3 and all(s.startswith(identity + "/") for s in sources)
        assert all(os.path.isfile(tree / s) for s in sources)
    assert selection == select_vggface2(str(tree), 4, 3, 2, seed=0)
    others = [select_vggface2(str(tree), 4, 3, 2, seed=s) for s in range(1, 6)]
    assert any(o != selection for o in others)
    everyone = select_vggface2(str(tree), min_images=2, images_per_identity=2, identities=4)
    assert len(everyone) == 8 and len({i for i, _ in everyone}) == 4


def test_vggface2_selection_refuses_too_few_identities(tree):
    with pytest.raises(InputError, match="has 1 identities with at least 5 photos"):
        select_vggface2(str(tree), min_images=5, images_per_identity=3, identities=2)
    with pytest.raises(InputError, match="at most --min-images"):
        select_vggface2(str(tree), min_images=3, images_per_identity=4, identities=1)


def test_ar_and_folder_layouts_take_every_photo(tmp_path):
    photo = Image.fromarray(data.astronaut()).resize((64, 64))
    for name in ("m-001-01.bmp", "m-001-02.bmp", "w-012-01.bmp"):
        photo.save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a photo")
    selection = select_folder(str(tmp_path), "ar")
    assert selection == [("m-001", "m-001-01.bmp"), ("m-001", "m-001-02.bmp"), ("w-012", "w-012-01.bmp")]
    os.makedirs(tmp_path / "sub")
    photo.save(tmp_path / "sub" / "x.png")
    assert ("sub", "sub/x.png") in select_folder(str(tmp_path), "folder")


def _eyes_in_crop(detector, path):
    points, _ = detector.landmarks(files.to_uint8(files.read_image(path)))
    return points


def test_prepare_aligns_faces_reports_skips_and_resumes(tree, tmp_path, capsys):
    out = tmp_path / "aligned"
    argv = ["--source", str(tree), "--out", str(out), "--min-images", "3",
            "--images-per-identity", "3", "--identities", "3", "--workers", "1"]
    prepare_real_faces.main(argv)
    manifest = read_csv(out / "manifest.csv")
    skipped = {r["source"]: r["reason"] for r in read_csv(out / "skipped.csv")}
    meta = files.load_json(out / "meta.json")
    assert len(manifest) == 9 and meta["complete"] and meta["selected"] == 9
    assert meta["aligned"] + meta["skipped"] == 9
    crops = sorted(os.listdir(out / "faces"))
    assert crops == sorted(r["face"] for r in manifest if r["source"] not in skipped)
    for source, reason in skipped.items():  # only the planted non-faces may be skipped
        assert source.endswith(("0100_01.jpg", "0100_01.png", "0101_01.jpg")), (source, reason)

    detector = alignment.FaceDetector()
    eyes = alignment.CELEBA_PROGAN.at(128)[:2]
    for crop in crops:
        image = files.read_image(out / "faces" / crop)
        assert image.shape == (128, 128, 3)
        points = _eyes_in_crop(detector, out / "faces" / crop)
        assert points is not None, crop
        assert np.abs(points[:2] - eyes).max() <= 4.0, (crop, points[:2])
    assert os.path.exists(out / "grid.png")

    # What resnet.py --real and resnet_test.py --faces read it through.
    from faceinv.data.face_sets import read_targets
    from faceinv.data.pipelines import folder_paths
    assert len(folder_paths(str(out / "faces"))) == len(crops)
    images, names, true_latents, _ = read_targets(str(out / "faces"), 128)
    assert images.shape == (len(crops), 128, 128, 3) and names == crops and true_latents is None

    # Resume: a lost crop is redone, finished ones are not touched.
    lost = out / "faces" / crops[0]
    os.remove(lost)
    kept = out / "faces" / crops[1]
    stamp = os.stat(kept).st_mtime_ns
    prepare_real_faces.main(argv)
    assert os.path.exists(lost) and os.stat(kept).st_mtime_ns == stamp
    assert {r["source"]: r["reason"] for r in read_csv(out / "skipped.csv")} == skipped


def test_prepare_lists_non_faces_and_corrupt_files_in_the_skip_report(tree, tmp_path):
    out = tmp_path / "all"
    prepare_real_faces.main(["--layout", "folder", "--source", str(tree / "identity_b"),
                             "--out", str(out), "--size", "160", "--workers", "1"])
    skipped = {r["source"]: r["reason"] for r in read_csv(out / "skipped.csv")}
    assert skipped["0100_01.jpg"] == "no face found"
    assert skipped["0101_01.jpg"].startswith("unreadable: cannot read image")
    assert len(skipped) == 2
    crops = os.listdir(out / "faces")
    assert len(crops) == 3
    assert all(files.read_image(out / "faces" / c).shape == (160, 160, 3) for c in crops)


@pytest.mark.slow
def test_parallel_workers_give_the_same_crops(tree, tmp_path):
    """Two worker processes (more than one chunk of photos) make the crops and
    the skip report that one process makes."""
    argv = ["--layout", "folder", "--source", str(tree)]
    prepare_real_faces.main(argv + ["--out", str(tmp_path / "one"), "--workers", "1"])
    prepare_real_faces.main(argv + ["--out", str(tmp_path / "two"), "--workers", "2"])
    one, names = files.read_face_folder(tmp_path / "one" / "faces")
    two, names_two = files.read_face_folder(tmp_path / "two" / "faces")
    assert len(names) == 12 and names == names_two
    assert np.abs(one - two).max() <= 2 / 255
    assert read_csv(tmp_path / "one" / "skipped.csv") == read_csv(tmp_path / "two" / "skipped.csv")


def test_bad_input_is_one_line(tree, tmp_path, one_line_error):
    main = prepare_real_faces.main
    assert "does not exist" in one_line_error(main, ["--source", str(tmp_path / "nowhere")])
    assert "identities with at least 100 photos" in one_line_error(main, ["--source", str(tree)])
    err = one_line_error(main, ["--layout", "folder", "--source", str(tree / "identity_c"),
                                "--out", str(tmp_path / "x"), "--size", "8"])
    assert "--size" in err
    out = tmp_path / "y"
    main(["--layout", "folder", "--source", str(tree / "identity_c"), "--out", str(out), "--workers", "1"])
    err = one_line_error(main, ["--layout", "folder", "--source", str(tree / "identity_c"),
                                "--out", str(out), "--size", "160"])
    assert "size=128" in err
