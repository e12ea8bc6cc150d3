"""A user's audio file as the models' input: `load_conversation_audio(path) -> (audio (N, 2) float32, info)`.

Accepted: whatever libsndfile reads (WAV, FLAC, OGG, MP3, ...), any sample rate of real recordings (1-384
kHz), mono or stereo, any length.
What comes out is the official format's waveform (data_loaders/format.py), un-normalised, in [-1, 1]:

- rate: resampled to 48 kHz with scipy.signal.resample_poly (polyphase FIR with a Kaiser window) by the
  reduced ratio 48000 / rate (`resample_ratio`: an uncommon rate at the nearest ratio of small terms);
  48 kHz input is passed through untouched.
- channels: stereo is taken as is: channel 0 = the person to animate, channel 1 = the conversation partner.
  Mono becomes channel 0, and channel 1 gets quiet Gaussian noise PARTNER_NOISE_DB = 40 dB below the
  person's speech level (`data_loaders.augment.speech_level` of the 48 kHz person channel), drawn from a
  fixed seed so the same file always gives the same input. That is how a silent partner's microphone
  sounds in the training data (room noise some 35-40 dB below the speech; the original demo fed noise of a
  fixed std 0.001 instead), and it scales with the file, so the input means the same at any level (the
  front end is loudness-invariant, model/loudness.py).
  Stereo whose two channels are (nearly) the same recording is mono in disguise (a mono MP3 decoded to
  two channels, a mono file duplicated): the model would hear the partner say exactly what the person
  says. `same_channels` decides it: correlation above SAME_CORRELATION = 0.99 and levels (RMS) within
  SAME_LEVEL_DB = 1 dB (both channels silent counts too). Such a file is taken as mono (channel 0 = the
  mean of the two) and `info.as_mono` is set, for the caller's one-line notice. A real conversation, even
  with one voice leaking into the other's microphone, correlates far less.
- length: zero-padded at the end to a whole number of 30 fps frames (SAMPLES_PER_FRAME = 1600 samples),
  i.e. at most 1599 samples (33 ms) of silence; `info.frames` is the padded length in frames.

Memory: the file's header (`audio_file_info`, soundfile.info) gives the rate, channels and duration before
anything is decoded, checked by data_loaders/audio_header.py (a rate of real recordings, a length the file
can hold), so a crafted header costs nothing and a file longer than `max_seconds` is refused at once. The samples are then decoded,
checked and resampled BLOCK_SECONDS at a time (each block with enough neighbouring samples for the
resampling filter, so the result equals resampling the whole file), twice: a first pass gathers what the
channels decision and the partner noise need (`ChannelSummary`: running sums and one RMS per 50 ms), the
second writes the model input. `open_conversation_audio` writes it
to an anonymous temporary file (`AudioOnDisk`: sampling reads it window by window, results.npy streams it):
its memory is a block, whatever the length. `load_conversation_audio` reads the result into memory.

Errors (`AudioInputError`, a FormatError, and `AudioHeaderError`; both ValueErrors) name the file: missing,
a folder, unreadable / not audio, a rate or declared length no recording has, no samples, more than two
channels (with the ffmpeg command that picks two), longer than allowed, ending well before its declared
length (truncated), NaN or infinite samples, samples far outside [-1, 1].
"""
from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from data_loaders.audio_header import read_audio_header
from data_loaders.augment import frame_rms, level_of_frames
from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME, FormatError, audio_peak_fault
from utils.files import WriteError, write_error

PARTNER_NOISE_DB = 40.0
PARTNER_NOISE_SEED = 0
SAME_CORRELATION = 0.99
SAME_LEVEL_DB = 1.0
BLOCK_SECONDS = 10
MAX_RESAMPLE_DENOMINATOR = 1000
MAX_SHORTFALL = 0.05  # fraction of the declared samples a file may lack (plus half a second) before it is refused
RESAMPLE_HALF_TAPS = 10  # scipy's resample_poly: half its FIR length is 10 x max(up, down) taps


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

    @property
    def samples(self) -> int:
        """Samples per channel in the file."""
        return round(self.seconds * self.sample_rate)


