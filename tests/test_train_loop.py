"""The shared training loop on a toy problem: a small MLP (with dropout) regressing a known function of
random inputs, each item drawn from its seed. Covers learning, exact resume, checkpoints, EMA, the LR
schedule, Ctrl-C, save_dir rules, the step-seed sampler and DDP (torchrun, 2 CPU processes, gloo)."""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from data_loaders.sampler import StepSeedSampler, global_batch_seeds
from train.checkpoint import checkpoint_path, latest_checkpoint, list_checkpoints, load_checkpoint_file, \
    load_model_checkpoint
from train.loop import TrainConfig, TrainLoop, learning_rate
from utils.config import arg, from_dict, load_args_json, parse_config
from utils.device import seed_everything

INPUT_DIM = 4
TARGET_WEIGHTS = np.array([0.5, -0.8, 0.3, 0.6], dtype=np.float32)


@dataclass
class ToyConfig:
    """Toy regressor."""
    hidden: int = arg(32, "hidden width")
    dropout: float = arg(0.1, "dropout probability")
    busy_work: int = arg(0, "size n of an n x n buffer saved with the model and multiplied by itself in every "
                            "forward: keeps the training process in C code and its saves busy, like a real model's")
    stuck_after: int = arg(0, "items a data loading process gives before loading hangs, like a dead network disk "
                              "(0: never)")
    disk_room: int = arg(0, "bytes the checkpoint files may take before writes fail like a full disk (0: no limit; "
                            "tests/ddp_worker.py)")


class ToyModel(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(INPUT_DIM, cfg.hidden), nn.Tanh(), nn.Dropout(cfg.dropout),
                                 nn.Linear(cfg.hidden, 1))
        self.register_buffer("busy", torch.ones(cfg.busy_work, cfg.busy_work))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.busy @ self.busy
        return self.net(x)[:, 0]


class ToyDataset:
    """Item `seed`: x ~ N(0, I_4), y = sin(x . w) (both from default_rng(seed)); after `stuck_after` items
    (when not 0) each process loading them hangs."""

    def __init__(self, stuck_after: int = 0):
        self.stuck_after, self.loaded = stuck_after, 0

    def __getitem__(self, seed: int) -> dict:
        self.loaded += 1
        if self.stuck_after and self.loaded > self.stuck_after:
            time.sleep(3600)
        x = np.random.default_rng(seed).standard_normal(INPUT_DIM).astype(np.float32)
        return {"x": torch.from_numpy(x), "y": torch.tensor(np.sin(x @ TARGET_WEIGHTS), dtype=torch.float32),
                "seed": seed}


def toy_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    error = model(batch["x"]) - batch["y"]
    return (error ** 2).mean(), {"mae": error.abs().mean().item()}


def toy_config(save_dir: Path, **overrides) -> TrainConfig:
    values = dict(save_dir=str(save_dir), seed=3, batch_size=16, num_steps=40, lr=3e-3, warm_up_iter=5,
                  log_interval=10, save_interval=20, eval_interval=0, ema_decay=0.9, device="cpu", num_workers=0)
    return TrainConfig(**{**values, **overrides})


def toy_loop(save_dir: Path, toy: ToyConfig = ToyConfig(), loss_fn=toy_loss, init_seed: int = 0,
             **overrides) -> TrainLoop:
    seed_everything(init_seed)
    return TrainLoop(ToyModel(toy), loss_fn, ToyDataset(), toy_config(save_dir, **overrides),
                     configs_to_save=(toy,))


def interrupting_loss(at_call: int):
    """toy_loss that raises KeyboardInterrupt (as Ctrl-C would) on call number `at_call` (0-based)."""
    calls = []

    def loss_fn(model, batch):
        if len(calls) == at_call:
            raise KeyboardInterrupt
        calls.append(1)
        return toy_loss(model, batch)
    return loss_fn


def assert_state_dicts_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# --------------------------------------------------------------------------------------------- sampler

