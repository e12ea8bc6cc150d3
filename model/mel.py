"""Log-mel spectrogram of 48 kHz audio with torch.stft and a mel filter bank built once (no torchaudio).

Framing: hop 400 samples = 120 mel frames per second = exactly 4 mel frames per video frame of 1600
samples. The signal is zero-padded by (n_fft - hop) / 2 on both sides, so mel frame i is centred on sample
400 i + 200: frames 4j..4j+3 lie inside video frame j, and N samples give exactly N // 400 frames (any N >= 0).
Window: Hann of win_length = n_fft = 1024 samples (21 ms; FFT bins 47 Hz apart, enough for 80 mel bands up
to 8 kHz, and 4x cheaper than a 2048-point FFT: the front end is the largest cost of a small model's step).

Power: |STFT|^2 / sum(window^2), so white noise of variance s^2 has an expected power s^2 in every bin.

Filter bank (`mel_filter_bank`): triangles on the Slaney mel scale (linear below 1 kHz, logarithmic above,
the scale of librosa's default `htk=False`), n_mels + 2 points equally spaced in mel between fmin and fmax;
filter m rises from point m to point m+1 and falls to point m+2 (interpolated in Hz at each FFT bin
frequency), then is normalised to sum 1 over the bins, so each band is the average power of the bins it
covers (white noise of variance 1 gives 1 in every band, i.e. 0 after the log).

Output: log10(max(band power, 1e-10)), i.e. a -100 dB floor (far below any recording's noise floor, so
that `model.loudness` can normalise the level of quiet recordings too), shape (B, N // hop, n_mels).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME

HOP = 400
MEL_FRAMES_PER_VIDEO_FRAME = SAMPLES_PER_FRAME // HOP  # 4
LOG_FLOOR = 1e-10

_F_SP = 200.0 / 3  # Hz per mel in the linear part of the Slaney scale
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mel
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic above."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    log_part = _MIN_LOG_MEL + torch.log(hz.clamp_min(_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return torch.where(hz >= _MIN_LOG_HZ, log_part, hz / _F_SP)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of `hz_to_mel`."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    log_part = _MIN_LOG_HZ * torch.exp(_LOG_STEP * (mel.clamp_min(_MIN_LOG_MEL) - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, log_part, mel * _F_SP)


def mel_center_frequencies(n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """(n_mels,) centre frequencies in Hz of the filters of `mel_filter_bank`."""
    points = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2))
    return points[1:-1]


def mel_filter_bank(n_fft: int, n_mels: int, fmin: float, fmax: float,
                    sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, each summing to 1 (module docstring)."""
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"mel filter bank: need 0 <= fmin < fmax <= {sample_rate / 2}, got {fmin}, {fmax}")
    bin_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    points = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2))
    lower, center, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bin_hz - lower) / (center - lower)
    falling = (upper - bin_hz) / (upper - center)
    filters = torch.minimum(rising, falling).clamp_min(0)
    sums = filters.sum(-1, keepdim=True)
    if (sums == 0).any():
        raise ValueError(f"mel filter bank: {int((sums == 0).sum())} of {n_mels} filters cover no FFT bin; "
                         f"use fewer mels, a larger n_fft ({n_fft}) or a wider band ({fmin}-{fmax} Hz)")
    return (filters / sums).float()


class LogMel(nn.Module):
    """(B, N) waveform at 48 kHz -> (B, N // 400, n_mels) log10 band powers (module docstring)."""

    def __init__(self, n_mels: int = 80, fmin: float = 0.0, fmax: float = 8000.0, n_fft: int = 1024,
                 win_length: int = 1024):
        super().__init__()
        self.n_fft, self.win_length = n_fft, win_length
        window = torch.hann_window(win_length)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("filters", mel_filter_bank(n_fft, n_mels, fmin, fmax), persistent=False)
        self.power_scale = 1.0 / float((window ** 2).sum())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.autocast(audio.device.type, enabled=False):
            pad = (self.n_fft - HOP) // 2
            padded = nn.functional.pad(audio.float(), (pad, pad + HOP))  # + HOP: at least one frame
            spec = torch.stft(padded, self.n_fft, hop_length=HOP, win_length=self.win_length,
                              window=self.window, center=False, return_complex=True)
            power = (spec.real.square() + spec.imag.square()) * self.power_scale  # (B, n_fft/2 + 1, frames)
            bands = torch.matmul(self.filters, power)[..., :audio.shape[-1] // HOP]
            return bands.clamp_min(LOG_FLOOR).log10().transpose(1, 2)
