"""One trainer per run folder: a lock file that a second trainer finds held.

`lock_run_folder(folder)` opens `folder/LOCK_NAME`, takes an exclusive lock on it (flock) without waiting and
writes its process id there. The lock lasts while the returned file stays open (the trainer holds it from
the moment it writes into the folder until its run ends) and ends with the process however it ends: the
kernel drops it on kill -9 too, so a stale lock file is never in the way. A second trainer on the folder
gets FileExistsError naming the process that holds it, before it has written anything. Where flock does not
exist (Windows) no lock is taken.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".a2p_train.lock"


def lock_run_folder(folder: str | os.PathLike) -> IO[str]:
    """The open, locked lock file of `folder` (module docstring); keep it open while writing the run."""
    path = Path(folder) / LOCK_NAME
    handle = open(path, "a+")
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise FileExistsError(f"{folder}: another trainer (process {owner}) is writing this run now (it holds "
                              f"{path}); wait for it to end or stop it, or pass another --save_dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
