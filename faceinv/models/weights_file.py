"""Weight files that cannot run code: NumPy .npz archives, read with allow_pickle=False.

A SavedModel can carry arbitrary graph ops and a pickle arbitrary code, so the
weights this project ships (weights/) and writes hold numbers only: one array per
Keras variable, named by its path (`stage1_block1_conv1/kernel`), and the
settings that rebuild the model, as a JSON string under META_KEY. Every file's
SHA-256 is written beside it (<file>.sha256); a shipped file's is also kept in
the code. Either is checked before a file is read, so a damaged or altered copy
is refused rather than half-loaded.
"""
import hashlib
import json
import os
import zipfile

import numpy as np

from faceinv import files
from faceinv.errors import InputError

META_KEY = "__meta__"
SHA_SUFFIX = ".sha256"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write(path, arrays, meta):
    """Write `arrays` and `meta` to `path` (whole or not at all) and its SHA-256 beside it;
    returns the SHA-256."""
    if not str(path).endswith(".npz"):
        raise InputError(f"a weights file is an .npz archive: {path} should end in .npz")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {**arrays, META_KEY: np.array(json.dumps(meta, sort_keys=True))}

    def save(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
    files.atomic_write(path, save)
    digest = sha256(path)
    files.save_text(path + SHA_SUFFIX, f"{digest}  {os.path.basename(path)}\n")
    return digest


def read(path, expected_sha256=None, rebuild=""):
    """(arrays, meta) of a weights file. Its SHA-256 must be `expected_sha256` where given,
    else the one written beside it, if any; `rebuild` is the command that remakes the file,
    named in the error for a damaged copy. Every failure is one InputError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"weights file {path} does not exist" + (f" ({rebuild} writes it)" if rebuild else ""))
    expected = expected_sha256 or _sidecar(path)
    if expected and sha256(path) != expected:
        raise InputError(f"{path} is damaged or altered (its SHA-256 is not the recorded one)"
                         + (f": restore it from git or rebuild it with `{rebuild}`" if rebuild else ""))
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise InputError(f"{path} holds a single array, not a weights archive (.npz)")
        with archive:
            arrays = {name: archive[name] for name in archive.files}  # read all now: damage shows here
    except InputError:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise InputError(f"{path} is a pickle, which can run code: refused (weights files are .npz "
                             "archives of plain arrays)") from None
        raise InputError(f"{path} is truncated or not a weights archive ({_first_line(error)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise InputError(f"{path} is truncated or not a weights archive ({_first_line(error)})") from None
    if META_KEY not in arrays:
        raise InputError(f"{path} has no settings ({META_KEY}): it was not written by this project")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError:
        raise InputError(f"{path}: its settings ({META_KEY}) are not JSON") from None
    return arrays, meta


def read_meta(path):
    """A weights file's settings alone, unchecked ({} where it has none); `read` checks the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive[META_KEY]))
    except Exception:  # noqa: BLE001  any damage is reported by `read`, which loads the file whole
        return {}


def _sidecar(path):
    side = path + SHA_SUFFIX
    if not os.path.isfile(side):
        return None
    with open(side) as f:
        words = f.read().split()
    return words[0] if words else None


def _first_line(error):
    return (str(error).splitlines() or [type(error).__name__])[0][:160]


def keras_arrays(model, dtype=np.float32):
    """Every variable of a Keras model by its path, floats stored as `dtype`."""
    out = {}
    for variable in model.weights:
        value = np.asarray(variable)
        out[variable.path] = value.astype(dtype) if np.issubdtype(value.dtype, np.floating) else value
    return out


def assign_keras(model, arrays, path):
    """Set a Keras model's variables from `arrays`; the names and shapes must match exactly."""
    wanted = {v.path: v for v in model.weights}
    missing, extra = sorted(set(wanted) - set(arrays)), sorted(set(arrays) - set(wanted))
    if missing or extra:
        raise InputError(f"{path} does not fit the model it describes ({len(missing)} variables missing, "
                         f"{len(extra)} unexpected, e.g. {(missing + extra)[0]})")
    for name, variable in wanted.items():
        value = arrays[name]
        if tuple(value.shape) != tuple(variable.shape):
            raise InputError(f"{path}: {name} has shape {tuple(value.shape)}, the model needs "
                             f"{tuple(variable.shape)}")
        if not np.all(np.isfinite(value)):
            raise InputError(f"{path}: {name} holds NaN or infinite values")
        variable.assign(value.astype(variable.dtype))
