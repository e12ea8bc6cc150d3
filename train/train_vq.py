"""`python -m train.train_vq`: train the residual VQ-VAE that tokenises 1 fps body poses (UPSTREAM 4.2).

    python -m train.train_vq --data_root dataset/PXB184 --save_dir checkpoints/vq/c1_pose

The original's command line works as it is (--out_dir, --code_dim, --output_emb_width, --dataname,
--data_format pose, --add_frame_cond 1 are accepted); the run is written in a2p's layout (model*.pt), and
train_guide's --resume_pth <run>/net_iter{N}.pth, the original's name, finds its model of step N.

Data: windows of exactly `max_seq_length` frames (600 = 20 s) of the person's TRAIN scenes, drawn at random
(a scene shorter than the window is taken whole and padded), seen through their keyframes motion[:, ::30]
(B, K, 104) normalised pose; padded keyframes carry no loss and do not move the codebooks. The model and
its loss are `model.vqvae.ResidualVQVAE`; training runs in the shared loop (`train.loop`), so the run
resumes exactly, logs to TensorBoard, checkpoints atomically and runs under torchrun.

Defaults follow the original's README where it trains well (AdamW betas (0.9, 0.99), lr 1e-3 after a
1000-step warm-up, codebook 1024 x 64, depth 4). EMA of the weights is off by default: the codebooks are
learnt from the raw encoder's outputs, so an averaged encoder would not match them.

Evaluation (`evaluate_vq`, every --eval_interval steps on the fixed VAL windows): `recon_deg`, the mean
absolute reconstruction error of the joint angles in degrees (un-normalised, rotation parameters only),
`recon_cm` the same for the root translation in cm, `mse` in normalised units, and per level l
`perplexity_l{l}` (exp of the entropy of the code histogram) and `usage_l{l}` (share of the codebook used).

save_dir/args.json holds every field of TrainConfig, KeyframeDataConfig and VQConfig; the model files also
carry them, so `load_vq(path)` rebuilds the model from a model file or save_dir alone.

--arch original (the same model: a2p's VQ-VAE is the original's at these defaults) writes the original's
net_iter{step}.pth files and args.json keys instead (train/original_arch.py), which the original's guide
trainer and sampler load, and load_vq reads back as the original's VQ-VAE.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from avatar.parameters import translation_dims
from data_loaders.dataset import SocialDataset, collate
from data_loaders.format import KEYFRAME_STEP
from model.vqvae import ResidualVQVAE, VQConfig
from train.checkpoint import ModelFiles, check_run_kind, load_model_checkpoint, load_weights, resolve_model_file
from train.loop import TrainConfig, TrainLoop
from train.original_arch import Arch, OriginalVQFiles, arch_field, original_args
from train.original_layout import load_original_vq, original_kind
from utils.cli import run_cli
from utils.config import arg, from_dict, merged_dict, parse_config
from utils.device import seed_everything

TRAIN_DEFAULTS = dict(lr=1e-3, betas=(0.9, 0.99), batch_size=64, num_steps=300_000, warm_up_iter=1000,
                      ema_decay=0.0, log_interval=200, eval_interval=1000, save_interval=10_000)


@dataclass
class KeyframeDataConfig:
    """Training data: fixed-length windows of a person folder, seen through their 1 fps keyframes."""
    data_root: str = arg("", "person folder in the official format, e.g. dataset/PXB184 (required)")
    max_seq_length: int = arg(600, "frames per window (600 = 20 s = 20 keyframes); shorter scenes are taken "
                                   "whole and padded")
    dataset: Literal["social"] = arg("social", "accepted for the original's command lines: its only data set")
    dataname: str = arg("social", "accepted for the original's command lines (it only logged the name)")
    data_format: Literal["pose"] = arg("pose", "accepted for the original's command lines: these models tokenise "
                                               "body pose")
    add_frame_cond: Optional[float] = arg(None, "accepted for the original's command lines: 1 = keyframes at 1 "
                                                "fps, which these models always use")
    arch: Arch = arch_field()


def keyframe_dataset(cfg: KeyframeDataConfig, split: str, augment: bool = False,
                     random_windows: bool | None = None) -> SocialDataset:
    """Pose windows of exactly max_seq_length frames: random by item seed for "train", fixed chunks else
    (random_windows overrides); `augment`: channel effects on the random windows' audio
    (data_loaders/augment.py)."""
    if not cfg.data_root:
        raise ValueError("--data_root is required: a person folder in the official format, e.g. dataset/PXB184")
    if cfg.add_frame_cond not in (None, 1):
        raise ValueError(f"--add_frame_cond {cfg.add_frame_cond:g}: only 1 (keyframes at 1 fps), as in the "
                         f"original's command lines")
    return SocialDataset(cfg.data_root, split, "pose", max_seq_length=cfg.max_seq_length,
                         min_seq_length=cfg.max_seq_length, random_lengths=False, augment=augment,
                         random_windows=random_windows)


def keyframes_and_mask(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(keyframes (B, K, C) normalised pose, keyframe mask (B, K) bool True = inside the window)."""
    keyframes = batch["keyframes"]
    return keyframes, batch["mask"][:, ::KEYFRAME_STEP][:, :keyframes.shape[1]]


