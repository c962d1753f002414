import csv
import os

import numpy as np
import pytest
from PIL import Image

from faceinv import files
from faceinv.data.face_sets import read_face_set, write_face_set
from faceinv.errors import InputError
from faceinv.models.facenet import load_facenet
from faceinv.report import metrics
from faceinv.report.results import write_results
from faceinv.report.table import figure, measure, write_report


@pytest.fixture(scope="module")
def facenet():
    return load_facenet("random")


@pytest.fixture
def results(tmp_path, synthetic):
    """Two methods' results on three synthetic faces: a noisy 'adam', an exact 'hybrid'."""
    faces = str(tmp_path / "faces")
    write_face_set(faces, synthetic, 3, seed=0, batch_size=4)
    targets, latents, _ = read_face_set(faces)
    names = [f"{i:06d}.png" for i in range(3)]
    noisy = np.clip(targets + np.random.default_rng(0).normal(0, 0.05, targets.shape), 0, 1)
    root = tmp_path / "results"
    write_results(str(root / "adam"), "adam", names, targets, noisy, latents + 0.5, label=synthetic.label,
                  seconds=12.0, faces_folder=faces, evaluations_per_face=201, true_latents=latents,
                  extra={"steps": 200})
    write_results(str(root / "hybrid"), "hybrid", names, targets, targets, latents, label=synthetic.label,
                  seconds=3.0, faces_folder=faces, evaluations_per_face=31, true_latents=latents,
                  extra={"steps": 30})
    return root, faces, targets, noisy


def read_rows(path):
    with open(path) as f:
        return {row["folder"]: row for row in csv.DictReader(f)}


def test_the_table_is_measured_from_the_files(results, facenet, tmp_path):
    root, _, targets, noisy = results
    write_report(str(root), str(root), facenet)
    rows = read_rows(root / "table1.csv")
    adam, hybrid = rows["adam"], rows["hybrid"]
    expected = metrics.psnr(targets, files.to_uint8(noisy) / 255.0).mean()
    assert float(adam["psnr_db"]) == pytest.approx(expected, abs=1e-4)
    mse = np.mean(np.square(targets.astype(np.float64) - files.to_uint8(noisy) / 255.0))
    assert float(adam["l2_mse"]) == pytest.approx(mse, rel=1e-4)
    assert float(adam["latent_mae"]) == pytest.approx(0.5, abs=1e-5)
    assert float(adam["paper_psnr_db"]) == 18.41 and hybrid["paper_psnr_db"] == ""
    assert float(hybrid["latent_cosine"]) == pytest.approx(1.0, abs=1e-6)
    assert float(hybrid["ssim"]) > float(adam["ssim"]) and float(hybrid["ms_ssim"]) > float(adam["ms_ssim"])
    assert float(hybrid["facenet_cosine_similarity"]) > 0.99
    assert float(adam["seconds_per_face"]) == pytest.approx(4.0)
    assert adam["generator_passes_per_face"] == "201"
    table = (root / "table1.md").read_text()
    assert "| Adam, 200 steps |" in table and "hybrid: encoder + 30 Adam steps" in table
    assert "STAND-IN" in table and "randomly initialised FaceNet" in table
    assert "| paper: Adam, 200 steps | paper's |" in table and "LPIPS" in table  # the paper's rows, labelled
    assert "hybrid: encoder + 30 Adam steps against Adam, 200 steps" in table
    p10, p50, p90 = (float(adam[f"psnr_p{q}"]) for q in (10, 50, 90))
    assert p10 <= p50 <= p90 and p10 < float(adam["psnr_db"]) + 1e-6 and f"{p10:.1f} / {p50:.1f} / {p90:.1f}" in table
    figure = Image.open(root / "figure4.png")
    assert figure.size == (3 * 128, 3 * 128 + 32)  # target, adam, hybrid; two banners


