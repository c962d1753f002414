"""Which encoder a script uses, and the hybrid's steps that go with it: one rule for every script
(invert_photo.py, demo.py, resnet_test.py, gradient_based_recovery.py --method encoder-init,
reproduce_table1.py).

1. An encoder named with --encoder wins ("none": optimisation alone).
2. Otherwise the encoder the repository ships for the generator (weights/, SHIPPED),
   its SHA-256 checked.
3. Otherwise the encoder reproduce_table1.py trained for the hybrid on this generator.
4. Otherwise the encoder resnet.py exports by default (saved_model/encoder_<generator>).
5. Otherwise none: optimisation from a random start, said in one line (resnet_test.py,
   which needs an encoder, names where it looked).

The hybrid's steps and learning rate belong to the encoder, whichever way it was
chosen: those recorded in it (a weights file's settings: chosen on validation faces,
see its model card), else those of the comparison setting that trained it, else
HYBRID_STEPS and HYBRID_LR.
"""
import dataclasses
import os

from faceinv.inversion import comparison
from faceinv.inversion.gradient_recovery import BASELINE_LR, BASELINE_STEPS, HYBRID_LR, HYBRID_STEPS
from faceinv.models.encoder import encoder_meta, load_encoder
from faceinv.models.generators import REPOSITORY
from faceinv.paths import PATH_ENCODER, PATH_WEIGHTS

NONE = "none"


@dataclasses.dataclass(frozen=True)
class Shipped:
    """A weights file committed under weights/, with its SHA-256 and the commands that rebuild it
    (its model card, <file>.md, gives them with their figures)."""
    file: str
    sha256: str
    rebuild: str

    @property
    def path(self):
        return os.path.join(REPOSITORY, PATH_WEIGHTS, self.file)


SHIPPED = {
    "dcgan-digiface": Shipped(
        "encoder_dcgan-digiface.npz", "0a3d71ae1b884b5fd3f7186b7413d2e01bc1df23fe149136df965939fc89c11b",
        "python resnet.py --config configs/encoder-dcgan-digiface.json && python resnet.py --config "
        "configs/encoder-dcgan-digiface-ft.json && python ship_encoder.py --checkpoints "
        "checkpoints/dcgan-digiface-w32-zpix-ft --out weights/encoder_dcgan-digiface.npz "
        "--hybrid-steps 99 --hybrid-lr 0.05"),
}


@dataclasses.dataclass(frozen=True)
class EncoderChoice:
    path: str    # a weights file, a SavedModel folder, or NONE
    source: str  # why this one: "named", "shipped", "trained by reproduce_table1.py", "none"

    def describe(self):
        if self.path == NONE:
            return "no encoder: optimisation from a random start"
        return f"encoder {self.path} ({self.source})"


def choose_encoder(tag, named=None):
    """The encoder for generator `tag` by the rule above."""
    if named:
        return EncoderChoice(named, "named" if named != NONE else NONE)
    shipped = SHIPPED.get(tag)
    if shipped and os.path.isfile(shipped.path):
        return EncoderChoice(shipped.path, "shipped")
    found = comparison.hybrid_encoder(tag)
    if found:
        return EncoderChoice(found[0], "trained by reproduce_table1.py")
    exported = PATH_ENCODER.format(generator=tag)
    if os.path.isdir(exported):
        return EncoderChoice(exported, "resnet.py's default export")
    return EncoderChoice(NONE, NONE)


def load_chosen(path):
    """The chosen encoder, loaded (a shipped file checked against its recorded SHA-256); None for NONE."""
    if path == NONE:
        return None
    for shipped in SHIPPED.values():
        if os.path.abspath(path) == shipped.path:
            return load_encoder(path, shipped.sha256, shipped.rebuild)
    return load_encoder(path)


def hybrid_settings(path):
    """(steps, learning rate) after the guess of the encoder at `path` (see the module docstring),
    read from its settings alone; the optimisation baseline's for NONE."""
    if path == NONE:
        return BASELINE_STEPS, BASELINE_LR
    hybrid = encoder_meta(path).get("hybrid")
    if hybrid:
        return int(hybrid["steps"]), float(hybrid["learning_rate"])
    return comparison.hybrid_settings_of(path) or (HYBRID_STEPS, HYBRID_LR)


def fallback_message(tag):
    """The one line a script prints when it has no encoder for `tag`."""
    return (f"no trained encoder for {tag} (reproduce_table1.py --generator {tag} trains one): "
            "falling back to optimisation from a random start")
