"""Checkpoint files of a training run, and loading them for sampling.

A run's `save_dir` holds:
    args.json              every config field of the run, flat (utils/config.save_args_json)
    model{step:09d}.pt     weights for sampling: {"model": state_dict (EMA weights when EMA is on),
                           "step": int, "config": flat dict like args.json}; all of them are kept
    opt{step:09d}.pt       everything to resume exactly: {"model": raw state_dict, "ema": {parameter name:
                           fp32 tensor} or None, "optimizer": AdamW state_dict, "step": int, "config": dict};
                           only the newest few are kept (TrainConfig.keep_checkpoints)
A folder made for sampling (the shipped checkpoints/, scripts/make_checkpoints.py) may also hold
    sampling.json          the sampling settings recommended for the model (guidance, sampler, steps), which
                           sample.generate, the quickstart and the demo use unless flags say otherwise
                           (format and rules: sample/recommended.py)
`step` counts the optimizer steps done. There is no scheduler or RNG state to store: the learning rate and
the seeds of torch's RNG are functions of the step (train/loop.py). Files are written atomically
(utils/files.py: a temporary file, then os.replace), so a crash or a full disk never leaves a half-written
checkpoint behind, and read with torch's weights_only unpickler (utils/safe_load.py: a crafted file cannot
run code).

`run_kind(config)` tells from a run's flat config what it trained (face / body diffusion model, lip
regressor, VQ-VAE, guide transformer), so that a folder of one kind passed where another is expected is
refused with one line naming the folder and what it holds; `load_weights` puts a checkpoint's weights into
a model, naming the file when they do not fit or hold NaN / inf.

The original's released checkpoints (a plain state dict with args.json beside it) load too, and the
original's file names of a step, net_iter{N}.pth (train_vq) and checkpoints/iter-{N:07d}.pt (train_guide),
name the model{N:09d}.pt of an a2p run in that folder (`resolve_model_file`), so the original's command
lines find the models a2p trained with them.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import torch

from utils.config import load_args_json
from utils.files import atomic_write
from utils.safe_load import UnsafeFileError, load_torch

Kind = Literal["model", "opt"]
_NAME = re.compile(r"^(model|opt)(\d{9})\.pt$")
_ORIGINAL_NAME = re.compile(r"^(?:net_iter|iter-)(\d+)\.pth?$")


def checkpoint_path(save_dir: str | os.PathLike, kind: Kind, step: int) -> Path:
    """save_dir/model{step:09d}.pt or save_dir/opt{step:09d}.pt."""
    return Path(save_dir) / f"{kind}{step:09d}.pt"


def list_checkpoints(save_dir: str | os.PathLike, kind: Kind = "model") -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint of `kind` in `save_dir`, by increasing step ([] for a missing dir)."""
    save_dir = Path(save_dir)
    if not save_dir.is_dir():
        return []
    found = []
    for path in save_dir.iterdir():
        match = _NAME.match(path.name)
        if match and match.group(1) == kind:
            found.append((int(match.group(2)), path))
    return sorted(found)


def latest_checkpoint(save_dir: str | os.PathLike, kind: Kind = "model") -> Path | None:
    """The checkpoint of `kind` with the highest step in `save_dir`, or None when there is none."""
    found = list_checkpoints(save_dir, kind)
    return found[-1][1] if found else None


def resolve_model_file(path: str | os.PathLike) -> Path:
    """The model*.pt file itself, or the newest one of a save_dir; a missing file with one of the original's
    names of step N (module docstring) stands for model{N:09d}.pt of the run folder when that exists."""
    path = Path(path)
    if path.is_dir():
        return latest_checkpoint(path, "model") or path
    match = _ORIGINAL_NAME.match(path.name)
    if match and not path.exists():
        run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        twin = checkpoint_path(run, "model", int(match.group(1)))
        return twin if twin.exists() else path
    return path


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through utils.files.atomic_write: all or nothing at `path`; a full disk is a WriteError
    naming the file."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


