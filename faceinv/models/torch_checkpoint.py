"""Read a PyTorch zip checkpoint (torch.save, torch >= 1.6) into NumPy, without torch.

Why not pickle.load: a pickle names callables and the loader calls them, so a
checkpoint can run any code. This reader allows exactly the few names that a
state dict of float32 / int64 tensors needs, maps them to functions that only
build NumPy arrays, and refuses everything else. Every array it returns is a
fresh, native-endian copy whose strides were checked against its storage.

The zip holds `<name>/data.pkl` (the pickled dict), `<name>/byteorder` and one
raw storage `<name>/data/<key>` per tensor storage, referenced from the pickle
by persistent id ('storage', storage type, key, location, numel).
"""
import collections
import io
import pickle
import zipfile
import zlib

import numpy as np

from faceinv.errors import InputError

STORAGE_DTYPES = {"FloatStorage": np.dtype(np.float32), "LongStorage": np.dtype(np.int64)}


def _rebuild_tensor(storage, offset, size, stride, *_):
    """torch._utils._rebuild_tensor_v2, as a bounds-checked copy out of a 1-D storage."""
    if not (isinstance(storage, np.ndarray) and storage.ndim == 1 and storage.flags.c_contiguous):
        raise InputError(f"a tensor is rebuilt from {type(storage).__name__}, not from a storage")
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise InputError(f"a tensor has size {size}, stride {stride}, offset {offset}")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= len(storage):
        raise InputError(f"a tensor of size {size}, stride {stride}, offset {offset} reaches "
                         f"element {last} of a storage of {len(storage)}")
    strides = tuple(s * storage.itemsize for s in stride)
    return np.lib.stride_tricks.as_strided(storage[offset:], size, strides).copy()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix, byteorder, path):
        super().__init__(file)
        self._archive, self._prefix, self._byteorder, self._path = archive, prefix, byteorder, path
        self._storages = {}

    def find_class(self, module, name):
        """The only names allowed. A BUILD opcode can set attributes on what this
        returns, so nothing shared and mutable leaves here: OrderedDict is an
        immutable type, a storage type becomes its name (a str), and the rebuild
        is a fresh function for each load."""
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda *args: _rebuild_tensor(*args)
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise InputError(f"{self._path} refers to {module}.{name}, which a checkpoint of "
                         f"plain tensors never needs; refusing to load it")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], str) and pid[1] in STORAGE_DTYPES):
            raise InputError(f"{self._path} has an unknown persistent id {pid!r}")
        _, storage_type, key, _, numel = pid
        dtype = STORAGE_DTYPES[storage_type]
        if key not in self._storages:
            raw = _read_member(self._archive, f"{self._prefix}/data/{key}", self._path)
            if len(raw) != numel * dtype.itemsize:
                raise InputError(f"{self._path}: storage {key} holds {len(raw)} bytes, "
                                 f"not the {numel * dtype.itemsize} of {numel} {dtype} values")
            stored = dtype.newbyteorder("<" if self._byteorder == "little" else ">")
            self._storages[key] = np.frombuffer(raw, stored).astype(dtype)
        return self._storages[key]


def _read_member(archive, name, path):
    try:
        return archive.read(name)
    except KeyError:
        raise InputError(f"{path} is incomplete: it has no {name}") from None
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError) as error:
        raise InputError(f"{path} is damaged: {name}: {error}") from None


def load_state_dicts(path):
    """The top-level dict of a checkpoint: name -> OrderedDict of NumPy arrays."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(f"{path} is not a PyTorch zip checkpoint ({error})") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise InputError(f"{path} is not a PyTorch zip checkpoint (no single <name>/data.pkl)")
        prefix = pickles[0].split("/")[0]
        byteorder = "little"  # files written before torch recorded it are little-endian
        if f"{prefix}/byteorder" in archive.namelist():
            byteorder = _read_member(archive, f"{prefix}/byteorder", path).decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise InputError(f"{path}: unknown byte order {byteorder!r}")
        data = _read_member(archive, pickles[0], path)
        unpickler = _Unpickler(io.BytesIO(data), archive, prefix, byteorder, path)
        try:
            loaded = unpickler.load()
        except InputError:
            raise
        except Exception as error:  # a malformed pickle raises many kinds
            reason = (str(error).splitlines() or [""])[0]
            raise InputError(f"{path}: unreadable {pickles[0]} ({type(error).__name__}: {reason})") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{path} holds a {type(loaded).__name__}, not a dict of state dicts")
    return loaded
