"""Reading the pickle-bearing files a2p takes from others without running code from them.

A pickle may name any Python callable and have it called while loading (`__reduce__`), so a data file could
run a shell command. Every pickle-bearing file a2p reads goes through this module: `data_stats.pth` (a
torch.save zip holding a dict of numpy arrays), `results.npy` (np.save of a dict of numpy arrays), model and
optimizer checkpoints (`*.pt`, `*.pth`), including the original code's files. The unpickler may only name
the globals of an allow-list:

- SAFE_GLOBALS: numpy arrays, dtypes and scalars (the reconstruct helpers numpy's pickles name, under the
  module names of numpy 1.x `numpy.core.*` and 2.x `numpy._core.*`), a few plain builtins (set, frozenset,
  complex, bytearray), `collections.OrderedDict` and `_codecs.encode` (how protocol-2 pickles store bytes).
  Plain containers (dict, list, tuple), strings and numbers need no global. Torch checkpoints also load
  tensors and state dicts through torch's own `weights_only=True` unpickler.
- `extra`: a caller may allow more classes for one file kind, by name -> object, e.g.
  {"argparse.Namespace": argparse.Namespace} for the original's fairseq checkpoints. Only plain data
  classes belong there; nothing is ever imported by name from a file.

Anything else is refused with UnsafeFileError, one line naming the file and the global it asked for;
nothing of the file has run by then. A file that is merely broken (truncated, not a pickle) raises the
reading library's own error (OSError, ValueError, pickle.UnpicklingError, RuntimeError), for the caller to
name the file and the fix.

    stats = load_torch("dataset/PXB184/data_stats.pth")           # dict of numpy arrays
    results = load_npy("samples/results.npy").item()               # the dict inside a pickled .npy
"""
from __future__ import annotations

import codecs
import collections
import importlib
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch


class UnsafeFileError(ValueError):
    """A pickle-bearing file that names a global outside the allow-list (module docstring)."""

    def __init__(self, path: str | os.PathLike, names: list[str]):
        self.path, self.names = Path(path), names
        super().__init__(f"{path}: refused to load: it asks for {', '.join(names)}, which is not plain data "
                         f"(only numpy arrays, tensors and Python containers are read from files, since a "
                         f"pickle can run code); nothing of it was run — use a file from a source you trust, "
                         f"or recreate it")


def _numpy_globals() -> dict[str, Any]:
    """name -> object of the numpy globals that pickles of arrays, dtypes and scalars name (numpy 1.x and 2.x)."""
    multiarray = importlib.import_module("numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray")
    allowed: dict[str, Any] = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    numeric = importlib.import_module("numpy._core.numeric" if hasattr(np, "_core") else "numpy.core.numeric")
    for core in ("numpy.core", "numpy._core"):
        allowed[f"{core}.multiarray._reconstruct"] = multiarray._reconstruct
        allowed[f"{core}.multiarray.scalar"] = multiarray.scalar
        allowed[f"{core}.numeric._frombuffer"] = numeric._frombuffer  # pickle protocol 5
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: one class per dtype, e.g. numpy.dtypes.Float64DType
    for name in dir(dtypes) if dtypes is not None else ():
        if name.endswith("DType"):
            allowed[f"numpy.dtypes.{name}"] = getattr(dtypes, name)
    return allowed


SAFE_GLOBALS: dict[str, Any] = {
    **_numpy_globals(),
    "builtins.set": set, "builtins.frozenset": frozenset, "builtins.complex": complex,
    "builtins.bytearray": bytearray, "collections.OrderedDict": collections.OrderedDict,
    "_codecs.encode": codecs.encode,
}


def allowed_globals(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """SAFE_GLOBALS plus the caller's `extra` (name -> object)."""
    return {**SAFE_GLOBALS, **(extra or {})}


class _RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only the globals of `allowed`; UnsafeFileError for any other."""

    def __init__(self, file, path: Path, allowed: Mapping[str, Any]):
        super().__init__(file)
        self.path, self.allowed = path, allowed

    def find_class(self, module: str, name: str) -> Any:
        key = f"{module}.{name}"
        if key not in self.allowed:
            raise UnsafeFileError(self.path, [key])
        return self.allowed[key]


def read_npy_header(handle) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the header of a .npy file open for binary reading, left at the start of the data."""
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(handle)
    return shape, dtype


def _check_npy_size(handle, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """ValueError when the data a .npy header declares is more than the file holds after the header (a
    truncated or crafted file: numpy would allocate the declared size first, 931 TiB for (1e12, 256))."""
    declared = math.prod(shape) * dtype.itemsize
    held = os.fstat(handle.fileno()).st_size - handle.tell()
    if declared > held:
        raise ValueError(f"its header declares a {shape} {dtype} array ({declared:,} bytes) but the file holds "
                         f"{held:,} bytes of data (truncated or crafted)")


def read_npy_array(path: str | os.PathLike) -> np.ndarray:
    """The plain (not object) array of a .npy file, its header checked against the file's size before anything
    is allocated; ValueError for an object array, a header that declares more than the file holds, or a file
    numpy cannot read."""
    with open(path, "rb") as handle:
        shape, dtype = read_npy_header(handle)
        if dtype.hasobject:
            raise ValueError("an object array (pickled Python objects), not a plain numeric array")
        _check_npy_size(handle, shape, dtype)
    return np.load(path, allow_pickle=False)


def load_npy(path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> np.ndarray:
    """The array of a .npy file (read_npy_array); an object array (np.save of a dict or list) is unpickled
    with the allow-list. `.item()` of the result gives the dict of a results.npy."""
    path = Path(path)
    with open(path, "rb") as handle:
        _, dtype = read_npy_header(handle)
        if dtype.hasobject:
            return _RestrictedUnpickler(handle, path, allowed_globals(extra)).load()
    return read_npy_array(path)


def _refused_globals(path: Path, allowed: Mapping[str, Any]) -> list[str]:
    """The globals a torch file names outside `allowed` and torch's own weights_only list ([] when the file
    cannot be scanned: then it is broken rather than unsafe)."""
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint, or unreadable: the load error itself is reported
        return []
    return [name for name in unsafe if name not in allowed]


def load_torch(path: str | os.PathLike, map_location: torch.device | str = "cpu",
               extra: Mapping[str, Any] | None = None) -> Any:
    """torch.load(weights_only=True) of a checkpoint or torch.save file, numpy arrays and `extra` allowed."""
    path = Path(path)
    allowed = allowed_globals(extra)
    try:
        with torch.serialization.safe_globals([(obj, name) for name, obj in allowed.items()]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _refused_globals(path, allowed)
        if refused:
            raise UnsafeFileError(path, refused) from error
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))
        raise pickle.UnpicklingError(f"malformed pickle: {reason.group(1) if reason else error}") from error
