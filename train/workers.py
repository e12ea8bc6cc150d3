"""DataLoader worker processes that outlive a stop signal to the process group and never outlive the trainer.

A signal sent to the whole process group (Ctrl-C in a terminal, `timeout`, most schedulers) must reach the
training process alone, so that it can save the step: the workers are forked with SIGINT and SIGTERM blocked
(`LoaderWorkers.start`), then ignore SIGINT and treat SIGTERM as "stop" only once the trainer has set the
shared `stopping` event (`LoaderWorkers.init_worker`). Whatever ends the trainer's loop (the end of training,
Ctrl-C, SIGTERM, an error such as a full disk or a vanished save folder), `LoaderWorkers.stop` sets the
event and sends each worker SIGTERM (it exits at once, even in the middle of a batch); once the loader has
shut down, `LoaderWorkers.join` waits at most GRACE_SECONDS and kills (SIGKILL) a worker still running then
(one stuck in a long C call; killing it earlier would make the loader report a crashed worker). Without this,
the trainer's exit waited for workers that ignore the SIGTERM of multiprocessing's clean-up: minutes, or
forever.

    workers = LoaderWorkers()
    loader = DataLoader(dataset, num_workers=2, worker_init_fn=workers.init_worker, ...)
    batches = None
    try:
        batches = workers.start(loader)
        for batch in batches: ...
    finally:
        workers.stop()      # they exit at once
        batches = None      # the loader's own shut-down finds them gone (and stops watching them)
        workers.join()      # one still running after GRACE_SECONDS is killed
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 5.0


@contextlib.contextmanager
def stop_signals_blocked():
    """Ctrl-C and SIGTERM wait while the block runs in this thread (they are delivered when it ends), so that
    processes forked inside it start with them blocked; `LoaderWorkers.init_worker` takes it from there."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to worry about
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class LoaderWorkers:
    """The worker processes of one DataLoader iterator (module docstring)."""

    def __init__(self) -> None:
        self.stopping = multiprocessing.Event()
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def init_worker(self, worker_id: int) -> None:
        """worker_init_fn of the DataLoader: ignore Ctrl-C, exit on SIGTERM once the trainer is stopping, then
        unblock both signals."""
        stopping = self.stopping

        def on_terminate(signum, frame):
            if stopping.is_set():
                os._exit(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, on_terminate)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def start(self, loader) -> Iterator:
        """iter(loader), which starts its workers (with the stop signals blocked); they are remembered."""
        before = set(multiprocessing.active_children())
        with stop_signals_blocked():
            batches = iter(loader)
        self.processes = [child for child in multiprocessing.active_children() if child not in before]
        return batches

    def stop(self) -> None:
        """Ask every worker to exit now (SIGTERM with the event set), even in the middle of a batch."""
        self.stopping.set()
        for process in self.processes:
            if process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def join(self) -> None:
        """Wait for the workers after `stop` and the loader's shut-down; kill one still running after
        GRACE_SECONDS."""
        for process in self.processes:
            process.join(GRACE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        self.processes = []
