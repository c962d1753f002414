"""Rerun the paper's whole comparison (Table 1, Figure 4) with one command.

    python reproduce_table1.py                                      # paper setting, real ProGAN-128
    python reproduce_table1.py --generator dcgan-digiface --setting cpu-2h  # offline, trained networks, ~1 h
    python reproduce_table1.py --generator synthetic --setting cpu  # offline ground truth, minutes

Steps, each printed as the command that would run it alone:
  1. generate_faces.py   the 50 test faces (paper setting: also the 100k training faces)
  2. resnet.py           the z-loss encoder and the z + perceptual encoder (and, if the
                         hybrid starts from it, a z + pixel encoder)
  3. resnet_test.py      the encoders on the test faces
  4. gradient_based_recovery.py   the mean-latent floor, adam, stochastic-clipping
                         (200 steps each), the hybrid (encoder-init: an encoder's guess,
                         then a few steps) and, in cpu-2h, Adam for 1000 steps
  5. report_table1.py    table1.md, table1.csv, figure4.png
Results go to results/<generator>/, encoders to saved_model/encoder_<generator>-<setting>-*.
Rerun the same command after a kill: face sets and encoder training resume, and a
method whose results were written with the same arguments is not run again.
"""
import argparse
import os
import shlex

import generate_faces
import gradient_based_recovery
import report_table1
import resnet
import resnet_test
from faceinv import cli, files
from faceinv.facenet import DEFAULT as FACENET, HELP as FACENET_HELP
from faceinv.generators import PROGAN_HANDLE, generator_tag
from faceinv.results import METRICS

PATH_Z_VECTORS = "z_vectors"
PATH_RESULTS = "results"
GENERATOR = PROGAN_HANDLE

# Per setting: the training faces (a set size, or None to render them online), the
# encoders' training flags, the steps of the baselines and of the hybrid, the encoder
# the hybrid starts from. On a CPU, in minutes, only the pixel loss
# teaches an encoder more than the mean face (README, "The offline comparison").
SETTINGS = {
    "paper": {
        "train_faces": 100_000,
        "encoder": [],  # resnet.py's defaults are the paper's
        "encoder_z": [], "encoder_perceptual": [], "encoder_pixel": [],
        "steps": 200, "hybrid_steps": 30, "hybrid_encoder": "z-perceptual",
    },
    "cpu": {
        "train_faces": None,
        "encoder": ["--online", "--input-size", "64", "--epochs", "3", "--lr", "1e-3"],
        "encoder_z": ["--batch-size", "32", "--steps-per-epoch", "60"],
        "encoder_perceptual": ["--batch-size", "16", "--steps-per-epoch", "20"],
        "encoder_pixel": ["--batch-size", "32", "--steps-per-epoch", "60"],
        "steps": 200, "hybrid_steps": 30, "hybrid_encoder": "z-pixel",
    },
    # About an hour on 2 CPU cores, for a trained generator (dcgan-digiface). The z-loss
    # encoder gets most of the time; the FaceNet step, 3x dearer, refines it rather than
    # starting from scratch; the hybrid starts from it with a step size chosen on a
    # validation set (README, "The comparison on trained networks").
    "cpu-2h": {
        "train_faces": None,
        "encoder": ["--online", "--input-size", "64", "--steps-per-epoch", "150"],
        "encoder_z": ["--batch-size", "32", "--epochs", "20", "--lr", "3e-4"],
        "encoder_perceptual": ["--batch-size", "16", "--epochs", "2", "--lr", "1e-4"],
        "encoder_pixel": ["--batch-size", "32", "--epochs", "20", "--lr", "3e-4"],
        "perceptual_from": "z",
        "steps": 200, "hybrid_steps": 35, "hybrid_lr": 0.1, "hybrid_encoder": "z", "long_steps": 1000,
    },
    "smoke": {  # the test suite's: seconds of work per step, for checking the plumbing
        "train_faces": None, "test_faces": 4,
        "encoder": ["--online", "--input-size", "32", "--epochs", "1", "--batch-size", "4",
                    "--steps-per-epoch", "2"],
        "encoder_z": [], "encoder_perceptual": [], "encoder_pixel": [],
        "steps": 5, "hybrid_steps": 1, "hybrid_encoder": "z-pixel",
    },
}


def encoder_run(tag, setting, kind):
    """The run name (logs/, checkpoints/, saved_model/encoder_<run>) of one of the comparison's encoders."""
    return f"{tag}-{setting}-{kind}"


def encoder_folder(tag, setting, kind):
    return os.path.join(resnet.PATH_SAVED_MODEL, f"encoder_{encoder_run(tag, setting, kind)}")


