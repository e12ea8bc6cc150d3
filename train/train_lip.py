"""`python -m train.train_lip --data_root DIR --save_dir DIR ...`: train the audio-to-lip regressor.

The original shipped this model pretrained without its training code (UPSTREAM 2.2, 9.22). Here it learns
from the person folder itself: input = the person's voice (audio channel 0) of random windows of the train
scenes; target = the lip vertices (avatar.face.lip_vertices, cm) of the ground-truth face codes; frames
whose face code is missing are left out of the loss (the batch's "valid" mask). The target statistics
(mean lip shape, one scale) are measured on the train scenes once and stored in the model's buffers, so
the checkpoint is self-contained. Validation (every --eval_interval steps and at the end, EMA weights):
the mean lip vertex distance in cm on the fixed chunks of the validation scenes (TensorBoard Val/lip_l2_cm).

Writes save_dir/args.json (TrainConfig + LipDataConfig + LipRegressorConfig + AudioEncoderConfig, flat)
and model{step:09d}.pt / opt{step:09d}.pt through the shared TrainLoop (train/loop.py); the face
diffusion trainer loads the result with `load_lip_regressor` (--lip_model_path).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from avatar.face import lip_vertices
from data_loaders.augment import AugmentConfig
from data_loaders.dataset import SocialDataset, collate
from data_loaders.feature_bank import FeatureBankConfig, attach_feature_bank
from data_loaders.stats import Normalizer
from model.audio_encoder import AudioEncoderConfig
from model.lip_regressor import LipRegressor, LipRegressorConfig, resolve_lip_vertices
from train.checkpoint import check_run_kind, load_model_checkpoint, load_weights, resolve_model_file
from train.loop import TrainConfig, TrainLoop
from utils.cli import run_cli
from utils.config import arg, from_dict, parse_config
from utils.device import seed_everything

DEFAULTS = {"num_steps": 100_000, "batch_size": 32}  # TrainConfig defaults of this trainer
EVAL_BATCH = 16


@dataclass
class LipDataConfig(AugmentConfig):
    """Training data of the lip regressor."""
    data_root: str = arg("", "person folder in the official format, e.g. dataset/SYN001 (required)")
    max_seq_length: int = arg(120, "frames per training window (the original ran its lip model on 120-frame "
                                   "= 4 s windows); also the validation chunk length")
    min_seq_length: int = arg(90, "shortest random training window (frames); lengths are uniform in "
                                  "[min, max), padded to max")


def lip_targets(normalizer: Normalizer, motion: torch.Tensor) -> torch.Tensor:
    """Normalised face codes (..., 256) -> lip vertices (..., L, 3) in cm, float32."""
    return lip_vertices(normalizer.denormalize(motion.double(), "face")).float()


def target_statistics(dataset: SocialDataset) -> tuple[torch.Tensor, float]:
    """(mean lip shape (L, 3), scale = RMS deviation from it) over the valid frames of the dataset's scenes."""
    frames = torch.cat([torch.from_numpy(scene.motion[scene.valid]) for scene in dataset.scenes])
    vertices = lip_targets(dataset.normalizer, frames)
    mean = vertices.mean(0)
    return mean, float((vertices - mean).square().mean().sqrt().clamp_min(1e-6))


def lip_loss(normalizer: Normalizer):
    """loss_fn(model, batch) of the TrainLoop: masked MSE of the normalised lip vertices."""
    def loss_fn(model, batch: dict) -> tuple[torch.Tensor, dict]:
        target = lip_targets(normalizer, batch["motion"])
        prediction = model(batch["audio"], mask=batch["mask"])
        return model.loss(prediction, target, batch["valid"]), {}
    return loss_fn


def lip_evaluation(dataset: SocialDataset):
    """eval_fn(model, step) -> {"lip_l2_cm": mean distance (cm) of predicted and true lip vertices over the
    valid frames of the validation chunks}."""
    def eval_fn(model, step: int) -> dict:
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for first in range(0, len(dataset), EVAL_BATCH):
            batch = collate([dataset[i] for i in range(first, min(first + EVAL_BATCH, len(dataset)))])
            audio, mask, valid = batch["audio"].to(device), batch["mask"].to(device), batch["valid"].to(device)
            error = (model(audio, mask=mask) - lip_targets(dataset.normalizer, batch["motion"]).to(device)).norm(dim=-1)
            total += float(error.mean(-1)[valid].sum())
            count += int(valid.sum())
        return {"lip_l2_cm": total / max(count, 1)}
    return eval_fn


def load_lip_regressor(path: str | os.PathLike, device: torch.device | str = "cpu") -> LipRegressor:
    """The frozen lip regressor (eval mode, no gradients) of a train_lip checkpoint or save_dir."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: lip regressor checkpoint not found; train one with "
                                f"`python -m train.train_lip --data_root DIR --save_dir DIR` and pass its "
                                f"model*.pt (or the save_dir) as --lip_model_path")
    model_file = resolve_model_file(path)
    state, config = load_model_checkpoint(model_file, device)
    check_run_kind(config, model_file, "lip regressor")
    model = LipRegressor(from_dict(LipRegressorConfig, config), from_dict(AudioEncoderConfig, config))
    return load_weights(model, state, model_file).to(device).eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> dict:
    """Parse the flags, train, return TrainLoop.run()'s summary."""
    train_cfg, data_cfg, lip_cfg, audio_cfg, bank_cfg = parse_config(
        [TrainConfig, LipDataConfig, LipRegressorConfig, AudioEncoderConfig, FeatureBankConfig], argv,
        defaults=DEFAULTS,
        description="Train the audio-to-lip-vertex regressor (input of the face diffusion model) on a person "
                    "folder; writes args.json and model/opt checkpoints into --save_dir.")
    if not data_cfg.data_root:
        raise SystemExit("--data_root is required: a person folder in the official format, e.g. dataset/SYN001")
    data_cfg = dataclasses.replace(data_cfg, data_root=str(Path(data_cfg.data_root).resolve()))
    lip_cfg = dataclasses.replace(lip_cfg, lip_vertices=resolve_lip_vertices(lip_cfg))
    seed_everything(train_cfg.seed)
    train_set = SocialDataset(data_cfg.data_root, "train", "face", data_cfg.max_seq_length, data_cfg.min_seq_length,
                              augment=data_cfg.augment)
    attach_feature_bank(train_set, bank_cfg, audio_cfg)
    val_set = SocialDataset(data_cfg.data_root, "val", "face", data_cfg.max_seq_length, data_cfg.min_seq_length,
                            random_windows=False)
    model = LipRegressor(lip_cfg, audio_cfg)
    model.set_target_stats(*target_statistics(train_set))
    loop = TrainLoop(model, lip_loss(train_set.normalizer), train_set, train_cfg, collate_fn=collate,
                     configs_to_save=(data_cfg, lip_cfg, audio_cfg), eval_fn=lip_evaluation(val_set),
                     configs_to_record=(bank_cfg,), init_weights=lambda path: load_lip_regressor(path).state_dict())
    return loop.run()


if __name__ == "__main__":
    run_cli(main)
