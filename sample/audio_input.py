"""A user's audio file as the models' input: `load_conversation_audio(path) -> (audio (N, 2) float32, info)`.

Accepted: whatever libsndfile reads (WAV, FLAC, OGG, MP3, ...), any sample rate, mono or stereo, any length.
What comes out is the official format's waveform (data_loaders/format.py), un-normalised, in [-1, 1]:

- rate: resampled to 48 kHz with scipy.signal.resample_poly (polyphase FIR with a Kaiser window) by the
  reduced ratio 48000 / rate; 48 kHz input is passed through untouched.
- channels: stereo is taken as is: channel 0 = the person to animate, channel 1 = the conversation partner.
  Mono becomes channel 0, and channel 1 gets quiet Gaussian noise PARTNER_NOISE_DB = 40 dB below the
  person's speech level (`data_loaders.augment.speech_level`), drawn from a fixed seed so the same file
  always gives the same input. That is how a silent partner's microphone sounds in the training data (room
  noise some 35-40 dB below the speech; the original demo fed noise of a fixed std 0.001 instead), and it
  scales with the file, so the input means the same at any level (the front end is loudness-invariant,
  model/loudness.py).
  Stereo whose two channels are (nearly) the same recording is mono in disguise (a mono MP3 decoded to
  two channels, a mono file duplicated): the model would hear the partner say exactly what the person
  says. `same_channels` decides it: correlation above SAME_CORRELATION = 0.99 and levels (RMS) within
  SAME_LEVEL_DB = 1 dB (both channels silent counts too). Such a file is taken as mono (channel 0 = the
  mean of the two) and `info.as_mono` is set, for the caller's one-line notice. A real conversation, even
  with one voice leaking into the other's microphone, correlates far less.
- length: zero-padded at the end to a whole number of 30 fps frames (SAMPLES_PER_FRAME = 1600 samples),
  i.e. at most 1599 samples (33 ms) of silence; `info.frames` is the padded length in frames.
Errors (`AudioInputError`, a FormatError) name the file: unreadable / not audio, no samples, more than two
channels (with the ffmpeg command that picks two), NaN or infinite samples.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from data_loaders.augment import speech_level
from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME, FormatError, read_wav

PARTNER_NOISE_DB = 40.0
PARTNER_NOISE_SEED = 0
SAME_CORRELATION = 0.99
SAME_LEVEL_DB = 1.0


class AudioInputError(FormatError):
    """An audio file that cannot be used as model input; the message names the file and the fix."""


@dataclass(frozen=True)
class AudioInfo:
    """What was done to a file: its original rate and channel count, duration, and the frames it gives."""
    path: Path
    sample_rate: int
    channels: int
    seconds: float  # duration of the file itself, before padding
    frames: int  # 30 fps frames of the returned audio (N = frames * 1600)
    padded_samples: int  # zeros appended at the end
    as_mono: bool = False  # a stereo file whose channels are the same recording, taken as mono


def to_48k(audio: np.ndarray, rate: int) -> np.ndarray:
    """(N, C) float32 at `rate` Hz -> (N', C) float32 at 48 kHz, N' = ceil(N * 48000 / rate)."""
    if rate == SAMPLE_RATE:
        return audio
    common = math.gcd(SAMPLE_RATE, rate)
    return resample_poly(audio, SAMPLE_RATE // common, rate // common, axis=0).astype(np.float32)


def same_channels(audio: np.ndarray) -> bool:
    """Whether the two channels of (N, 2) audio are the same recording (module docstring)."""
    left, right = np.asarray(audio, dtype=np.float64).T
    levels = np.sqrt(np.mean(left ** 2)), np.sqrt(np.mean(right ** 2))
    if min(levels) == 0.0:
        return max(levels) == 0.0
    correlation = np.mean((left - left.mean()) * (right - right.mean())) / (left.std() * right.std() + 1e-30)
    return bool(correlation > SAME_CORRELATION and abs(20.0 * np.log10(levels[0] / levels[1])) < SAME_LEVEL_DB)


def as_stereo(audio: np.ndarray, path: Path) -> np.ndarray:
    """(N, 1 or 2) -> (N, 2): mono gets the quiet partner noise in channel 1 (module docstring); stereo is
    kept (call `same_channels` first to take mono in disguise as mono)."""
    channels = audio.shape[1]
    if channels == 2:
        return audio
    if channels > 2:
        raise AudioInputError(
            f"{path}: {channels} channels; give a mono file (the person's voice) or a stereo file (channel 0 "
            f"= the person to animate, channel 1 = the partner). Pick two channels with e.g. "
            f"`ffmpeg -i {path.name} -af \"pan=stereo|c0=c0|c1=c1\" stereo.wav` (change c0=/c1= to the "
            f"channels holding the person and the partner)")
    level = speech_level(audio[:, :1]) * 10 ** (-PARTNER_NOISE_DB / 20)
    partner = np.random.default_rng(PARTNER_NOISE_SEED).normal(0.0, level, len(audio))
    return np.stack([audio[:, 0], partner.astype(np.float32)], axis=1)


def pad_to_frames(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, 2) -> ((frames * 1600, 2), appended zero samples)."""
    padding = -len(audio) % SAMPLES_PER_FRAME
    return np.pad(audio, ((0, padding), (0, 0))), padding


def load_conversation_audio(path: str | os.PathLike) -> tuple[np.ndarray, AudioInfo]:
    """(audio (frames * 1600, 2) float32 at 48 kHz, un-normalised, AudioInfo) from any audio file."""
    path = Path(path)
    try:
        audio, rate = read_wav(path)
    except FormatError as error:
        raise AudioInputError(str(error)) from error
    if audio.shape[0] == 0:
        raise AudioInputError(f"{path}: the file holds no audio samples; record or export the speech again")
    if not np.isfinite(audio).all():
        raise AudioInputError(f"{path}: holds NaN or infinite samples (a corrupt float WAV?); re-export it, "
                              f"e.g. `ffmpeg -i {path.name} -c:a pcm_s16le fixed.wav`")
    samples, channels = audio.shape
    as_mono = channels == 2 and same_channels(audio)
    if as_mono:
        audio = audio.mean(axis=1, keepdims=True)
    audio, padding = pad_to_frames(to_48k(as_stereo(audio, path), rate))
    info = AudioInfo(path=path, sample_rate=rate, channels=channels, seconds=samples / rate,
                     frames=len(audio) // SAMPLES_PER_FRAME, padded_samples=padding, as_mono=as_mono)
    return np.ascontiguousarray(audio, dtype=np.float32), info
