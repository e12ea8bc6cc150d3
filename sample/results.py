"""results.npy: what sample.generate writes, and what evaluation, rendering and BVH export read.

A pickled dict saved in the .npy format (a 0-d object array), the original's layout (UPSTREAM 5.3) plus nine
keys of ours. N = num_samples x num_repetitions sequences, ordered repetition-major: index = rep *
num_samples + sample. C = 256 (face codes) or 104 (body pose), T frames at `fps`, all motion UN-normalised
(raw units of the data set).

| key               | shape             | dtype   | content                                                    |
|-------------------|-------------------|---------|------------------------------------------------------------|
| `motions`         | (N, C, 1, T)      | float64 | generated motion                                           |
| `gt`              | (N, C, 1, T)      | float64 | ground truth (face: missing frames hold the mean code); None |
|                   |                   |         | when there is none (sample.generate --audio)               |
| `audio`           | (S, T*1600, 2) or | float32 | the waveform of each sample, 48 kHz, [-1, 1]: ours store   |
|                   | (N, T*1600, 2)    |         | it ONCE per sample (S rows: row s is sample s of every     |
|                   |                   |         | repetition); the original's once per sequence (N rows)     |
| `lengths`         | (N,)              | int64   | valid frames of each sequence (the rest is padding)        |
| `keyframes`       | body (N, K, 104)  | float64 | body: the 1 fps guide poses used (predicted or ground      |
|                   | face (N, T, 256)  |         | truth); face: the ground truth (as the original); None     |
|                   |                   |         | where there is nothing to store                            |
| `scenes`          | (S,)              | str     | where sample s came from: the scene's path without its file |
|                   |                   |         | suffix (e.g. `/data/SYN001/scene13`; its events file is     |
|                   |                   |         | that + `_events.json`); None for audio files (ours)        |
| `starts`          | (S,)              | int64   | the first frame of sample s in that scene; None likewise   |
| `num_samples`     | int               |         | S (ours; files of the original lack it: inferred)          |
| `num_repetitions` | int               |         | R (ours; inferred likewise)                                |
| `data_format`     | "face" / "pose"   |         | ours; inferred from C for the original's files             |
| `fps`             | int               |         | 30 (ours)                                                  |
| `sampling`        | dict              |         | how the motion was sampled (ours): sampler,                |
|                   |                   |         | timestep_respacing, guidance_param, num_repetitions, seed, |
|                   |                   |         | lip_consistency ("on", "off", or "unavailable" for a model |
|                   |                   |         | without the lip constraint); None in the original's files  |
| `avatar`          | "reference" /     |         | ours: whose motion it is: a2p's reference avatar's, or     |
|                   | "original"        |         | the original's (its skeleton's pose parameters, its private|
|                   |                   |         | face decoder's codes: sample/original_avatar.py);          |
|                   |                   |         | "reference" when absent (files of the original's own code) |
| `reference_face`  | (N, 256, 1, T)    | float64 | ours, the original's face models only: reference face     |
|                   |                   |         | codes showing its lip regressor's lips (sample/            |
|                   |                   |         | original_lips.py); None otherwise                          |

Readers take the audio of sequence `row` with `Results.audio_row(row)`, which serves both layouts. The
original's readers index `audio` by sequence: for our files with more than one repetition they need row %
num_samples.

`Results` holds these arrays (`audio` may also be a sample.audio_input.AudioOnDisk: long audio kept on
disk); `save_results` writes one (atomically, pickle protocol 5: the arrays go to the file without a copy in
memory, AudioOnDisk a block at a time; readers see plain arrays) after validating it, `load_results` reads
and validates any results.npy, including the original's (missing own keys are inferred: the number of
samples is the repeat period of the audio rows). Files are unpickled by utils/safe_load.py (numpy arrays and containers only: a
crafted file cannot run code). Every error (`ResultsError`) names the file and what is wrong.
"""
from __future__ import annotations

import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from data_loaders.format import FACE_DIM, FPS, POSE_DIM, SAMPLES_PER_FRAME
from sample.audio_input import AudioOnDisk
from utils.files import atomic_write
from utils.safe_load import UnsafeFileError, load_npy

MAX_FPS = 240  # frame rates a results.npy may declare
AVATARS = ("reference", "original")


class ResultsError(ValueError):
    """A results dict or file without the layout of results.npy (module docstring)."""


class ResultsNotFoundError(ResultsError, FileNotFoundError):
    """The results file does not exist."""