def vq_loss(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """The loop's loss_fn: ResidualVQVAE.loss on the batch's valid keyframes."""
    return model.loss(*keyframes_and_mask(batch))


def rotation_dims(nfeats: int) -> np.ndarray:
    """(C,) bool: the joint-angle dims of a pose vector (the avatar's 104-parameter layout; every dim of any
    other layout counts as an angle)."""
    return ~translation_dims(nfeats)


@torch.no_grad()
def evaluate_vq(model: ResidualVQVAE, dataset: SocialDataset, batch_size: int = 32) -> dict[str, float]:
    """Reconstruction error and codebook use over every window of `dataset` (module docstring)."""
    device = next(model.parameters()).device
    angles = torch.as_tensor(rotation_dims(dataset.nfeats), device=device)
    counts = torch.zeros(model.cfg.depth, model.cfg.codebook_size, device=device)
    abs_errors, squared = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        keyframes, mask = (x.to(device) for x in keyframes_and_mask(batch))
        indices = model.encode(keyframes)
        recon = model.decode(indices)
        squared.append((recon - keyframes)[mask].pow(2))
        raw_recon, raw_target = (dataset.normalizer.denormalize(x.double(), "pose") for x in (recon, keyframes))
        abs_errors.append((raw_recon - raw_target)[mask].abs())
        for level in range(model.cfg.depth):
            counts[level] += torch.bincount(indices[..., level][mask], minlength=model.cfg.codebook_size)
    errors = torch.cat(abs_errors)
    metrics = {"recon_deg": float(errors[:, angles].mean().rad2deg()), "mse": float(torch.cat(squared).mean())}
    if not angles.all():
        metrics["recon_cm"] = float(errors[:, ~angles].mean())
    for level, level_counts in enumerate(counts):
        probs = level_counts / level_counts.sum()
        metrics[f"perplexity_l{level}"] = float(torch.exp(-(probs * probs.clamp_min(1e-10).log()).sum()))
        metrics[f"usage_l{level}"] = float((level_counts > 0).float().mean())
    return metrics


def load_vq(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[ResidualVQVAE, dict, Path]:
    """(frozen VQ-VAE in eval mode on `device`, its flat config, the model file) from a model*.pt file of
    train.train_vq or its save_dir (then the newest model file), or from the original's VQ run (its
    net_iter*.pth or folder, train/original_layout.py)."""
    if original_kind(path) == "vq":
        return load_original_vq(path, device)
    path = resolve_model_file(path).resolve()
    state, config = load_model_checkpoint(path, device)
    check_run_kind(config, path, "VQ-VAE")
    if not {"codebook_size", "depth", "emb_width"} <= set(config):
        raise ValueError(f"{path}: not a VQ-VAE checkpoint (its config lacks codebook_size/depth/emb_width); "
                         f"pass a model*.pt file or save_dir written by `python -m train.train_vq`")
    model = load_weights(ResidualVQVAE(from_dict(VQConfig, config)), state, path).to(device)
    return model.eval().requires_grad_(False), config, path


def train_vq(train_cfg: TrainConfig, data_cfg: KeyframeDataConfig, vq_cfg: VQConfig) -> dict:
    """Train as configured (module docstring); returns TrainLoop.run()'s summary."""
    dataset = keyframe_dataset(data_cfg, "train")
    data_cfg = dataclasses.replace(data_cfg, data_root=str(Path(data_cfg.data_root).resolve()))
    if vq_cfg.nfeats != dataset.nfeats:
        raise ValueError(f"--nfeats {vq_cfg.nfeats} but the poses of {data_cfg.data_root} have {dataset.nfeats} "
                         f"parameters; pass --nfeats {dataset.nfeats}")
    val_set = keyframe_dataset(data_cfg, "val")
    seed_everything(train_cfg.seed)
    model = ResidualVQVAE(vq_cfg)
    original = data_cfg.arch == "original"
    loop = TrainLoop(model, vq_loss, dataset, train_cfg, collate_fn=collate, configs_to_save=(data_cfg, vq_cfg),
                     eval_fn=lambda model, step: evaluate_vq(model, val_set, train_cfg.batch_size),
                     init_weights=lambda path: load_vq(path)[0].state_dict(),
                     configs_to_record=(original_args("vq", merged_dict(train_cfg, data_cfg, vq_cfg)),) if original
                     else (),
                     model_files=OriginalVQFiles(model) if original else ModelFiles())
    return loop.run()


def main(argv: list[str] | None = None) -> None:
    train_cfg, data_cfg, vq_cfg = parse_config(
        [TrainConfig, KeyframeDataConfig, VQConfig], argv, defaults=TRAIN_DEFAULTS,
        description="Train the residual VQ-VAE over 1 fps keyframes of a person's body poses (the tokenizer "
                    "of the guide transformer).")
    train_vq(train_cfg, data_cfg, vq_cfg)


if __name__ == "__main__":
    run_cli(main)
