"""Data-parallel training over several processes (PyTorch DDP), launched by torchrun.

    torchrun --nproc_per_node 4 -m train.train_diffusion ...      # 4 GPUs of one machine

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in every process; `setup_distributed` then joins the process
group (nccl on CUDA, gloo on the CPU) and gives process `LOCAL_RANK` the GPU `cuda:LOCAL_RANK`. Launched
without torchrun everything here degrades to one process: rank 0 of 1, and the collectives are no-ops.
Only the main process (rank 0) writes logs and checkpoints.
"""
from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from utils.device import resolve_device


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank among `world_size` processes and the device it computes on."""
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    """True in a single process and in rank 0 of a process group."""
    return not is_distributed() or dist.get_rank() == 0


def setup_distributed(device_name: str = "auto") -> DistInfo:
    """Join the torchrun process group (once; later calls reuse it) and pick this process's device.

    `device_name` is the --device flag: "auto", "cpu", "cuda" or "cuda:N". Under torchrun a CUDA device
    becomes cuda:LOCAL_RANK (one GPU per process).
    """
    device = resolve_device(device_name)
    if not launched_by_torchrun():
        return DistInfo(rank=0, world_size=1, local_rank=0, device=device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not is_distributed():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, device=device)


def cleanup() -> None:
    """Leave the process group (no-op in a single process)."""
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def wrap_model(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """The model wrapped in DistributedDataParallel when there are several processes, else itself.

    Gradients are averaged over processes during backward, so the loss each process computes must be the
    mean over its own items (equal shares of the global batch). `find_unused_parameters` lets a step leave
    parameters without gradient (e.g. learned null conditions when nothing is dropped).
    """
    if info.world_size == 1:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of `tensor` over all processes (a new tensor; itself in a single process)."""
    if not is_distributed():
        return tensor
    reduced = tensor.clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / dist.get_world_size()
