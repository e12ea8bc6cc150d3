"""Training speed of the denoisers at the original's sizes: `python scripts/bench_train.py [--device auto]`.

For the face (8 layers x 8 heads, d 512, with lip conditioning) and pose (6 layers, d 256, guide keyframes,
post-net) denoisers of model/denoiser.py's presets, times full training steps of train/train_diffusion.py's
loss (condition encoding, condition dropout, x0 loss, backward, AdamW) on random batches of --batch_size
windows of --frames frames, and prints seconds per step and training samples (windows) per second. The
original trains these sizes with batch 4 and 600-frame windows (its README); the lip regressor is left out
of the timing (it is frozen and runs under no_grad: its cost is in the face sampling benchmark).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from avatar.face import LIP_VERTEX_INDICES
from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME
from diffusion import GaussianDiffusion
from model.audio_encoder import AudioEncoderConfig
from model.denoiser import DenoiserConfig, FiLMTransformer, denoiser_preset
from train.train_diffusion import DiffusionLoss
from utils.cli import run_cli
from utils.config import arg, from_dict, parse_config
from utils.device import autocast, device_name, resolve_device

LIP_DIM = len(LIP_VERTEX_INDICES) * 3  # the face denoiser's lip input: lip vertices x 3 coordinates


@dataclass
class BenchTrainConfig:
    """What to time."""
    batch_size: int = arg(4, "windows per training step (the original's README: 4)")
    frames: int = arg(600, "frames per window (600 = 20 s)")
    steps: int = arg(3, "timed steps per model (after one warm-up step)")
    device: str = arg("auto", "auto, cpu or cuda", check=device_name)


def random_batch(batch_size: int, frames: int, nfeats: int, device: torch.device) -> dict:
    mask = torch.ones(batch_size, frames, dtype=torch.bool, device=device)
    motion = torch.randn(batch_size, frames, nfeats, device=device)
    return {"motion": motion, "mask": mask, "valid": mask,
            "audio": 0.1 * torch.randn(batch_size, frames * SAMPLES_PER_FRAME, 2, device=device),
            "keyframes": motion[:, ::KEYFRAME_STEP], "seed": torch.arange(batch_size, device=device)}


def seconds_per_step(kind: str, cfg: BenchTrainConfig, device: torch.device) -> float:
    model_cfg = from_dict(DenoiserConfig, denoiser_preset(kind, lip_dim=LIP_DIM if kind == "face" else 0))
    model = FiLMTransformer(model_cfg, AudioEncoderConfig()).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = DiffusionLoss(GaussianDiffusion(), lambda_vel=0.0 if kind == "face" else 2.0, lip=None)
    batch = random_batch(cfg.batch_size, cfg.frames, model_cfg.nfeats, device)
    if kind == "face":
        lip = torch.randn(cfg.batch_size, cfg.frames, LIP_DIM, device=device)
        loss_fn.lip_input = lambda audio, mask: lip
    times = []
    for _ in range(cfg.steps + 1):
        start = time.perf_counter()
        with autocast(device):
            loss, _ = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sum(times[1:]) / cfg.steps


def main(argv: list[str] | None = None) -> None:
    cfg, = parse_config([BenchTrainConfig], argv, description=__doc__.split("\n")[0])
    device = resolve_device(cfg.device)
    print(f"device {device}, batch {cfg.batch_size} x {cfg.frames} frames, torch threads "
          f"{torch.get_num_threads()}")
    print("| model | s / step | samples / s |\n|---|---|---|")
    for kind in ("face", "pose"):
        seconds = seconds_per_step(kind, cfg, device)
        print(f"| {kind} | {seconds:.2f} | {cfg.batch_size / seconds:.2f} |")


if __name__ == "__main__":
    run_cli(main)
