"""The official on-disk format of the audio2photoreal data set: constants, file names, readers and writers.

One folder per person (e.g. `dataset/PXB184/`), holding for each scene NN (names sorted = scene order):

| file                              | content                                                                  |
|-----------------------------------|--------------------------------------------------------------------------|
| `sceneNN_audio.wav`               | 48 kHz, 2 channels, 16-bit PCM; channel 0 = this person, channel 1 = the |
|                                   | conversation partner; exactly SAMPLES_PER_FRAME x T samples              |
| `sceneNN_body_pose.npy`           | float32 (T, 104) joint angles (radians) and root translation (cm)        |
| `sceneNN_face_expression.npy`     | float32 (T, 256) face expression codes                                   |
| `sceneNN_missing_face_frames.npy` | 1-D int array: indices of frames whose face code is missing or corrupt   |
| `data_stats.pth`                  | torch.save of a plain dict of numpy arrays (keys in `data_loaders.stats`)|
| `sceneNN_events.json` (optional)  | the scene's annotated events (below); written by the synthetic generator, |
|                                   | absent from real data                                                    |

Pose dim 3 (root_rx) of the captured persons PXB184 and RLW104 is read as `x mod 2pi` (values in [0, 2pi)),
as the original's loader does to remove a discontinuity: its released data_stats.pth and checkpoints of
those persons were made from the wrapped values (`wrap_pose_angles`, applied by data_loaders.validate).

Events file (optional, JSON, `read_events` / `write_events`): what the synthetic puppeteer reacted to and did,
so that evaluation can score generated motion against it. Frames are 0-based indices at 30 fps; runs are
[start, end) pairs:

    {"fps": 30, "frames": T,
     "style":   {"energy": e, "attitude": "engaged" | "reserved", ...}   scene-level style of this person
     "person":  {"speech": runs, "stressed": frames, "pauses": frames}   this person's voice (channel 0):
                                                                          voice activity, stressed syllables,
                                                                          pause onsets
     "partner": {"speech": runs, "stressed": frames, "pauses": frames}   the partner's voice (channel 1)
     "listening_pauses": frames      partner pause onsets while this person listens (listener nods follow)
     "speaker_nods": frames          frames of the downward head-velocity peak of each nod on a stressed syllable
     "listener_nods": frames         the same for each listener nod
     "gestures": [{"frame": stroke frame, "name": gesture name, "sides": "l" | "r" | "lr",
                   "amplitude": a}, ...]}

Time runs at FPS = 30 frames per second, so one frame holds 1600 audio samples. In memory, audio is a float32
array (N, 2) in [-1, 1]; motion is (T, C). Split by sorted scene order: the last 4 scenes are test, the 2
before them validation, the rest train.
"""
from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from data_loaders.audio_header import AudioHeaderError, read_audio_header
from utils.files import atomic_write

FPS = 30
SAMPLE_RATE = 48_000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 1600
POSE_DIM = 104
FACE_DIM = 256
KEYFRAME_STEP = 30  # guide poses at 1 fps

AUDIO_SUFFIX = "_audio.wav"
POSE_SUFFIX = "_body_pose.npy"
FACE_SUFFIX = "_face_expression.npy"
MISSING_SUFFIX = "_missing_face_frames.npy"
EVENTS_SUFFIX = "_events.json"
EVENT_CHANNELS = ("person", "partner")
EVENT_FRAME_KEYS = ("listening_pauses", "speaker_nods", "listener_nods")
STATS_FILE = "data_stats.pth"
SCENE_FILE_SUFFIXES = (AUDIO_SUFFIX, POSE_SUFFIX, FACE_SUFFIX, MISSING_SUFFIX)

WRAPPED_POSE_PERSONS = ("PXB184", "RLW104")  # person folders whose pose dim WRAPPED_POSE_DIM is taken mod 2pi
WRAPPED_POSE_DIM = 3

NUM_TEST_SCENES = 4
NUM_VAL_SCENES = 2