class ModelFiles:
    """The sampling files of a run: a2p's model{step:09d}.pt {"model", "step", "config"}; a run of the
    original's architecture writes the original's files instead (train/original_arch.py)."""

    def save(self, save_dir: Path, step: int, state: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
        save_atomic({"model": state, "step": step, "config": config}, checkpoint_path(save_dir, "model", step))

    def files(self, save_dir: Path) -> list[Path]:
        """Every sampling file of the run in save_dir."""
        return [path for _, path in list_checkpoints(save_dir, "model")]


def prune_checkpoints(save_dir: str | os.PathLike, kind: Kind, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints of `kind` (keep <= 0 keeps all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(save_dir, kind)[:-keep]:
        path.unlink(missing_ok=True)


def _describe_folder(folder: Path) -> str:
    found = [p.name for _, p in list_checkpoints(folder, "model")]
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not found:
        return f"{folder} holds no model*.pt checkpoint"
    return f"checkpoints in {folder}: {', '.join(found)}"


class UnreadableCheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, not a torch file); the message names it."""


def load_checkpoint_file(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """The dict stored in a checkpoint file; clear errors name a missing, unreadable (UnreadableCheckpointError)
    or unsafe (utils.safe_load.UnsafeFileError) file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; {_describe_folder(path.parent)}")
    try:
        return load_torch(path, map_location=device)
    except UnsafeFileError:
        raise
    except Exception as error:
        detail = (str(error).splitlines() or [""])[0]
        raise UnreadableCheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {detail}); "
                                        f"it may be truncated — pick another one from {path.parent}") from error


RUN_KINDS = {"face": "face diffusion model", "pose": "body diffusion model"}  # data_format -> kind


def run_kind(config: dict[str, Any]) -> str | None:
    """What the run of a flat config (args.json) trained: "face diffusion model", "body diffusion model",
    "guide transformer", "VQ-VAE", "lip regressor"; None when the keys say nothing (e.g. a toy run)."""
    if "resume_pth" in config and "audio_layers" in config:
        return "guide transformer"
    if {"codebook_size", "depth", "emb_width"} <= set(config):
        return "VQ-VAE"
    if config.get("data_format") in RUN_KINDS:
        return RUN_KINDS[config["data_format"]]
    if "lip_vertices" in config:
        return "lip regressor"
    return None


def check_run_kind(config: dict[str, Any], model_file: Path, *expected: str) -> None:
    """A one-line ValueError naming the run folder of `model_file` unless its config is a run of one of the
    `expected` kinds (a config of unknown kind passes: its weights are checked by load_weights)."""
    kind = run_kind(config)
    if kind is not None and kind not in expected:
        raise ValueError(f"{model_file.parent}: holds a {kind} run (see its args.json), not a {' or a '.join(expected)}"
                         f"; pass the save_dir (or a model*.pt) of the right training run")


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], model_file: Path) -> torch.nn.Module:
    """model.load_state_dict(state), refusing with the file's name weights that hold NaN / inf or do not fit."""
    broken = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if broken:
        raise ValueError(f"{model_file}: holds NaN or inf weights ({', '.join(broken[:3])}"
                         f"{', ...' if len(broken) > 3 else ''}); the training diverged before this checkpoint — "
                         f"pass an earlier model*.pt of {model_file.parent}")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise ValueError(f"{model_file}: its weights do not fit the {type(model).__name__} its config describes "
                         f"({detail}); pass a checkpoint of the right kind") from error
    return model


def load_model_checkpoint(path: str | os.PathLike,
                          device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict for sampling, flat config dict) from a model{step:09d}.pt file.

    `path` may also be a training save_dir (its newest model file is used) or an original-format file (a
    bare state dict, whose config is read from the args.json beside it).
    """
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path, "model")
        if latest is None:
            raise FileNotFoundError(f"{path}: {_describe_folder(path)}; train first or pass a model file")
        path = latest
    stored = load_checkpoint_file(path, device)
    if "optimizer" in stored:
        raise ValueError(f"{path}: this is a resume file (opt*.pt); pass the model*.pt file of the same step "
                         f"for sampling ({_describe_folder(path.parent)})")
    if "model" in stored and "config" in stored:
        return stored["model"], stored["config"]
    if stored and all(isinstance(v, torch.Tensor) for v in stored.values()):
        return stored, load_args_json(path.parent / "args.json")
    raise ValueError(f"{path}: not a model checkpoint (keys: {sorted(stored)[:8]}); expected the keys "
                     f"'model', 'step', 'config' written by train/loop.py")


def resolve_recorded_path(recorded: str | os.PathLike, model_file: Path) -> Path:
    """A path recorded in a checkpoint's args.json (lip_model_path, resume_pth): an absolute one as it is; a
    relative one next to the checkpoint's folder when it exists there (the shipped checkpoints/ folders name
    their siblings as "../lip", "../vq", so the folder can be moved), else from the working directory."""
    path = Path(recorded)
    beside = Path(model_file).parent / path
    return beside if not path.is_absolute() and beside.exists() else path
