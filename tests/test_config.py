"""Settings: flags generated from each script's dataclass, config.json written by every run,
--config FILE to rerun it, and the one resume rule of the training loop."""
import dataclasses
import json
import shlex

import numpy as np
import pytest

import attribute_inverter
import generate_faces
import gradient_based_recovery
import interfacegan_svm
import resnet
from faceinv import config
from faceinv.data.face_sets import write_face_set
from faceinv.errors import InputError
from faceinv.models.generators import load_generator
from faceinv.training import check_resume


def _argv(line):
    return shlex.split(line)[2:]  # drop "python script.py"


@pytest.mark.parametrize("settings", [
    dataclasses.replace(resnet.Config(), generator="synthetic", online=True, learning_rate=3e-4, epochs=2,
                        perceptual_weight=0.0, run="my run", train_faces=""),
    dataclasses.replace(gradient_based_recovery.Config(), method="encoder-init", steps=7, loss="mae=1,ms-ssim=0.5"),
    dataclasses.replace(generate_faces.Config(), set="train", n=12, out="a/b"),
], ids=["resnet", "gradient_based_recovery", "generate_faces"])
def test_the_printed_command_parses_back_to_the_same_settings(settings):
    script = type(settings).__module__ + ".py"
    line = config.command_line(script, settings)
    assert line.startswith(f"python {script}")
    assert config.parse(type(settings), _argv(line)) == settings


def test_subcommand_flags_lists_and_booleans_round_trip():
    edit = dataclasses.replace(interfacegan_svm.EditCommand(), boundaries="b", attribute="age",
                               condition=["gender", "glasses"], start=-1.5)
    command, parsed = config.parse_command(interfacegan_svm.COMMANDS, _argv(config.command_line("x", edit, "edit")))
    assert command == "edit" and parsed == edit
    train = dataclasses.replace(attribute_inverter.TrainCommand(), attention=True, with_="w", data="folders")
    line = config.command_line("x", train, "train")
    assert "--attention" in line and "--with w" in line
    assert config.parse_command(attribute_inverter.COMMANDS, _argv(line))[1] == train
    line = config.command_line("x", dataclasses.replace(resnet.Config(), online=True), None)
    no = config.parse(resnet.Config, _argv(line) + ["--no-online"])
    assert no.online is False


def test_help_names_defaults_and_the_papers_value(capsys):
    with pytest.raises(SystemExit):
        config.parse_command(interfacegan_svm.COMMANDS, ["score", "--help"])
    out = capsys.readouterr().out
    assert "default: 20000; paper: 500000" in " ".join(out.split())
    with pytest.raises(SystemExit):
        config.parse(resnet.Config, ["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--lr LEARNING_RATE" in out and "default: 0.0002" in out and "--config FILE" in out


def test_a_config_file_presets_the_flags_and_flags_override_it(tmp_path):
    settings = dataclasses.replace(resnet.Config(), epochs=4, batch_size=8, online=True)
    path = config.write(str(tmp_path), settings)
    assert config.parse(resnet.Config, ["--config", path]) == settings
    assert config.parse(resnet.Config, ["--config", path, "--epochs", "9"]) == dataclasses.replace(settings, epochs=9)


def test_a_bad_config_file_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        config.parse(resnet.Config, ["--config", str(tmp_path / "missing.json")])
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="not a JSON config"):
        config.parse(resnet.Config, ["--config", str(tmp_path / "broken.json")])
    other = config.write(str(tmp_path / "face_set"), generate_faces.Config())
    with pytest.raises(InputError, match="another script's config"):
        config.parse(resnet.Config, ["--config", other])


def test_a_resumed_training_run_may_change_its_epochs_and_folders_only(tmp_path):
    folder = str(tmp_path / "checkpoints")
    first = dataclasses.replace(resnet.Config(), epochs=2, online=True, log_dir="logs/a")
    check_resume(folder, first)
    check_resume(folder, dataclasses.replace(first, epochs=5, log_dir="logs/b", run="renamed"))
    for changed in ({"learning_rate": 1e-3}, {"batch_size": 4}, {"facenet": "random"}):
        with pytest.raises(InputError, match=f"{next(iter(changed))}="):
            check_resume(folder, dataclasses.replace(first, **changed))
    saved = json.loads((tmp_path / "checkpoints" / "config.json").read_text())
    assert saved["epochs"] == 5 and saved["learning_rate"] == first.learning_rate  # the full config


@pytest.mark.slow
def test_rerunning_with_the_config_it_wrote_reproduces_the_output(tmp_path):
    faces = tmp_path / "faces"
    write_face_set(str(faces), load_generator("dcgan-digiface"), 3, seed=0, batch_size=3)
    first = tmp_path / "first"
    gradient_based_recovery.main(["--method", "stochastic-clipping", "--faces", str(faces),
                                  "--steps", "4", "--batch-size", "3", "--lr", "0.05", "--out", str(first)])
    saved = json.loads((first / "config.json").read_text())
    assert (saved["steps"], saved["learning_rate"], saved["name"]) == (4, 0.05, "stochastic-clipping")
    second = tmp_path / "second"
    gradient_based_recovery.main(["--config", str(first / "config.json"), "--out", str(second)])
    np.testing.assert_array_equal(np.load(second / "latents.npy"), np.load(first / "latents.npy"))
    records = [json.loads((f / "metrics.json").read_text()) for f in (first, second)]
    assert records[0]["psnr"] == records[1]["psnr"]
    again = json.loads((second / "config.json").read_text())
    assert again == dict(saved, out=str(second))
