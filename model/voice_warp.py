"""Voice warp: a training-time augmentation of log-mel spectrograms that moves a voice up or down in frequency.

A model trained on a few synthetic voices learns their pitch and formant positions along with the words: the
shipped lip regressor opened the mouth on a female reader's voice and kept it shut on a male speaker's, and
shifting the same recording by -6 semitones changed its mean mouth opening 24-fold. What moves a mouth is
when and how strongly a voice articulates, not where its harmonics and formants sit, so in training every
channel of every window is warped by its own random factor and the model has to hear speech at any pitch.

The warp is vocal tract length perturbation (VTLP) in the log-mel domain: the spectrum is scaled in frequency
by a factor a = 2 ** (s / 12), s uniform in [-max_semitones, max_semitones], so the band centred at f reads
the input at f / a (harmonics and formants both move by s semitones, as a shorter or longer vocal tract and
a higher or lower voice move them together). Band values are interpolated linearly between the input bands
on the mel axis (where the bands are equally spaced); a source frequency outside the bank reads its edge
band. Warping happens before the level normalisation of `model.loudness`, as for a recorded voice.

Shapes: log_mel (B, C, F, M) log10 band powers (`model.mel`), factors (B, C) -> (B, C, F, M).
"""
from __future__ import annotations

import torch

from model.mel import hz_to_mel, mel_center_frequencies


def band_positions(n_mels: int, fmin: float, fmax: float, hz: torch.Tensor) -> torch.Tensor:
    """Fractional band index (float64, same shape as hz) of the frequencies hz on the mel axis of a bank of
    n_mels >= 2 bands, clamped to [0, n_mels - 1]: band k is centred at index k."""
    centres = hz_to_mel(mel_center_frequencies(n_mels, fmin, fmax))
    return ((hz_to_mel(hz) - centres[0]) / (centres[1] - centres[0])).clamp(0, n_mels - 1)


def warp_log_mel(log_mel: torch.Tensor, factors: torch.Tensor, fmin: float, fmax: float) -> torch.Tensor:
    """log_mel (B, C, F, M), M >= 2, warped per channel by factors (B, C) > 0 (module docstring)."""
    n_mels = log_mel.shape[-1]
    centres = mel_center_frequencies(n_mels, fmin, fmax).to(log_mel.device)
    source = band_positions(n_mels, fmin, fmax, centres / factors.double()[..., None])  # (B, C, M)
    low = source.floor().long().clamp(max=n_mels - 2)
    weight = (source - low).to(log_mel.dtype)[:, :, None, :]
    high = low + 1
    expand = lambda index: index[:, :, None, :].expand_as(log_mel)  # noqa: E731
    below, above = log_mel.gather(-1, expand(low)), log_mel.gather(-1, expand(high))
    return below + weight * (above - below)


def random_warp_factors(batch: int, channels: int, max_semitones: float, device: torch.device | str = "cpu",
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch, channels) factors 2 ** (s / 12), s uniform in [-max_semitones, max_semitones]."""
    semitones = (torch.rand(batch, channels, generator=generator, device=device) * 2 - 1) * max_semitones
    return 2.0 ** (semitones / 12.0)
