"""`python -m train.train_guide`: train the guide transformer, audio -> VQ tokens of 1 fps poses (UPSTREAM 4.3).

    python -m train.train_guide --resume_pth checkpoints/vq/c1_pose --data_root dataset/PXB184 \
        --save_dir checkpoints/guide/c1_pose

The original's command line works as it is (--out_dir, --gn, --add_frame_cond 1, --resume_pth
.../net_iter300000.pth: an a2p VQ run's model of that step, or the original's own VQ-VAE file).

Per batch (windows of exactly --max_seq_length frames of the TRAIN scenes, as for the VQ-VAE):
    tokens     = tokens_from_indices(vq.encode(keyframes))       (B, K*depth), the frozen VQ in fp32
    token_mask = keyframe mask (B, K) repeated per level          padded keyframes carry no loss
    loss       = GuideTransformer.loss(tokens, audio, seeds, token_mask, frame_mask = batch["mask"])
(label-smoothed cross-entropy with teacher forcing; the audio is replaced by the learned null with
probability --cond_drop_prob, drawn from the item seed). --codebook_size and --depth are the VQ's (read from
its checkpoint); passing other values is an error. Defaults follow the original's README (AdamW lr 2e-4,
betas (0.9, 0.99), weight decay 0.1, 5000 warm-up steps, gradient clipping 1.0, 6 layers x 64 wide).

Evaluation (`evaluate_guide`, every --eval_interval steps on the fixed VAL windows, EMA weights, audio
always kept): `ce` (nats per token, exp(ce) = perplexity), `unigram_ce` (the cross-entropy of guessing every
token from the code frequencies of its level in the TRAIN windows, `token_frequencies`: what a guide that
learnt nothing but frequencies scores), `gain` = unigram_ce - ce (nats per token the guide knows beyond
frequencies), `accuracy` and `top5` (teacher-forced argmax / top-5 hits) and `argmax_deg`, the mean
joint-angle error in degrees of the keyframes decoded from the argmax tokens.

save_dir/args.json holds every field of TrainConfig, GuideDataConfig (resume_pth = the VQ model file as an
absolute path), GuideConfig and AudioEncoderConfig: everything `load_guide` (and the body sampler) needs to
rebuild the guide and its VQ-VAE (the original's lacked num_audio_layers, UPSTREAM 9.12).

--arch original builds the original's guide at its sizes (frozen vq-wav2vec from its assets/, two blocks of
1024-wide audio convs, one shared token table) over an original VQ-VAE run, and writes the original's
checkpoints/iter-{step:07d}.pt and args.json keys (train/original_arch.py), which load_guide reads back.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data_loaders.augment import AugmentConfig
from data_loaders.dataset import SocialDataset, collate
from data_loaders.feature_bank import FeatureBankConfig, attach_feature_bank
from model.audio_encoder import AudioEncoderConfig
from model.guide import GuideConfig, GuideTransformer
from model.vqvae import ResidualVQVAE, tokens_from_indices
from train.checkpoint import ModelFiles, check_run_kind, load_model_checkpoint, load_weights, resolve_model_file, \
    resolve_recorded_path
from train.loop import TrainConfig, TrainLoop
from train.original_arch import OriginalGuideFiles, original_args, original_defaults, with_original_audio
from train.original_layout import load_original_guide, original_kind
from train.train_vq import KeyframeDataConfig, keyframe_dataset, keyframes_and_mask, load_vq, rotation_dims
from utils.cli import run_cli
from utils.config import arg, from_dict, merged_dict, parse_config
from utils.device import seed_everything

TRAIN_DEFAULTS = dict(lr=2e-4, betas=(0.9, 0.99), weight_decay=0.1, batch_size=16, num_steps=100_000,
                      warm_up_iter=5000, grad_clip=1.0, eval_interval=1000, save_interval=5000)


@dataclass
class GuideDataConfig(AugmentConfig, KeyframeDataConfig):
    """Training data of the guide: keyframe windows of a person folder, tokenised by a frozen VQ-VAE."""
    resume_pth: str = arg("", "VQ-VAE checkpoint (model*.pt or save_dir of train.train_vq, also named as the "
                              "original's <run>/net_iter{N}.pth, or the original's own VQ run) whose tokens the "
                              "guide learns to predict (required)")
    gn: bool = arg(False, "accepted for the original's command lines: clip the gradient norm at 1.0, which "
                          "--grad_clip 1.0 does by default")


class Guide(NamedTuple):
    """A trained guide ready to sample: model and its VQ-VAE (eval mode, frozen), the guide's flat args.json
    dict, and the guide's model file."""
    model: GuideTransformer
    vq: ResidualVQVAE
    config: dict
    model_file: Path