@dataclass
class Results:
    """The content of results.npy (module docstring); arrays as stored."""
    motions: np.ndarray
    audio: np.ndarray
    lengths: np.ndarray
    num_samples: int
    num_repetitions: int
    data_format: str
    gt: Optional[np.ndarray] = None
    keyframes: Optional[np.ndarray] = None
    scenes: Optional[np.ndarray] = None
    starts: Optional[np.ndarray] = None
    fps: int = FPS
    sampling: Optional[dict] = None
    avatar: str = "reference"
    reference_face: Optional[np.ndarray] = None

    @property
    def frames(self) -> int:
        return self.motions.shape[-1]

    def index(self, rep: int, sample: int) -> int:
        """Row of repetition `rep` of sample `sample`."""
        return rep * self.num_samples + sample

    def audio_row(self, row: int) -> np.ndarray:
        """(T*1600, 2) waveform of sequence `row` (module docstring: S or N stored rows)."""
        return self.audio[row % self.num_samples if len(self.audio) == self.num_samples else row]

    def motion(self, rep: int, sample: int) -> np.ndarray:
        """(lengths, C) generated motion of one sequence, padding cut off."""
        row = self.index(rep, sample)
        return self.motions[row, :, 0, :self.lengths[row]].T

    def to_dict(self) -> dict:
        """The dict np.save stores (module docstring)."""
        return {"motions": self.motions, "gt": self.gt, "audio": self.audio, "lengths": self.lengths,
                "keyframes": self.keyframes, "scenes": self.scenes, "starts": self.starts,
                "num_samples": self.num_samples,
                "num_repetitions": self.num_repetitions, "data_format": self.data_format, "fps": self.fps,
                "sampling": self.sampling, "avatar": self.avatar, "reference_face": self.reference_face}


def motion_rows(motion: np.ndarray) -> np.ndarray:
    """(N, T, C) sequences -> (N, C, 1, T) float64, the stored layout."""
    return np.ascontiguousarray(np.asarray(motion, dtype=np.float64).transpose(0, 2, 1)[:, :, None, :])


def _repeat_period(audio: np.ndarray) -> int:
    """The smallest S dividing N with audio rows repeating every S rows (the original's files)."""
    rows = len(audio)
    for period in range(1, rows + 1):
        if rows % period == 0 and all(np.array_equal(audio[i], audio[i % period]) for i in range(period, rows)):
            return period
    return rows


def _check(results: Results, source: str) -> None:
    """Raise ResultsError naming `source` for the first inconsistency found."""
    def fail(message: str):
        raise ResultsError(f"{source}: {message}; see sample/results.py for the layout")

    m = results.motions
    if m.ndim != 4 or m.shape[2] != 1:
        fail(f"'motions' has shape {m.shape}; expected (N, C, 1, T)")
    rows, channels, _, frames = m.shape
    if results.num_samples * results.num_repetitions != rows or results.num_samples < 1:
        fail(f"num_samples {results.num_samples} x num_repetitions {results.num_repetitions} != {rows} rows")
    if results.data_format not in ("face", "pose"):
        fail(f"data_format is {results.data_format!r}; expected 'face' or 'pose'")
    if results.gt is not None and results.gt.shape != m.shape:
        fail(f"'gt' has shape {results.gt.shape}, 'motions' {m.shape}; they must match")
    audio_rows = len(results.audio)
    if audio_rows not in (results.num_samples, rows) or results.audio.shape[1:] != (frames * SAMPLES_PER_FRAME, 2):
        fail(f"'audio' has shape {results.audio.shape}; expected ({results.num_samples} or {rows}, "
             f"{frames * SAMPLES_PER_FRAME}, 2) ({frames} frames x {SAMPLES_PER_FRAME} samples, stereo)")
    if results.lengths.shape != (rows,) or (results.lengths < 0).any() or (results.lengths > frames).any():
        fail(f"'lengths' must be {rows} frame counts in [0, {frames}], got shape {results.lengths.shape}")
    k = results.keyframes
    if k is not None and (k.ndim != 3 or len(k) != rows or k.shape[2] != channels):
        fail(f"'keyframes' has shape {k.shape}; expected ({rows}, K, {channels})")
    if (results.scenes is None) != (results.starts is None):
        fail("'scenes' and 'starts' go together: give both or neither")
    if results.scenes is not None and (results.scenes.shape != (results.num_samples,)
                                       or results.starts.shape != (results.num_samples,)):
        fail(f"'scenes' {results.scenes.shape} and 'starts' {results.starts.shape} must hold one entry per "
             f"sample ({results.num_samples})")
    if not 1 <= results.fps <= MAX_FPS:
        fail(f"'fps' is {results.fps}; expected a frame rate of 1 to {MAX_FPS} (a2p writes {FPS})")
    if not np.isfinite(m).all():
        fail("'motions' holds NaN or inf")
    if results.avatar not in AVATARS:
        fail(f"'avatar' is {results.avatar!r}; expected one of {AVATARS}")
    if results.reference_face is not None and results.reference_face.shape != m.shape[:1] + (FACE_DIM,) + m.shape[2:]:
        fail(f"'reference_face' has shape {results.reference_face.shape}; expected ({rows}, {FACE_DIM}, 1, {frames})")
    if results.sampling is not None and not isinstance(results.sampling, dict):
        fail(f"'sampling' is a {type(results.sampling).__name__}; expected a dict of settings or None")


