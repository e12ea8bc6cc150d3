"""The original's two frozen fairseq wav2vec 1.0 audio models in plain PyTorch (no fairseq), with fairseq's
key names, and the audio front ends the original builds on them:

    VQWav2VecEncoder     face, pose and guide models (model/audio_encoder.py registers it as "vq_wav2vec"):
                         audio (B, S, C) 48 kHz -> per channel, 48 -> 16 kHz (torchaudio's Resample) and the
                         vq-wav2vec FEATURE EXTRACTOR -> 512 features per token at 100 Hz; channels concatenated
                         feature-wise [person | partner] -> (B, L, 512 C), L = floor((S/3 - 465) / 160) + 1
                         tokens (1998 for 20 s). Nothing else of vq-wav2vec runs.
    Wav2VecLargeEncoder  inside the original lip regressor (model/original_lip.py): audio (B, S, 1) -> 16 kHz,
                         320 zeros prepended (20 ms), feature extractor (log-compressed) and context aggregator
                         -> (B, L, 512), L = floor(S/3 / 160) + 1.

fairseq's layers (keys as fairseq 0.12.2's Wav2VecModel.state_dict()):
    feature_extractor.conv_layers.{i}   Conv1d(no bias, no padding) [.0] -> Dropout(0) -> Fp32GroupNorm(1, 512)
                                        [.2] -> activation; (dim, kernel, stride) = FEATURE_LAYERS (8 blocks for
                                        vq-wav2vec, the first 7 for wav2vec_large): total stride 160, receptive
                                        field 465; wav2vec_large then takes log(|x| + 1)
    feature_aggregator.conv_layers.{i}  ReplicationPad1d((k-1, 0)) -> Conv1d(512, 512, k) [.1] -> Dropout(0) ->
                                        Fp32GroupNorm(1, 512) [.3] -> activation, k = 2 + i (12 layers), then
                                        x = (x + input) * sqrt(0.5): causal, edge-padded, residual
GroupNorm(1, 512) normalises each clip over ALL channels and time steps together, so every feature depends on
the whole clip: audio must be cut into clips exactly as the original does (20 s windows; 4 s lip windows).

Activation: wav2vec_large has ReLU. vq-wav2vec: GELU by default, the setting of fairseq's vq-wav2vec training
command and so the most likely one of the public checkpoint; ReLU (what the vq-wav2vec paper describes and
what fairseq builds for args without the field) is `--wav2vec_activation relu`. The golden fixtures cannot
tell which one the released file has; its own args can: `read_fairseq_checkpoint` returns them.

Keys the original never runs are not built: NEVER_RUN lists their prefixes (vq-wav2vec's quantizer and
aggregator, both models' prediction head) for model/original_checkpoint.py, which drops them on loading.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_LAYERS = ((512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), (512, 1, 1), (512, 1, 1),
                  (512, 1, 1))  # (dim, kernel, stride) of vq-wav2vec's feature extractor; wav2vec_large: first 7
LARGE_FEATURE_BLOCKS = 7
AGGREGATOR_LAYERS = 12  # wav2vec_large's context network, kernels 2 .. 13
FEATURES = 512
LIP_PAD = 320  # zeros the original prepends before wav2vec_large (20 ms at 16 kHz)
NEVER_RUN = {"vq_wav2vec": ("vector_quantizer.", "feature_aggregator.", "wav2vec_predictions."),
             "wav2vec_large": ("wav2vec_predictions.",)}
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class Resample(nn.Module):
    """torchaudio.transforms.Resample(48000, 16000) with its defaults (windowed sinc, Hann window, 6 zero
    crossings, rolloff 0.99), computed the same way: (..., S) -> (..., ceil(S / 3))."""

    def __init__(self, orig_freq: int = 48_000, new_freq: int = 16_000, lowpass_filter_width: int = 6,
                 rolloff: float = 0.99):
        super().__init__()
        divisor = math.gcd(orig_freq, new_freq)
        self.orig, self.new = orig_freq // divisor, new_freq // divisor
        base = min(self.orig, self.new) * rolloff
        self.width = math.ceil(lowpass_filter_width * self.orig / base)
        offsets = torch.arange(-self.width, self.width + self.orig, dtype=torch.float64)[None, None] / self.orig
        t = (torch.arange(0, -self.new, -1, dtype=torch.float64)[:, None, None] / self.new + offsets) * base
        t = t.clamp(-lowpass_filter_width, lowpass_filter_width)
        window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
        t = t * math.pi
        sinc = torch.where(t == 0, torch.ones_like(t), t.sin() / t)
        self.register_buffer("kernel", (sinc * window * base / self.orig).float(), persistent=False)  # (new, 1, K)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        shape, length = wave.shape[:-1], wave.shape[-1]
        padded = F.pad(wave.reshape(-1, length), (self.width, self.width + self.orig))
        out = F.conv1d(padded[:, None], self.kernel.to(wave.dtype), stride=self.orig).transpose(1, 2).flatten(1)
        return out[:, :math.ceil(self.new * length / self.orig)].reshape(*shape, -1)


class Fp32GroupNorm(nn.GroupNorm):
    """GroupNorm computed in float32 and cast back (fairseq's, for fp16/bf16 inference)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps).type_as(x)


class ConvFeatureExtractor(nn.Module):
    """fairseq's ConvFeatureExtractionModel: (B, 1, S16) -> (B, 512, L)."""

    def __init__(self, blocks: int, activation: str, log_compression: bool):
        super().__init__()
        self.log_compression = log_compression
        channels, layers = 1, []
        for dim, kernel, stride in FEATURE_LAYERS[:blocks]:
            layers.append(nn.Sequential(nn.Conv1d(channels, dim, kernel, stride=stride, bias=False), nn.Dropout(0.0),
                                        Fp32GroupNorm(1, dim), ACTIVATIONS[activation]()))
            channels = dim
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave
        for layer in self.conv_layers:
            x = layer(x)
        return torch.log(x.abs() + 1) if self.log_compression else x


class ConvAggregator(nn.Module):
    """fairseq's ConvAggegator (context network), causal with residual connections: (B, 512, L) -> (B, 512, L)."""

    def __init__(self, layers: int, activation: str, dim: int = FEATURES):
        super().__init__()
        self.conv_layers = nn.ModuleList(
            nn.Sequential(nn.ReplicationPad1d((kernel - 1, 0)), nn.Conv1d(dim, dim, kernel), nn.Dropout(0.0),
                          Fp32GroupNorm(1, dim), ACTIVATIONS[activation]())
            for kernel in range(2, 2 + layers))
        self.residual_scale = math.sqrt(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.conv_layers:
            x = (x + layer(x)) * self.residual_scale
        return x


class Wav2Vec(nn.Module):
    """The parts of fairseq's Wav2VecModel the original runs, under fairseq's attribute names."""

    def __init__(self, feature_blocks: int, activation: str, log_compression: bool, aggregator_layers: int = 0):
        super().__init__()
        self.feature_extractor = ConvFeatureExtractor(feature_blocks, activation, log_compression)
        self.feature_aggregator = ConvAggregator(aggregator_layers, activation) if aggregator_layers else None


def read_fairseq_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, legacy training args as a dict) of a fairseq checkpoint {'args': Namespace, 'model': ...}
    such as the public vq-wav2vec.pt, read with weights_only=True; argparse.Namespace (plain attribute data) is
    allowed for this one call."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fairseq wav2vec checkpoint not found")
    with torch.serialization.safe_globals([argparse.Namespace]):
        stored = torch.load(path, map_location="cpu", weights_only=True)
    if "model" not in stored:
        raise ValueError(f"{path}: not a fairseq checkpoint (keys {sorted(stored)[:6]}); expected 'args' and 'model'")
    return stored["model"], vars(stored.get("args") or argparse.Namespace())


