"""What every entry script owes its user: --help that answers cleanly, and default
paths that follow the generator."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

# script (and subcommand): words its --help must show
HELP = {
    ("generate_faces.py",): ["--generator", "dcgan-digiface", "--n"],
    ("resnet.py",): ["--generator", "--online", "--init-from", "z_vectors/{generator}/train"],
    ("resnet_test.py",): ["--encoder", "--faces", "saved_model/encoder_{generator}"],
    ("gradient_based_recovery.py",): ["--method", "mean-latent", "stochastic-clipping", "z_vectors/{generator}/test"],
    ("report_table1.py",): ["--results", "results/{generator}"],
    ("reproduce_table1.py",): ["--setting", "cpu-2h"],
    ("invert_photo.py",): ["photo", "--encoder", "--attribute"],
    ("prepare_real_faces.py",): ["vggface2", "--out"],
    ("interfacegan_svm.py",): ["classifier", "score", "boundaries", "edit"],
    ("interfacegan_svm.py", "classifier"): ["usage"],
    ("interfacegan_svm.py", "score"): ["--source", "landmarks"],
    ("interfacegan_svm.py", "boundaries"): ["--scores", "--ratio"],
    ("interfacegan_svm.py", "edit"): ["--boundaries", "--attribute"],
    ("attribute_inverter.py",): ["train", "apply", "evaluate"],
    ("attribute_inverter.py", "train"): ["--"],
    ("attribute_inverter.py", "apply"): ["--model", "--input"],
    ("attribute_inverter.py", "evaluate"): ["--"],
}


@pytest.fixture(scope="module")
def helps():
    """Every --help at once, as a user would run it (no test-suite environment)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACEINV_QUIET_TF")}
    running = {command: subprocess.Popen([sys.executable, *command, "--help"], cwd=ROOT, env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for command in HELP}
    return {command: (process.wait(timeout=300), *process.communicate()) for command, process in running.items()}


@pytest.mark.parametrize("command", list(HELP), ids=" ".join)
@pytest.mark.slow
def test_every_script_answers_help_cleanly(helps, command):
    code, out, err = helps[command]
    assert code == 0, err
    assert out.startswith("usage: ") and err == ""  # no traceback, no TensorFlow start-up chatter
    for word in HELP[command]:
        assert word in out, f"{word!r} missing from {' '.join(command)} --help"


@pytest.fixture
def empty_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_paths_follow_the_generator(empty_project, one_line_error):
    import gradient_based_recovery
    import report_table1
    import resnet_test
    error = one_line_error(gradient_based_recovery.main, ["--generator", "dcgan-digiface"])
    assert os.path.join("z_vectors", "dcgan-digiface", "test") in error
    error = one_line_error(gradient_based_recovery.main, ["--generator", "synthetic", "--method", "encoder-init"])
    assert os.path.join("saved_model", "encoder_synthetic") in error
    error = one_line_error(resnet_test.main, ["--generator", "dcgan-digiface"])
    assert os.path.join("saved_model", "encoder_dcgan-digiface") in error
    assert os.path.join("results", "synthetic") in one_line_error(report_table1.main, ["--generator", "synthetic"])
    assert os.path.join("results", "progan-128") in one_line_error(report_table1.main, [])  # the paper's default
