"""The original's audio-to-lip regressor (its Audio2LipRegressionTransformer, UPSTREAM 2.2), which its face
model runs inside every forward pass: the person's voice (audio channel 0) -> 338 lip vertices per frame.
Its structure is not a2p's LipRegressor (model/lip_regressor.py), so it has this module, built from a2p's
layers with the original's conventions:

    features = wav2vec_large(audio window)                    (B, L, 512), model/wav2vec.py, L ~ 100 Hz
    memory   = encoder layers(features + sinusoidal PE)       pre-norm, 4 heads, FFN 1024 ReLU, no rotary
    h        = decoder layers(zeros (B, T, 512) + sinusoidal PE, memory)   self- and cross-attention
    vertices = Linear(512 -> 338 * 3)(h)                      (B, T, 338, 3), in the original's units

The sinusoidal PE is the usual one (sin on even, cos on odd features, 10000^(-2i/512), 1024 positions).
The original face model cuts the audio into windows of 120 frames (4 s) and runs the regressor on each
independently (wav2vec's GroupNorm normalises per window); `forward` does the same. Released sizes: 2
encoder + 4 decoder layers and the 12-layer wav2vec context network; the weights are inside the face
checkpoint (lip_model.*) and at assets/iter-0200000.pt (key model_state_dict). It is frozen: a2p never trains it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from data_loaders.format import SAMPLES_PER_FRAME
from model.layers import DecoderLayer, EncoderLayer
from model.wav2vec import AGGREGATOR_LAYERS, FEATURES, Wav2VecLargeEncoder

VERTICES = 338
WINDOW = 120  # frames per independent window (the original face model's encode_lip)
HEADS, FF_SIZE, MAX_POSITIONS = 4, 1024, 1024


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) absolute positions: sin(p w_i) on even and cos(p w_i) on odd features, w_i = 10000^(-2i/dim)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequencies = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequencies)
    table[:, 1::2] = torch.cos(position * frequencies)
    return table


class OriginalLipRegressor(nn.Module):
    """audio (B, T*1600, C >= 1) normalised, channel 0 read -> (B, T, 338, 3) (module docstring)."""

    def __init__(self, encoder_layers: int = 2, decoder_layers: int = 4, aggregator_layers: int = AGGREGATOR_LAYERS,
                 vertices: int = VERTICES):
        super().__init__()
        self.num_vertices = vertices
        self.audio_encoder = Wav2VecLargeEncoder(aggregator_layers)
        self.encoder = nn.ModuleList(EncoderLayer(FEATURES, HEADS, FF_SIZE, 0.1, rotary="none", activation="relu")
                                     for _ in range(encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(FEATURES, HEADS, FF_SIZE, 0.1, rotary="none", activation="relu")
                                     for _ in range(decoder_layers))
        self.head = nn.Linear(FEATURES, vertices * 3)
        self.register_buffer("positions", sinusoidal_positions(MAX_POSITIONS, FEATURES), persistent=False)
        self.requires_grad_(False)

    def regress(self, features: torch.Tensor, frames: int) -> torch.Tensor:
        """wav2vec features (B, L, 512) of one window -> (B, frames, 512) decoder output."""
        memory = features + self.positions[:features.shape[1]]
        for layer in self.encoder:
            memory = layer(memory)
        h = self.positions[:frames].expand(features.shape[0], -1, -1)
        for layer in self.decoder:
            h = layer(h, memory)
        return h

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """audio (B, T*1600, C) normalised; mask unused (the original attends to every frame). -> (B, T, 338, 3)."""
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        windows = []
        for start in range(0, frames, WINDOW):
            end = min(start + WINDOW, frames)
            features = self.audio_encoder(audio[:, start * SAMPLES_PER_FRAME:end * SAMPLES_PER_FRAME, :1])
            windows.append(self.head(self.regress(features, end - start)))
        return torch.cat(windows, dim=1).unflatten(-1, (self.num_vertices, 3))

    def normalise(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, T, 338, 3) -> (B, T, 1014): the face model's lip input (the original feeds the raw vertices)."""
        return vertices.flatten(-2)