def test_sampler_is_a_function_of_seed_and_step_and_splits_the_global_batch():
    full = list(StepSeedSampler(seed=5, global_batch_size=8, num_steps=6))
    assert full == [global_batch_seeds(5, step, 8) for step in range(6)]
    assert list(StepSeedSampler(seed=5, global_batch_size=8, start_step=4, num_steps=6)) == full[4:]
    ranks = [list(StepSeedSampler(5, 8, rank=r, world_size=2, num_steps=6)) for r in range(2)]
    assert [a + b for a, b in zip(*ranks)] == full
    assert full[0] != full[1] and full[0] != list(StepSeedSampler(seed=6, global_batch_size=8, num_steps=1))[0]
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        StepSeedSampler(seed=5, global_batch_size=8, world_size=3)
    loader = DataLoader(ToyDataset(), batch_sampler=StepSeedSampler(5, 8, num_steps=2))
    batches = list(loader)
    assert len(batches) == 2 and batches[1]["seed"].tolist() == full[1]


# --------------------------------------------------------------------------------------------- learning

def test_loss_falls_and_tensorboard_gets_means_over_each_interval(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    result = toy_loop(tmp_path / "run", num_steps=200, lr=1e-2, save_interval=200, log_interval=20).run()
    losses = np.array(result["losses"])
    assert result["step"] == 200 and len(losses) == 200
    first, last = losses[:20].mean(), losses[-20:].mean()
    print(f"toy loss: first 20 steps {first:.4f}, last 20 steps {last:.4f}")
    assert last < 0.25 * first
    events = EventAccumulator(str(tmp_path / "run")).Reload()
    logged = events.Scalars("Train/loss")
    assert [e.step for e in logged] == list(range(20, 201, 20))
    np.testing.assert_allclose([e.value for e in logged], losses.reshape(10, 20).mean(axis=1), rtol=1e-5)
    assert {"Train/mae", "Train/grad_norm", "Train/lr", "Train/param_norm"} <= set(events.Tags()["scalars"])
    assert result["metrics"]["loss"] == pytest.approx(losses[-20:].mean())


def test_learning_rate_warm_up_then_schedule(tmp_path):
    cfg = TrainConfig(save_dir="x", lr=1e-3, warm_up_iter=4, num_steps=20, schedule="cosine")
    assert [learning_rate(cfg, s) for s in range(5)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
    assert learning_rate(cfg, 12) == pytest.approx(5e-4)  # halfway from step 4 to 20
    assert learning_rate(cfg, 20) == pytest.approx(0.0)
    linear = TrainConfig(save_dir="x", lr=1e-3, warm_up_iter=4, num_steps=20, schedule="linear", lr_anneal_steps=8)
    assert [learning_rate(linear, s) for s in (6, 8, 15)] == pytest.approx([5e-4, 0.0, 0.0])
    assert learning_rate(TrainConfig(save_dir="x", lr=1e-3, warm_up_iter=4), 10_000) == 1e-3
    loop = toy_loop(tmp_path / "run", lr=1e-3, warm_up_iter=10, num_steps=3)
    loop.run()
    assert loop.optimizer.param_groups[0]["lr"] == pytest.approx(3e-4)  # step 2 of the warm-up


# --------------------------------------------------------------------------------------------- checkpoints

def test_resume_after_interrupt_is_bit_exact(tmp_path):
    """40 steps straight == 20 steps, Ctrl-C, a new process-like TrainLoop, 20 more (dropout, cosine LR)."""
    settings = dict(num_steps=40, schedule="cosine", save_interval=15)
    straight = toy_loop(tmp_path / "straight", **settings)
    straight_losses = straight.run()["losses"]

    with pytest.raises(SystemExit) as stopped:
        toy_loop(tmp_path / "split", loss_fn=interrupting_loss(at_call=20), **settings).run()
    assert stopped.value.code == 130
    resumed = toy_loop(tmp_path / "split", init_seed=123, **settings)  # other initial weights: all are loaded
    assert resumed.step == 20
    result = resumed.run()
    assert result["start_step"] == 20 and result["losses"] == straight_losses[20:]
    assert_state_dicts_equal(resumed.model.state_dict(), straight.model.state_dict())
    assert_state_dicts_equal(resumed.ema.state_dict(), straight.ema.state_dict())
    assert_state_dicts_equal(torch.load(checkpoint_path(tmp_path / "split", "opt", 40))["optimizer"]["state"][0],
                             straight.optimizer.state_dict()["state"][0])


def test_interrupted_run_leaves_a_loadable_checkpoint(tmp_path):
    loop = toy_loop(tmp_path / "run", loss_fn=interrupting_loss(at_call=7), num_steps=100, save_interval=50)
    with pytest.raises(SystemExit):
        loop.run()
    assert latest_checkpoint(tmp_path / "run", "opt") == checkpoint_path(tmp_path / "run", "opt", 7)
    state, config = load_model_checkpoint(checkpoint_path(tmp_path / "run", "model", 7))
    assert config["num_steps"] == 100 and config["hidden"] == 32
    assert_state_dicts_equal(state, loop.sampling_state_dict())


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_a_stop_signal_during_the_optimizer_step_finishes_the_step_first(tmp_path, stop_signal):
    loop = toy_loop(tmp_path / "run", num_steps=100, save_interval=50)

    def send_stop_signal(optimizer, args, kwargs):
        if loop.step == 6:
            os.kill(os.getpid(), stop_signal)
    loop.optimizer.register_step_pre_hook(send_stop_signal)
    handlers_before = [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)]
    with pytest.raises(SystemExit) as stopped:
        loop.run()
    assert stopped.value.code == 130
    assert [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)] == handlers_before
    assert latest_checkpoint(tmp_path / "run", "opt") == checkpoint_path(tmp_path / "run", "opt", 7)
    reference = toy_loop(tmp_path / "reference", num_steps=7)
    reference.run()
    saved = torch.load(checkpoint_path(tmp_path / "run", "opt", 7))
    assert_state_dicts_equal(saved["model"], reference.model.state_dict())