def stored_array(stored: dict, key: str, source: str, kinds: str = "biuf") -> np.ndarray | None:
    """stored[key] as an array whose dtype kind is one of `kinds` (numbers by default), None when absent or
    None; ResultsError naming `source` when it holds anything else (Python objects, say)."""
    if stored.get(key) is None:
        return None
    array = np.asarray(stored[key])
    if array.dtype.kind not in kinds:
        raise ResultsError(f"{source}: '{key}' holds {array.dtype} values, not "
                           f"{'numbers' if kinds == 'biuf' else 'text' if kinds == 'US' else 'whole numbers'}; see "
                           f"sample/results.py for the layout")
    return array


def stored_count(stored: dict, key: str, source: str) -> int | None:
    """stored[key] as a whole number >= 0, None when absent or None; ResultsError naming `source` otherwise."""
    value = stored.get(key)
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ResultsError(f"{source}: '{key}' is {value!r}; expected a whole number; see sample/results.py")
    return int(value)


def results_from_dict(stored: dict, source: str = "results") -> Results:
    """Results from a loaded dict (ours or the original's); ResultsError naming `source` when malformed."""
    missing = [key for key in ("motions", "audio") if stored.get(key) is None]
    if missing:
        raise ResultsError(f"{source}: missing key(s) {missing} or None (keys: {sorted(stored)}); see "
                           f"sample/results.py")
    motions = stored_array(stored, "motions", source)
    audio = stored_array(stored, "audio", source)
    if motions.ndim != 4:
        raise ResultsError(f"{source}: 'motions' has shape {motions.shape}; expected (N, C, 1, T)")
    rows, channels = motions.shape[:2]
    num_samples = stored_count(stored, "num_samples", source) or _repeat_period(audio)
    fps = stored_count(stored, "fps", source)
    data_format = stored.get("data_format") or {FACE_DIM: "face", POSE_DIM: "pose"}.get(channels)
    if data_format is None:
        raise ResultsError(f"{source}: {channels} channels and no 'data_format'; cannot tell face from body")
    optional = {key: stored_array(stored, key, source) for key in ("gt", "keyframes", "starts", "reference_face")}
    avatar = stored.get("avatar") or "reference"
    lengths = stored_array(stored, "lengths", source, kinds="iu")
    results = Results(motions=motions, audio=audio, num_samples=num_samples,
                      num_repetitions=stored_count(stored, "num_repetitions", source) or rows // max(num_samples, 1),
                      lengths=np.full(rows, motions.shape[-1], np.int64) if lengths is None else lengths,
                      data_format=str(data_format), fps=FPS if fps is None else fps,
                      scenes=stored_array(stored, "scenes", source, kinds="US"), sampling=stored.get("sampling"),
                      avatar=str(avatar), **optional)
    _check(results, source)
    return results


class _AudioBytes(NamedTuple):
    """The bytes of an AudioOnDisk, as `_ResultsPickler` writes them."""
    audio: AudioOnDisk


class _ResultsPickler(pickle._Pickler):
    """Protocol-5 pickler that writes an AudioOnDisk exactly as numpy pickles an ndarray of its content
    (numpy's own _frombuffer of in-band bytes), streaming the bytes a block at a time from the file."""
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_audio(self, audio: AudioOnDisk) -> None:
        self.save_reduce(_FROMBUFFER, (_AudioBytes(audio), audio.dtype, audio.shape, "C"), obj=audio)

    def _save_audio_bytes(self, data: _AudioBytes) -> None:
        size = int(np.prod(data.audio.shape)) * data.audio.dtype.itemsize
        self.framer.write_large_bytes(pickle.BYTEARRAY8 + struct.pack("<Q", size), b"")
        for block in data.audio.blocks():
            self.framer.file_write(block.data)

    dispatch[AudioOnDisk] = _save_audio
    dispatch[_AudioBytes] = _save_audio_bytes


_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # how numpy itself pickles an array (protocol 5)


def save_results(path: str | os.PathLike, results: Results) -> Path:
    """Validate and write results.npy atomically; returns the path."""
    path = Path(path)
    _check(results, str(path))
    stored = np.empty((), dtype=object)
    stored[()] = results.to_dict()
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(stored))
        _ResultsPickler(handle, protocol=5).dump(stored)
    return path


def read_results_dict(path: str | os.PathLike) -> dict:
    """The raw dict stored in a results.npy, unvalidated; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ResultsNotFoundError(f"{path}: results file not found; sample.generate writes results.npy into "
                                   f"its output folder (printed at the end of its run)")
    try:
        stored = load_npy(path).item()
    except UnsafeFileError:
        raise
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as error:
        raise ResultsError(f"{path}: not a results.npy (a pickled dict saved with np.save): {error}") from error
    if not isinstance(stored, dict):
        raise ResultsError(f"{path}: holds a {type(stored).__name__}, not the dict of results.npy")
    return stored


def load_results(path: str | os.PathLike) -> Results:
    """Read and validate a results.npy (ours or the original's)."""
    return results_from_dict(read_results_dict(path), str(path))
