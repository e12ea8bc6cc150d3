"""The training loop shared by every trainer (face/pose diffusion, lip regressor, VQ-VAE, guide).

A trainer builds its model, dataset and loss, then hands them over:

    seed_everything(train_cfg.seed)                       # same initial weights on every run
    model = Denoiser(model_cfg)
    loop = TrainLoop(model, loss_fn, dataset, train_cfg, collate_fn=collate, configs_to_save=(model_cfg, data_cfg))
    loop.run()

Contracts:
- `dataset[item_seed]` returns one item drawn from an integer seed (data_loaders/sampler.py gives every step
  its item seeds from (seed, step), so resume and DDP see exactly the same data).
- `loss_fn(model, batch) -> (loss, metrics)`: `batch` is what `collate_fn` made, moved to the device
  (tensors inside dicts/lists/tuples); `loss` a scalar tensor, the MEAN over this process's items (DDP
  averages gradients over processes, so equal-weight item means make 2 x B/2 identical to 1 x B);
  `metrics` a dict of floats or scalar tensors with the same keys every step. "loss", "grad_norm" and
  "lr" are logged without being asked for. `model` is always the plain module: under torchrun the loop
  runs `loss_fn` inside the forward of a DDP-wrapped `LossModule`, so gradients are synchronised whatever
  the loss calls on the model (its forward or any other method).
- `eval_fn(model, step) -> dict of floats` (optional) runs on the main process every `eval_interval` steps
  and at the end, on the plain model holding the EMA weights, in eval mode, under torch.no_grad.

What the loop does per step s (s = optimizer steps done so far): reseed torch's global RNG from
(seed, s, rank) so dropout is reproducible; set the learning rate `learning_rate(cfg, s)`; forward under
bf16 autocast on CUDA; backward; clip the gradient norm; AdamW step; update the fp32 EMA of the weights.
Every `log_interval` steps it writes TensorBoard scalars `Train/<key>` = means over that interval (the
original logged running means since step 0); every `save_interval` steps and at the end it writes
`model{step:09d}.pt` (or the original's files with --arch original: `model_files`, train/original_arch.py) and
`opt{step:09d}.pt` (train/checkpoint.py), keeping every model file and the newest `keep_checkpoints` opt files.
A run of --num_steps 0 writes the step-0 checkpoint and stops (as the original's trainers saved step 0): the
initial or --init_from weights in this run's files.

Fine-tuning (`--init_from PATH`): a run that starts (nothing to resume) loads the weights the trainer's
`init_weights(path) -> state_dict` reads from PATH (every trainer passes its own checkpoint loader, so a2p's
runs and the original's released files both work), strictly: a checkpoint of another architecture is
refused with one line naming both. The optimiser, learning-rate schedule (warm-up included) and step count
start fresh; the EMA starts from the loaded weights; args.json records init_from.

save_dir rules: a fresh or empty folder starts a run. A folder holding a run (args.json or checkpoints) is
continued from its newest opt file (`--resume`, the default), provided it is a run of the same kind
(train.checkpoint.run_kind: a VQ-VAE trainer never continues a lip regressor's run) and the settings of
`configs_to_save` (model, data, diffusion...) equal those in its args.json; training settings (this
TrainConfig) may change, e.g. a larger --num_steps. These checks run before anything is written there.
`--overwrite` starts over there instead, deleting the run's args.json, checkpoints and TensorBoard files.
`--no-resume` refuses a folder that holds a run. An unreadable newest opt file (a save cut short) is set
aside as `<name>.unreadable` and the run continues from the one before it, saying so; temporary files of
saves killed midway (`.opt*.pt.<pid>.tmp`, utils/files.py) are removed at start.

Ctrl-C, or SIGTERM (`kill`, `timeout`, a scheduler ending the job), stops at the end of the current step
(an optimizer step is never left half done), saves a checkpoint of that step and exits with status 130;
rerunning the same command continues from there. A signal sent to the whole process group (Ctrl-C in a
terminal, `timeout`, most schedulers) reaches the training process alone, which saves; the DataLoader workers
end with the training process whatever ends it, a signal, an error or a full disk (train/workers.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from data_loaders.sampler import StepSeedSampler
from train.checkpoint import ModelFiles, UnreadableCheckpointError, checkpoint_path, list_checkpoints, \
    load_checkpoint_file, prune_checkpoints, run_kind, save_atomic
from train.distributed import all_reduce_mean, barrier, cleanup, is_distributed, is_main_process, \
    launched_by_torchrun, setup_distributed, wrap_model
from train.run_lock import lock_run_folder
from train.workers import STOP_SIGNALS, LoaderWorkers
from utils.config import arg, load_args_json, merged_dict, save_args_json
from utils.device import autocast, device_name, device_of
from utils.files import remove_stale_temp_files

PROGRESS_INTERVAL = 50  # steps between progress-bar loss updates (each one synchronises the device)
_TORCH_STREAM = 1  # tells the per-step torch seed apart from the sampler's default_rng([seed, step])


def training_device(name: str) -> str:
    """The --device of the trainers: a name utils.device.device_name takes, or the original's GPU id N (cuda:N)."""
    return device_name(f"cuda:{name}" if name.isdigit() else name)


