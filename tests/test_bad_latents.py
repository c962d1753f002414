"""A NaN or infinite latent in any file a script reads stops it with one line
naming the file, before anything is written."""
import os
import shutil

import numpy as np
import pytest

import gradient_based_recovery
import interfacegan_svm
import report_table1
from faceinv import files
from faceinv.data.face_sets import write_face_set
from faceinv.report.results import write_results


@pytest.fixture(scope="module")
def face_set(tmp_path_factory, synthetic):
    folder = str(tmp_path_factory.mktemp("faces") / "set")
    write_face_set(folder, synthetic, 3, seed=0, batch_size=4)
    return folder


def poison(path, value):
    latents = np.load(path)
    latents[1, 7] = value
    np.save(path, latents)


def copy_face_set(face_set, tmp_path):
    copy = str(tmp_path / "set")
    shutil.copytree(face_set, copy)
    return copy


def assert_names_the_file(message, path):
    assert os.path.basename(path) in message and "NaN or infinite" in message


def test_a_face_set(face_set, tmp_path, one_line_error):
    faces = copy_face_set(face_set, tmp_path)
    poison(os.path.join(faces, "latents.npy"), np.nan)
    out = tmp_path / "out"
    message = one_line_error(gradient_based_recovery.main,
                             ["--faces", faces, "--generator", "synthetic", "--steps", "1", "--out", str(out)])
    assert_names_the_file(message, os.path.join(faces, "latents.npy"))
    assert not out.exists()


def test_a_score_folder_and_edit_latents(tmp_path, one_line_error, synthetic):
    scores = tmp_path / "scores"
    interfacegan_svm.main(["score", "--generator", "synthetic", "--source", "synthetic", "--n", "40",
                           "--out", str(scores)])
    interfacegan_svm.main(["boundaries", "--scores", str(scores), "--top", "8", "--out", str(tmp_path / "b")])
    poison(scores / "latents.npy", np.inf)
    message = one_line_error(interfacegan_svm.main,
                             ["boundaries", "--scores", str(scores), "--out", str(tmp_path / "b2")])
    assert_names_the_file(message, str(scores / "latents.npy"))
    assert not (tmp_path / "b2").exists()
    message = one_line_error(interfacegan_svm.main,
                             ["edit", "--boundaries", str(tmp_path / "b"), "--attribute", "age",
                              "--latents", str(scores / "latents.npy"), "--out", str(tmp_path / "edits")])
    assert_names_the_file(message, str(scores / "latents.npy"))
    assert not (tmp_path / "edits").exists()
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 100), np.float32))  # another generator's latents
    message = one_line_error(interfacegan_svm.main,
                             ["edit", "--boundaries", str(tmp_path / "b"), "--attribute", "age",
                              "--latents", str(wrong), "--out", str(tmp_path / "edits")])
    assert "[2, 100]" in message and "[N, 512]" in message


@pytest.mark.slow
def test_the_reports_inputs(face_set, tmp_path, one_line_error, synthetic):
    targets, _ = files.read_face_folder(os.path.join(face_set, "faces"))
    latents = np.load(os.path.join(face_set, "latents.npy"))
    root = tmp_path / "results"
    names = [f"{i:06d}.png" for i in range(3)]
    write_results(str(root / "adam"), "adam", names, targets, targets, latents, label=synthetic.label,
                  seconds=1.0, faces_folder=face_set, evaluations_per_face=201, true_latents=latents)
    poison(root / "adam" / "latents.npy", np.nan)
    message = one_line_error(report_table1.main, ["--results", str(root), "--facenet", "random"])
    assert_names_the_file(message, str(root / "adam" / "latents.npy"))
    assert not (root / "table1.md").exists()
