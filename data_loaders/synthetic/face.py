"""The puppeteer's face: the (T, 256) face code of one person from its own speech and a random state.

Deterministic, from this person's channel (what a model must learn), all delayed by JAW_LAG frames (the
face follows the sound it makes 2 frames = 67 ms later, i.e. face[t] depends on the audio around frame
t - JAW_LAG):
- jaw_open = jaw_gain * clip((L - JAW_FLOOR_DB) / JAW_RANGE_DB, 0, 1), L the loudness in dB of
  `speech_envelope` (so -45 dB or less: closed; -20 dB or more: fully open, times the person's gain);
- lip_spread = voicing * clip((F2 - 2000 Hz) / 600 Hz, 0, 1): spread lips for i and e;
- lip_round = voicing * clip((2300 Hz - F2) / 500 Hz, 0, 1) * clip((750 Hz - F1) / 250 Hz, 0, 1): rounded
  lips for o and u (low second and first formant); F1, F2 are `formant_proxies`, voicing =
  clip((L - VOICE_DB) / 10 dB, 0, 1); both lightly smoothed (Gaussian, sigma 1 frame);
- lip_press = 0.6 * (inside voice activity) * clip((-35 dB - L) / 10 dB, 0, 1): lips close in the dips of
  running speech (consonant closures).
Random: blinks (both eyes; intervals gamma-distributed around the person's mean), gaze fixations and
saccades (looking away more while speaking, at the partner while listening), smile, brow raises on some
stressed syllables, furrow and cheek drift. The detail dims 12..255 are the named dims mixed by the person's
`face_mix` plus their own smooth noise (std `detail_std`, 0.08-0.25).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from avatar.parameters import FACE_CODE_DIMS, FACE_INDEX
from data_loaders.format import FACE_DIM
from data_loaders.synthetic.persons import PersonStyle
from data_loaders.synthetic.speech_events import VOICE_DB, SpeechEvents
from data_loaders.synthetic.trajectories import min_jerk_path, pulses, smooth_noise

JAW_LAG = 2
JAW_FLOOR_DB = -45.0
JAW_RANGE_DB = 25.0
BLINK_WIDTH = 7
SACCADE = 3  # frames a gaze shift takes


def _delayed(signal: np.ndarray, lag: int) -> np.ndarray:
    """signal[t - lag] (the first value repeated at the start)."""
    return np.concatenate([np.repeat(signal[:1], lag, axis=0), signal[:len(signal) - lag]])


def mouth(events: SpeechEvents, formants: np.ndarray, jaw_gain: float) -> np.ndarray:
    """(T, 4) jaw_open, lip_round, lip_spread, lip_press from this person's loudness and formants (T, 2)."""
    loudness = _delayed(events.loudness, JAW_LAG)
    f1, f2 = _delayed(formants, JAW_LAG).T
    active = _delayed(events.active, JAW_LAG)
    voicing = np.clip((loudness - VOICE_DB) / 10.0, 0.0, 1.0)
    jaw = jaw_gain * np.clip((loudness - JAW_FLOOR_DB) / JAW_RANGE_DB, 0.0, 1.0)
    spread = voicing * np.clip((f2 - 2000.0) / 600.0, 0.0, 1.0)
    rounded = voicing * np.clip((2300.0 - f2) / 500.0, 0.0, 1.0) * np.clip((750.0 - f1) / 250.0, 0.0, 1.0)
    press = 0.6 * active * np.clip((-35.0 - loudness) / 10.0, 0.0, 1.0)
    lips = gaussian_filter1d(np.stack([rounded, spread, press], axis=1), 1.0, axis=0, mode="nearest")
    return np.concatenate([jaw[:, None], lips], axis=1)


def gaze_path(speaking: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, 2) gaze yaw, pitch in [-1, 1]: fixations of 0.6-3 s joined by SACCADE-frame shifts; targets spread
    wide (yaw std 0.35, a little downwards) while speaking, narrow (at the partner) while listening."""
    frames = len(speaking)
    times, targets = [0.0], [np.zeros(2)]
    start = 0.0
    while start < frames:
        start += rng.uniform(18.0, 90.0)
        talking = speaking[min(int(start), frames - 1)] > 0.5
        target = (rng.normal([0.0, -0.1], [0.35, 0.2]) if talking else rng.normal([0.0, 0.0], [0.12, 0.08]))
        times += [start, start + SACCADE]
        targets += [targets[-1], np.clip(target, -1.0, 1.0)]
    return min_jerk_path(np.array(times), np.stack(targets), frames)


def _blinks(frames: int, style: PersonStyle, rng: np.random.Generator) -> np.ndarray:
    """(T,) eyelid closure in [0, 1] (1 = closed)."""
    onsets, t = [], 0.0
    while True:
        t += rng.gamma(2.0, style.blink_interval / 2.0)
        if t >= frames:
            break
        onsets.append(t)
    return np.clip(pulses(frames, np.array(onsets), np.ones(len(onsets)), BLINK_WIDTH), 0.0, 1.0)


def animate_face(events: SpeechEvents, formants: np.ndarray, speaking: np.ndarray, gaze: np.ndarray,
                 style: PersonStyle, rng: np.random.Generator) -> np.ndarray:
    """(T, 256) float64 face code. events/formants (T, 2): this person's channel; speaking (T,) in [0, 1];
    gaze (T, 2) from `gaze_path`."""
    frames = len(speaking)
    named = np.zeros((frames, len(FACE_CODE_DIMS)))
    named[:, :4] = mouth(events, formants, style.jaw_gain)
    drift = smooth_noise(rng, frames, 3, 60.0)
    named[:, FACE_INDEX["smile"]] = np.clip(style.smile_base + 0.1 * drift[:, 0] + 0.1 * (1.0 - speaking), 0, 1)
    raised = events.stressed[rng.random(len(events.stressed)) < 0.3]
    named[:, FACE_INDEX["brow_raise"]] = np.clip(
        pulses(frames, raised.astype(np.float64), rng.uniform(0.3, 0.6, len(raised)), 12.0)
        + 0.05 + 0.04 * drift[:, 1], 0.0, 1.0)
    named[:, FACE_INDEX["brow_furrow"]] = np.clip(0.1 + 0.06 * drift[:, 2], 0.0, 1.0)
    blink = _blinks(frames, style, rng)
    named[:, FACE_INDEX["blink_left"]] = blink
    named[:, FACE_INDEX["blink_right"]] = blink * rng.uniform(0.9, 1.0)
    named[:, FACE_INDEX["gaze_yaw"]] = gaze[:, 0]
    named[:, FACE_INDEX["gaze_pitch"]] = gaze[:, 1]
    named[:, FACE_INDEX["cheek_puff"]] = np.clip(0.03 + 0.02 * smooth_noise(rng, frames, 1, 30.0)[:, 0], 0, 1)
    detail = named @ style.face_mix + smooth_noise(rng, frames, FACE_DIM - len(FACE_CODE_DIMS), 8.0) * style.detail_std
    return np.concatenate([named, detail], axis=1)
