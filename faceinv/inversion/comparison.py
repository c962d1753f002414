"""The settings of the paper's comparison (Table 1), as reproduce_table1.py runs it.

Per setting: the training faces (a face set of that size, or None to render them
online), the encoders' training settings (fields of resnet.py's Config, shared
and per encoder), the steps of the baselines and of the hybrid, and the encoder
the hybrid starts from. encoder_choice.py reads the same table to find the encoder
the comparison trained and the hybrid steps that went with it. On a CPU, in
minutes, only the pixel loss teaches an encoder more than the mean face
(docs/results.md, "Table 1 on the synthetic stand-in").
"""
import os

from faceinv.inversion.gradient_recovery import BASELINE_STEPS, HYBRID_LR, HYBRID_STEPS
from faceinv.paths import PATH_SAVED_MODEL

ENCODERS = ("z", "z-pixel", "z-perceptual")  # z first: the cpu-1h z-perceptual encoder starts from it
LOSSES = {  # each encoder's losses, as resnet.py settings
    "z": {"perceptual_weight": 0.0},
    "z-pixel": {"perceptual_weight": 0.0, "pixel_weight": 1.0},
    "z-perceptual": {},  # resnet.py's defaults: z-loss + FaceNet perceptual loss, the paper's
}

SETTINGS = {
    "paper": {
        "train_faces": 100_000,
        "encoder": {},  # resnet.py's defaults are the paper's
        "encoders": {"z": {}, "z-perceptual": {}, "z-pixel": {}},
        "steps": BASELINE_STEPS, "hybrid_steps": HYBRID_STEPS, "hybrid_lr": HYBRID_LR, "hybrid_encoder": "z-perceptual",
    },
    "cpu": {
        "train_faces": None,
        "encoder": {"online": True, "input_size": 64, "epochs": 3, "learning_rate": 1e-3},
        "encoders": {"z": {"batch_size": 32, "steps_per_epoch": 60},
                     "z-perceptual": {"batch_size": 16, "steps_per_epoch": 20},
                     "z-pixel": {"batch_size": 32, "steps_per_epoch": 60}},
        "steps": BASELINE_STEPS, "hybrid_steps": HYBRID_STEPS, "hybrid_lr": HYBRID_LR, "hybrid_encoder": "z-pixel",
    },
    # About an hour on 2 CPU cores, for a trained generator (dcgan-digiface). The z-loss
    # encoder gets most of the time; the FaceNet step, 3x dearer, refines it rather than
    # starting from scratch; the hybrid starts from it with a step size chosen on a
    # validation set (docs/results.md, "Table 1 on the trained DCGAN").
    "cpu-1h": {
        "train_faces": None,
        "encoder": {"online": True, "input_size": 64, "steps_per_epoch": 150},
        "encoders": {"z": {"batch_size": 32, "epochs": 20, "learning_rate": 3e-4},
                     "z-perceptual": {"batch_size": 16, "epochs": 2, "learning_rate": 1e-4},
                     "z-pixel": {"batch_size": 32, "epochs": 20, "learning_rate": 3e-4}},
        "perceptual_from": "z",
        "steps": BASELINE_STEPS, "hybrid_steps": 35, "hybrid_lr": 0.1, "hybrid_encoder": "z", "long_steps": 1000,
    },
    "smoke": {  # the test suite's: seconds of work per step, for checking the plumbing
        "train_faces": None, "test_faces": 4,
        "encoder": {"online": True, "input_size": 32, "epochs": 1, "batch_size": 4, "steps_per_epoch": 2},
        "encoders": {"z": {}, "z-perceptual": {}, "z-pixel": {}},
        "steps": 5, "hybrid_steps": 1, "hybrid_lr": HYBRID_LR, "hybrid_encoder": "z-pixel",
    },
}
SETTINGS["cpu-2h"] = SETTINGS["cpu-1h"]  # its old name: encoder folders (encoder_<tag>-cpu-2h-*) and tests carry it


def encoder_run(tag, setting, kind):
    """The run name (logs/, checkpoints/, saved_model/encoder_<run>) of one of the comparison's encoders."""
    return f"{tag}-{setting}-{kind}"


def encoder_folder(tag, setting, kind):
    return os.path.join(PATH_SAVED_MODEL, f"encoder_{encoder_run(tag, setting, kind)}")


def hybrid_encoder(tag):
    """(folder, hybrid steps, hybrid learning rate) of the encoder the comparison trained for
    the hybrid on this generator: the paper setting's first, then the CPU ones; None if none exists."""
    for setting in ("paper", "cpu-1h", "cpu-2h", "cpu"):
        s = SETTINGS[setting]
        folder = encoder_folder(tag, setting, s["hybrid_encoder"])
        if os.path.exists(os.path.join(folder, "saved_model.pb")):
            return folder, s["hybrid_steps"], s["hybrid_lr"]
    return None


def hybrid_settings_of(folder):
    """(steps, learning rate) of the setting whose hybrid starts from the encoder in `folder`
    (saved_model/encoder_<tag>-<setting>-<kind>); None if no setting of the comparison trained it."""
    name = os.path.basename(os.path.normpath(folder))
    for setting, s in SETTINGS.items():
        if name.startswith("encoder_") and name.endswith(f"-{setting}-{s['hybrid_encoder']}"):
            return s["hybrid_steps"], s["hybrid_lr"]
    return None