def hybrid_kind(setting):
    """Which encoder the setting's hybrid starts from."""
    return SETTINGS[setting]["hybrid_encoder"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", default=GENERATOR, help="generator handle (default: %(default)s)")
    p.add_argument("--setting", choices=sorted(SETTINGS), default="paper",
                   help="paper: the paper's sizes; cpu: small encoders, minutes on a CPU (the "
                        "synthetic ground-truth run); cpu-2h: about an hour on 2 CPU cores, for a trained "
                        "generator; smoke: a plumbing check (default: %(default)s)")
    p.add_argument("--facenet", default=FACENET, help=FACENET_HELP + " (default: %(default)s)")
    p.add_argument("--hybrid-encoder", choices=("z", "z-perceptual", "z-pixel"),
                   help="the encoder the hybrid starts from (default: the setting's)")
    p.add_argument("--results", help=f"output folder (default: {PATH_RESULTS}/<generator>)")
    p.add_argument("--rerun", action="store_true", help="run every method again, even if done")
    return p.parse_args(argv)


def _announce(script, argv):
    print(f"\n$ python {script.__name__}.py {shlex.join(argv)}", flush=True)


def _run(script, argv):
    _announce(script, argv)
    script.main(argv)


def _run_method(script, argv, out, rerun):
    """Run a recovery script unless `out` already holds its results for the same arguments."""
    record_path = os.path.join(out, METRICS)
    if not rerun and os.path.exists(record_path):
        if files.load_json(record_path).get("arguments") == vars(script.parse_args(argv)):
            _announce(script, argv)
            print(f"(done before with these arguments: keeping {out})")
            return
    _run(script, argv)


def main(argv=None):
    a = parse_args(argv)
    s = SETTINGS[a.setting]
    tag = generator_tag(a.generator)
    facenet = a.facenet
    z_folder = os.path.join(PATH_Z_VECTORS, tag)
    test = os.path.join(z_folder, "test" if a.setting != "smoke" else "smoke")
    results = a.results or os.path.join(PATH_RESULTS, tag)
    g = ["--generator", a.generator]

    _run(generate_faces, g + ["--set", "test", "--out", test]
         + (["--n", str(s["test_faces"])] if "test_faces" in s else []))
    train = []
    if s["train_faces"]:
        train = ["--train", os.path.join(z_folder, "train")]
        _run(generate_faces, g + ["--set", "train", "--out", train[1], "--n", str(s["train_faces"])])

    hybrid_encoder = a.hybrid_encoder or s["hybrid_encoder"]
    perceptual_start = []
    if s.get("perceptual_from"):  # refine a cheaper encoder with FaceNet instead of starting from scratch
        perceptual_start = ["--init-from", os.path.join(resnet.PATH_CHECKPOINTS,
                                                        encoder_run(tag, a.setting, s["perceptual_from"]))]
    kinds = {"z": ["--perceptual-weight", "0"] + s["encoder_z"],
             "z-pixel": ["--perceptual-weight", "0", "--pixel-weight", "1"] + s["encoder_pixel"],
             "z-perceptual": ["--facenet", facenet] + perceptual_start + s["encoder_perceptual"]}
    encoders = {}
    for kind, flags in kinds.items():
        if kind == "z-pixel" and hybrid_encoder != kind:
            continue
        _run(resnet, g + train + s["encoder"] + flags + ["--run", encoder_run(tag, a.setting, kind)])
        encoders[kind] = encoder_folder(tag, a.setting, kind)
        name = f"resnet-{kind}"
        _run_method(resnet_test, ["--encoder", encoders[kind], "--faces", test, "--name", name,
                                  "--out", os.path.join(results, name)], os.path.join(results, name), a.rerun)

    hybrid = ["--method", "encoder-init", "--encoder", encoders[hybrid_encoder], "--steps", str(s["hybrid_steps"])]
    methods = [("mean-latent", ["--method", "mean-latent"]),
               ("adam", ["--method", "adam", "--steps", str(s["steps"])]),
               ("stochastic-clipping", ["--method", "stochastic-clipping", "--steps", str(s["steps"])]),
               ("hybrid", hybrid + (["--lr", str(s["hybrid_lr"])] if "hybrid_lr" in s else []))]
    if s.get("long_steps"):
        methods.append((f"adam-{s['long_steps']}", ["--method", "adam", "--steps", str(s["long_steps"])]))
    for name, flags in methods:
        out = os.path.join(results, name)
        _run_method(gradient_based_recovery, flags + ["--faces", test, "--name", name, "--out", out],
                    out, a.rerun)

    _run(report_table1, ["--results", results, "--facenet", facenet])


if __name__ == "__main__":
    cli.run(main)
