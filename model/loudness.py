"""Loudness normalisation of the audio front end: the same words at any level give the same features.

Every encoder of `model.audio_encoder` reads log-mel spectrograms (`model.mel`, log10 band power, 120 frames
per second) and shifts each channel by a reference level before anything else sees them, so nothing
downstream depends on the absolute level of a recording, and the shift is the same in training, sampling
and the demo (it lives inside the model). The reference is a speech-gated level in the manner of ITU-R
BS.1770, measured per window and per channel on the mel bands of the speech band:

1. frame power: the mean linear power of the mel bands centred in SPEECH_BAND_HZ (no hum, no hiss);
2. blocks of 400 ms every 100 ms (BS.1770's gating blocks: LEVEL_BLOCK frames, hop LEVEL_HOP), block power
   = mean frame power; blocks below ABSOLUTE_GATE (digital silence, zero padding) are dropped;
3. relative gate: the blocks within RELATIVE_GATE (10 dB) of the mean power of the remaining blocks;
4. level = log10 of the mean power of the gated blocks (ABSOLUTE_GATE when no block is left).
For speech with pauses this is the level of the speech; for a steady noise it is the noise level.

Channels are normalised each on its own level, except that a channel more than CHANNEL_SPAN (15 dB) below
the loudest channel of its window is taken as silent there and normalised with the loudest level minus
CHANNEL_SPAN: a partner who does not speak in a window (only room noise or bleed from the other
microphone) stays quiet instead of being turned up to speech level, while microphones whose gains differ
by up to 15 dB are both brought to the same level. Each rule is invariant to a gain applied to the whole
recording. Finally the normalised log-mel is floored at RELATIVE_FLOOR (60 dB below the reference), so the
absolute floor of `model.mel` (-100 dB) never shows.

Shapes: log_mel (B, C, F, M) (C channels, F mel frames, M mel bands) -> same shape.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SPEECH_BAND_HZ = (150.0, 4000.0)
LEVEL_BLOCK = 48  # mel frames: 400 ms
LEVEL_HOP = 12  # mel frames: 100 ms
ABSOLUTE_GATE = -8.0  # log10 power
RELATIVE_GATE = 1.0  # log10 power units (10 dB)
CHANNEL_SPAN = 1.5  # log10 power units (15 dB)
RELATIVE_FLOOR = -6.0  # log10 power units (60 dB) below the reference


def speech_band_power(log_mel: torch.Tensor, band_mask: torch.Tensor) -> torch.Tensor:
    """(B, C, F, M) log10 band powers -> (B, C, F) mean linear power of the bands where band_mask (M,) is True."""
    return (10.0 ** log_mel[..., band_mask]).mean(-1)


def gated_level(frame_power: torch.Tensor) -> torch.Tensor:
    """(B, C, F) linear frame power -> (B, C) speech-gated level in log10 power (module docstring)."""
    batch, channels, frames = frame_power.shape
    block = min(LEVEL_BLOCK, max(frames, 1))
    blocks = F.avg_pool1d(frame_power.reshape(batch * channels, 1, frames).float(), block,
                          stride=min(LEVEL_HOP, block))[:, 0]  # (B*C, K)
    kept = blocks > 10.0 ** ABSOLUTE_GATE
    mean = (blocks * kept).sum(-1, keepdim=True) / kept.sum(-1, keepdim=True).clamp_min(1)
    kept &= blocks > mean * 10.0 ** -RELATIVE_GATE
    level = ((blocks * kept).sum(-1) / kept.sum(-1).clamp_min(1)).clamp_min(10.0 ** ABSOLUTE_GATE).log10()
    return level.reshape(batch, channels)


def reference_levels(levels: torch.Tensor) -> torch.Tensor:
    """(B, C) channel levels -> (B, C) reference levels: each channel's own, but at least the loudest channel's
    minus CHANNEL_SPAN (module docstring)."""
    return torch.maximum(levels, levels.amax(-1, keepdim=True) - CHANNEL_SPAN)


def normalise_log_mel(log_mel: torch.Tensor, band_mask: torch.Tensor) -> torch.Tensor:
    """(B, C, F, M) log-mel of every channel of a window -> the same, shifted by each channel's reference level
    and floored at RELATIVE_FLOOR (module docstring)."""
    reference = reference_levels(gated_level(speech_band_power(log_mel, band_mask)))
    return (log_mel - reference[..., None, None]).clamp_min(RELATIVE_FLOOR)
