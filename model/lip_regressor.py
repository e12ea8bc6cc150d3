"""Audio-to-lip regressor (UPSTREAM 2.2): the person's voice (audio channel 0) -> 3-D positions of the L lip
vertices of the reference avatar (`avatar.face.LIP_VERTEX_INDICES`) per video frame, (B, T, L, 3).

Structure as the original's RegressionTransformer: audio features (here `model.audio_encoder`, one channel,
one token per frame, trained end to end instead of the frozen wav2vec-large) -> Linear -> pre-norm encoder
layers over the audio tokens -> pre-norm decoder layers whose queries are all-zero vectors of length T and
which self-attend and cross-attend to the encoded audio -> Linear(d -> L*3). The original added absolute
sinusoidal positions to the zero queries; here positions enter through the rotary phases (times in
seconds, `model.layers`), so query frame i and audio token i are time-aligned and any T works.

Targets are normalised inside the model: the trainer sets `target_mean` (L, 3) and `target_scale` (scalar)
from the training data with `set_target_stats`; the network predicts (v - mean) / scale and `forward`
returns vertices in the units of the avatar. `loss` is the masked MSE in normalised units. The face
denoiser takes `normalise(vertices)` (B, T, L*3) as its lip input.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model.audio_encoder import AudioEncoderConfig, build_audio_encoder
from model.layers import DecoderLayer, EncoderLayer, xavier_init
from utils.config import arg


@dataclass
class LipRegressorConfig:
    """Audio-to-lip-vertex regressor (original: d 512, 4 heads, 2 encoder + 4 decoder layers, FFN 1024)."""
    lip_vertices: int = arg(0, "L, lip vertices per frame; 0 = len(avatar.face.LIP_VERTEX_INDICES)")
    lip_latent_dim: int = arg(512, "transformer width of the lip regressor")
    lip_heads: int = arg(4, "attention heads of the lip regressor")
    lip_encoder_layers: int = arg(2, "encoder layers over the audio tokens")
    lip_decoder_layers: int = arg(4, "decoder layers (zero queries, cross-attention to the audio)")
    lip_ff_size: int = arg(1024, "feed-forward width of the lip regressor")
    lip_dropout: float = arg(0.1, "dropout of the lip regressor")


def resolve_lip_vertices(cfg: LipRegressorConfig) -> int:
    """L from the config, or from the avatar's lip vertex set when the config says 0."""
    if cfg.lip_vertices > 0:
        return cfg.lip_vertices
    from avatar.face import LIP_VERTEX_INDICES
    return len(LIP_VERTEX_INDICES)


class LipRegressor(nn.Module):
    """(B, T*1600, C) audio, channel 0 used -> (B, T, L, 3) lip vertex positions (module docstring)."""

    def __init__(self, cfg: LipRegressorConfig, audio_cfg: AudioEncoderConfig):
        super().__init__()
        self.num_vertices = resolve_lip_vertices(cfg)
        d = cfg.lip_latent_dim
        self.audio_encoder = build_audio_encoder(audio_cfg, channels=1)
        self.audio_projection = nn.Linear(self.audio_encoder.out_dim, d)
        self.encoder = nn.ModuleList(EncoderLayer(d, cfg.lip_heads, cfg.lip_ff_size, cfg.lip_dropout)
                                     for _ in range(cfg.lip_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(d, cfg.lip_heads, cfg.lip_ff_size, cfg.lip_dropout)
                                     for _ in range(cfg.lip_decoder_layers))
        self.final_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, self.num_vertices * 3)
        xavier_init(self.head)
        self.register_buffer("target_mean", torch.zeros(self.num_vertices, 3))
        self.register_buffer("target_scale", torch.ones(()))

    @torch.no_grad()
    def set_target_stats(self, mean: torch.Tensor, scale: float | torch.Tensor) -> None:
        """mean (L, 3) and scalar scale of the training targets (stored in the state dict)."""
        self.target_mean.copy_(mean)
        self.target_scale.fill_(float(scale))

    def normalise(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, T, L, 3) vertices in avatar units -> (B, T, L*3) normalised (the face denoiser's lip input)."""
        return ((vertices - self.target_mean) / self.target_scale).flatten(-2)

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """audio (B, T*1600, C >= 1) normalised waveform (channel 0 is encoded; the partner's channel, when given,
        sets the level reference, `model.loudness`); mask (B, T) bool True = real frame (padding blocked in
        attention). Returns (B, T, L, 3) vertices in avatar units."""
        tokens = self.audio_projection(self.audio_encoder(audio))
        padding = None if mask is None else ~mask.bool()
        for layer in self.encoder:
            tokens = layer(tokens, key_padding_mask=padding)
        h = torch.zeros_like(tokens)
        for layer in self.decoder:
            h = layer(h, tokens, x_key_padding_mask=padding, memory_key_padding_mask=padding)
        normalised = self.head(self.final_norm(h)).unflatten(-1, (self.num_vertices, 3))
        return normalised * self.target_scale + self.target_mean

    def loss(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Masked MSE in normalised units: pred, target (B, T, L, 3); valid (B, T) bool -> scalar."""
        error = ((pred - target) / self.target_scale).square().mean((-1, -2))
        weights = valid.to(error.dtype)
        return (error * weights).sum() / weights.sum().clamp_min(1)