MAX_AUDIO_PEAK = 2.0  # float samples beyond this are a waveform written without scaling, not loud speech


def wrap_pose_angles(pose: np.ndarray, person: str) -> np.ndarray:
    """pose (T, C) as the original's loader sees the person's: dim WRAPPED_POSE_DIM mod 2pi, in [0, 2pi), for
    the person folders of WRAPPED_POSE_PERSONS; every other person's pose unchanged (the same array)."""
    if person not in WRAPPED_POSE_PERSONS or pose.shape[1] <= WRAPPED_POSE_DIM:
        return pose
    wrapped = pose.copy()
    wrapped[:, WRAPPED_POSE_DIM] = np.mod(wrapped[:, WRAPPED_POSE_DIM], 2 * np.pi)
    return wrapped


class FormatError(ValueError):
    """A file of a person folder breaks the format; the message names the file and the fix."""


@dataclass(frozen=True)
class Scene:
    """Paths of one scene's four files inside a person folder."""
    folder: Path
    name: str  # e.g. "scene01"

    def path(self, suffix: str) -> Path:
        return self.folder / f"{self.name}{suffix}"

    @property
    def audio(self) -> Path:
        return self.path(AUDIO_SUFFIX)

    @property
    def pose(self) -> Path:
        return self.path(POSE_SUFFIX)

    @property
    def face(self) -> Path:
        return self.path(FACE_SUFFIX)

    @property
    def missing(self) -> Path:
        return self.path(MISSING_SUFFIX)

    @property
    def events(self) -> Path:
        return self.path(EVENTS_SUFFIX)


_SCENE_NAME = re.compile(r"^(?P<name>.+?)(" + "|".join(re.escape(s) for s in SCENE_FILE_SUFFIXES) + r")$")


