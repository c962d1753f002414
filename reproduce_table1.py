"""Rerun the paper's whole comparison (Table 1, Figure 4) with one command.

    python reproduce_table1.py                                      # paper setting, real ProGAN-128
    python reproduce_table1.py --generator dcgan-digiface --setting cpu-1h  # offline, trained networks, ~1 h
    python reproduce_table1.py --generator synthetic --setting cpu --facenet random  # offline ground truth, minutes
The last is the synthetic Table 1 of docs/results.md, made with a random FaceNet (a
stand-in, labelled so); without --facenet it uses the trained Sandberg FaceNet.

Steps, each printed as the command that would run it alone:
  1. generate_faces.py   the 50 test faces (paper setting: also the 100k training faces)
  2. resnet.py           the z-loss encoder and the z + perceptual encoder (and, if the
                         hybrid starts from it, a z + pixel encoder)
  3. resnet_test.py      the encoders on the test faces, and the encoder the repository
                         ships for the generator (weights/), if there is one
  4. gradient_based_recovery.py   the mean-latent floor, adam, stochastic-clipping
                         (200 steps each), the hybrid (encoder-init: an encoder's guess,
                         then a few steps), the hybrid from the shipped encoder (its own
                         steps) and, in cpu-1h, Adam for 1000 steps
  5. report_table1.py    table1.md, table1.csv, figure4.png
Results go to results/<generator>/ (with this run's settings in reproduce_table1.json),
encoders to saved_model/encoder_<generator>-<setting>-*. The settings of each step are
in faceinv/inversion/comparison.py.
Rerun the same command after a kill: face sets and encoder training resume, and a
method whose results were written with the same settings (its config.json) is not run again.
"""
import dataclasses
import os

import generate_faces
import gradient_based_recovery
import report_table1
import resnet
import resnet_test
from faceinv import cli, config, files
from faceinv.errors import InputError
from faceinv.inversion.comparison import ENCODERS, LOSSES, SETTINGS, encoder_folder, encoder_run
from faceinv.inversion.encoder_choice import SHIPPED
from faceinv.models.facenet import DEFAULT as FACENET
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.generators import GENERATOR, GENERATOR_HELP, generator_tag
from faceinv.paths import PATH_CHECKPOINTS, PATH_RESULTS, PATH_Z_VECTORS
from faceinv.report.results import METRICS


@dataclasses.dataclass
class Config:
    generator: str = config.setting(GENERATOR, GENERATOR_HELP)
    setting: str = config.setting("paper", "paper: the paper's sizes; cpu: small encoders, minutes on a CPU (the "
                                    "synthetic ground-truth run); cpu-1h: about an hour on 2 CPU cores, for a "
                                    "trained generator (cpu-2h, its old name, is the same); smoke: a plumbing check",
                                  choices=sorted(SETTINGS))
    facenet: str = config.setting(FACENET, FACENET_HELP)
    hybrid_encoder: str = config.setting(None, "the encoder the hybrid starts from (default: the setting's)",
                                  choices=ENCODERS, type=str)
    encoders: str = config.setting(",".join(ENCODERS), "the comparison's encoders to train, comma-separated "
                                   "('' trains none: the shipped encoder's and the optimisation rows only)")
    results: str = config.setting(None, f"output folder (default: {PATH_RESULTS}/<generator>)", type=str, output=True)
    rerun: bool = config.setting(False, "run every method again, even if done")


def _announce(script, step_config, command=None):
    print(f"\n$ {config.command_line(script.__name__ + '.py', step_config, command)}", flush=True)


def _run_method(script, function, step_config, rerun):
    """Run a recovery step unless its output folder holds results of the same settings."""
    step_config = script.resolve(step_config)
    _announce(script, step_config)
    saved = os.path.join(step_config.out, config.CONFIG_FILE)
    if not rerun and os.path.exists(os.path.join(step_config.out, METRICS)) and os.path.exists(saved):
        if files.load_json(saved) == config.as_dict(step_config):
            print(f"(done before with these settings: keeping {step_config.out})")
            return
    function(step_config)