def audio_file_info(path: str | os.PathLike, max_seconds: float | None = None) -> AudioInfo:
    """AudioInfo of a file from its header alone (nothing is decoded): data_loaders/audio_header.py's checks
    (readable, a real sample rate, a length the file can hold; AudioHeaderError), then AudioInputError for a
    file that holds no samples, has more than two channels or lasts longer than `max_seconds`."""
    path = Path(path)
    header = read_audio_header(path)
    rate, channels, samples = int(header.samplerate), int(header.channels), int(header.frames)
    if samples <= 0:
        raise AudioInputError(f"{path}: the file holds no audio samples; record or export the speech again")
    if channels > 2:
        raise AudioInputError(
            f"{path}: {channels} channels; give a mono file (the person's voice) or a stereo file (channel 0 "
            f"= the person to animate, channel 1 = the partner). Pick two channels with e.g. "
            f"`ffmpeg -i {path.name} -af \"pan=stereo|c0=c0|c1=c1\" stereo.wav` (change c0=/c1= to the "
            f"channels holding the person and the partner)")
    seconds = samples / rate
    if max_seconds and seconds > max_seconds:
        raise AudioInputError(f"{path}: the audio lasts {seconds:.1f} s; at most {max_seconds:g} s are taken here — "
                              f"cut it, e.g. `ffmpeg -i {path.name} -t {max_seconds:g} short.wav`")
    up, down = resample_ratio(rate)
    output = math.ceil(samples * up / down)
    frames = math.ceil(output / SAMPLES_PER_FRAME)
    return AudioInfo(path=path, sample_rate=rate, channels=channels, seconds=seconds, frames=frames,
                     padded_samples=frames * SAMPLES_PER_FRAME - output)


def _check_block(path: Path, block: np.ndarray) -> None:
    if not np.isfinite(block).all():
        raise AudioInputError(f"{path}: holds NaN or infinite samples (a corrupt float WAV?); re-export it, "
                              f"e.g. `ffmpeg -i {path.name} -c:a pcm_s16le fixed.wav`")
    fault = audio_peak_fault(path, block)
    if fault:
        raise AudioInputError(fault)


def _check_length(path: Path, held: int, declared: int, rate: int) -> None:
    """AudioInputError when a file ends after `held` of its `declared` samples, short by more than
    MAX_SHORTFALL of them (a truncated file; a small shortfall, an encoder's estimate, is padded)."""
    if declared - held > MAX_SHORTFALL * declared + rate // 2:
        raise AudioInputError(f"{path}: the file ends after {held / rate:.1f} s of the {declared / rate:.1f} s its "
                              f"header declares (a truncated download or copy?); re-export it, e.g. `ffmpeg -i "
                              f"{path.name} -c:a pcm_s16le fixed.wav`")


