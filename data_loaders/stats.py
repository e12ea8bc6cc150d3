"""Per-person normalisation statistics (`data_stats.pth`) and the `Normalizer` that applies them.

`data_stats.pth` is a torch.save file holding a plain dict of numpy arrays (the original's layout). It is read
with utils/safe_load.py: numpy arrays and containers only, so a crafted file cannot run code:

| key              | shape / dtype  | meaning                                                         |
|------------------|----------------|-----------------------------------------------------------------|
| `pose_mean`      | (104,) float64 | per-dim body pose mean                                          |
| `pose_std`       | (104,) float64 | per-dim body pose std                                           |
| `code_mean`      | (256,) float64 | per-dim face code mean (missing face frames excluded)           |
| `code_std`       | (256,) float64 | per-dim face code std (missing face frames excluded)            |
| `audio_mean`     | (2,) float32   | per-channel waveform mean                                       |
| `audio_std`      | (2,) float32   | per-channel waveform std (stored, not used)                     |
| `audio_std_flat` | (1,) float32   | one waveform std over both channels (THE audio std, as the original) |
| `pose_std_flat`  | (1,) float64   | std of all pose values together (stored, not used)              |
| `code_std_flat`  | (1,) float64   | std of all valid face code values together (stored, not used)   |

The 104 and 256 are the defaults; the sizes are whatever the person's data has. Files made by the original
code carry extra keys (facekp_*, fullpose_*, ...), which are accepted and ignored.

Statistics are computed over the TRAIN scenes of the folder only (the original's split: all but the last 6
scenes by sorted name), as population stds (ddof=0). Every std is floored at STD_FLOOR so that a constant
dimension normalises to zeros instead of dividing by zero.

Normalisation is a z-score: pose `(x - pose_mean) / pose_std`, face `(x - code_mean) / code_std`, audio
`(a - audio_mean[channel]) / audio_std_flat`.

CLI: `python -m data_loaders.stats DIR [--force]` writes DIR/data_stats.pth for a new person folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data_loaders.format import STATS_FILE, FormatError, Scene, list_scenes, read_wav, split_scenes
from utils.cli import run_cli
from utils.config import arg, build_parser, from_dict
from utils.files import atomic_write
from utils.safe_load import UnsafeFileError, load_torch

STD_FLOOR = 1e-4
STATS_SHAPES = {"pose_mean": ("pose",), "pose_std": ("pose",), "code_mean": ("code",), "code_std": ("code",),
                "audio_mean": (2,), "audio_std": (2,), "audio_std_flat": (1,),
                "pose_std_flat": (1,), "code_std_flat": (1,)}
KINDS = {"pose": "pose", "face": "code"}  # motion kind -> key prefix in the stats file


class _Moments:
    """Running count, mean and sum of squared deviations per column (Chan's parallel update, float64)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray) -> None:
        """Add rows of x (N, D); the column axis may be absent for flat statistics."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if n == 0:
            return
        mean = x.mean(axis=0)
        m2 = ((x - mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta ** 2 * self.count * n / total
        self.count = total

    def std(self) -> np.ndarray:
        return np.maximum(np.sqrt(self.m2 / self.count), STD_FLOOR)


def stats_scenes(folder: str | os.PathLike) -> list[Scene]:
    """The train scenes of a person folder; a clear error if the folder has too few scenes for a split."""
    scenes = list_scenes(folder)
    train = split_scenes(scenes, "train")
    if not train:
        raise FormatError(f"{folder}: {len(scenes)} scenes, but the split needs at least 7 (>= 1 train, 2 val, "
                          f"4 test) and statistics are computed on the train scenes; add scenes")
    return train


def compute_stats(folder: str | os.PathLike, scenes: list[Scene] | None = None,
                  progress: bool = False) -> dict[str, np.ndarray]:
    """Statistics of a person folder over its TRAIN scenes (or over `scenes` when given).

    Face code statistics skip the frames listed in the missing-face-frames files; pose and audio statistics
    use every frame. Scenes without a face frame (0 frames, or all listed as missing) are skipped, as the
    data set skips them. Scenes are read through `data_loaders.validate.load_scene`, so a broken file gets the
    validator's error.
    """
    from data_loaders.validate import load_scene  # validate imports this module for the stats checks
    scenes = stats_scenes(folder) if scenes is None else scenes
    pose, pose_flat, code, code_flat, audio, audio_flat = (_Moments() for _ in range(6))
    for scene in tqdm(scenes, desc="stats", unit="scene", disable=not progress):
        data = load_scene(scene)
        if not data.face_valid.any():  # nothing to train on: skipped, like the data set skips it
            continue
        valid_face = data.face[data.face_valid]
        pose.add(data.pose)
        pose_flat.add(data.pose.reshape(-1))
        code.add(valid_face)
        code_flat.add(valid_face.reshape(-1))
        audio.add(data.audio)
        audio_flat.add(data.audio.reshape(-1))
    if code.count == 0:
        raise FormatError(f"{folder}: every face frame of the train scenes is listed as missing; "
                          f"no face statistics can be computed — check the *_missing_face_frames.npy files")
    return {"pose_mean": pose.mean, "pose_std": pose.std(),
            "code_mean": code.mean, "code_std": code.std(),
            "audio_mean": audio.mean.astype(np.float32), "audio_std": audio.std().astype(np.float32),
            "audio_std_flat": np.atleast_1d(audio_flat.std()).astype(np.float32),
            "pose_std_flat": np.atleast_1d(pose_flat.std()), "code_std_flat": np.atleast_1d(code_flat.std())}


def save_stats(folder: str | os.PathLike, stats: dict[str, np.ndarray]) -> Path:
    """Write folder/data_stats.pth (torch.save of a plain dict of numpy arrays) atomically; returns the path."""
    path = Path(folder) / STATS_FILE
    with atomic_write(path) as tmp, open(tmp, "wb") as handle:
        torch.save({key: np.asarray(value) for key, value in stats.items()}, handle)
    return path


def check_stats(stats: object) -> list[str]:
    """Every fault of a loaded stats object as a message (empty list when it is well formed)."""
    if not isinstance(stats, dict):
        return [f"holds a {type(stats).__name__}, not a dict of arrays"]
    faults = [f"key {key!r} is missing" for key in STATS_SHAPES if key not in stats]
    first_of_size: dict[str, str] = {}  # "pose" / "code" -> the first key giving that size
    for key, (size,) in STATS_SHAPES.items():
        if key not in stats:
            continue
        value = np.asarray(stats[key])
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.floating):
            faults.append(f"{key!r} has shape {value.shape} and dtype {value.dtype}; a 1-D float array is needed")
            continue
        if isinstance(size, str):
            other = first_of_size.setdefault(size, key)
            if len(value) != len(stats[other]):
                faults.append(f"{key!r} has {len(value)} entries but {other!r} has {len(stats[other])}")
                continue
        elif len(value) != size:
            faults.append(f"{key!r} has {len(value)} entries; {size} are needed")
        if not np.all(np.isfinite(value)):
            faults.append(f"{key!r} holds NaN or inf")
        elif key.endswith(("_std", "_std_flat")) and np.any(value <= 0):
            faults.append(f"{key!r} holds stds <= 0")
    return faults


def load_stats(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read folder/data_stats.pth (also the original's files); FormatError naming the file and the fix."""
    path = Path(folder) / STATS_FILE
    fix = f"run `python -m data_loaders.stats {Path(folder)} --force` to (re)compute it"
    if not path.is_file():
        raise FormatError(f"{path}: file not found; {fix}")
    try:
        stats = load_torch(path)
    except UnsafeFileError as err:
        raise FormatError(f"{err}; {fix}") from err
    except Exception as err:  # any unreadable pickle/zip: report the file, not the unpickler's internals
        raise FormatError(f"{path}: not a readable stats file ({type(err).__name__}: {err}); {fix}") from err
    faults = check_stats(stats)
    if faults:
        raise FormatError(f"{path}: malformed stats: {'; '.join(faults)}; {fix}")
    return {key: np.asarray(value) for key, value in stats.items()}


class Normalizer:
    """z-score normalisation of pose (T, P), face (T, F) and audio (N, 2) arrays with a person's stats.

    Works on numpy arrays (result has the input's float dtype) and torch tensors (any device and dtype);
    the last axis is the feature / channel axis.
    """

    def __init__(self, stats: dict[str, np.ndarray]):
        self.mean = {kind: np.asarray(stats[f"{prefix}_mean"], np.float64) for kind, prefix in KINDS.items()}
        self.std = {kind: np.asarray(stats[f"{prefix}_std"], np.float64) for kind, prefix in KINDS.items()}
        self.mean["audio"] = np.asarray(stats["audio_mean"], np.float64)
        self.std["audio"] = np.asarray(stats["audio_std_flat"], np.float64)  # one scalar for both channels

    def dim(self, kind: str) -> int:
        """Feature size of `kind`: pose 104, face 256, audio 2 by default."""
        return self.mean[kind].shape[0]

    def _params(self, x, kind: str):
        if kind not in self.mean:
            raise ValueError(f"kind must be one of {sorted(self.mean)}, got {kind!r}")
        if isinstance(x, torch.Tensor):
            return (torch.as_tensor(self.mean[kind], dtype=x.dtype, device=x.device),
                    torch.as_tensor(self.std[kind], dtype=x.dtype, device=x.device))
        return self.mean[kind], self.std[kind]

    def normalize(self, x, kind: str):
        """(x - mean) / std for kind in {"pose", "face", "audio"}."""
        mean, std = self._params(x, kind)
        out = (x - mean) / std
        return out if isinstance(x, torch.Tensor) else out.astype(np.result_type(x.dtype, np.float32))

    def denormalize(self, x, kind: str):
        """x * std + mean, the inverse of `normalize`."""
        mean, std = self._params(x, kind)
        out = x * std + mean
        return out if isinstance(x, torch.Tensor) else out.astype(np.result_type(x.dtype, np.float32))


@dataclass
class StatsCommand:
    """Write data_stats.pth for a person folder."""
    force: bool = arg(False, "overwrite an existing data_stats.pth")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser([StatsCommand], description="Compute the normalisation statistics (data_stats.pth) of "
                                                      "a person folder over its train scenes.")
    parser.add_argument("folder", help="person folder in the official format, e.g. dataset/PXB184")
    namespace = parser.parse_args(argv)
    command = from_dict(StatsCommand, vars(namespace))
    path = Path(namespace.folder) / STATS_FILE
    if path.exists() and not command.force:
        raise FileExistsError(f"{path}: exists; pass --force to overwrite it")
    scenes = stats_scenes(namespace.folder)
    path = save_stats(namespace.folder, compute_stats(namespace.folder, scenes, progress=True))
    print(f"wrote {path} from {len(scenes)} train scenes ({scenes[0].name} .. {scenes[-1].name})")


if __name__ == "__main__":
    run_cli(main)
