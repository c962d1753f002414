"""A web page to invert and edit a face: upload a photo or use the webcam.

The page shows the photo's face as MTCNN aligns it to the generator's framing
(face 0, the largest, as invert_photo.py picks it), its reconstruction (the
encoder's guess, then the refinement steps as they run), the FaceNet identity
similarity and the time taken. "Tune to this face" then tunes a copy of the
generator so the inverted latent draws the photo (pivotal tuning,
faceinv/inversion/tuning.py; --tune steps, 0 for none), showing the face as it
sharpens, its PSNR and identity similarity. Sliders move the latent along the
InterFaceGAN boundaries (optionally conditional), a second face can be
interpolated to, and the attribute inverter adds or removes eyeglasses where
one is trained: all drawn by the visitor's tuned copy once there is one. The
page holds a few tuned copies (the least recently used and those unused for
30 minutes are dropped; the page then says to tune again). The latent (.npy),
the faces (.png) and the tuned generator (.npz with its .sha256, for
interfacegan_svm.py edit --tuned) can be downloaded. What is missing
(no encoder, no boundaries, no inverter, a generator that cannot be tuned)
is said on the page, with the command that makes it where there is one.

    pip install -r requirements-demo.txt
    python demo.py                                  # the trained DCGAN, offline: http://127.0.0.1:7860
    python demo.py --generator synthetic            # the ground-truth test bed
    python demo.py --host 0.0.0.0 --ssl-certfile cert.pem --ssl-keyfile key.pem   # other machines

It listens on 127.0.0.1 by default: browsers give the webcam to secure origins
only, which are https:// pages and the loopback address. Nothing is fetched
from elsewhere (no analytics, no web fonts); uploads and downloads stay under
--out.
"""
import dataclasses
import ipaddress
import os

from faceinv import cli, config, files  # cli first: it quiets TensorFlow's start-up
from faceinv.config import setting
from faceinv.errors import InputError
from faceinv.inversion import tuning
from faceinv.models.facenet import DEFAULT as FACENET
from faceinv.models.facenet import HELP as FACENET_HELP
from faceinv.models.generators import GENERATOR_HELP, PHOTO_GENERATOR
from faceinv.paths import PATH_BOUNDARIES, PATH_INVERTERS, PATH_RESULTS

PATH_DEMO = os.path.join(PATH_RESULTS, "demo")


@dataclasses.dataclass
class Config(tuning.TuneOptions):
    generator: str = setting(PHOTO_GENERATOR, GENERATOR_HELP)
    encoder: str = setting(None, "encoder weights file (.npz) or exported folder, or none for optimisation "
                                 "alone (default: the one shipped for the generator in weights/, else one "
                                 "trained here)", type=str)
    steps: int = setting(None, "refinement steps (default: the encoder's own; 200 without one)", type=int)
    learning_rate: float = setting(None, "refinement step size (default: the encoder's own)", type=float,
                                   flags=("--lr",))
    boundaries: str = setting(None, f"boundary folder (default: {PATH_BOUNDARIES}/<generator>)", type=str)
    inverter: str = setting(None, f"exported attribute inverter, or none (default: the first eyeglasses "
                                  f"inverter in {PATH_INVERTERS} trained for this generator, by its "
                                  "inverter.json, under any run name)", type=str)
    facenet: str = setting(FACENET, "for the identity similarity: " + FACENET_HELP)
    host: str = setting("127.0.0.1", "address to listen on; another than loopback needs --ssl-certfile")
    port: int = setting(7860, "port (0: Gradio's choice, the first free one from 7860 up)")
    ssl_certfile: str = setting(None, "HTTPS certificate (PEM)", type=str)
    ssl_keyfile: str = setting(None, "HTTPS key (PEM)", type=str)
    out: str = setting(PATH_DEMO, "the page's folder: uploads, downloads, config.json", output=True)


def default_inverter(generator, folder=PATH_INVERTERS):
    """The first exported eyeglasses inverter in `folder` (in run-name order, whatever the names)
    whose inverter.json says it was trained for this generator, on faces framed like the
    generator's; None if there is none."""
    from faceinv.editing.residual_gan import META_FILE, trained_for
    from faceinv.models.generators import generator_tag
    if not os.path.isdir(folder):
        return None
    tag = generator_tag(generator)
    for run in sorted(os.listdir(folder)):
        add = os.path.join(folder, run, "add")
        record = os.path.join(add, META_FILE)
        if not (os.path.exists(os.path.join(add, "saved_model.pb")) and os.path.exists(record)):
            continue
        handle, attribute = trained_for(files.load_json(record))
        if handle and generator_tag(handle) == tag and attribute == "eyeglasses":
            return os.path.join(folder, run)
    return None


