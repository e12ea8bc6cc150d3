"""Audio files with crafted headers, for tests: each a few hundred KB whose header makes a trusting reader size
its work by gigabytes or hours (data_loaders/audio_header.py refuses them).

    from tests.crafted_audio import header_bombs
    for path, message in header_bombs(tmp_path).items(): ...   # message: a regex of the refusal
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
SECONDS = 5  # 160 KB of mono 16-bit samples


def speech_wav(path: Path, seconds: float = SECONDS, rate: int = RATE) -> Path:
    """A mono 16-bit WAV of noise with a 4 Hz syllable envelope."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(0).standard_normal(len(t))
    sf.write(path, (0.2 * noise * (np.sin(2 * np.pi * 4 * t) > 0)).astype(np.float32), rate, subtype="PCM_16")
    return path


def with_wav_rate(source: Path, path: Path, rate: int) -> Path:
    """A copy of a mono 16-bit WAV whose fmt chunk says `rate` samples per second."""
    data = bytearray(source.read_bytes())
    data[24:32] = struct.pack("<II", rate, rate * 2)
    path.write_bytes(data)
    return path


def with_flac_length(source: Path, path: Path, samples: int) -> Path:
    """A copy of a FLAC file whose STREAMINFO declares `samples` samples (its 36-bit total)."""
    data = bytearray(source.read_bytes())
    packed = int.from_bytes(data[18:26], "big")
    packed = (packed & ~(2 ** 36 - 1)) | samples
    data[18:26] = packed.to_bytes(8, "big")
    path.write_bytes(data)
    return path


def with_wav_cut(source: Path, path: Path) -> Path:
    """The first half of a WAV file: its header declares twice the data it holds (a truncated copy)."""
    data = source.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def header_bombs(folder: Path) -> dict[Path, str]:
    """{crafted file: regex of its refusal}: rates of 4,000,037 and 3 Hz, a FLAC declaring 10^10 samples, a
    WAV cut in half."""
    wav = speech_wav(folder / "speech.wav")
    flac = folder / "speech.flac"
    sf.write(flac, sf.read(wav)[0], RATE, format="FLAC")
    return {with_wav_rate(wav, folder / "fast.wav", 4_000_037): r"says 4000037 samples per second, outside",
            with_wav_rate(wav, folder / "slow.wav", 3): r"says 3 samples per second, outside",
            with_flac_length(flac, folder / "endless.flac", 10 ** 10): r"declares 625000 s of audio, more than",
            with_wav_cut(wav, folder / "cut.wav"): r"declares 5.0 s of audio but the file holds 2.5 s"}
