"""Residual VQ-VAE over keyframe sequences: the tokenizer of the 1 fps guide poses.

Input is a keyframe sequence x (B, K, C), K keyframes one second apart (motion[:, ::30]), normalised
pose (C = 104). A causal convolutional encoder maps it to one latent of width D per keyframe (no temporal
downsampling), a residual quantiser (model/quantizer.py) turns each latent into `depth` code indices, and
a causal convolutional decoder maps the summed codes back to (B, K, C). Both conv stacks see the current
and the 7 previous keyframes only (left padding 7, receptive field 8), so the tokens of keyframe k never
depend on later keyframes.

Token layout used by the guide transformer: keyframe-major, then level (coarse to fine):
tokens (B, K * depth) = [k0l0, k0l1, ..., k0l(depth-1), k1l0, ...]; see `tokens_from_indices`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from avatar.parameters import translation_dims
from model.quantizer import ResidualQuantizer
from utils.config import arg

DILATIONS = (1, 2, 3, 1)
CAUSAL_PAD = sum(DILATIONS) * (2 - 1)  # 7: receptive field of the k=2 dilated stack minus one


@dataclass
class VQConfig:
    """Residual VQ-VAE (tokenizer of 1 fps poses); defaults are the original's released configuration."""
    nfeats: int = arg(104, "features per keyframe (104 pose parameters)")
    codebook_size: int = arg(1024, "entries per codebook (alias: the original's --code_dim)", aliases=("--code_dim",))
    depth: int = arg(4, "residual quantisation levels = tokens per keyframe")
    emb_width: int = arg(64, "latent and code width D (alias: the original's --output_emb_width)",
                         aliases=("--output_emb_width",))
    commit: float = arg(0.02, "weight of the commitment loss")
    loss_vel: float = arg(0.0, "weight of the SmoothL1 loss on keyframe-to-keyframe differences (along time)")
    translation_weight: float = arg(1.0, "weight of the root translation dims (cm) in the reconstruction loss, the "
                                         "joint angles' being 1: they hold most of the pose's scale in raw units "
                                         "(what FD_g measures); 104-parameter poses only")
    codebook_decay: float = arg(0.99, "EMA decay of the codebook counts and sums")
    kmeans_iters: int = arg(10, "k-means iterations initialising each codebook on the first training batch")
    dead_code_threshold: float = arg(2.0, "codes whose EMA count falls below this are restarted from the batch")


def _causal_stack(dim: int) -> list[nn.Module]:
    """Four k=2 dilated convs (D -> D) with LeakyReLU(0.2) between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, dilation in enumerate(DILATIONS):
        layers.append(nn.Conv1d(dim, dim, kernel_size=2, dilation=dilation))
        if i < len(DILATIONS) - 1:
            layers.append(nn.LeakyReLU(0.2))
    return layers


class CausalEncoder(nn.Module):
    """(B, K, C) -> (B, K, D): left pad 7, 1x1 conv C->D, LeakyReLU, four dilated k=2 convs."""

    def __init__(self, nfeats: int, dim: int):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv1d(nfeats, dim, 1), nn.LeakyReLU(0.2), *_causal_stack(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc(F.pad(x.transpose(1, 2), (CAUSAL_PAD, 0))).transpose(1, 2)


class CausalDecoder(nn.Module):
    """(B, K, D) -> (B, K, C): left pad 7, four dilated k=2 convs with LeakyReLU after each, 1x1 conv D->C."""

    def __init__(self, nfeats: int, dim: int):
        super().__init__()
        self.dec = nn.Sequential(*_causal_stack(dim), nn.LeakyReLU(0.2), nn.Conv1d(dim, nfeats, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(F.pad(z.transpose(1, 2), (CAUSAL_PAD, 0))).transpose(1, 2)


class ResidualVQVAE(nn.Module):
    """Keyframes (B, K, C) <-> code indices (B, K, depth)."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = CausalEncoder(cfg.nfeats, cfg.emb_width)
        self.quantizer = ResidualQuantizer(cfg.depth, cfg.codebook_size, cfg.emb_width, decay=cfg.codebook_decay,
                                           kmeans_iters=cfg.kmeans_iters,
                                           dead_code_threshold=cfg.dead_code_threshold)
        self.decoder = CausalDecoder(cfg.nfeats, cfg.emb_width)
        weights = torch.where(torch.as_tensor(translation_dims(cfg.nfeats)), cfg.translation_weight, 1.0)
        self.register_buffer("dim_weights", weights.float(), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Reconstruction (B, K, C) of x (B, K, C) and a dict: commit (), perplexity (depth,),
        usage (depth,) (fraction of each codebook used in the batch), indices (B, K, depth).

        In training mode the codebooks learn from the valid keyframes (mask (B, K) bool, None = all).
        """
        quantized = self.quantizer(self.encoder(x), mask)
        recon = self.decoder(quantized.latent)
        return recon, dict(commit=quantized.commit, perplexity=quantized.perplexity, usage=quantized.usage,
                           indices=quantized.indices)

    def loss(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Training loss of keyframes x (B, K, C) with valid mask (B, K) (None = all valid).

        loss = SmoothL1(recon, x) + commit * commitment [+ loss_vel * SmoothL1 of differences along time],
        each mean over valid keyframes, the SmoothL1 terms weighted per dim (translation_weight). Metrics (detached scalars): recon, commit, vel (if used), mse,
        perplexity_l{i} and usage_l{i} per level.
        """
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        recon, out = self(x, mask)
        recon_loss = _masked_mean(F.smooth_l1_loss(recon.float(), x.float(), reduction="none") * self.dim_weights,
                                  mask)
        loss = recon_loss + self.cfg.commit * out["commit"]
        metrics = dict(recon=recon_loss, commit=out["commit"],
                       mse=_masked_mean((recon.float() - x.float()).pow(2), mask))
        if self.cfg.loss_vel > 0:
            vel_loss = _masked_mean(F.smooth_l1_loss(recon[:, 1:].float() - recon[:, :-1].float(),
                                                     x[:, 1:].float() - x[:, :-1].float(), reduction="none")
                                    * self.dim_weights, mask[:, 1:] & mask[:, :-1])
            loss = loss + self.cfg.loss_vel * vel_loss
            metrics["vel"] = vel_loss
        for level in range(self.cfg.depth):
            metrics[f"perplexity_l{level}"] = out["perplexity"][level]
            metrics[f"usage_l{level}"] = out["usage"][level]
        return loss, {name: value.detach() for name, value in metrics.items()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices (B, K, depth) int64 of keyframes x (B, K, C); never changes the codebooks."""
        return self.quantizer.encode(self.encoder(x))

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Keyframes (B, K, C) of code indices (B, K, depth)."""
        return self.decoder(self.quantizer.decode(indices))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values (B, K, ...) over the entries of valid keyframes (mask (B, K) bool)."""
    weights = mask.reshape(*mask.shape, *([1] * (values.dim() - 2))).expand_as(values).to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1)


def tokens_from_indices(indices: torch.Tensor) -> torch.Tensor:
    """(B, K, depth) code indices -> (B, K * depth) tokens, keyframe-major then level."""
    return indices.reshape(indices.shape[0], -1)


def indices_from_tokens(tokens: torch.Tensor, depth: int) -> torch.Tensor:
    """(B, K * depth) tokens -> (B, K, depth) code indices (inverse of `tokens_from_indices`)."""
    if tokens.shape[1] % depth:
        raise ValueError(f"token sequence of length {tokens.shape[1]} is not a whole number of keyframes "
                         f"of {depth} tokens each")
    return tokens.reshape(tokens.shape[0], -1, depth)
