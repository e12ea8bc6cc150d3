"""Device choice, mixed precision and seeding shared by every command (`--device auto|cpu|cuda|cuda:N`)."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def device_name(name: str) -> str:
    """`name` when it names a device of this machine (the `check` of every --device flag, utils/config.py):
    auto, cpu, cuda or cuda:N with N below the CUDA device count; ValueError saying what there is otherwise."""
    if name == "auto":
        return name
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"{name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{name!r} is not a device a2p runs on; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}: CUDA is not available on this machine; use cpu or auto")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"{name}: this machine has {torch.cuda.device_count()} CUDA device(s), cuda:0 to "
                         f"cuda:{torch.cuda.device_count() - 1}")
    return name


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else the CPU; a CUDA name without CUDA is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (mixed precision); a no-op context on the CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def device_of(device: str, cuda: bool | None) -> str:
    """The --device to use with the original's --cuda / --no-cuda switch: "cpu" for --no-cuda with --device
    left at auto, else --device (--cuda is auto)."""
    return "cpu" if cuda is False and device == "auto" else device