def vq_tokens(vq: ResidualVQVAE, keyframes: torch.Tensor,
              keyframe_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens (B, K*depth) int64, token mask (B, K*depth) bool) of keyframes (B, K, C), encoded in fp32."""
    vq.to(keyframes.device)
    with torch.autocast(keyframes.device.type, enabled=False):
        tokens = tokens_from_indices(vq.encode(keyframes.float()))
    return tokens, keyframe_mask.repeat_interleave(vq.cfg.depth, dim=1)


class GuideLoss:
    """loss_fn(model, batch) of the TrainLoop (module docstring) with the frozen VQ-VAE `vq`."""

    def __init__(self, vq: ResidualVQVAE):
        self.vq = vq

    def __call__(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        tokens, token_mask = vq_tokens(self.vq, *keyframes_and_mask(batch))
        return model.loss(tokens, batch["audio"], batch["seed"], token_mask, batch["mask"])


def dataset_tokens(vq: ResidualVQVAE, dataset: SocialDataset, batch_size: int = 16):
    """Yield (batch, tokens (B, K*depth), token mask (B, K*depth)) over the fixed windows of `dataset`."""
    device = next(vq.parameters()).device
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        keyframes, keyframe_mask = (x.to(device) for x in keyframes_and_mask(batch))
        yield batch, *vq_tokens(vq, keyframes, keyframe_mask)


@torch.no_grad()
def token_frequencies(vq: ResidualVQVAE, dataset: SocialDataset) -> torch.Tensor:
    """(depth, codebook_size) code frequencies of each level over the fixed windows of `dataset` (add-one
    smoothed, so every code has a probability)."""
    counts = torch.ones(vq.cfg.depth, vq.cfg.codebook_size, dtype=torch.float64)
    for _, tokens, token_mask in dataset_tokens(vq, dataset):
        levels = torch.arange(tokens.shape[1], device=tokens.device) % vq.cfg.depth
        flat = (levels * vq.cfg.codebook_size + tokens)[token_mask].cpu()
        counts.view(-1).index_add_(0, flat, torch.ones(len(flat), dtype=torch.float64))
    return counts / counts.sum(1, keepdim=True)


@torch.no_grad()
def evaluate_guide(model: GuideTransformer, vq: ResidualVQVAE, dataset: SocialDataset, frequencies: torch.Tensor,
                   batch_size: int = 16) -> dict[str, float]:
    """Teacher-forced ce, unigram_ce, gain (and gain_l<level> per residual level), accuracy, top5 and
    argmax_deg over every window of `dataset`, the unigram from `frequencies` (depth, codebook_size) of
    `token_frequencies` (module docstring)."""
    device = next(model.parameters()).device
    angles = torch.as_tensor(rotation_dims(dataset.nfeats), device=device)
    log_unigram = frequencies.log().float().to(device)
    ce_sum = unigram_sum = correct = top5 = count = 0.0
    level_gain, level_count = torch.zeros(vq.cfg.depth, dtype=torch.float64), torch.zeros(vq.cfg.depth)
    errors = []
    for batch, tokens, token_mask in dataset_tokens(vq, dataset, batch_size):
        audio, frame_mask = batch["audio"].to(device), batch["mask"].to(device)
        keyframes, keyframe_mask = (x.to(device) for x in keyframes_and_mask(batch))
        logits = model(tokens, model.encode_audio(audio, frame_mask)).float()
        token_ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")  # (B, K * depth)
        ce_sum += float(token_ce[token_mask].sum())
        levels = (torch.arange(tokens.shape[1], device=device) % vq.cfg.depth).expand_as(tokens)
        token_unigram = -log_unigram[levels, tokens]
        unigram_sum += float(token_unigram[token_mask].sum())
        level_gain.index_add_(0, levels[token_mask].cpu(), (token_unigram - token_ce)[token_mask].double().cpu())
        level_count.index_add_(0, levels[token_mask].cpu(), torch.ones(int(token_mask.sum())))
        predicted = logits.argmax(-1)
        correct += float((predicted == tokens)[token_mask].sum())
        top5 += float((logits.topk(5, dim=-1).indices == tokens[..., None]).any(-1)[token_mask].sum())
        count += float(token_mask.sum())
        decoded = vq.decode(predicted.view(*keyframes.shape[:2], vq.cfg.depth))
        raw = [dataset.normalizer.denormalize(x.double(), "pose") for x in (decoded, keyframes)]
        errors.append((raw[0] - raw[1])[keyframe_mask][:, angles].abs())
    return {"ce": ce_sum / count, "unigram_ce": unigram_sum / count, "gain": (unigram_sum - ce_sum) / count,
            "accuracy": correct / count, "top5": top5 / count, "argmax_deg": float(torch.cat(errors).mean().rad2deg()),
            **{f"gain_l{level}": float(level_gain[level] / level_count[level].clamp_min(1))
               for level in range(vq.cfg.depth)}}


def check_vq_match(guide_cfg: GuideConfig, vq: ResidualVQVAE, vq_file: Path) -> None:
    """The guide's vocabulary must be the VQ's: a clear error for conflicting --codebook_size / --depth."""
    for name in ("codebook_size", "depth"):
        if getattr(guide_cfg, name) != getattr(vq.cfg, name):
            raise ValueError(f"--{name} {getattr(guide_cfg, name)} conflicts with the VQ-VAE {vq_file} "
                             f"({name} {getattr(vq.cfg, name)}); leave --{name} out, it is taken from the VQ")


def train_guide(train_cfg: TrainConfig, data_cfg: GuideDataConfig, guide_cfg: GuideConfig,
                audio_cfg: AudioEncoderConfig, bank_cfg: FeatureBankConfig = FeatureBankConfig()) -> dict:
    """Train as configured (module docstring); returns TrainLoop.run()'s summary."""
    if not data_cfg.resume_pth:
        raise ValueError("--resume_pth is required: the VQ-VAE checkpoint (model*.pt or save_dir of "
                         "`python -m train.train_vq`)")
    vq, _, vq_file = load_vq(data_cfg.resume_pth)
    check_vq_match(guide_cfg, vq, vq_file)
    original = data_cfg.arch == "original"
    if original and original_kind(vq_file) != "vq":
        raise ValueError(f"--arch original: the VQ-VAE {vq_file} is an a2p run; the original's guide learns the "
                         f"tokens of the original's VQ-VAE (net_iter*.pth: train.train_vq --arch original, or its "
                         f"released file), which its own code loads")
    never_run = {}
    if original:
        audio_cfg, never_run = with_original_audio(audio_cfg, train_cfg.save_dir)
        data_cfg = dataclasses.replace(data_cfg, add_frame_cond=1.0)  # what the original's guide run records
    dataset = keyframe_dataset(data_cfg, "train", data_cfg.augment)
    attach_feature_bank(dataset, bank_cfg, audio_cfg)
    data_cfg = dataclasses.replace(data_cfg, resume_pth=str(vq_file), data_root=str(Path(data_cfg.data_root).resolve()))
    if dataset.nfeats != vq.cfg.nfeats:
        raise ValueError(f"the poses of {data_cfg.data_root} have {dataset.nfeats} parameters but the VQ-VAE "
                         f"{vq_file} was trained on {vq.cfg.nfeats}")
    val_set = keyframe_dataset(data_cfg, "val")
    frequencies = token_frequencies(vq, keyframe_dataset(data_cfg, "train", random_windows=False))
    seed_everything(train_cfg.seed)
    model = GuideTransformer(guide_cfg, audio_cfg)
    merged = merged_dict(train_cfg, data_cfg, guide_cfg, audio_cfg)
    loop = TrainLoop(model, GuideLoss(vq), dataset, train_cfg, collate_fn=collate,
                     configs_to_save=(data_cfg, guide_cfg, audio_cfg),
                     eval_fn=lambda model, step: evaluate_guide(model, vq, val_set, frequencies,
                                                                train_cfg.batch_size),
                     configs_to_record=(bank_cfg, *([original_args("guide", merged)] if original else [])),
                     init_weights=lambda path: load_guide(path).model.state_dict(),
                     model_files=OriginalGuideFiles(model, never_run) if original else ModelFiles())
    return loop.run()