@dataclass
class TrainConfig:
    """Training loop: optimiser, learning-rate schedule, EMA, logging and checkpoints."""
    save_dir: str = arg("", "folder for args.json, checkpoints and TensorBoard logs (required; alias: the "
                            "original's --out_dir)", aliases=("--out_dir",))
    overwrite: bool = arg(False, "start over in a save_dir that holds a run: delete its args.json, "
                                 "checkpoints and TensorBoard files")
    resume: bool = arg(True, "continue the run in save_dir from its newest opt*.pt (model settings must match "
                             "its args.json)")
    seed: int = arg(10, "seed of the item seeds (data, noise) of every step and of dropout")
    batch_size: int = arg(64, "global batch size, split evenly over the DDP processes")
    num_steps: int = arg(800_000, "optimizer steps of the whole run (alias: the original's --total_iter); 0 = "
                                  "write the step-0 checkpoint of the initial (--init_from) weights and stop",
                         aliases=("--total_iter",))
    lr: float = arg(1e-4, "peak learning rate of AdamW")
    betas: tuple[float, float] = arg((0.9, 0.999), "AdamW betas", at_most=0.9999)
    weight_decay: float = arg(0.0, "AdamW (decoupled) weight decay")
    warm_up_iter: int = arg(1000, "steps of linear warm-up: step s < warm_up_iter uses lr*(s+1)/warm_up_iter")
    lr_scheduler: list[int] = arg([], "the original's MultiStepLR milestones: from each of these steps on the "
                                      "learning rate is multiplied by --gamma once more (alias --lr-scheduler; "
                                      "none: no steps)", aliases=("--lr-scheduler",))
    gamma: float = arg(0.1, "factor of the learning rate at each --lr_scheduler milestone")
    schedule: Literal["constant", "cosine", "linear"] = arg("constant", "learning rate after warm-up: constant, "
                                                                        "or decaying to 0 (cosine or linear)")
    lr_anneal_steps: int = arg(0, "step at which a cosine/linear schedule reaches 0 (0: num_steps)")
    grad_clip: float = arg(1.0, "clip the global gradient norm to this value (0: no clipping)")
    ema_decay: float = arg(0.999, "decay of the fp32 EMA of the weights that model*.pt holds (0: off, raw "
                                  "weights saved); warms up as min(decay, (1+s)/(10+s))")
    amp: bool = arg(True, "bf16 mixed precision on CUDA (no effect on the CPU)")
    device: str = arg("auto", "auto, cpu, cuda or cuda:N (under torchrun process k uses cuda:LOCAL_RANK); the "
                              "original's GPU id N is cuda:N", check=training_device)
    cuda: Optional[bool] = arg(None, "the original's device switch: --no-cuda = the CPU when --device is auto; "
                                     "--cuda (its default) = --device auto")
    num_workers: int = arg(2, "data loader worker processes (0: load in the training process)")
    log_interval: int = arg(1000, "steps between TensorBoard points (means over the interval; alias: the "
                                  "original's --print_iter)", aliases=("--print_iter",))
    save_interval: int = arg(5000, "steps between checkpoints (one is also written at the end)")
    eval_interval: int = arg(5000, "steps between evaluations, for trainers that evaluate (0: only at the end; "
                                   "alias: the original's --eval_iter)", aliases=("--eval_iter",))
    keep_checkpoints: int = arg(3, "newest opt*.pt resume files kept; every model*.pt is kept (0: keep all)")
    init_from: Optional[str] = arg(None, "fine-tune: start a new run from the weights of this checkpoint (a "
                                         "model*.pt or run folder of this trainer's architecture, a2p's or the "
                                         "original's released files) with a fresh optimiser, schedule and step "
                                         "count; ignored when save_dir's run is resumed")


