"""Checks of a person folder against the official format, and the one scene reader built on them.

`validate_folder(folder)` lists every fault of a folder (not only the first), each naming the file and the
fix. `load_scene(scene)` reads one scene through the same checks and raises FormatError with the same messages,
so the data set, the statistics and the validator never disagree about what a good file is.

Errors: unreadable files, wrong shapes, dtypes, rates or lengths, NaN / inf, motion values beyond
MAX_ABS_MOTION (pose anywhere, face codes on the frames not listed as missing), audio peaks far above 1
(format.MAX_AUDIO_PEAK), statistics of another size than the scenes' motion (one error blaming
data_stats.pth). Warnings: too few scenes for the split, and scenes that hold nothing to train on: 0 frames,
or every face frame listed as missing. Those are skipped by the data set and the statistics (for face and
body, as the original skips a scene whose face frames are all missing).

CLI: `python -m data_loaders.validate DIR` prints a line per scene (frames, seconds, missing face frames) and
every fault; it exits with 1 when there is an error (warnings alone exit 0).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from data_loaders.format import (FACE_DIM, FPS, NUM_TEST_SCENES, NUM_VAL_SCENES, POSE_DIM, SAMPLE_RATE,
                                 SAMPLES_PER_FRAME, SCENE_FILE_SUFFIXES, STATS_FILE, FormatError, Scene,
                                 audio_peak_fault, list_scenes, read_wav, wrap_pose_angles)
from data_loaders.stats import load_stats
from utils.cli import run_cli
from utils.config import build_parser
from utils.safe_load import read_npy_array, read_npy_header

MIN_SCENES = NUM_TEST_SCENES + NUM_VAL_SCENES + 1
MAX_ABS_MOTION = 1e4  # pose is radians and cm, face codes are near +-3: larger values are a broken file


@dataclass(frozen=True)
class Problem:
    """One fault of a person folder: the file, the full message ("<file>: <what is wrong>; <fix>")."""
    path: Path
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{'warning' if self.warning else 'error'}: {self.message}"


def _problem(path: Path, text: str, warning: bool = False) -> Problem:
    return Problem(path, f"{path}: {text}", warning)


@dataclass
class SceneData:
    """One scene in memory: audio (T*1600, 2) float32 in [-1, 1], pose (T, P) float32 (PXB184 and RLW104: dim 3
    wrapped, data_loaders.format), face (T, F) float32, face_valid (T,) bool (False on the frames listed as
    missing)."""
    name: str
    audio: np.ndarray
    pose: np.ndarray
    face: np.ndarray
    face_valid: np.ndarray

    @property
    def frames(self) -> int:
        return self.pose.shape[0]


def _first_non_finite(array: np.ndarray) -> tuple[int, ...] | None:
    """Index (frame, dim) of the first NaN/inf entry, or None."""
    finite = np.isfinite(array)
    return None if finite.all() else tuple(int(i) for i in np.argwhere(~finite)[0])


def _read_npy(path: Path, problems: list[Problem]) -> np.ndarray | None:
    try:
        return read_npy_array(path)
    except (ValueError, OSError, EOFError) as err:
        problems.append(_problem(path, f"not a readable .npy array ({err}); write it with numpy.save"))
        return None


def _check_range(path: Path, what: str, array: np.ndarray, rows: np.ndarray, problems: list[Problem]) -> bool:
    """False after adding a problem when a value of array[rows] is beyond MAX_ABS_MOTION."""
    beyond = np.abs(array) > MAX_ABS_MOTION
    beyond[~rows] = False
    if not beyond.any():
        return True
    frame, dim = (int(i) for i in np.argwhere(beyond)[0])
    problems.append(_problem(path, f"{what} holds {array[frame, dim]:g} at frame {frame}, dim {dim} ({int(beyond.sum())} "
                                   f"values beyond {MAX_ABS_MOTION:g}); pose is radians and cm, face codes are near "
                                   f"+-3 — fix those frames (or list face frames as missing)"))
    return False


def _check_motion(path: Path, what: str, dim: int, problems: list[Problem]) -> np.ndarray | None:
    """A (T, dim) float32 array from `path`, or None after adding the problems found."""
    array = _read_npy(path, problems)
    if array is None:
        return None
    if array.ndim != 2 or array.shape[1] != dim or array.dtype.kind not in "fiu":
        problems.append(_problem(path, f"{what} has shape {array.shape} and dtype {array.dtype}; a float array "
                                       f"(T, {dim}) is needed (T frames at {FPS} fps)"))
        return None
    bad = _first_non_finite(array)
    if bad is not None:
        problems.append(_problem(path, f"{what} holds {array[bad]} at frame {bad[0]}, dim {bad[1]}; replace "
                                       f"NaN/inf values (e.g. interpolate, or list face frames as missing)"))
        return None
    return array.astype(np.float32)


def _check_missing(path: Path, frames: int | None, problems: list[Problem]) -> np.ndarray | None:
    """The 1-D int64 missing-frame indices from `path`, or None after adding the problems found."""
    array = _read_npy(path, problems)
    if array is None:
        return None
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        problems.append(_problem(path, f"missing face frames have shape {array.shape} and dtype {array.dtype}; "
                                       f"a 1-D integer array of frame indices is needed"))
        return None
    if frames is not None:
        out = (array < 0) | (array >= frames)
        if out.any():
            problems.append(_problem(path, f"missing face frame index {int(array[out][0])} is out of range "
                                           f"[0, {frames}) ({int(out.sum())} bad indices); the scene has "
                                           f"{frames} frames — fix or drop those indices"))
            return None
    return array.astype(np.int64)


def _check_audio(path: Path, frames: int | None, problems: list[Problem]) -> np.ndarray | None:
    """The (frames*1600, 2) float32 waveform from `path`, or None after adding the problems found."""
    try:
        audio, rate = read_wav(path)
    except FormatError as err:
        problems.append(Problem(path, str(err)))
        return None
    ok = True
    if rate != SAMPLE_RATE:
        problems.append(_problem(path, f"sample rate is {rate} Hz; {SAMPLE_RATE} Hz is needed — resample with "
                                       f"`ffmpeg -i IN.wav -ar {SAMPLE_RATE} OUT.wav` or "
                                       f"`sox IN.wav -r {SAMPLE_RATE} OUT.wav`"))
        ok = False
    if audio.shape[1] != 2:
        kind = "mono" if audio.shape[1] == 1 else f"{audio.shape[1]} channels"
        problems.append(_problem(path, f"audio is {kind}; 2 channels are needed (0 = this person, 1 = the "
                                       f"conversation partner) — e.g. `ffmpeg -i PERSON.wav -i PARTNER.wav "
                                       f"-filter_complex amerge=inputs=2 -ar {SAMPLE_RATE} OUT.wav`"))
        ok = False
    if rate == SAMPLE_RATE and frames is not None and audio.shape[0] != frames * SAMPLES_PER_FRAME:
        problems.append(_problem(path, f"audio has {audio.shape[0]} samples; {SAMPLES_PER_FRAME} x {frames} "
                                       f"frames = {frames * SAMPLES_PER_FRAME} are needed — trim or pad it "
                                       f"to the motion's length"))
        ok = False
    bad = _first_non_finite(audio)
    if bad is not None:
        problems.append(_problem(path, f"audio holds {audio[bad]} at sample {bad[0]} (frame "
                                       f"{bad[0] // SAMPLES_PER_FRAME}), channel {bad[1]}; replace NaN/inf"))
        ok = False
    elif audio_peak_fault(path, audio):
        problems.append(Problem(path, audio_peak_fault(path, audio)))
        ok = False
    return audio if ok else None


def check_scene(scene: Scene, pose_dim: int = POSE_DIM,
                face_dim: int = FACE_DIM) -> tuple[SceneData | None, list[Problem]]:
    """Read and check one scene: (its data, or None when there is an error; every problem found)."""
    problems: list[Problem] = []
    present = [suffix for suffix in SCENE_FILE_SUFFIXES if scene.path(suffix).is_file()]
    for suffix in SCENE_FILE_SUFFIXES:
        if suffix not in present:
            problems.append(_problem(scene.path(suffix), f"file not found, but {scene.name}{present[0]} exists; "
                                                         f"every scene needs the files "
                                                         f"{', '.join(scene.name + s for s in SCENE_FILE_SUFFIXES)}"))
    pose = _check_motion(scene.pose, "pose", pose_dim, problems) if scene.pose.is_file() else None
    face = _check_motion(scene.face, "face codes", face_dim, problems) if scene.face.is_file() else None
    if pose is not None and face is not None and len(pose) != len(face):
        problems.append(_problem(scene.face, f"{len(face)} frames of face codes but {len(pose)} frames of pose in "
                                             f"{scene.pose.name}; both must hold the same frames"))
    frames = len(pose) if pose is not None else (len(face) if face is not None else None)
    missing = _check_missing(scene.missing, frames, problems) if scene.missing.is_file() else None
    audio = _check_audio(scene.audio, frames, problems) if scene.audio.is_file() else None
    if any(not p.warning for p in problems):
        return None, problems
    face_valid = np.ones(frames, bool)
    face_valid[missing] = False
    in_range = [_check_range(scene.pose, "pose", pose, np.ones(frames, bool), problems),
                _check_range(scene.face, "face codes", face, face_valid, problems)]
    if not all(in_range):
        return None, problems
    if frames == 0:
        problems.append(_problem(scene.pose, "the scene holds 0 frames: nothing to train on, so it is skipped — "
                                             "remove its files", warning=True))
    elif not face_valid.any():
        problems.append(_problem(scene.missing, f"every one of the scene's {frames} face frames is listed as missing: "
                                                f"the scene is skipped for training and statistics (face and body), "
                                                f"as the original does", warning=True))
    return SceneData(scene.name, audio, wrap_pose_angles(pose, scene.folder.name), face, face_valid), problems


def load_scene(scene: Scene, pose_dim: int = POSE_DIM, face_dim: int = FACE_DIM) -> SceneData:
    """One scene in memory (see SceneData); FormatError listing every fault of the scene's files."""
    data, problems = check_scene(scene, pose_dim, face_dim)
    if data is None:
        raise FormatError("\n".join(p.message for p in problems if not p.warning))
    return data


