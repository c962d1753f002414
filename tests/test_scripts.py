"""What every entry script owes its user: --help that answers cleanly, and default
paths that follow the generator."""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

# script (and subcommand): words its --help must show
HELP = {
    ("generate_faces.py",): ["--generator", "dcgan-digiface", "--n"],
    ("resnet.py",): ["--generator", "--online", "--init-from", "z_vectors/{generator}/train"],
    ("resnet_test.py",): ["--encoder", "--faces", "--generator", "saved_model/encoder_{generator}"],
    ("gradient_based_recovery.py",): ["--method", "mean-latent", "stochastic-clipping", "z_vectors/{generator}/test"],
    ("report_table1.py",): ["--results", "results/{generator}"],
    ("reproduce_table1.py",): ["--setting", "cpu-1h", "cpu-2h"],
    ("invert_photo.py",): ["photo", "--encoder", "--attribute"],
    ("demo.py",): ["--generator", "--host", "--ssl-certfile", "127.0.0.1"],
    ("prepare_real_faces.py",): ["vggface2", "--out"],
    ("interfacegan_svm.py",): ["classifier", "score", "boundaries", "sorted", "edit"],
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
    """Every --help as a user would run it, outside the test suite's environment: each script,
    with its subcommands, in a process of its own (importing TensorFlow is most of the cost)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACEINV_QUIET_TF")}
    scripts = sorted({command[0] for command in HELP})
    running = {script: subprocess.Popen([sys.executable, "-c", _ASK_EVERY_HELP, script,
                                         *[c[1] for c in HELP if c[0] == script and len(c) == 2]],
                                        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for script in scripts}
    answers = {}
    for script, process in running.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        for command, code, answer, python_err in map(json.loads, out.splitlines()):
            answers[tuple(command)] = code, answer, python_err + err  # err: what bypassed sys.stderr
    return answers


# Runs in a fresh interpreter: imports the script as `python script.py` would, then answers
# --help for the script and each subcommand, one JSON line each: [command, exit code, stdout, stderr].
_ASK_EVERY_HELP = """
import contextlib, io, json, runpy, sys
script, subcommands = sys.argv[1], sys.argv[2:]
for sub in [None] + subcommands:
    out, err, command = io.StringIO(), io.StringIO(), [script] + ([sub] if sub else [])
    sys.argv = command + ["--help"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = exit_.code
    print(json.dumps([command, code, out.getvalue(), err.getvalue()]))
"""


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


def test_default_paths_follow_the_generator(empty_project, one_line_error, no_shipped_encoder):
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


@pytest.mark.slow
def test_the_default_paths_are_used_and_recorded(empty_project, no_shipped_encoder):
    """With only --generator, the encoder and faces come from the generator's default paths,
    and the results record where they came from."""
    import gradient_based_recovery
    import resnet_test
    from faceinv import files
    from faceinv.data.face_sets import write_face_set
    from faceinv.models.encoder import build_encoder, export_encoder
    from faceinv.models.generators import load_generator
    write_face_set("z_vectors/dcgan-digiface/test", load_generator("dcgan-digiface"), 2, seed=0, batch_size=2)
    export_encoder(build_encoder(32, 100), "saved_model/encoder_dcgan-digiface",
                   {"generator": "dcgan-digiface", "latent_dim": 100})
    resnet_test.main(["--generator", "dcgan-digiface", "--out", "encoder"])
    gradient_based_recovery.main(["--generator", "dcgan-digiface", "--method", "encoder-init", "--steps", "1",
                                  "--out", "hybrid"])
    for folder in ("encoder", "hybrid"):
        record = files.load_json(empty_project / folder / "metrics.json")
        assert record["encoder"] == str(empty_project / "saved_model" / "encoder_dcgan-digiface")
        assert record["faces"].endswith(os.path.join("z_vectors", "dcgan-digiface", "test"))