def load_guide(path: str | os.PathLike, device: torch.device | str = "cpu", options: dict | None = None) -> Guide:
    """The guide of a train_guide checkpoint (model*.pt, EMA weights) or save_dir, and the VQ-VAE its
    args.json names (resume_pth), both frozen in eval mode on `device`; also the original's released guide
    runs (train/original_layout.py; options: OriginalModelConfig's)."""
    if original_kind(path) == "guide":
        return Guide(*load_original_guide(path, device, options))
    model_file = resolve_model_file(path).resolve()
    state, config = load_model_checkpoint(model_file, device)
    check_run_kind(config, model_file, "guide transformer")
    if not config.get("resume_pth") or "audio_layers" not in config:
        raise ValueError(f"{model_file}: not a guide checkpoint of `python -m train.train_guide` (its config "
                         f"lacks resume_pth / audio_layers)")
    vq_path = resolve_recorded_path(config["resume_pth"], model_file)
    if not vq_path.exists():
        raise FileNotFoundError(f"{model_file}: its VQ-VAE {config['resume_pth']} (resume_pth, recorded when the "
                                f"guide was trained) is missing; put the VQ-VAE's model file back at that path")
    vq, _, vq_file = load_vq(vq_path, device)
    guide_cfg = from_dict(GuideConfig, config)
    check_vq_match(guide_cfg, vq, vq_file)
    model = load_weights(GuideTransformer(guide_cfg, from_dict(AudioEncoderConfig, config)), state, model_file)
    return Guide(model.to(device).eval().requires_grad_(False), vq, config, model_file)


