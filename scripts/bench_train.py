"""Training speed: `python scripts/bench_train.py [--sizes small|original] [--device auto]`.

--sizes small (default): the shipped models' trainers end to end on the real data loader, each run as
`python -m train.<trainer>` with train/recipes.py's small flags on the person folder --data_root, once per
--modes entry:
    fly           the channel effects and the log-mel of every window computed in the step (--feature_bank
                  none), loading in the training process: how the shipped models were trained before the bank
    bank          the audio of every window read from the feature bank (data_loaders/feature_bank.py; made
                  before the timing), loading in the training process: the recipe's default
    bank_workers  the bank, loaded by one DataLoader worker process overlapping the step
Each run does 2 x --interval steps with --log_interval --interval; the table gives the second interval (warm-up,
evaluation and saving excluded): steps per second and windows per second, and the speed-up over fly. The
face run takes the shipped lip regressor (checkpoints/lip), the guide and pose runs the shipped VQ-VAE.

--sizes original: for the face (8 layers x 8 heads, d 512, with lip conditioning) and pose (6 layers, d 256, guide keyframes,
post-net) denoisers of model/denoiser.py's presets, times full training steps of train/train_diffusion.py's
loss (condition encoding, condition dropout, x0 loss, backward, AdamW) on random batches of --batch_size
windows of --frames frames, and prints seconds per step and training samples (windows) per second. The
original trains these sizes with batch 4 and 600-frame windows (its README); the lip regressor is left out
of the timing (it is frozen and runs under no_grad: its cost is in the face sampling benchmark).
"""
from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from avatar.face import LIP_VERTEX_INDICES  # noqa: E402
from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME  # noqa: E402
from diffusion import GaussianDiffusion  # noqa: E402
from model.audio_encoder import AudioEncoderConfig  # noqa: E402
from model.denoiser import DenoiserConfig, FiLMTransformer, denoiser_preset  # noqa: E402
from train import train_diffusion, train_guide, train_lip  # noqa: E402
from train.recipes import recipe  # noqa: E402
from train.train_diffusion import DiffusionLoss  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, from_dict, parse_config  # noqa: E402
from utils.device import autocast, device_name, resolve_device  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LIP_DIM = len(LIP_VERTEX_INDICES) * 3  # the face denoiser's lip input: lip vertices x 3 coordinates


SMALL_MODES = ("fly", "bank", "bank_workers")
TRAINERS = {"lip": train_lip, "face": train_diffusion, "guide": train_guide, "pose": train_diffusion}


@dataclass
class BenchTrainConfig:
    """What to time."""
    sizes: Literal["small", "original"] = arg("small", "small: the shipped models' trainers on real data; "
                                                       "original: the original-size denoisers on random batches")
    data_root: str = arg(str(REPO / "runs" / "small" / "dataset" / "SYN001"),
                         "small: person folder to train on (python -m data_loaders.synthetic --preset default)")
    stages: list[str] = arg(list(TRAINERS), "small: trainers to time, of lip, face, guide, pose")
    modes: list[str] = arg(list(SMALL_MODES), f"small: data modes to compare, of {', '.join(SMALL_MODES)}")
    batch_size: int = arg(4, "original: windows per training step (the original's README: 4)")
    frames: int = arg(600, "original: frames per window (600 = 20 s)")
    steps: int = arg(3, "original: timed steps per model (after one warm-up step)")
    interval: int = arg(20, "small: timed steps per run (after as many untimed ones)")
    bank: str = arg("", "small: feature bank folder to use (default: a temporary one, built before the timing)")
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


def small_run_flags(stage: str, mode: str, cfg: BenchTrainConfig, save_dir: Path, bank_root: Path) -> list[str]:
    """The command line of one timed small run (module docstring)."""
    flags = recipe("small", stage, str(REPO / "checkpoints"))
    flags += ["--data_root", cfg.data_root, "--save_dir", str(save_dir), "--device", cfg.device,
              "--num_steps", str(2 * cfg.interval), "--log_interval", str(cfg.interval), "--eval_interval", "0",
              "--save_interval", str(10 * cfg.interval), "--num_workers", "1" if mode == "bank_workers" else "0",
              "--feature_bank", "none" if mode == "fly" else str(bank_root)]
    if stage in ("face", "pose"):
        flags += ["--data_format", stage]
    if stage == "face":
        flags += ["--lip_model_path", str(REPO / "checkpoints" / "lip")]
    if stage == "guide":
        flags += ["--resume_pth", str(REPO / "checkpoints" / "vq")]
    return flags


def small_samples_per_second(stage: str, mode: str, cfg: BenchTrainConfig, work: Path) -> tuple[float, int]:
    """(windows per second of the second log interval, batch size) of one small run."""
    flags = small_run_flags(stage, mode, cfg, work / f"{stage}_{mode}", Path(cfg.bank) if cfg.bank else work / "bank")
    summary = TRAINERS[stage].main(flags)
    return summary["samples_per_sec"], int(flags[flags.index("--batch_size") + 1])


def bench_small(cfg: BenchTrainConfig) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for stage in cfg.stages:
            for mode in cfg.modes:
                if mode != "fly":  # build the bank untimed
                    small_samples_per_second(stage, mode, dataclasses.replace(cfg, interval=1), work / "warm")
                rows.append((stage, mode, *small_samples_per_second(stage, mode, cfg, work)))
    print(f"\nsmall trainers on {cfg.data_root}, {cfg.interval} timed steps each, torch threads "
          f"{torch.get_num_threads()}")
    print("\n| trainer | data | steps / s | windows / s | speed-up over fly |\n|---|---|---|---|---|")
    fly = {stage: rate for stage, mode, rate, _ in rows if mode == "fly"}
    for stage, mode, rate, batch in rows:
        gain = f"{rate / fly[stage]:.2f}x" if stage in fly else "-"
        print(f"| {stage} | {mode} | {rate / batch:.3f} | {rate:.2f} | {gain} |")


def main(argv: list[str] | None = None) -> None:
    cfg, = parse_config([BenchTrainConfig], argv, description=__doc__.split("\n")[0])
    if cfg.sizes == "small":
        bench_small(cfg)
        return
    device = resolve_device(cfg.device)
    print(f"device {device}, batch {cfg.batch_size} x {cfg.frames} frames, torch threads "
          f"{torch.get_num_threads()}")
    print("| model | s / step | samples / s |\n|---|---|---|")
    for kind in ("face", "pose"):
        seconds = seconds_per_step(kind, cfg, device)
        print(f"| {kind} | {seconds:.2f} | {cfg.batch_size / seconds:.2f} |")


if __name__ == "__main__":
    run_cli(main)