def test_model_file_holds_ema_weights_and_reloads_from_args_json(tmp_path):
    save_dir = tmp_path / "run"
    loop = toy_loop(save_dir, toy=ToyConfig(hidden=24, dropout=0.2), num_steps=30)
    loop.run()
    state, config = load_model_checkpoint(save_dir)  # a folder: its newest model file
    assert config == load_args_json(save_dir / "args.json")
    assert torch.load(checkpoint_path(save_dir, "model", 30))["step"] == 30
    raw = loop.model.state_dict()
    assert not torch.equal(state["net.0.weight"], raw["net.0.weight"])
    assert_state_dicts_equal({k: state[k] for k in loop.ema.names}, loop.ema.state_dict())

    model = ToyModel(from_dict(ToyConfig, load_args_json(save_dir / "args.json")))
    model.load_state_dict(state)
    x = torch.randn(5, INPUT_DIM)
    with loop.ema.applied():
        expected = loop.model.eval()(x)
    assert torch.equal(model.eval()(x), expected)
    assert torch.equal(loop.model.state_dict()["net.0.weight"], raw["net.0.weight"])  # raw weights restored


def test_checkpoint_files_and_errors(tmp_path):
    save_dir = tmp_path / "run"
    loop = toy_loop(save_dir, num_steps=20, save_interval=5, keep_checkpoints=2, ema_decay=0)
    loop.run()
    assert_state_dicts_equal(load_model_checkpoint(save_dir)[0], loop.model.state_dict())  # no EMA: raw weights
    assert [s for s, _ in list_checkpoints(save_dir, "model")] == [5, 10, 15, 20]
    assert [s for s, _ in list_checkpoints(save_dir, "opt")] == [15, 20]
    assert not list(save_dir.glob("*.tmp")) and not list(save_dir.glob(".*.tmp"))
    with pytest.raises(FileNotFoundError, match=r"model000000007\.pt.*model000000005\.pt, model000000010\.pt"):
        load_model_checkpoint(checkpoint_path(save_dir, "model", 7))
    with pytest.raises(ValueError, match="resume file"):
        load_model_checkpoint(checkpoint_path(save_dir, "opt", 20))
    broken = checkpoint_path(save_dir, "model", 25)
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"model000000025\.pt: not a readable checkpoint"):
        load_model_checkpoint(broken)