class VQWav2VecEncoder(nn.Module):
    """The original's audio front end of the denoisers and the guide (module docstring): frozen vq-wav2vec
    features of each channel. audio (B, S, channels) normalised 48 kHz -> (B, L, out_dim), out_dim = 512 *
    channels. `wav2vec_path`: a fairseq vq-wav2vec checkpoint to take the weights (and the activation) from."""

    def __init__(self, channels: int = 2, activation: str = "gelu", wav2vec_path: str | None = None):
        super().__init__()
        state = None
        if wav2vec_path:
            state, args = read_fairseq_checkpoint(wav2vec_path)
            activation = args.get("activation", activation)
        self.channels, self.out_dim = channels, channels * FEATURES
        self.resampler = Resample()
        self.model = Wav2Vec(len(FEATURE_LAYERS), activation, log_compression=False)
        if state is not None:
            self.model.load_state_dict({k: v for k, v in state.items() if not k.startswith(NEVER_RUN["vq_wav2vec"])})
        self.model.requires_grad_(False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        batch, samples, channels = audio.shape
        if channels != self.channels:
            raise ValueError(f"vq-wav2vec encoder: expected audio (B, S, {self.channels}), got {tuple(audio.shape)}")
        wave = self.resampler(audio.transpose(1, 2).reshape(batch * channels, 1, samples))
        features = self.model.feature_extractor(wave)  # (B*C, 512, L)
        return features.reshape(batch, channels * features.shape[1], -1).transpose(1, 2)


class Wav2VecLargeEncoder(nn.Module):
    """The original lip regressor's audio encoder (module docstring): audio (B, S, 1) normalised 48 kHz ->
    (B, L, 512) frozen wav2vec_large features (feature extractor + `aggregator_layers` context layers)."""

    def __init__(self, aggregator_layers: int = AGGREGATOR_LAYERS):
        super().__init__()
        self.out_dim = FEATURES
        self.resampler = Resample()
        self.model = Wav2Vec(LARGE_FEATURE_BLOCKS, "relu", log_compression=True, aggregator_layers=aggregator_layers)
        self.model.requires_grad_(False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        wave = F.pad(self.resampler(audio[..., 0]), (LIP_PAD, 0))[:, None]
        return self.model.feature_aggregator(self.model.feature_extractor(wave)).transpose(1, 2)
