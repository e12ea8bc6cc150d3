"""Audio front ends: raw 48 kHz waveform -> per-frame features aligned with the motion at 30 fps.

Interface of every encoder (what the denoisers, the guide and the lip regressor use):
    encoder = build_audio_encoder(cfg, channels)      # channels encoded: 2 (person, partner) or 1 (person)
    encoder.out_dim                                   # features per frame = channels * cfg.audio_channel_dim
    encoder(audio (B, T * 1600, C >= channels)) -> (B, T, out_dim)   the first `channels` channels are encoded
    mel_conv also takes the log-mel of the waveform, (B, C, 4T, n_mels) as `model.mel` computes it (the training
    feature bank, data_loaders/feature_bank.py), in place of the waveform

Each channel is encoded separately with the SAME weights and the per-channel features are concatenated
feature-wise in channel order [person | partner], as the original concatenates its vq-wav2vec features per
channel; the position in the concatenation tells the model whose voice it is. Shared weights learn one
notion of speech from both voices (twice the data per weight).

"mel_conv" (a2p's default): log-mel (`model.mel`, 4 mel frames per video frame) of every channel given,
normalised in level by `model.loudness` (each channel on its speech-gated level, a channel far below the
loudest taken as silent; so the lip regressor, which encodes the person alone, still hears that a quiet
person channel is quiet next to a speaking partner) -> Conv(k3) ->
two stride-2 Conv(k4) that bring 120 Hz down to 30 Hz -> Conv(k3) -> Conv(k1), GELU between. Time-local:
the feature of frame j sees only the audio of frames j - 3.25 .. j + 3.25 (0.22 s), so features follow the
audio frame by frame, for any length T.
Learned end to end with the model that owns it; no download. It replaces the original's frozen
vq-wav2vec conv stack (100 Hz, 1998 tokens per 20 s) with tokens that are one per video frame.

"vq_wav2vec" (the original's front end, model/wav2vec.py): frozen vq-wav2vec conv features of each channel,
(B, L, 512 * channels) with L tokens at 100 Hz, NOT one per frame (L = 1998 for 600 frames); the models that
use it take the original's position convention (rotary "index"), in which streams of any rate meet. Its
weights come from the loaded checkpoint (the original's models hold them) or from --wav2vec_path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import nn

from data_loaders.format import SAMPLES_PER_FRAME
from model.loudness import SPEECH_BAND_HZ, normalise_log_mel
from model.mel import MEL_FRAMES_PER_VIDEO_FRAME, LogMel, mel_center_frequencies
from model.voice_warp import random_warp_factors, warp_log_mel
from model.wav2vec import VQWav2VecEncoder
from utils.config import arg


@dataclass
class AudioEncoderConfig:
    """Audio front end (shared by the denoisers, the guide transformer and the lip regressor)."""
    audio_encoder: str = arg("mel_conv", "audio encoder name (registry key); mel_conv = log-mel + conv stack "
                                         "trained end to end; vq_wav2vec = the original's frozen vq-wav2vec "
                                         "features at 100 Hz (with --rotary index)")
    n_mels: int = arg(80, "mel bands of the log-mel front end")
    mel_fmin: float = arg(0.0, "lowest mel filter edge (Hz)")
    mel_fmax: float = arg(8000.0, "highest mel filter edge (Hz)")
    audio_hidden: int = arg(256, "width of the audio conv stack")
    audio_channel_dim: int = arg(256, "audio features per channel and frame (output = channels x this)")
    voice_warp: float = arg(0.0, "mel_conv, training only: warp every channel of every window up or down in "
                                 "frequency by up to this many semitones (model/voice_warp.py), so the model "
                                 "hears speech at any pitch; 0 = off", at_least=0.0, at_most=12.0)
    wav2vec_activation: Literal["gelu", "relu"] = arg("gelu", "vq_wav2vec: activation of the feature extractor; "
                                                              "gelu is the most likely for the released "
                                                              "vq-wav2vec (model/wav2vec.py says why)")
    wav2vec_path: Optional[str] = arg(None, "vq_wav2vec: a fairseq vq-wav2vec checkpoint (the original's "
                                            "assets/vq-wav2vec.pt) to take its weights and activation from; none "
                                            "= the weights of the loaded model (trainers' --arch original: "
                                            "its assets/vq-wav2vec.pt)")


class MelConvEncoder(nn.Module):
    """Log-mel + conv stack per channel (shared weights), concatenated over channels (module docstring)."""

    def __init__(self, cfg: AudioEncoderConfig, channels: int = 2):
        super().__init__()
        self.channels = channels
        self.out_dim = channels * cfg.audio_channel_dim
        self.log_mel = LogMel(cfg.n_mels, cfg.mel_fmin, cfg.mel_fmax)
        self.mel_range, self.voice_warp = (cfg.mel_fmin, cfg.mel_fmax), cfg.voice_warp
        centres = mel_center_frequencies(cfg.n_mels, cfg.mel_fmin, cfg.mel_fmax)
        self.register_buffer("speech_bands", (centres >= SPEECH_BAND_HZ[0]) & (centres <= SPEECH_BAND_HZ[1]),
                             persistent=False)
        hidden = cfg.audio_hidden
        self.convs = nn.Sequential(
            nn.Conv1d(cfg.n_mels, hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(hidden, hidden, 4, stride=2, padding=1), nn.GELU(),  # 120 -> 60 Hz
            nn.Conv1d(hidden, hidden, 4, stride=2, padding=1), nn.GELU(),  # 60 -> 30 Hz
            nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(hidden, cfg.audio_channel_dim, 1),
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T * 1600, C >= channels) 48 kHz waveform at any level, or its log-mel (B, C, 4T, n_mels)
        -> (B, T, out_dim)."""
        mel = self._log_mel(audio) if audio.dim() == 3 else self._check_log_mel(audio)  # (B, C, 4T, n_mels)
        batch, frames = len(mel), mel.shape[2] // MEL_FRAMES_PER_VIDEO_FRAME
        if self.training and self.voice_warp > 0:
            factors = random_warp_factors(batch, mel.shape[1], self.voice_warp, mel.device)
            mel = warp_log_mel(mel, factors, *self.mel_range)
        mel = normalise_log_mel(mel, self.speech_bands)[:, :self.channels]
        features = self.convs(mel.flatten(0, 1).transpose(1, 2)).transpose(1, 2)  # (B*channels, T, channel_dim)
        return features.reshape(batch, self.channels, frames, -1).permute(0, 2, 1, 3).flatten(2)

    def _log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T * 1600, C) waveform -> (B, C, 4T, n_mels) log-mel."""
        batch, samples, given = audio.shape
        if given < self.channels or samples % SAMPLES_PER_FRAME:
            raise ValueError(f"audio encoder: expected audio (B, T * {SAMPLES_PER_FRAME}, >= {self.channels}), got "
                             f"{tuple(audio.shape)}; cut or pad the waveform to whole 30 fps frames")
        return self.log_mel(audio.transpose(1, 2).reshape(batch * given, samples)).unflatten(0, (batch, given))

    def _check_log_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, C, 4T, n_mels) log-mel as given, in float32."""
        bands = self.log_mel.filters.shape[0]
        if mel.dim() != 4 or mel.shape[1] < self.channels or mel.shape[3] != bands or \
                mel.shape[2] % MEL_FRAMES_PER_VIDEO_FRAME:
            raise ValueError(f"audio encoder: expected log-mel (B, >= {self.channels}, 4T, {bands}), got "
                             f"{tuple(mel.shape)}; make the feature bank with this model's --n_mels")
        return mel.float()


def vq_wav2vec_encoder(cfg: AudioEncoderConfig, channels: int = 2) -> VQWav2VecEncoder:
    """The original's frozen vq-wav2vec front end (model/wav2vec.py) as configured."""
    return VQWav2VecEncoder(channels, cfg.wav2vec_activation, cfg.wav2vec_path)


AUDIO_ENCODERS = {"mel_conv": MelConvEncoder, "vq_wav2vec": vq_wav2vec_encoder}


def build_audio_encoder(cfg: AudioEncoderConfig, channels: int = 2) -> nn.Module:
    """The encoder named by cfg.audio_encoder, for `channels` audio channels."""
    if cfg.audio_encoder not in AUDIO_ENCODERS:
        raise ValueError(f"--audio_encoder {cfg.audio_encoder!r} is unknown; choose one of {sorted(AUDIO_ENCODERS)}")
    return AUDIO_ENCODERS[cfg.audio_encoder](cfg, channels)