def reproduce(c):
    s = SETTINGS[c.setting]
    tag = generator_tag(c.generator)
    z_folder = os.path.join(PATH_Z_VECTORS, tag)
    test = os.path.join(z_folder, "test" if c.setting != "smoke" else "smoke")
    results = c.results or os.path.join(PATH_RESULTS, tag)
    config.write(results, dataclasses.replace(c, results=results), "reproduce_table1.json")

    faces = generate_faces.Config(generator=c.generator, set="test", out=test, n=s.get("test_faces"))
    _announce(generate_faces, faces)
    generate_faces.generate(faces)
    train_faces = ""
    if s["train_faces"]:
        train_faces = os.path.join(z_folder, "train")
        faces = generate_faces.Config(generator=c.generator, set="train", out=train_faces, n=s["train_faces"])
        _announce(generate_faces, faces)
        generate_faces.generate(faces)

    hybrid_encoder = c.hybrid_encoder or s["hybrid_encoder"]
    wanted = [kind for kind in c.encoders.replace(" ", "").split(",") if kind]
    unknown = sorted(set(wanted) - set(ENCODERS))
    if unknown:
        raise InputError(f"--encoders: unknown encoder {unknown[0]!r}; choose from {', '.join(ENCODERS)}")
    if "z-perceptual" in wanted and s.get("perceptual_from") and s["perceptual_from"] not in wanted:
        wanted.append(s["perceptual_from"])  # the FaceNet encoder refines it
    base = dataclasses.replace(resnet.Config(), generator=c.generator, facenet=c.facenet, **s["encoder"])
    if train_faces:
        base = dataclasses.replace(base, train_faces=train_faces)
    encoders = {}
    for kind in ENCODERS:
        if kind not in wanted or (kind == "z-pixel" and hybrid_encoder != kind):
            continue
        encoder = dataclasses.replace(base, run=encoder_run(tag, c.setting, kind), **LOSSES[kind],
                                      **s["encoders"][kind])
        if kind == "z-perceptual" and s.get("perceptual_from"):
            # refine a cheaper encoder with FaceNet instead of starting from scratch
            encoder = dataclasses.replace(encoder, init_from=os.path.join(
                PATH_CHECKPOINTS, encoder_run(tag, c.setting, s["perceptual_from"])))
        _announce(resnet, encoder)
        resnet.train(encoder)
        encoders[kind] = encoder_folder(tag, c.setting, kind)
        name = f"resnet-{kind}"
        _run_method(resnet_test, resnet_test.test, resnet_test.Config(
            encoder=encoders[kind], faces=test, name=name, out=os.path.join(results, name)), c.rerun)

    shipped = SHIPPED.get(tag)
    if shipped and os.path.isfile(shipped.path):
        _run_method(resnet_test, resnet_test.test, resnet_test.Config(
            encoder=shipped.path, faces=test, name="resnet-shipped",
            out=os.path.join(results, "resnet-shipped")), c.rerun)

    recovery = gradient_based_recovery.Config(faces=test)
    methods = {"mean-latent": dict(method="mean-latent"),
               "adam": dict(method="adam", steps=s["steps"]),
               "stochastic-clipping": dict(method="stochastic-clipping", steps=s["steps"])}
    if hybrid_encoder in encoders:
        methods["hybrid"] = dict(method="encoder-init", encoder=encoders[hybrid_encoder], steps=s["hybrid_steps"],
                                 learning_rate=s["hybrid_lr"])
    if shipped and os.path.isfile(shipped.path):
        methods["hybrid-shipped"] = dict(method="encoder-init", encoder=shipped.path)  # its own steps
    if s.get("long_steps"):
        methods[f"adam-{s['long_steps']}"] = dict(method="adam", steps=s["long_steps"])
    for name, method in methods.items():
        _run_method(gradient_based_recovery, gradient_based_recovery.recover, dataclasses.replace(
            recovery, name=name, out=os.path.join(results, name), **method), c.rerun)

    report = report_table1.Config(results=results, facenet=c.facenet)
    _announce(report_table1, report)
    report_table1.report(report)


def main(argv=None):
    reproduce(config.parse(Config, argv, __doc__))


if __name__ == "__main__":
    cli.run(main)