def _scene_dims(scenes: list[Scene]) -> tuple[int | None, int | None]:
    """The most common (pose dims, face dims) of the scenes' motion files, read from their headers (None where
    no file is readable)."""
    counts: tuple[Counter, Counter] = (Counter(), Counter())
    for scene in scenes:
        for path, counter in zip((scene.pose, scene.face), counts):
            try:
                with open(path, "rb") as handle:
                    shape, _ = read_npy_header(handle)
            except (OSError, ValueError):
                continue
            if len(shape) == 2:
                counter[shape[1]] += 1
    pose, face = (counter.most_common(1)[0][0] if counter else None for counter in counts)
    return pose, face


def check_stats_dims(folder: Path, scenes: list[Scene], pose_dim: int, face_dim: int) -> Problem | None:
    """One problem blaming data_stats.pth when its pose / face sizes differ from those of the scenes' files."""
    found = [f"{what} statistics of {expected} dims, but the scenes' {what} files have {dims}"
             for what, expected, dims in zip(("pose", "face code"), (pose_dim, face_dim), _scene_dims(scenes))
             if dims is not None and dims != expected]
    if not found:
        return None
    return _problem(folder / STATS_FILE, f"holds {'; '.join(found)}: it belongs to other data; recompute it with "
                                         f"`python -m data_loaders.stats {folder} --force`")


