"""Write a trained encoder as a weights file (.npz), the form the repository ships.

    python ship_encoder.py --checkpoints checkpoints/<run> --out my_encoder.npz
    python ship_encoder.py --checkpoints checkpoints/dcgan-digiface-w32-zpix-ft \\
        --out weights/encoder_dcgan-digiface.npz --hybrid-steps 99 --hybrid-lr 0.05

It reads a resnet.py run (its config.json and last checkpoint) and writes the
encoder's weights with the settings that rebuild it: plain arrays that cannot
run code, unlike a pickle or a SavedModel. <out>.sha256 is written beside it.
Give the hybrid's steps and learning rate where you chose them on validation
faces (never on the test faces): every script then refines this encoder's
guess with them. Any script takes the file with --encoder <out>; the one in
weights/ is every script's default for its generator (its model card,
weights/<name>.md, says how it was made).
"""
import dataclasses
import os

import numpy as np

from faceinv import cli, config
from faceinv.config import setting
from faceinv.errors import InputError
from faceinv.inversion.encoder_training import encoder_from_checkpoints
from faceinv.models.encoder import write_encoder_weights
from faceinv.paths import PATH_CHECKPOINTS


@dataclasses.dataclass
class Config:
    checkpoints: str = setting(None, f"a resnet.py run's checkpoint folder ({PATH_CHECKPOINTS}/<run>)", type=str)
    out: str = setting(None, "the weights file to write (.npz)", type=str, output=True)
    dtype: str = setting("float32", "how the weights are stored (float16 halves the file)",
                         choices=("float32", "float16"))
    hybrid_steps: int = setting(None, "Adam steps after this encoder's guess, chosen on validation faces",
                                type=int)
    hybrid_lr: float = setting(None, "their learning rate", type=float)


def ship(c):
    config.require(c, "checkpoints", "out")
    if (c.hybrid_steps is None) != (c.hybrid_lr is None):
        raise InputError("give --hybrid-steps and --hybrid-lr together, or neither")
    if c.hybrid_steps is not None and (c.hybrid_steps < 0 or not c.hybrid_lr > 0):
        raise InputError("--hybrid-steps must be >= 0 and --hybrid-lr positive")
    encoder, meta = encoder_from_checkpoints(c.checkpoints)
    if c.hybrid_steps is not None:
        meta["hybrid"] = {"steps": c.hybrid_steps, "learning_rate": c.hybrid_lr}
    meta["trained_by"] = _training_command(c.checkpoints)
    digest = write_encoder_weights(encoder, meta, c.out, np.dtype(c.dtype))
    print(f"wrote {c.out} ({os.path.getsize(c.out) / 1e6:.1f} MB, {encoder.count_params():,} weights as "
          f"{c.dtype}, epoch {meta['epochs']} of {meta['config']['epochs']}); SHA-256 {digest}")
    return digest


def _training_command(folder):
    """The resnet.py command of the run, without the folders it resolved for itself."""
    import resnet
    run = config.read(resnet.Config, os.path.join(folder, config.CONFIG_FILE))
    defaults = resnet.Config()
    reset = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(run)
             if f.metadata.get("output") and f.name != "run"}
    if run.online:
        reset["train_faces"] = defaults.train_faces
    return config.command_line("resnet.py", dataclasses.replace(run, **reset))


def main(argv=None):
    ship(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