def parse_args(argv: list[str] | None = None) -> tuple:
    """(TrainConfig, GuideDataConfig, GuideConfig, AudioEncoderConfig, FeatureBankConfig); --codebook_size and
    --depth default
    to those of the VQ-VAE named by --resume_pth (a missing one ends the command with a one-line message);
    --gn turns gradient clipping at 1.0 back on after --grad_clip 0."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--resume_pth", default="")
    peek.add_argument("--arch", default=GuideDataConfig.arch)
    peek.add_argument("--max_seq_length", type=int, default=GuideDataConfig.max_seq_length)
    known = peek.parse_known_args(argv)[0]
    resume_pth = known.resume_pth
    defaults = dict(TRAIN_DEFAULTS)
    if known.arch == "original":
        defaults.update(original_defaults("guide", known.max_seq_length))
    if resume_pth:
        try:
            _, vq_config, _ = load_vq(resume_pth)
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f"--resume_pth: {error}") from None
        defaults.update(codebook_size=vq_config.get("codebook_size"), depth=vq_config.get("depth"))
    train_cfg, data_cfg, guide_cfg, audio_cfg, bank_cfg = parse_config(
        [TrainConfig, GuideDataConfig, GuideConfig, AudioEncoderConfig, FeatureBankConfig], argv, defaults=defaults,
        description="Train the guide transformer: audio -> the VQ tokens of 1 fps body poses (sampled with "
                    "nucleus sampling by sample.generate --resume_trans).")
    if data_cfg.gn and not train_cfg.grad_clip:
        train_cfg = dataclasses.replace(train_cfg, grad_clip=1.0)
    return train_cfg, data_cfg, guide_cfg, audio_cfg, bank_cfg


def main(argv: list[str] | None = None) -> dict:
    """Parse the flags, train, return TrainLoop.run()'s summary."""
    return train_guide(*parse_args(argv))


if __name__ == "__main__":
    run_cli(main)
