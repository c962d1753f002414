"""The presets under configs/: each parses with its script's --config and gives the recipe the docs
describe; the comparison's settings keep their old names."""
import os
import shlex

import pytest
from conftest import ROOT

import attribute_inverter
import resnet
from faceinv import config
from faceinv.inversion.comparison import SETTINGS

# preset: (settings class or subcommand table, subcommand, the recipe as flags)
PRESETS = {
    "inverter-synthetic.json": (
        attribute_inverter.COMMANDS, "train",
        ("--data synthetic --size 128 --width 8 --epochs 12 --skips --edit blend --d-lr 5e-5 --keep best "
         "--residual-weight 1 --mask-weight 0.2 --blocks 4 --eye-discriminator --eye-width 32 --dual-weight 50 "
         "--ema 0.995")),
    "encoder-cpu.json": (
        resnet.Config, None,
        ("--online --perceptual-weight 0 --pixel-weight 1 --input-size 64 --batch-size 32 --epochs 3 "
         "--steps-per-epoch 60 --lr 1e-3")),
    "encoder-dcgan-digiface.json": (
        resnet.Config, None,
        ("--generator dcgan-digiface --online --input-size 64 --width 32 --head '' --pixel-weight 1 "
         "--perceptual-weight 0 --lr 3e-4 --lr-schedule cosine --batch-size 32 --epochs 11 --steps-per-epoch 250 "
         "--seed 0 --run dcgan-digiface-w32-zpix")),
    "encoder-dcgan-digiface-ft.json": (
        resnet.Config, None,
        ("--generator dcgan-digiface --online --input-size 64 --width 32 --head '' --pixel-weight 1 "
         "--perceptual-weight 0 --lr 2e-4 --lr-schedule cosine --batch-size 32 --epochs 40 --steps-per-epoch 250 "
         "--seed 1 --init-from checkpoints/dcgan-digiface-w32-zpix --run dcgan-digiface-w32-zpix-ft")),
}


def _parse(table, command, argv):
    if command is None:
        return config.parse(table, argv)
    name, settings = config.parse_command(table, [command] + argv)
    assert name == command
    return settings


def test_every_preset_is_known():
    folder = os.path.join(ROOT, "configs")
    assert sorted(n for n in os.listdir(folder) if n.endswith(".json")) == sorted(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_parses_to_its_recipe_and_flags_still_override_it(name):
    table, command, flags = PRESETS[name]
    path = os.path.join(ROOT, "configs", name)
    preset = _parse(table, command, ["--config", path])
    assert preset == _parse(table, command, shlex.split(flags))
    assert _parse(table, command, ["--config", path, "--seed", "7"]).seed == 7


def test_the_comparisons_one_hour_setting_keeps_its_old_name():
    assert SETTINGS["cpu-2h"] is SETTINGS["cpu-1h"]