def check_folder(folder: str | os.PathLike) -> tuple[list[Problem], list[Scene], int, int]:
    """Folder-level problems (not a folder, no scenes, stats, too few scenes, stats of another size than the
    scenes) and what the scene checks need: (problems, scenes, pose_dim, face_dim); the dims are the scenes'
    own (the most common), else data_stats.pth's."""
    folder = Path(folder)
    try:
        scenes = list_scenes(folder)
    except FormatError as err:
        return [Problem(folder, str(err))], [], POSE_DIM, FACE_DIM
    problems = []
    if not scenes:
        problems.append(_problem(folder, f"no scenes found; a person folder holds files named like "
                                         f"scene01{SCENE_FILE_SUFFIXES[0]} (see data_loaders/format.py)"))
    elif len(scenes) < MIN_SCENES:
        problems.append(_problem(folder, f"{len(scenes)} scenes; the split needs at least {MIN_SCENES} (>= 1 "
                                         f"train, {NUM_VAL_SCENES} val, {NUM_TEST_SCENES} test by sorted name)",
                                 warning=True))
    pose_dim, face_dim = POSE_DIM, FACE_DIM
    try:
        stats = load_stats(folder)
        pose_dim, face_dim = len(stats["pose_mean"]), len(stats["code_mean"])
        problems += filter(None, [check_stats_dims(folder, scenes, pose_dim, face_dim)])
    except FormatError as err:
        problems.append(Problem(folder / STATS_FILE, str(err)))
    scene_pose_dim, scene_face_dim = _scene_dims(scenes)
    return problems, scenes, scene_pose_dim or pose_dim, scene_face_dim or face_dim


def iter_checks(folder: str | os.PathLike) -> Iterator[tuple[Scene | None, SceneData | None, list[Problem]]]:
    """(None, None, folder problems) first, then (scene, data or None, problems) for each scene in order."""
    problems, scenes, pose_dim, face_dim = check_folder(folder)
    yield None, None, problems
    for scene in scenes:
        yield scene, *check_scene(scene, pose_dim, face_dim)


def validate_folder(folder: str | os.PathLike) -> list[Problem]:
    """Every fault of a person folder (errors and warnings), in folder then scene order."""
    return [problem for _, _, problems in iter_checks(folder) for problem in problems]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser([], description="Check a person folder against the official data format and "
                                                 "list every fault with its fix.")
    parser.add_argument("folder", help="person folder, e.g. dataset/PXB184")
    folder = parser.parse_args(argv).folder
    all_problems: list[Problem] = []
    total_frames = 0
    for scene, data, problems in iter_checks(folder):
        all_problems += problems
        if data is not None:
            total_frames += data.frames
            print(f"OK     {scene.name}: {data.frames} frames, {data.frames / FPS:.1f} s, "
                  f"{int((~data.face_valid).sum())} missing face frames")
        elif scene is not None:
            print(f"FAULTY {scene.name}")
        elif problems:
            print(f"FOLDER {folder}")
        for problem in problems:
            print(f"  {problem}")
    errors = sum(not p.warning for p in all_problems)
    warnings = len(all_problems) - errors
    print(f"{folder}: {total_frames} good frames ({total_frames / FPS:.1f} s); {errors} errors, {warnings} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    run_cli(main)