def resolve(c):
    """Fill the encoder by the one rule (faceinv/inversion/encoder_choice.py) and the folders."""
    from faceinv.inversion.encoder_choice import choose_encoder
    from faceinv.models.generators import generator_tag
    loopback = c.host == "localhost" or _is_loopback(c.host)
    if not loopback and not (c.ssl_certfile and c.ssl_keyfile):
        raise InputError(f"serving on {c.host} needs --ssl-certfile and --ssl-keyfile: browsers give the webcam "
                         "to https:// pages and the loopback address only")
    c.tune_settings()
    tag = generator_tag(c.generator)
    choice = choose_encoder(tag, c.encoder)
    print(choice.describe())
    return dataclasses.replace(
        c, encoder=choice.path, boundaries=c.boundaries or os.path.join(PATH_BOUNDARIES, tag),
        inverter=c.inverter or default_inverter(c.generator) or "none")


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_editor(c):
    """The page's networks, loaded once, what the page should say is missing, and the settings
    with the encoder's own refinement steps filled in."""
    from faceinv.editing.boundaries import load_boundary_folder
    from faceinv.editing.face_editor import FaceEditor
    from faceinv.editing.residual_gan import LoadedInverter
    from faceinv.inversion.encoder_choice import hybrid_settings, load_chosen
    from faceinv.models.facenet import load_facenet
    from faceinv.models.generators import load_generator
    generator = load_generator(c.generator)
    missing = []
    encoder = load_chosen(c.encoder)
    steps, lr = hybrid_settings(c.encoder)
    c = dataclasses.replace(c, steps=steps if c.steps is None else c.steps,
                            learning_rate=lr if c.learning_rate is None else c.learning_rate)
    if encoder is not None:
        encoder.check_generator(generator)
    else:
        missing.append(f"No trained encoder for this generator: inversion is Adam from a random start "
                       f"({c.steps} steps). `python reproduce_table1.py --generator {c.generator} --setting cpu-1h` "
                       "trains one (about an hour on 2 CPU cores).")
    boundaries = load_boundary_folder(c.boundaries, generator.latent_dim)
    if not boundaries:
        missing.append(f"No boundaries in {c.boundaries}: no sliders. `python interfacegan_svm.py score "
                       f"--generator {c.generator} --source landmarks` then `python interfacegan_svm.py "
                       "boundaries --scores <its folder> --out " + c.boundaries + "` make them.")
    inverter = None
    if c.inverter != "none":
        inverter = LoadedInverter(c.inverter)
    else:
        missing.append(f"No eyeglasses inverter trained for this generator in {PATH_INVERTERS}: no eyeglasses "
                       "buttons. `python attribute_inverter.py train` trains one: `--config "
                       "configs/inverter-synthetic.json` for the synthetic faces, `--data dcgan` for the DCGAN "
                       "(after `interfacegan_svm.py score --source eyeglasses`), `--data celeba` for ProGAN-128 "
                       "(the paper's); docs/inverter.md.")
    if c.tune != 0 and not tuning.tunable(generator):
        missing.append(f"{generator.label} cannot be tuned (its weights are not a Keras model here): the page "
                       "has no tuning step.")
    editor = FaceEditor(generator, load_facenet(c.facenet), encoder, c.steps, c.learning_rate, boundaries,
                        inverter, tune_settings=c.tune_settings(generator))
    return editor, missing, c


def serve(c, block=True):
    """Start the page; returns (app, local URL). With block=False it serves in the background.
    One page per process: Gradio's upload folder (GRADIO_TEMP_DIR) is process-wide."""
    editor, missing, c = load_editor(resolve(c))
    os.makedirs(c.out, exist_ok=True)
    config.write(c.out, c)
    # Before Gradio is imported: its uploads go under the page's folder, and it phones nowhere.
    os.environ["GRADIO_TEMP_DIR"] = os.path.abspath(os.path.join(c.out, "uploads"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from faceinv.page import build_page, launch_options
    print(f"generator: {editor.generator.label}")
    page = build_page(editor, missing, c.out, c)
    app, url, _ = page.launch(server_name=c.host, server_port=c.port or None, ssl_certfile=c.ssl_certfile,
                              ssl_keyfile=c.ssl_keyfile, ssl_verify=False,  # a self-signed certificate is fine
                              prevent_thread_lock=not block, quiet=not block,
                              allowed_paths=[os.path.abspath(c.out)], **launch_options())
    return page, url


def main(argv=None):
    c = config.parse(Config, argv, __doc__)
    serve(c)


if __name__ == "__main__":
    cli.run(main)