def check_config(cfg: TrainConfig) -> None:
    """Clear errors for settings the loop cannot run with."""
    if not cfg.save_dir:
        raise ValueError("--save_dir is required: the folder for args.json, checkpoints and logs")
    for name in ("log_interval", "save_interval", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("warm_up_iter", "lr_anneal_steps", "grad_clip", "eval_interval", "num_workers", "seed"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"--{name} must be >= 0, got {getattr(cfg, name)}")
    if not 0 <= cfg.ema_decay < 1:
        raise ValueError(f"--ema_decay must be in [0, 1), got {cfg.ema_decay}")
    if cfg.lr_anneal_steps and cfg.schedule == "constant":
        raise ValueError("--lr_anneal_steps needs a decaying --schedule; the original's linear annealing to 0 "
                         "is --schedule linear --lr_anneal_steps N")


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of step `step` (0-based): linear warm-up, then the schedule down to 0 at the horizon,
    times --gamma for each --lr_scheduler milestone reached."""
    peak = cfg.lr * cfg.gamma ** sum(step >= milestone for milestone in cfg.lr_scheduler)
    if step < cfg.warm_up_iter:
        return peak * (step + 1) / cfg.warm_up_iter
    if cfg.schedule == "constant":
        return peak
    horizon = cfg.lr_anneal_steps or cfg.num_steps
    progress = min(1.0, (step - cfg.warm_up_iter) / max(1, horizon - cfg.warm_up_iter))
    if cfg.schedule == "linear":
        return peak * (1.0 - progress)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def run_device(cfg: TrainConfig) -> str:
    """The device to train on: --device, or the CPU for the original's --no-cuda with --device auto."""
    return device_of(cfg.device, cfg.cuda)


def step_seed(seed: int, step: int, rank: int) -> int:
    """The seed of torch's global RNG (dropout) at `step` on process `rank`."""
    return int(np.random.SeedSequence([seed, step, rank, _TORCH_STREAM]).generate_state(1, np.uint64)[0])


class EMA:
    """Exponential moving average of the trainable parameters, kept in fp32.

    After update n the average moves towards the weights by 1 - min(decay, (1+n)/(10+n)), so short runs
    (few thousand steps) are not dominated by the initial weights.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.shadow = [p.detach().float().clone() for p in self.params]

    @torch.no_grad()
    def update(self, step: int) -> None:
        weight = 1.0 - min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in self.params], weight)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.shadow))

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if sorted(state) != sorted(self.names):
            raise ValueError(f"EMA state does not match the model's trainable parameters "
                             f"(missing {sorted(set(self.names) - set(state))[:5]}, "
                             f"unexpected {sorted(set(state) - set(self.names))[:5]})")
        for name, shadow in zip(self.names, self.shadow):
            shadow.copy_(state[name])

    def model_state_dict(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """`model.state_dict()` with every trainable parameter (tied ones included) replaced by its average."""
        average_of = {id(p): s for p, s in zip(self.params, self.shadow)}
        return {key: average_of.get(id(value), value).detach()
                for key, value in model.state_dict(keep_vars=True).items()}

    @contextlib.contextmanager
    def applied(self):
        """Within the block the model's parameters hold the averages; the raw weights come back after it."""
        raw = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, r in zip(self.params, raw):
                    p.copy_(r)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM inside the block acts as Ctrl-C (KeyboardInterrupt) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_keyboard_interrupt():
    """Ctrl-C or SIGTERM inside the block takes effect when the block ends, so an optimizer step is never
    half done; a signal that was ignored before the block (SIGINT of a background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum))
                for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for signum in received[:1]:
        handler = previous[signum]
        if handler in (signal.default_int_handler, _interrupt):
            raise KeyboardInterrupt
        if handler == signal.SIG_DFL:
            signal.raise_signal(signum)
        elif callable(handler):
            handler(signum, None)


def move_to(batch: Any, device: torch.device) -> Any:
    """`batch` with every tensor (inside dicts, lists and tuples) moved to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(value, device) for value in batch)
    return batch


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