def test_save_dir_rules(tmp_path):
    save_dir = tmp_path / "run"
    toy_loop(save_dir, num_steps=10, save_interval=10).run()
    with pytest.raises(ValueError, match="hidden: 32 in args.json, 16 now"):
        toy_loop(save_dir, toy=ToyConfig(hidden=16), num_steps=20)
    with pytest.raises(FileExistsError, match="--resume"):
        toy_loop(save_dir, num_steps=20, resume=False)
    assert toy_loop(save_dir, num_steps=20, lr=1e-3).step == 10  # training settings may change
    fresh = toy_loop(save_dir, toy=ToyConfig(hidden=16), num_steps=20, overwrite=True)
    assert fresh.step == 0 and list_checkpoints(save_dir, "opt") == []
    assert load_args_json(save_dir / "args.json")["hidden"] == 16
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no training run"):
        toy_loop(foreign)


def test_non_finite_loss_stops_with_the_step(tmp_path):
    def exploding_loss(model, batch):
        loss, metrics = toy_loss(model, batch)
        return loss * float("nan") if batch["seed"][0] == global_batch_seeds(3, 4, 16)[0] else loss, metrics
    with pytest.raises(FloatingPointError, match="at step 4"):
        toy_loop(tmp_path / "run", loss_fn=exploding_loss, num_steps=10).run()


