"""Writing files so that no work is lost to a crash, a kill or a full disk.

Every file a2p writes (checkpoints, data_stats.pth, results.npy, args.json, scene files, metrics, BVH, CSV,
videos) goes through `atomic_write(path)`: the content is written to a temporary file beside `path`
(`.<name>.<pid>.tmp`), which is renamed over `path` only when complete, so `path` holds either its old content
or the new one, never a partial file. On any failure the temporary file is removed, and an OSError (a full
disk, a read-only folder) becomes a WriteError naming the file and the cause ("no space left on the
device ..." for ENOSPC). A process killed while writing (kill -9) leaves its temporary file behind:
`remove_stale_temp_files(folder)` deletes those of processes that no longer run (trainers call it at start).

    with atomic_write("run/opt000001000.pt") as tmp, open(tmp, "wb") as handle:
        torch.save(state, handle)   # a file object: a full disk raises OSError(ENOSPC), not torch's RuntimeError

`check_writable_folder(folder)` creates a folder and proves it takes a file, before long work that ends in
writing there; `writable_output_folder(folder)` does so for a block, and removes the folder again when the
block fails and leaves it empty (a failed run leaves no empty output folder).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")  # .<name>.<pid>.tmp


class WriteError(OSError):
    """A file could not be written; the message names the file, the cause and the fix."""


def _free_space(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2 ** 20:.0f} MB free"
    except OSError:
        return "free space unknown"


def write_error(path: Path, error: OSError, folder: Path | None = None) -> WriteError:
    """A WriteError naming `path` (a file, or a folder to write into) for `error`: no space left, permission
    denied, ..."""
    folder = folder or path.parent
    if error.errno == errno.ENOSPC:
        cause = (f"no space left on the device of {folder} ({_free_space(folder)}); free some space or write to "
                 f"another disk")
    else:
        cause = f"{error.strerror or error}; check that {folder} is a writable folder"
    written = WriteError(f"{path}: could not write {'into it' if path == folder else 'it'}: {cause}")
    written.errno = error.errno
    return written


def temp_path(path: Path, pid: int | None = None) -> Path:
    """The temporary file beside `path` that process `pid` (default: this one) writes before renaming it."""
    return path.with_name(f".{path.name}.{os.getpid() if pid is None else pid}.tmp")


def _os_error_in(error: BaseException) -> OSError | None:
    """The OSError that `error` is or was raised from (torch.save turns a failed write into a RuntimeError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces `path` when the block ends without error (module
    docstring). Failures remove it; an OSError (also one wrapped by the writer) becomes a WriteError naming
    `path`."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as error:
        cause = _os_error_in(error)
        if cause is None or isinstance(error, WriteError):
            raise
        raise write_error(path, cause) from error
    finally:
        tmp.unlink(missing_ok=True)


def process_runs(pid: int) -> bool:
    """Whether process `pid` runs (also one of another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `atomic_write` left in `folder` by processes that no longer run; returns
    them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        match = _TEMP_NAME.match(path.name)
        if match and path.is_file() and not process_runs(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Create `folder` (with parents) and prove a file can be written there; a WriteError / NotADirectoryError
    naming it otherwise. Run it before long work whose result goes there."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: the {what} is an existing file, not a folder; pass a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".a2p_write_check_"):
            pass
    except OSError as error:
        raise write_error(folder, error, folder) from error
    return folder


@contextlib.contextmanager
def writable_output_folder(folder: str | os.PathLike, what: str = "output folder") -> Iterator[Path]:
    """check_writable_folder(folder) for a block of long work that ends in writing there; when the block fails
    (bad input, a full disk, Ctrl-C), a folder it created and left empty is removed again."""
    created = not Path(folder).exists()
    folder = check_writable_folder(folder, what)
    try:
        yield folder
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        raise