def _read(handle: sf.SoundFile, path: Path, count: int, held: int, declared: int) -> np.ndarray:
    """The next `count` samples, (n <= count, channels) float32; AudioInputError when decoding fails after
    `held` of the `declared` samples (libsndfile fails so where a FLAC ends before its header says)."""
    try:
        return handle.read(count, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as error:
        rate = handle.samplerate
        raise AudioInputError(f"{path}: decoding failed after {held / rate:.1f} s of the {declared / rate:.1f} s its "
                              f"header declares ({error}: a truncated or damaged file?); re-export it, e.g. "
                              f"`ffmpeg -i {path.name} -c:a pcm_s16le fixed.wav`") from error


def resample_ratio(rate: int) -> tuple[int, int]:
    """(up, down): 48 kHz = rate * up / down in lowest terms, every common rate exactly (44.1 kHz: 160 / 147).
    An uncommon rate whose exact ratio has a denominator above MAX_RESAMPLE_DENOMINATOR (383,999 Hz:
    48000 / 383999) is taken at the nearest ratio that has not (an error below 0.1 %, inaudible): the filter
    of resample_poly is 20 x max(up, down) taps long, and the exact one would take gigabytes."""
    ratio = Fraction(SAMPLE_RATE, rate).limit_denominator(MAX_RESAMPLE_DENOMINATOR)
    return ratio.numerator, ratio.denominator


def to_48k(audio: np.ndarray, rate: int) -> np.ndarray:
    """(N, C) float32 at `rate` Hz, in memory -> (N', C) float32 at 48 kHz, N' = ceil(N * 48000 / rate)."""
    if rate == SAMPLE_RATE:
        return audio
    return resample_poly(audio, *resample_ratio(rate), axis=0).astype(np.float32)


def resampled_blocks(handle: sf.SoundFile, path: Path, rate: int, samples: int) -> Iterator[np.ndarray]:
    """The file's samples at 48 kHz, (n, channels) float32 block after block, equal to resample_poly of the
    whole file (module docstring): each input block is resampled with `margin` input samples of context on
    both sides and cut to its own output span. Block starts are multiples of `down`, so every block's
    output starts on a whole output sample."""
    up, down = resample_ratio(rate)
    margin = 0 if up == down else math.ceil((RESAMPLE_HALF_TAPS * max(up, down) // up + 2) / down) * down
    block = max(1, BLOCK_SECONDS * rate // down) * down
    buffer, buffer_start = np.zeros((0, handle.channels), np.float32), 0
    for start in range(0, samples, block):
        end = min(start + block, samples)
        need = min(end + margin, samples)
        while buffer_start + len(buffer) < need:
            data = _read(handle, path, min(block, samples - buffer_start - len(buffer)), buffer_start + len(buffer),
                         samples)
            if len(data) == 0:  # the header promised more samples than the file holds
                need = buffer_start + len(buffer)
                _check_length(path, need, samples, rate)
                break
            _check_block(path, data)
            buffer = np.concatenate([buffer, data])
        first = max(start - margin, 0)
        buffer, buffer_start = buffer[first - buffer_start:], first
        if up == down:
            yield buffer[start - first:end - first]
            continue
        out = resample_poly(buffer[:need - first], up, down, axis=0)
        offset = (start - first) * up // down
        yield out[offset:offset + math.ceil((end - start) * up / down)].astype(np.float32)


def file_blocks(path: Path, info: AudioInfo) -> Iterator[np.ndarray]:
    """The file's samples at 48 kHz, (n, channels) float32 blocks of BLOCK_SECONDS (the last one shorter)."""
    try:
        with sf.SoundFile(str(path)) as handle:
            yield from resampled_blocks(handle, path, info.sample_rate, info.samples)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise AudioInputError(f"{path}: not a readable audio file ({error}); give a WAV/FLAC/OGG/MP3 file") from error


class ChannelSummary:
    """What the first pass over (n, 1 or 2) blocks learns: whether the channels are the same recording
    (`same`, module docstring) and the speech level of the person's channel as it will be fed (`level`:
    channel 0, or the mean of the two when they are the same), from running sums and one RMS per 50 ms.
    Blocks must be whole multiples of SPEECH_FRAME samples except the last, as file_blocks gives them."""

    def __init__(self) -> None:
        self.count, self.sums = 0, np.zeros(5)  # sum of l, r, l^2, r^2, l*r
        self.first_rms, self.mean_rms = [], []

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, np.float64)
        left, right = block[:, 0], block[:, -1]
        self.count += len(block)
        self.sums += [left.sum(), right.sum(), left @ left, right @ right, left @ right]
        self.first_rms.append(frame_rms(block[:, :1])[:, 0])
        self.mean_rms.append(frame_rms(block.mean(axis=1, keepdims=True))[:, 0])

    @classmethod
    def of(cls, audio: np.ndarray) -> "ChannelSummary":
        summary = cls()
        summary.add(audio)
        return summary

    @property
    def same(self) -> bool:
        n = max(self.count, 1)
        mean_l, mean_r, power_l, power_r, cross = self.sums / n
        if min(power_l, power_r) == 0.0:
            return max(power_l, power_r) == 0.0
        covariance = cross - mean_l * mean_r
        spread = np.sqrt(max(power_l - mean_l ** 2, 0.0) * max(power_r - mean_r ** 2, 0.0))
        level_db = 10.0 * np.log10(power_l / power_r)
        return bool(covariance / (spread + 1e-30) > SAME_CORRELATION and abs(level_db) < SAME_LEVEL_DB)

    @property
    def level(self) -> float:
        frames = np.concatenate(self.mean_rms if self.same else self.first_rms)
        fallback = np.sqrt(self.sums[2] / max(self.count, 1))
        return level_of_frames(frames) if len(frames) else float(fallback + 1e-9)


def same_channels(audio: np.ndarray) -> bool:
    """Whether the two channels of (N, 2) audio are the same recording (module docstring)."""
    return ChannelSummary.of(audio).same


def stereo_blocks(path: Path, info: AudioInfo, summary: ChannelSummary) -> Iterator[np.ndarray]:
    """The model input at 48 kHz as (n, 2) float32 blocks (module docstring): stereo as is; mono, or stereo
    that is the same recording twice (then averaged), with the partner noise in channel 1, drawn block
    after block from one generator (the same values as one draw of the whole)."""
    rng = np.random.default_rng(PARTNER_NOISE_SEED)
    as_mono = info.channels == 1 or info.as_mono
    noise_std = summary.level * 10 ** (-PARTNER_NOISE_DB / 20)
    for block in file_blocks(path, info):
        if not as_mono:
            yield block
            continue
        stereo = np.empty((len(block), 2), np.float32)
        stereo[:, 0] = block.mean(axis=1)
        stereo[:, 1] = rng.normal(0.0, noise_std, len(block))
        yield stereo


def open_conversation_audio(path: str | os.PathLike,
                            max_seconds: float | None = None) -> tuple[AudioOnDisk, AudioInfo]:
    """(audio (1, frames * 1600, 2) float32 at 48 kHz, un-normalised, kept on disk (AudioOnDisk), AudioInfo)
    from any audio file; the limit `max_seconds` is checked from the header, before decoding."""
    info = audio_file_info(path, max_seconds)
    summary = ChannelSummary()
    for block in file_blocks(info.path, info):
        summary.add(block)
    info = dataclasses.replace(info, as_mono=info.channels == 2 and summary.same)
    audio = AudioOnDisk.from_blocks(stereo_blocks(info.path, info, summary), info.frames * SAMPLES_PER_FRAME)
    return audio, info


def load_conversation_audio(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[np.ndarray, AudioInfo]:
    """(audio (frames * 1600, 2) float32 at 48 kHz, un-normalised, in memory, AudioInfo): open_conversation_audio
    read whole."""
    audio, info = open_conversation_audio(path, max_seconds)
    return audio[0], info


class AudioOnDisk:
    """Stereo audio (rows, N, 2) float32 kept in an anonymous temporary file (gone when closed or when the
    process ends, however it ends), so that long audio costs no memory: reads are positional file reads into
    fresh arrays, not a memory map, so they add nothing to the resident memory either.

    audio[row] and audio[rows, start:end] read from the file (numpy arrays); audio[first:last] is the
    AudioOnDisk of those rows (no copy); shape, dtype, len(); blocks() yields all samples in order a block at
    a time (sample/results.py streams them into results.npy); np.asarray(audio) reads it all."""
    dtype = np.dtype(np.float32)
    BYTES_PER_SAMPLE = 2 * 4  # two float32 channels

    def __init__(self, file, samples: int, rows: range):
        self.file, self.samples, self.rows = file, samples, rows

    @classmethod
    def from_blocks(cls, blocks: Iterator[np.ndarray], samples: int) -> "AudioOnDisk":
        """One row of `samples` samples from (n, 2) float32 blocks, zero-padded at the end."""
        file = tempfile.TemporaryFile(prefix="a2p_audio_")
        written = 0
        try:
            for block in blocks:
                file.write(np.ascontiguousarray(block[:samples - written], np.float32).tobytes())
                written = min(samples, written + len(block))
            file.write(bytes((samples - written) * cls.BYTES_PER_SAMPLE))
        except OSError as error:
            file.close()
            folder = Path(tempfile.gettempdir())
            raise WriteError(f"{write_error(folder, error, folder)} (long audio is kept in a temporary file there; "
                             f"set TMPDIR to a folder with room)") from error
        return cls(file, samples, range(1))

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.rows), self.samples, 2

    def __len__(self) -> int:
        return len(self.rows)

    def _read(self, row: int, start: int, end: int) -> np.ndarray:
        out = np.empty((max(end - start, 0), 2), np.float32)
        self.file.seek((self.rows[row] * self.samples + start) * self.BYTES_PER_SAMPLE)
        self.file.readinto(memoryview(out).cast("B"))
        return out

    def __getitem__(self, index):
        if isinstance(index, slice):
            return AudioOnDisk(self.file, self.samples, self.rows[index])
        rows, samples = index if isinstance(index, tuple) else (index, slice(None))
        start, end, step = samples.indices(self.samples)
        if step != 1:
            raise IndexError("AudioOnDisk reads contiguous samples only")
        if isinstance(rows, slice):
            return np.stack([self._read(row, start, end) for row in range(len(self.rows))[rows]])
        return self._read(rows, start, end)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.stack([self[row] for row in range(len(self))]).astype(dtype or self.dtype, copy=False)

    def blocks(self, samples: int = BLOCK_SECONDS * SAMPLE_RATE) -> Iterator[np.ndarray]:
        """Every row's samples in order, (n, 2) arrays of at most `samples` samples."""
        for row in range(len(self.rows)):
            for start in range(0, self.samples, samples):
                yield self._read(row, start, min(start + samples, self.samples))