def list_scenes(folder: str | os.PathLike) -> list[Scene]:
    """Scenes of a person folder in sorted order: every name that has at least one scene file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: not a folder; pass a person folder such as dataset/PXB184")
    names = {m.group("name") for f in os.listdir(folder) if (m := _SCENE_NAME.match(f))}
    return [Scene(folder, name) for name in sorted(names)]


def split_scenes(scenes: list, split: str) -> list:
    """The scenes of `split` ("train", "val" or "test") by the original's rule on sorted scene order."""
    n = len(scenes)
    bounds = {"train": (0, n - NUM_TEST_SCENES - NUM_VAL_SCENES),
              "val": (n - NUM_TEST_SCENES - NUM_VAL_SCENES, n - NUM_TEST_SCENES),
              "test": (n - NUM_TEST_SCENES, n)}
    if split not in bounds:
        raise ValueError(f"split must be one of {sorted(bounds)}, got {split!r}")
    lo, hi = bounds[split]
    return scenes[max(lo, 0):max(hi, 0)]


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(samples (N, channels) float32 in [-1, 1], sample rate). Raises FormatError for unreadable files and
    for a header no recording has (data_loaders/audio_header.py)."""
    path = Path(path)
    try:
        read_audio_header(path)
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except AudioHeaderError as err:
        raise FormatError(str(err)) from err
    except (RuntimeError, sf.LibsndfileError) as err:
        raise FormatError(f"{path}: not a readable audio file ({err}); give a WAV/FLAC/OGG/MP3 file") from err
    return audio, rate


def audio_peak_fault(path: str | os.PathLike, audio: np.ndarray) -> str | None:
    """The message for samples far outside [-1, 1] (|x| > MAX_AUDIO_PEAK: a float file written without
    scaling), or None."""
    peak = float(np.abs(audio).max(initial=0.0))
    if peak <= MAX_AUDIO_PEAK:
        return None
    return (f"{path}: the audio peaks at {peak:.3g}, far above the [-1, 1] of a waveform (float samples written "
            f"without scaling?); divide the samples by {peak:.3g}, or re-export it, e.g. `ffmpeg -i {Path(path).name} "
            f"-af loudnorm -c:a pcm_s16le fixed.wav`")


def write_wav(path: str | os.PathLike, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write (N, channels) float audio in [-1, 1] as 16-bit PCM WAV (the official format), atomically. The WAV
    is encoded in memory and written by Python, so a full disk is an OSError naming the file (libsndfile's own
    writes fail with a message that names neither the file nor the cause)."""
    encoded = io.BytesIO()
    sf.write(encoded, np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        handle.write(encoded.getbuffer())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """np.save atomically (a partly written file never carries the final name)."""
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def write_scene(folder: str | os.PathLike, name: str, audio: np.ndarray, pose: np.ndarray, face: np.ndarray,
                missing_frames: np.ndarray) -> Scene:
    """Write one scene in the official format: audio (T*1600, 2), pose (T, 104), face (T, 256), missing (M,)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scene = Scene(folder, name)
    frames = pose.shape[0]
    if audio.shape != (frames * SAMPLES_PER_FRAME, 2) or face.shape[0] != frames:
        raise ValueError(f"scene {name}: audio {audio.shape}, pose {pose.shape}, face {face.shape} do not "
                         f"describe the same {frames} frames")
    write_wav(scene.audio, audio)
    write_npy(scene.pose, pose.astype(np.float32))
    write_npy(scene.face, face.astype(np.float32))
    write_npy(scene.missing, np.asarray(missing_frames, dtype=np.int64))
    return scene


def _check_events(events: object, frames: int | None) -> list[str]:
    """Every fault of an events dict (module docstring) as a message."""
    if not isinstance(events, dict):
        return [f"holds a {type(events).__name__}, not a JSON object"]
    faults = [f"key {key!r} is missing" for key in ("fps", "frames", *EVENT_CHANNELS, *EVENT_FRAME_KEYS, "gestures")
              if key not in events]
    if faults:
        return faults
    if events["fps"] != FPS:
        faults.append(f"fps is {events['fps']}; the format runs at {FPS}")
    if frames is not None and events["frames"] != frames:
        faults.append(f"frames is {events['frames']} but the scene has {frames}")
    lists = {key: events[key] for key in EVENT_FRAME_KEYS}
    lists.update({f"{side}.{key}": events[side].get(key, []) for side in EVENT_CHANNELS
                  for key in ("stressed", "pauses")})
    lists["gestures.frame"] = [g.get("frame", -1) for g in events["gestures"]]
    for key, values in lists.items():
        if any(not isinstance(v, int) or not 0 <= v < events["frames"] for v in values):
            faults.append(f"{key!r} holds values that are not frame indices in [0, {events['frames']})")
    for side in EVENT_CHANNELS:
        runs = events[side].get("speech", [])
        if any(len(r) != 2 or not 0 <= r[0] < r[1] <= events["frames"] for r in runs):
            faults.append(f"'{side}.speech' holds runs that are not [start, end) inside the scene")
    return faults


def write_events(scene: Scene, events: dict) -> None:
    """Write a scene's events file (module docstring) atomically, after checking it."""
    faults = _check_events(events, None)
    if faults:
        raise ValueError(f"{scene.events}: malformed events: {'; '.join(faults)}")
    tmp = scene.events.with_name(scene.events.name + ".tmp")
    tmp.write_text(json.dumps(events, separators=(",", ":")))
    os.replace(tmp, scene.events)


def read_events(scene: Scene, frames: int | None = None) -> dict | None:
    """The scene's events (module docstring), or None when the scene has no events file (real data).
    FormatError naming the file when it is unreadable or malformed (`frames`: the scene's length, checked)."""
    if not scene.events.is_file():
        return None
    try:
        events = json.loads(scene.events.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError(f"{scene.events}: not a readable events file ({error}); regenerate the scene or "
                          f"delete the file (events are optional)") from error
    faults = _check_events(events, frames)
    if faults:
        raise FormatError(f"{scene.events}: malformed events: {'; '.join(faults)}; regenerate the scene or "
                          f"delete the file (events are optional)")
    return events
