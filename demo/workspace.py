"""The demo's temporary files: one workspace folder per process, removed however the process ends, and
request folders removed by age.

`open_workspace(output_dir)`: with --output_dir, that folder (the user's own: it is kept); else a new folder
`a2p_demo_<pid>_<random>` in the system's temporary folder, owned by this process and removed when it ends:
normally, by Ctrl-C, or by SIGTERM (`stop_on_sigterm` turns SIGTERM into Ctrl-C's KeyboardInterrupt, so the
server closes and the exit handlers run). The folder of a demo killed outright (kill -9) is removed by the
next demo started, which deletes the workspaces of processes that no longer run.

`remove_old_requests(workspace)`: every request's folder (`request_*`) is deleted after the page has
fetched its files (the page's follow-up call); a request made through the API, without that call, leaves
its folder until a later request finds it older than REQUEST_SECONDS and deletes it. Gradio's uploads are
deleted after each request, its served copies after CACHE_SECONDS (demo/demo.py).
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from utils.files import process_runs

PREFIX = "a2p_demo_"
REQUEST_PREFIX = "request_"
REQUEST_SECONDS = 600  # a request's folder older than this is deleted (its files were served long before)
_OWNER = re.compile(rf"^{PREFIX}(\d+)_")


def remove_abandoned_workspaces(root: Path) -> list[Path]:
    """Delete the workspaces in `root` of demos that no longer run; returns them."""
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        owner = _OWNER.match(folder.name)
        if owner and folder.is_dir() and not process_runs(int(owner.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def open_workspace(output_dir: str = "") -> Path:
    """The demo's workspace folder (module docstring): `output_dir`, or a new folder owned by this process,
    removed at exit."""
    if output_dir:
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    root = Path(tempfile.gettempdir())
    remove_abandoned_workspaces(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}_", dir=root))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def stop_on_sigterm() -> None:
    """SIGTERM acts as Ctrl-C from now on (in the main thread), so that the exit handlers run."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def remove_old_requests(workspace: Path, max_age: float = REQUEST_SECONDS) -> list[Path]:
    """Delete the request folders in `workspace` last changed more than `max_age` seconds ago; returns them."""
    now, removed = time.time(), []
    for folder in workspace.glob(f"{REQUEST_PREFIX}*"):
        if folder.is_dir() and now - folder.stat().st_mtime > max_age:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
