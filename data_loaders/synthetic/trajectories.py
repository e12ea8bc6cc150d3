"""Smooth trajectory primitives for the puppeteer, all at 30 fps and float64.

- `min_jerk_path`: through keyframes with minimum-jerk segments (zero velocity and acceleration at every
  keyframe, so motion starts and stops smoothly and its speed is lowest at the keyframes);
- `pulses`: a sum of raised-cosine pulses (nods, blinks, brow raises);
- `smooth_noise`: Gaussian noise low-passed to a given time scale, with unit standard deviation.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


def min_jerk_path(times: np.ndarray, values: np.ndarray, frames: int) -> np.ndarray:
    """(frames, D) path through keyframes: times (K,) strictly increasing (in frames, may be fractional),
    values (K, D); constant before the first and after the last keyframe."""
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    t = np.arange(frames, dtype=np.float64)
    segment = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
    nxt = np.minimum(segment + 1, len(times) - 1)
    span = np.maximum(times[nxt] - times[segment], 1e-9)
    tau = np.clip((t - times[segment]) / span, 0.0, 1.0)
    tau[segment == nxt] = 0.0
    blend = tau ** 3 * (10.0 - 15.0 * tau + 6.0 * tau ** 2)
    return values[segment] + (values[nxt] - values[segment]) * blend[:, None]


def pulses(frames: int, centres: np.ndarray, amplitudes: np.ndarray, width: float) -> np.ndarray:
    """(frames,) sum of raised-cosine pulses of full `width` frames, pulse k centred at centres[k] with height
    amplitudes[k]. A pulse rises fastest at centre - width/4 and falls fastest at centre + width/4."""
    t = np.arange(frames, dtype=np.float64)
    out = np.zeros(frames)
    half = width / 2.0
    for centre, amplitude in zip(np.asarray(centres, dtype=np.float64), np.asarray(amplitudes, dtype=np.float64)):
        lo, hi = max(int(np.floor(centre - half)), 0), min(int(np.ceil(centre + half)) + 1, frames)
        phase = (t[lo:hi] - centre) / half
        out[lo:hi] += amplitude * np.where(np.abs(phase) < 1.0, 0.5 + 0.5 * np.cos(np.pi * phase), 0.0)
    return out


def smooth_noise(rng: np.random.Generator, frames: int, dims: int, timescale: float) -> np.ndarray:
    """(frames, dims) Gaussian noise smoothed by a Gaussian of sigma `timescale` frames, rescaled to unit std
    (per dim, in expectation)."""
    pad = int(4 * timescale) + 1
    white = rng.standard_normal((frames + 2 * pad, dims))
    smooth = gaussian_filter1d(white, timescale, axis=0, mode="wrap")[pad:pad + frames]
    kernel = np.exp(-0.5 * (np.arange(-pad, pad + 1) / timescale) ** 2)
    return smooth / np.sqrt((kernel ** 2).sum() / kernel.sum() ** 2)
