"""Channel effects on training audio: the recordings a user brings, simulated on the fly from the clean scenes.

`augment(audio, rng, babble)` takes one training window, audio (N, 2) float32 at 48 kHz in [-1, 1] (channel
0 = the person, 1 = the partner, as written in the scene), and returns the same window as it might have been
recorded elsewhere. The motion targets stay those of the clean scene, so a model learns to move the same way
whatever the microphone, room and level. Every draw comes from `rng` (the item's seed), so an item is
reproducible. Effects, in recording order, each with its probability (constants below):

| effect             | p     | what                                                                           |
|--------------------|-------|--------------------------------------------------------------------------------|
| partner bleed      | 0.4   | each microphone also picks up the other voice, 8-30 dB down, delayed 1-15 ms, |
|                    |       | dulled (low-pass 2-6 kHz), as in real dyadic recordings                        |
| room reverb        | 0.3   | `pedalboard.Reverb`, room size 0.1-0.7, wet 5-35 %                              |
| background noise   | 0.6   | hiss (white, pink or brown), mains hum (50/60 Hz and harmonics), babble       |
|                    |       | (other speech of the data set) or music (synthesised chords and drums), at an |
|                    |       | SNR of 0-30 dB below the window's speech level, the same source in both        |
|                    |       | microphones at different gains                                                 |
| microphone colour  | 0.5   | random low shelf, high shelf and peak filters (`pedalboard`), +-6-8 dB        |
| band limit         | 0.25  | telephone band (elliptic band-pass 300-3400 Hz) 60 %, else a low-pass at      |
|                    |       | 3-6 kHz                                                                        |
| codec              | 0.1   | MP3 (`pedalboard.MP3Compressor`, VBR quality 2-9) or GSM full rate (8 kHz)    |
| partner absent     | 0.05  | channel 1 becomes faint noise (a mono recording: nobody on the other side)    |
| level              | 1     | the whole window -30..+12 dB, each channel another -6..+6 dB; louder than full |
|                    |       | scale clips at +-1 (as a recorder would)                                      |

A share P_CLEAN of the windows keeps the recording as it is apart from the level draw. The audio front end
normalises the level (`model.loudness`), so the level draw exercises that and the clipping; the rest is
what normalisation cannot undo. Cost: about 30 ms per 4 s window on one core (the codecs and the reverb
are the expensive effects).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pedalboard
from scipy.signal import butter, ellip, resample_poly, sosfilt

from data_loaders.format import SAMPLE_RATE
from utils.config import arg

P_CLEAN = 0.25
P_BLEED, P_REVERB, P_NOISE, P_COLOUR, P_BAND, P_CODEC, P_ABSENT = 0.4, 0.3, 0.6, 0.5, 0.25, 0.1, 0.05
NOISE_KINDS = ("hiss", "hum", "babble", "music")
SNR_DB = (0.0, 30.0)
LEVEL_DB, CHANNEL_DB = (-30.0, 12.0), (-6.0, 6.0)
MUSIC_RATE = 16_000  # Hz: the music is made at this rate (its notes and drums lie well below 8 kHz)
SPEECH_FRAME = 2400  # samples (50 ms) of the frame RMS that `speech_level` takes the 95th percentile of


@dataclass
class AugmentConfig:
    """Channel effects on the training audio (data_loaders/augment.py)."""
    augment: bool = arg(True, "simulate other recordings on the training windows' audio: partner bleed, room "
                              "reverb, background noise (hiss, hum, babble, music), microphone colour, telephone "
                              "band, MP3/GSM codecs, a missing partner, levels and clipping")


Babble = Callable[[np.random.Generator, int], np.ndarray]  # (rng, samples) -> (samples,) other speech


def frame_rms(audio: np.ndarray) -> np.ndarray:
    """(N, C) -> (N // SPEECH_FRAME, C): the RMS of each whole 50 ms frame (a partial last frame is left out)."""
    frames = len(audio) // SPEECH_FRAME
    return np.sqrt((audio[:frames * SPEECH_FRAME] ** 2).reshape(frames, SPEECH_FRAME, audio.shape[1]).mean(1))


def level_of_frames(rms: np.ndarray) -> float:
    """The speech level from frame RMS values (any shape, at least one): their 95th percentile."""
    return float(np.percentile(rms, 95) + 1e-9)


def speech_level(audio: np.ndarray) -> float:
    """RMS of the loud part of a window (N, C): the 95th percentile of its 50 ms frame RMS values."""
    if len(audio) < SPEECH_FRAME:
        return float(np.sqrt(np.mean(audio ** 2)) + 1e-9)
    return level_of_frames(frame_rms(audio))


def _low_pass(signal: np.ndarray, hz: float) -> np.ndarray:
    return sosfilt(butter(4, hz, btype="lowpass", fs=SAMPLE_RATE, output="sos"), signal, axis=0)


def _bleed(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = audio.copy()
    for target in (0, 1):
        delay = int(rng.uniform(0.001, 0.015) * SAMPLE_RATE)
        other = _low_pass(audio[:, 1 - target], rng.uniform(2000.0, 6000.0))
        out[delay:, target] += 10 ** (-rng.uniform(8.0, 30.0) / 20) * other[:len(audio) - delay]
    return out


def _reverb(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    wet = rng.uniform(0.05, 0.35)
    room = pedalboard.Reverb(room_size=rng.uniform(0.1, 0.7), damping=rng.uniform(0.2, 0.8), wet_level=wet,
                             dry_level=1.0 - wet, width=0.0)
    return room(audio.T.astype(np.float32), SAMPLE_RATE).T


def _coloured_noise(rng: np.random.Generator, samples: int) -> np.ndarray:
    """White, pink or brown noise, unit RMS (spectral slope 0, -3 or -6 dB per octave)."""
    slope = rng.choice([0.0, 0.5, 1.0])
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.fft.rfftfreq(samples, 1.0 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** -slope
    noise = np.fft.irfft(spectrum, samples)
    return noise / (noise.std() + 1e-12)


def _hum(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and its harmonics with decaying random amplitudes, unit RMS (one period, 960 or
    800 samples, repeated)."""
    period = SAMPLE_RATE // int(rng.choice([50, 60]))
    phase = 2 * np.pi * np.arange(period) / period
    cycle = sum(rng.uniform(0.2, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) for k in range(1, 8))
    hum = np.tile(cycle, samples // period + 1)[:samples]
    return hum / (hum.std() + 1e-12)


def _music(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Synthesised music, unit RMS: a chord every beat (three notes of a random key with their octave, decaying
    over 1.5 beats) and a drum (a low thump and a noise burst) on every beat, at 70-150 beats per minute; made
    at MUSIC_RATE and resampled to 48 kHz."""
    rate, full = MUSIC_RATE, samples
    samples = -(-full * rate // SAMPLE_RATE)
    t = np.arange(samples) / rate
    beat = 60.0 / rng.uniform(70.0, 150.0)
    music = np.zeros(samples)
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    for start in np.arange(0.0, samples / rate, beat):
        lo, hi = int(start * rate), min(int((start + 1.5 * beat) * rate), samples)
        local = t[lo:hi] - start
        chord = root * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11], 3, replace=False) / 12) * rng.choice([1, 2])
        tone = sum(np.sin(2 * np.pi * f * k * local) / k for f in chord for k in (1, 2))
        music[lo:hi] += tone * np.exp(-local / beat)
        drum = np.sin(2 * np.pi * 60.0 * local) * np.exp(-local / 0.08) + 0.3 * rng.standard_normal(hi - lo) \
            * np.exp(-local / 0.03)
        music[lo:hi] += 1.5 * drum
    music = resample_poly(music, SAMPLE_RATE // rate, 1)[:full]
    return music / (music.std() + 1e-12)


def _noise(audio: np.ndarray, rng: np.random.Generator, babble: Babble | None) -> np.ndarray:
    samples = len(audio)
    kind = rng.choice(NOISE_KINDS if babble is not None else NOISE_KINDS[:2] + NOISE_KINDS[3:])
    if kind == "hiss":
        noise = _coloured_noise(rng, samples)
    elif kind == "hum":
        noise = _hum(rng, samples)
    elif kind == "music":
        noise = _music(rng, samples)
    else:
        noise = sum(babble(rng, samples) for _ in range(int(rng.integers(3, 7))))
        noise = noise / (noise.std() + 1e-12)
    level = speech_level(audio) * 10 ** (-rng.uniform(*SNR_DB) / 20)
    gains = level * 10 ** (rng.uniform(-3.0, 3.0, 2) / 20)
    return audio + noise[:, None] * gains


def _colour(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    board = pedalboard.Pedalboard([
        pedalboard.LowShelfFilter(cutoff_frequency_hz=rng.uniform(100.0, 300.0), gain_db=rng.uniform(-6.0, 6.0)),
        pedalboard.PeakFilter(cutoff_frequency_hz=rng.uniform(500.0, 4000.0), gain_db=rng.uniform(-6.0, 6.0),
                              q=rng.uniform(0.5, 2.0)),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=rng.uniform(3000.0, 8000.0), gain_db=rng.uniform(-8.0, 8.0))])
    return board(audio.T.astype(np.float32), SAMPLE_RATE).T


def _band_limit(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.6:  # telephone band
        band = ellip(6, 1.0, 60.0, (300.0, 3400.0), btype="bandpass", fs=SAMPLE_RATE, output="sos")
        return sosfilt(band, audio, axis=0)
    return _low_pass(audio, rng.uniform(3000.0, 6000.0))


def _codec(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    codec = (pedalboard.MP3Compressor(vbr_quality=float(rng.uniform(2.0, 9.0))) if rng.random() < 0.7
             else pedalboard.GSMFullRateCompressor())
    return codec(audio.T.astype(np.float32), SAMPLE_RATE).T[:len(audio)]


def _absent_partner(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = audio.copy()
    out[:, 1] = rng.standard_normal(len(audio)) * speech_level(audio[:, :1]) * 10 ** (-rng.uniform(40, 60) / 20)
    return out


def _level(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gains = 10 ** ((rng.uniform(*LEVEL_DB) + rng.uniform(*CHANNEL_DB, 2)) / 20)
    return np.clip(audio * gains, -1.0, 1.0)


def augment(audio: np.ndarray, rng: np.random.Generator, babble: Babble | None = None) -> np.ndarray:
    """(N, 2) float32 window at 48 kHz -> (N, 2) float32, with the effects of the module docstring drawn from
    rng; `babble` gives other speech for the babble noise (without it, babble is never drawn)."""
    out = np.asarray(audio, dtype=np.float64)
    if rng.random() < P_CLEAN:
        return _level(out, rng).astype(np.float32)
    steps = ((P_BLEED, _bleed), (P_REVERB, _reverb), (P_NOISE, lambda a, r: _noise(a, r, babble)),
             (P_COLOUR, _colour), (P_BAND, _band_limit), (P_CODEC, _codec), (P_ABSENT, _absent_partner))
    for probability, effect in steps:
        if rng.random() < probability:
            out = np.asarray(effect(out, rng), dtype=np.float64)
    return _level(out, rng).astype(np.float32)