def start_training(argv: list[str]) -> subprocess.Popen:
    """tests/ddp_worker.py with `argv`, in its own process group (workers included), stdout and stderr apart."""
    repo = Path(__file__).parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    env.pop("A2P_DEBUG", None)
    return subprocess.Popen([sys.executable, str(repo / "tests" / "ddp_worker.py"), *argv], env=env, cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_group_end(group: int, seconds: float = 30) -> bool:
    """Whether every process of `group` has ended within `seconds`."""
    deadline = time.monotonic() + seconds
    while process_group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not process_group_alive(group)


def test_sigterm_to_the_process_group_with_workers_saves_the_step_and_resumes_bit_exactly(tmp_path):
    """What `timeout`, a scheduler or Ctrl-C in a terminal do: SIGTERM to every process of the group, the
    DataLoader workers included. The step is saved, and the rerun ends bit-exactly where a run without the
    signal does."""
    argv = ["--seed", "5", "--batch_size", "4", "--num_steps", "12", "--lr", "1e-2", "--warm_up_iter", "2",
            "--log_interval", "3", "--save_interval", "3", "--device", "cpu", "--num_workers", "2",
            "--busy_work", "1000"]
    run = tmp_path / "run"
    interrupted = start_training(argv + ["--save_dir", str(run)])
    deadline = time.monotonic() + 120
    while not checkpoint_path(run, "opt", 3).exists() and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(interrupted.pid, signal.SIGTERM)
    log = "".join(interrupted.communicate(timeout=120))
    assert interrupted.returncode == 130, log[-3000:]
    step = int(re.search(r"interrupted: saved step (\d+)", log).group(1))
    assert 3 <= step < 12 and [s for s, _ in list_checkpoints(run, "opt")][-1] == step
    assert wait_for_group_end(interrupted.pid)  # the workers stopped with the training process

    resumed = start_training(argv + ["--save_dir", str(run)])
    log = "".join(resumed.communicate(timeout=120))
    assert resumed.returncode == 0 and f"at step {step}" in log, log[-3000:]
    train_cfg, toy = parse_config([TrainConfig, ToyConfig], argv + ["--num_workers", "0", "--save_dir",
                                                                    str(tmp_path / "straight")])
    seed_everything(train_cfg.seed)  # as tests/ddp_worker.py does: the same initial weights
    straight = TrainLoop(ToyModel(toy), toy_loss, ToyDataset(), train_cfg, configs_to_save=(toy,))
    straight_losses = straight.run()["losses"]
    assert json.loads((run / "result.json").read_text())["losses"] == straight_losses[step:]
    final = torch.load(checkpoint_path(run, "opt", 12))
    assert_state_dicts_equal(final["model"], straight.model.state_dict())
    assert_state_dicts_equal(final["ema"], straight.ema.state_dict())
    assert_state_dicts_equal(final["optimizer"]["state"][0], straight.optimizer.state_dict()["state"][0])


def process_group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


class FillingDisk:
    """open() whose files written in binary mode take `room` bytes, then fail like a full disk (ENOSPC)."""

    def __init__(self, room: int):
        self.room = room

    def __call__(self, path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        if "b" not in mode or "w" not in mode:
            return handle
        write = handle.write

        def limited_write(data) -> int:
            size = memoryview(data).nbytes
            if size > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= size
            return write(data)
        handle.write = limited_write
        return handle


def test_a_full_disk_during_a_save_names_the_file_and_keeps_the_earlier_checkpoints(tmp_path, monkeypatch):
    save_dir = tmp_path / "run"
    toy_loop(save_dir, num_steps=10, save_interval=5).run()
    earlier = {path.name: path.read_bytes() for _, path in list_checkpoints(save_dir, "opt")}
    monkeypatch.setattr("train.checkpoint.open", FillingDisk(room=2000), raising=False)
    with pytest.raises(OSError, match=r"model000000015\.pt: could not write it: no space left on the device of"):
        toy_loop(save_dir, num_steps=20, save_interval=5).run()
    assert not [path.name for path in save_dir.iterdir() if path.name.endswith(".tmp")]
    assert [s for s, _ in list_checkpoints(save_dir, "opt")] == [5, 10]
    assert {path.name: path.read_bytes() for _, path in list_checkpoints(save_dir, "opt")} == earlier
    monkeypatch.undo()
    assert load_checkpoint_file(checkpoint_path(save_dir, "opt", 10))["step"] == 10
    assert toy_loop(save_dir, num_steps=20).step == 10


def test_a_full_disk_with_busy_workers_ends_in_one_line_and_leaves_no_process(tmp_path):
    """The first save fails on a full disk while both DataLoader workers hang loading their next batch: the
    trainer prints its one line and exits (it used to wait for the workers forever), and no worker is left."""
    trainer = start_training(["--batch_size", "4", "--num_steps", "20", "--save_interval", "1", "--device", "cpu",
                              "--num_workers", "2", "--stuck_after", "4", "--disk_room", "2000",
                              "--save_dir", str(tmp_path / "run")])
    try:
        errors = trainer.communicate(timeout=30)[1]
    finally:
        if process_group_alive(trainer.pid):
            os.killpg(trainer.pid, signal.SIGKILL)
    assert trainer.returncode == 2 and "Traceback" not in errors, errors[-3000:]
    assert re.fullmatch(r"ddp_worker\.py: error: \S+model000000001\.pt: could not write it: no space left on the "
                        r"device of .*\n", errors.splitlines(keepends=True)[-1])
    assert wait_for_group_end(trainer.pid)


def test_a_second_trainer_on_a_locked_run_folder_is_refused_naming_the_first(tmp_path):
    """Two trainers on one --save_dir would interleave their checkpoints: the second is refused, naming the
    process that trains there, before it writes anything; the lock ends with the first process."""
    save_dir = tmp_path / "run"
    first = start_training(["--batch_size", "4", "--num_steps", "20", "--device", "cpu", "--num_workers", "1",
                            "--stuck_after", "8", "--save_dir", str(save_dir)])  # hangs loading its third batch
    try:
        deadline = time.monotonic() + 60
        while not (save_dir / "args.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        before = sorted(path.name for path in save_dir.iterdir())
        with pytest.raises(FileExistsError, match=rf"{save_dir}: another trainer \(process {first.pid}\) is "
                                                  rf"writing this run now"):
            toy_loop(save_dir, ToyConfig(stuck_after=8), num_steps=20)
        assert sorted(path.name for path in save_dir.iterdir()) == before
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=60)
    assert toy_loop(save_dir, ToyConfig(stuck_after=8), num_steps=20).step == 0  # the lock went with the process


def test_temp_files_of_killed_saves_are_removed_at_the_next_start(tmp_path):
    save_dir = tmp_path / "run"
    toy_loop(save_dir, num_steps=5, save_interval=5).run()
    dead, alive = 2 ** 22 + 1, os.getpid()  # above Linux's largest pid; this process
    stale = save_dir / f".opt000000010.pt.{dead}.tmp"
    stale.write_bytes(b"half a checkpoint")
    busy = save_dir / f".opt000000010.pt.{alive}.tmp"
    busy.write_bytes(b"being written")
    toy_loop(save_dir, num_steps=10)
    assert not stale.exists() and busy.exists()


def test_an_unreadable_newest_opt_file_falls_back_to_the_previous_one(tmp_path, capsys):
    save_dir = tmp_path / "run"
    toy_loop(save_dir, num_steps=10, save_interval=5).run()
    newest = checkpoint_path(save_dir, "opt", 10)
    newest.write_bytes(newest.read_bytes()[:1000])  # a save cut short
    loop = toy_loop(save_dir, num_steps=10)
    assert loop.step == 5
    assert not newest.exists() and newest.with_name(newest.name + ".unreadable").exists()
    assert re.search(r"opt000000010\.pt: not a readable checkpoint.*\n.*resuming from the previous one, "
                     r"opt000000005\.pt", capsys.readouterr().out)
    checkpoint_path(save_dir, "opt", 5).write_bytes(b"")
    with pytest.raises(ValueError, match=r"opt000000005\.pt: not a readable checkpoint"):
        toy_loop(save_dir, num_steps=10)


# --------------------------------------------------------------------------------------------- DDP

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    argv = ["--seed", "7", "--batch_size", "8", "--num_steps", "12", "--lr", "1e-2", "--warm_up_iter", "2",
            "--log_interval", "4", "--save_interval", "6", "--device", "cpu", "--num_workers", "0",
            "--dropout", "0"]
    train_cfg, toy = parse_config([TrainConfig, ToyConfig], argv + ["--save_dir", str(tmp_path / "single")])
    seed_everything(train_cfg.seed)
    single = TrainLoop(ToyModel(toy), toy_loss, ToyDataset(), train_cfg, configs_to_save=(toy,))
    single_losses = single.run()["losses"]

    tests_dir = Path(__file__).parent
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(tests_dir / "ddp_worker.py"),
               *argv, "--save_dir", str(tmp_path / "ddp")]
    repo = tests_dir.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=repo)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "result.json").read_text())
    np.testing.assert_allclose(ddp["losses"], single_losses, rtol=1e-5, atol=1e-7)
    assert ddp["world_size"] == 2 and ddp["losses"][-1] < 0.5 * ddp["losses"][0]
    assert [s for s, _ in list_checkpoints(tmp_path / "ddp", "model")] == [6, 12]
    ddp_state, _ = load_model_checkpoint(tmp_path / "ddp")
    for key, value in single.sampling_state_dict().items():
        torch.testing.assert_close(ddp_state[key], value, rtol=1e-4, atol=1e-6)