@pytest.mark.slow
def test_changing_a_result_file_changes_the_table(results, facenet):
    root, *_ = results
    write_report(str(root), str(root), facenet)
    before = read_rows(root / "table1.csv")
    Image.new("RGB", (128, 128)).save(root / "hybrid" / "reconstructions" / "000001.png")
    record = files.load_json(root / "adam" / "metrics.json")
    record["seconds"] = 99.0
    files.save_json(root / "adam" / "metrics.json", record)
    write_report(str(root), str(root), facenet)
    after = read_rows(root / "table1.csv")
    assert float(after["hybrid"]["psnr_db"]) < float(before["hybrid"]["psnr_db"]) - 10
    assert float(after["adam"]["seconds"]) == 99.0
    assert after["adam"]["psnr_db"] == before["adam"]["psnr_db"]


def test_bad_results_folders(results, facenet, tmp_path):
    root, faces, *_ = results
    with pytest.raises(InputError, match="does not exist"):
        write_report(str(tmp_path / "nowhere"), str(tmp_path), facenet)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no method results"):
        write_report(str(tmp_path / "empty"), str(tmp_path), facenet)
    os.rename(faces, faces + "_moved")
    with pytest.raises(InputError, match="--faces"):
        write_report(str(root), str(root), facenet)
    write_report(str(root), str(root), facenet, faces=faces + "_moved")


@pytest.mark.slow
def test_figure_leaves_out_a_method_run_on_other_faces(results, facenet, synthetic):
    root, faces, targets, _ = results
    names = ["000000.png", "000001.png"]  # two of the three faces only
    write_results(str(root / "resnet-z"), "resnet-z", names, targets[:2], targets[:2],
                  np.zeros((2, 512), np.float32), label=synthetic.label, seconds=1.0, faces_folder=faces,
                  evaluations_per_face=1)
    write_results(str(root / "stochastic-clipping"), "stochastic-clipping", [f"{i:06d}.png" for i in range(3)],
                  targets, targets, np.zeros((3, 512), np.float32), label=synthetic.label, seconds=1.0,
                  faces_folder=faces, evaluations_per_face=201)
    _, images = measure(str(root), facenet)
    grid, titles = figure(images, 8)
    assert titles == ["target", "Adam", "stoch. clip", "hybrid"]  # resnet-z lacks face 2
    assert len(grid) == 3 * len(titles)
    np.testing.assert_array_equal(grid[4 * 2], targets[2])  # row 3 starts with its target
    write_report(str(root), str(root), facenet)
    assert Image.open(root / "figure4.png").size == (4 * 128, 3 * 128 + 32)
    assert "resnet-z" in read_rows(root / "table1.csv")


def test_a_refined_encoder_is_named_in_our_row_only(results, facenet, synthetic):
    root, faces, targets, _ = results
    write_results(str(root / "resnet-z-perceptual"), "resnet-z-perceptual", [f"{i:06d}.png" for i in range(3)],
                  targets, targets, np.zeros((3, 512), np.float32), label=synthetic.label, seconds=1.0,
                  faces_folder=faces, evaluations_per_face=1,
                  extra={"encoder_init_from": "checkpoints/synthetic-cpu-2h-z"})
    write_report(str(root), str(root), facenet)
    table = (root / "table1.md").read_text()
    assert "| encoder, z + perceptual loss, refined from synthetic-cpu-2h-z |" in table
    assert "| paper: encoder, z + perceptual loss | paper's | - | - | - | 0.079 | 16.30 |" in table
    assert "encoder, z + perceptual loss 1.98" in table  # the paper's FaceNet distance, by its own name


def test_column_titles_wider_than_their_column_wrap_inside_it():
    """Figure 4's 64 px columns: "shipped hybrid" once ran into "Adam 1000"."""
    faces = np.full((3, 64, 64, 3), 0.5, np.float32)
    titles = ["target", "shipped hybrid", "Adam 1000"]
    grid = files.image_grid(faces, 3, None, titles)
    banner = grid[:-64]
    assert banner.shape[0] == 28  # two lines of text
    inked = (banner < 128).any(axis=(0, 2))
    for edge in (64, 128):  # the gap either side of each column boundary stays blank
        assert not inked[edge - 2:edge + 3].any()
    assert inked[64 + 3:128].any() and inked[128 + 3:].any()
    assert files.image_grid(faces, 3, None, ["a", "b", "c"]).shape[0] == 16 + 64  # one line: as before