def _setting_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [f"{key}: {saved[key]!r} in args.json, {value!r} now"
            for key, value in current.items() if key in saved and saved[key] != value]


def _run_files(save_dir: Path, model_files: ModelFiles) -> list[Path]:
    """The files a run writes into save_dir."""
    files = model_files.files(save_dir) + [path for _, path in list_checkpoints(save_dir, "opt")]
    files += [save_dir / "args.json"] if (save_dir / "args.json").exists() else []
    return files + sorted(save_dir.glob("events.out.tfevents.*"))


class LossModule(torch.nn.Module):
    """`loss_fn(model, batch)` as the forward of a module, so DDP wraps the whole loss computation."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any):
        return self.loss_fn(self.model, batch)


class TrainLoop:
    """Trains `model` with `loss_fn` on `dataset` as `cfg` says; see the module docstring for the contracts."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict]],
                 dataset, cfg: TrainConfig, collate_fn: Callable | None = None, configs_to_save: Iterable = (),
                 eval_fn: Callable[[torch.nn.Module, int], dict[str, float]] | None = None,
                 configs_to_record: Iterable = (), init_weights: Callable[[str], dict] | None = None,
                 model_files: ModelFiles = ModelFiles()):
        """configs_to_save: settings recorded in args.json that a resumed run must share (model, data);
        configs_to_record: recorded only (e.g. where the audio features come from; dataclasses or dicts);
        init_weights: the trainer's reader of --init_from (module docstring); model_files: the sampling files
        it writes (a2p's model*.pt, or the original's: train/original_arch.py)."""
        check_config(cfg)
        self.cfg = cfg
        self.save_dir = Path(cfg.save_dir)
        self.loss_fn, self.dataset, self.collate_fn, self.eval_fn = loss_fn, dataset, collate_fn, eval_fn
        self.model_files = model_files
        self._owns_process_group = launched_by_torchrun() and not is_distributed()
        self.dist = setup_distributed(run_device(cfg))
        self.device = self.dist.device
        self.model = model.to(self.device)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=cfg.lr, betas=tuple(cfg.betas),
                                           weight_decay=cfg.weight_decay)
        self.configs = (cfg, *configs_to_save, *configs_to_record)
        self.config_dict = _json_safe(merged_dict(*self.configs))
        self.step = 0
        self._lock = None
        self._check_save_dir(_json_safe(merged_dict(*configs_to_save)))
        resume_state = self._load_resume_state()
        if resume_state is None and cfg.init_from:
            self._init_from(cfg.init_from, init_weights)
        self._prepare_save_dir()
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        if resume_state is not None and self.ema is not None and resume_state["ema"] is not None:
            self.ema.load_state_dict(resume_state["ema"])
        self.ddp_loss = wrap_model(LossModule(self.model, loss_fn), self.dist)
        self.losses: list[float] = []
        self.last_metrics: dict[str, float] = {}
        self.last_eval: dict[str, float] = {}
        self.samples_per_sec = float("nan")
        self._metric_names: list[str] | None = None
        self._pending: list[torch.Tensor] = []
        self._interval_rows: list[np.ndarray] = []
        self._interval_start = time.perf_counter()

    # ----------------------------------------------------------------------------------------- setup

    def _check_save_dir(self, protected: dict[str, Any]) -> None:
        """Check save_dir against the rules of the module docstring; nothing is written yet."""
        cfg, save_dir = self.cfg, self.save_dir
        args_path = save_dir / "args.json"
        holds_run = bool(_run_files(save_dir, self.model_files)) if save_dir.is_dir() else False
        if holds_run and not cfg.overwrite:
            if not cfg.resume:
                raise FileExistsError(f"{save_dir} holds a training run; continue it with --resume, or start "
                                      f"over with --overwrite (deletes its checkpoints)")
            if args_path.exists():
                saved = load_args_json(args_path)
                kind, saved_kind = run_kind(self.config_dict), run_kind(saved)
                if kind != saved_kind and None not in (kind, saved_kind):
                    raise FileExistsError(f"{save_dir}: holds a {saved_kind} run, and this trainer trains a {kind}; "
                                          f"pass another --save_dir (nothing was written there)")
                differences = _setting_differences(saved, protected)
                if differences:
                    raise ValueError(f"{save_dir} holds a run with other model settings ("
                                     + "; ".join(differences) + "); use another --save_dir, or --overwrite to "
                                     "start over there")
                training = {k: v for k, v in _json_safe(dataclasses.asdict(cfg)).items()
                            if k not in ("resume", "overwrite")}
                changed = _setting_differences(saved, training)
                if changed and is_main_process():
                    tqdm.write(f"[train] resuming with changed training settings: {'; '.join(changed)}")
        elif save_dir.is_dir() and any(save_dir.iterdir()) and not holds_run and not cfg.overwrite:
            raise FileExistsError(f"{save_dir} is not empty and holds no training run; pick a new or empty "
                                  f"--save_dir, or pass --overwrite to write into it anyway")

    def _prepare_save_dir(self) -> None:
        """(main process) Start over there with --overwrite, remove the temporary files of killed saves, write
        args.json."""
        cfg, save_dir = self.cfg, self.save_dir
        barrier()
        if is_main_process():
            save_dir.mkdir(parents=True, exist_ok=True)
            self._lock = lock_run_folder(save_dir)  # held until run() ends: one trainer per folder
            if cfg.overwrite:
                for path in _run_files(save_dir, self.model_files):
                    path.unlink()
            for path in remove_stale_temp_files(save_dir):
                tqdm.write(f"[train] removed {path.name}, left by a save that was killed")
            save_args_json(save_dir / "args.json", *self.configs)
        barrier()

    def _readable_opt_file(self) -> tuple[Path, dict] | None:
        """(path, dict) of the newest readable opt file of save_dir, or None when there is none. An unreadable
        one (a save cut short by a crash or a full disk) is set aside as <name>.unreadable, with a message, and
        the one before it is used; an error when none is readable."""
        found = list_checkpoints(self.save_dir, "opt")
        for index, (_, path) in enumerate(reversed(found)):
            try:
                return path, load_checkpoint_file(path, self.device)
            except UnreadableCheckpointError as error:
                if index + 1 == len(found):
                    raise
                if is_main_process():
                    tqdm.write(f"[train] {error}\n[train] setting it aside as {path.name}.unreadable and resuming "
                               f"from the previous one, {found[-index - 2][1].name}")
                    path.rename(path.with_name(path.name + ".unreadable"))
        return None

    def _load_resume_state(self) -> dict | None:
        """Load the newest readable opt file of save_dir (when resuming) into model and optimizer; return its
        dict."""
        if not self.cfg.resume or self.cfg.overwrite:
            return None
        found = self._readable_opt_file()
        if found is None:
            return None
        path, state = found
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:
            group.update(betas=tuple(self.cfg.betas), weight_decay=self.cfg.weight_decay)
        self.step = int(state["step"])
        if is_main_process():
            tqdm.write(f"[train] resuming from {path} at step {self.step}")
        return state

    def _init_from(self, path: str, init_weights: Callable[[str], dict] | None) -> None:
        """Load --init_from's weights into the model, strictly (module docstring)."""
        if init_weights is None:
            raise ValueError(f"--init_from {path}: this trainer cannot start from a checkpoint")
        state = init_weights(path)
        try:
            self.model.load_state_dict(state)
        except RuntimeError as error:
            detail = " ".join(str(error).split())[:300]
            raise ValueError(f"--init_from {path}: its weights do not fit this run's {type(self.model).__name__} "
                             f"(another architecture or size: {detail}); give the same model flags as that run "
                             f"or another checkpoint") from error
        if is_main_process():
            tqdm.write(f"[train] starting from the weights of {path} (fresh optimiser and schedule)")

    # ----------------------------------------------------------------------------------------- training

    def run(self) -> dict[str, Any]:
        """Train up to cfg.num_steps. Returns {"step", "start_step", "losses" (the global mean loss of each
        step run here), "metrics" (means over the last log interval), "eval" (last eval_fn result),
        "samples_per_sec" (training windows per second over the last log interval, evaluation and saving
        excluded)}."""
        cfg, start_step = self.cfg, self.step
        sampler = StepSeedSampler(cfg.seed, cfg.batch_size, start_step=start_step, rank=self.dist.rank,
                                  world_size=self.dist.world_size, num_steps=cfg.num_steps)
        workers = LoaderWorkers()
        loader = DataLoader(self.dataset, batch_sampler=sampler, collate_fn=self.collate_fn,
                            num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda",
                            worker_init_fn=workers.init_worker)
        main = is_main_process()
        writer = SummaryWriter(str(self.save_dir)) if main else None
        progress = tqdm(total=cfg.num_steps, initial=start_step, desc=f"train {self.save_dir.name}",
                        disable=not main, dynamic_ncols=True)
        if main:
            count = sum(p.numel() for p in self.trainable)
            tqdm.write(f"[train] {count:,} trainable parameters on {self.device} x {self.dist.world_size} "
                       f"process(es), global batch {cfg.batch_size}, steps {start_step}..{cfg.num_steps}")
        self.model.train()
        self._interval_start = time.perf_counter()
        batches = None
        try:
            with terminate_as_interrupt():
                batches = workers.start(loader)
                for batch in batches:
                    self._train_step(batch)
                    progress.update(1)
                    self._after_step(writer, progress)
            if cfg.num_steps == self.step == 0:
                self._save()
        except KeyboardInterrupt:
            self._save(synchronise=False)
            if main:
                tqdm.write(f"[train] interrupted: saved step {self.step} to {self.save_dir}; run the same "
                           f"command again to continue")
            raise SystemExit(130)
        finally:
            workers.stop()
            batches = None  # the loader's own shut-down, which finds its workers gone
            workers.join()
            if self._lock is not None:
                self._lock.close()
            progress.close()
            if writer is not None:
                writer.close()
            if self._owns_process_group:
                cleanup()
        return {"step": self.step, "start_step": start_step, "losses": self.losses,
                "metrics": self.last_metrics, "eval": self.last_eval, "samples_per_sec": self.samples_per_sec}

    def _train_step(self, batch: Any) -> None:
        cfg = self.cfg
        torch.manual_seed(step_seed(cfg.seed, self.step, self.dist.rank))
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step)
        with autocast(self.device, cfg.amp):
            loss, metrics = self.ddp_loss(move_to(batch, self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        row = self._metric_row(loss, grad_norm, metrics)
        with deferred_keyboard_interrupt():
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.step)
            self.step += 1
            self._pending.append(row)

    def _metric_row(self, loss: torch.Tensor, grad_norm: torch.Tensor, metrics: dict) -> torch.Tensor:
        """(K,) float32 on the device: loss, grad_norm, then the metrics by sorted key."""
        extra = sorted(key for key in metrics if key not in ("loss", "grad_norm"))
        names = ["loss", "grad_norm", *extra]
        if self._metric_names is None:
            self._metric_names = names
        elif names != self._metric_names:
            raise ValueError(f"loss_fn returned metrics {extra} at step {self.step}, but "
                             f"{self._metric_names[2:]} before; return the same keys every step")
        values = [loss.detach(), grad_norm, *(torch.as_tensor(metrics[k], device=self.device).detach() for k in extra)]
        return torch.stack([v.to(device=self.device, dtype=torch.float32).reshape(()) for v in values])

    def _after_step(self, writer: SummaryWriter | None, progress: tqdm) -> None:
        cfg, step = self.cfg, self.step
        final = step == cfg.num_steps
        logging = final or step % cfg.log_interval == 0
        if logging or step % PROGRESS_INTERVAL == 0:
            self._collect(progress)
        if logging:
            self._log(writer)
        started = time.perf_counter()
        if self.eval_fn is not None and (final or (cfg.eval_interval and step % cfg.eval_interval == 0)):
            self._evaluate(writer)
        if final or step % cfg.save_interval == 0:
            self._save()
        self._interval_start += time.perf_counter() - started  # throughput counts training time only

    def _collect(self, progress: tqdm) -> None:
        """Average the pending per-step rows over processes and move them to the host (one sync)."""
        rows = all_reduce_mean(torch.stack(self._pending)).cpu().double().numpy()
        first_step = self.step - len(self._pending)
        self._pending = []
        bad = np.flatnonzero(~np.isfinite(rows[:, 0]))
        if bad.size:
            raise FloatingPointError(f"the loss is {rows[bad[0], 0]} at step {first_step + bad[0]}; resume from "
                                     f"the last checkpoint in {self.save_dir} with a lower --lr or --grad_clip")
        self._interval_rows.append(rows)
        self.losses.extend(rows[:, 0].tolist())
        progress.set_postfix(loss=f"{rows[:, 0].mean():.4g}")

    def _log(self, writer: SummaryWriter | None) -> None:
        """TensorBoard scalars: means over the steps since the previous log point."""
        rows = np.concatenate(self._interval_rows)
        self._interval_rows = []
        self.last_metrics = dict(zip(self._metric_names, rows.mean(axis=0).tolist()))
        now = time.perf_counter()
        self.samples_per_sec = len(rows) * self.cfg.batch_size / max(now - self._interval_start, 1e-9)
        self._interval_start = now
        if writer is None:
            return
        for name, value in self.last_metrics.items():
            writer.add_scalar(f"Train/{name}", value, self.step)
        writer.add_scalar("Train/lr", learning_rate(self.cfg, self.step - 1), self.step)
        writer.add_scalar("Train/param_norm", torch.linalg.vector_norm(
            torch.stack([p.detach().float().norm() for p in self.trainable])).item(), self.step)
        writer.add_scalar("Train/samples_per_sec", self.samples_per_sec, self.step)

    def _evaluate(self, writer: SummaryWriter | None) -> None:
        """eval_fn on the main process with the EMA weights; the other processes wait."""
        if is_main_process():
            with self.ema.applied() if self.ema is not None else contextlib.nullcontext(), torch.no_grad():
                self.model.eval()
                self.last_eval = {k: float(v) for k, v in self.eval_fn(self.model, self.step).items()}
                self.model.train()
            for name, value in self.last_eval.items():
                writer.add_scalar(f"Val/{name}", value, self.step)
            tqdm.write(f"[eval] step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in self.last_eval.items()))
        barrier()

    # ----------------------------------------------------------------------------------------- checkpoints

    def sampling_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights model*.pt holds: the EMA weights when EMA is on, else the raw ones."""
        if self.ema is None:
            return self.model.state_dict()
        return self.ema.model_state_dict(self.model)

    def _save(self, synchronise: bool = True) -> None:
        """Write model{step}.pt and opt{step}.pt (main process), prune old opt files; all processes wait."""
        if is_main_process():
            self.model_files.save(self.save_dir, self.step, self.sampling_state_dict(), self.config_dict)
            save_atomic({"model": self.model.state_dict(),
                         "ema": self.ema.state_dict() if self.ema is not None else None,
                         "optimizer": self.optimizer.state_dict(), "step": self.step, "config": self.config_dict},
                        checkpoint_path(self.save_dir, "opt", self.step))
            prune_checkpoints(self.save_dir, "opt", self.cfg.keep_checkpoints)
        if synchronise:
            barrier()
