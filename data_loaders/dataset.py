"""`SocialDataset`: windows of one person's conversations (motion + stereo audio), normalised, as training items.

All scenes of the split are read once (through `data_loaders.validate.load_scene`), normalised with the
person's `data_stats.pth` and kept in memory. With `augment` (training), a window's audio gets the channel
effects of `data_loaders.augment` on its recorded (un-normalised) waveform, then is normalised again. With a
feature bank (`use_feature_bank`, data_loaders/feature_bank.py), an item's audio is instead the window's
log-mel cut from one of the bank's variants of its scene (with `augment` drawn from the item seed, else the
recording), which every model's front end takes in place of the waveform; with a lip bank as well
(`use_lip_bank`, data_loaders/lip_bank.py), an item also carries the frozen lip regressor's vertices of that
variant (`lips`).
Scenes whose face frames are all missing are skipped (for face and pose, as the original). For face data, the
normalised codes of missing frames are set to 0.

Two ways to cut windows of up to L = max_seq_length frames:

* random windows (train; val when asked): `ds[seed]` draws everything from np.random.default_rng(seed), so
  an item depends on its integer seed alone. The scene is drawn with probability proportional to its length,
  the window length uniformly in [min_seq_length, max_seq_length) (exactly max_seq_length when
  random_lengths is off), the start uniformly in [0, T - length]. A scene shorter than the window is taken
  whole. A window without a valid face frame is redrawn up to MAX_WINDOW_TRIES times; then the window is
  placed around a valid frame of the last drawn scene. `len(ds)` is the number of frames (informational).
* fixed windows (val, test): chunks starting at 0, L, 2L, ... of every scene, keeping every FULL chunk (the
  original also drops the last full chunk when T - L is a multiple of L; we keep it) and dropping the
  trailing partial chunk; a scene shorter than L gives one chunk holding the whole scene. `ds[i]` for
  i < len(ds) is chunk i in scene order, with item seed i.

An item is a dict (T = max_seq_length, C = nfeats, padding is zeros in normalised space):

| key         | shape / dtype        | meaning                                                        |
|-------------|----------------------|----------------------------------------------------------------|
| `motion`    | (T, C) float32       | normalised face codes or pose                                  |
| `mask`      | (T,) bool            | frame < length                                                 |
| `valid`     | (T,) bool            | mask and (face only) the face code is present                 |
| `audio`     | (T*1600, 2) float32  | normalised waveform, channel 0 = person, 1 = partner; with a   |
|             | or (2, 4T, M) fp16   | feature bank its log-mel (model.mel), channels first           |
| `lips`      | (T, L*3) float32     | with a lip bank only: the lip regressor's normalised vertices  |
|             |                      | of the window's bank variant, zeros past the window            |
| `keyframes` | (T//30, C) float32   | motion[::30] (1 fps guide poses)                               |
| `lengths`   | () int64             | frames of the window                                           |
| `seed`      | () int64             | the item's seed (all randomness of the loss is drawn from it)  |
| `scene`     | str                  | scene name, e.g. "scene01"                                     |
| `start`     | int                  | first frame of the window in the scene                         |

`collate(items)` stacks them into the batch contract (B first; "scene" and "start" become lists).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_loaders.augment import augment
from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME, FormatError, list_scenes, split_scenes
from data_loaders.stats import Normalizer, load_stats
from data_loaders.validate import check_stats_dims, load_scene

MAX_WINDOW_TRIES = 20


@dataclass
class _Scene:
    """One scene in memory: motion (T, C) and audio (T*1600, 2) normalised float32, valid (T,) bool."""
    name: str
    motion: np.ndarray
    audio: np.ndarray
    valid: np.ndarray


class SocialDataset(torch.utils.data.Dataset):
    """Windows of a person folder's `split` ("train" | "val" | "test") for `data_format` "face" | "pose"."""

    def __init__(self, root: str | os.PathLike, split: str, data_format: str = "face", max_seq_length: int = 600,
                 min_seq_length: int = 400, random_lengths: bool = True, random_windows: bool | None = None,
                 augment: bool = False):
        """random_windows: draw random windows by seed (default: only for the train split); augment: channel
        effects on the audio of random windows (`data_loaders.augment`, drawn from the item seed)."""
        if data_format not in ("face", "pose"):
            raise ValueError(f"data_format must be 'face' or 'pose', got {data_format!r}")
        if not 0 < min_seq_length <= max_seq_length:
            raise ValueError(f"need 0 < min_seq_length <= max_seq_length, got {min_seq_length}, {max_seq_length}")
        self.root, self.split, self.data_format = Path(root), split, data_format
        self.max_seq_length, self.min_seq_length, self.random_lengths = max_seq_length, min_seq_length, random_lengths
        self.random_windows = split == "train" if random_windows is None else random_windows
        self.augment = augment and self.random_windows
        self.stats = load_stats(root)
        self.normalizer = Normalizer(self.stats)
        self.nfeats = self.normalizer.dim(data_format)
        self.scenes = self._load(split_scenes(list_scenes(root), split))
        self.scene_lengths = np.array([len(scene.motion) for scene in self.scenes])
        self.scene_weights = self.scene_lengths / self.scene_lengths.sum()  # scene drawn proportionally to length
        self.windows = [] if self.random_windows else self._fixed_windows()
        self.bank, self.lip_bank = None, None

    def use_feature_bank(self, bank) -> None:
        """Serve the audio of items from `bank` (a data_loaders.feature_bank.FeatureBank of this split), or the
        waveform again with None."""
        self.bank = bank

    def use_lip_bank(self, lip_bank) -> None:
        """Give every item the lip vertices of its bank variant from `lip_bank` (data_loaders.lip_bank.LipBank
        of the feature bank in use), or none again with None."""
        self.lip_bank = lip_bank

    def _load(self, scenes) -> list[_Scene]:
        pose_dim, face_dim = self.normalizer.dim("pose"), self.normalizer.dim("face")
        wrong_stats = check_stats_dims(self.root, scenes, pose_dim, face_dim)
        if wrong_stats is not None:
            raise FormatError(wrong_stats.message)
        loaded = []
        for scene in scenes:
            data = load_scene(scene, pose_dim, face_dim)
            if not data.face_valid.any():
                continue
            motion = self.normalizer.normalize(data.face if self.data_format == "face" else data.pose,
                                               self.data_format)
            if self.data_format == "face":
                motion[~data.face_valid] = 0.0
                valid = data.face_valid
            else:
                valid = np.ones(data.frames, bool)
            loaded.append(_Scene(data.name, motion, self.normalizer.normalize(data.audio, "audio"), valid))
        if not loaded:
            raise FormatError(f"{self.root}: the {self.split!r} split has no scene with a face frame present "
                              f"(it holds {len(scenes)} scenes); check the folder with "
                              f"`python -m data_loaders.validate {self.root}`")
        return loaded

    def _fixed_windows(self) -> list[tuple[int, int, int]]:
        """(scene index, start, length) of every fixed chunk, in scene order."""
        size = self.max_seq_length
        windows = []
        for index, frames in enumerate(self.scene_lengths):
            if frames < size:
                windows.append((index, 0, int(frames)))
            else:
                windows += [(index, start, size) for start in range(0, frames - size + 1, size)]
        return windows

    def __len__(self) -> int:
        return int(self.scene_lengths.sum()) if self.random_windows else len(self.windows)

    def _random_window(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """(scene index, start, length) of a window holding at least one valid frame."""
        for _ in range(MAX_WINDOW_TRIES):
            index = int(rng.choice(len(self.scenes), p=self.scene_weights))
            frames = int(self.scene_lengths[index])
            wanted = (int(rng.integers(self.min_seq_length, self.max_seq_length))
                      if self.random_lengths and self.min_seq_length < self.max_seq_length else self.max_seq_length)
            length = min(wanted, frames)
            start = int(rng.integers(0, frames - length + 1))
            if self.scenes[index].valid[start:start + length].any():
                return index, start, length
        anchor = int(rng.choice(np.flatnonzero(self.scenes[index].valid)))
        start = int(np.clip(anchor - rng.integers(0, length), 0, frames - length))
        return index, start, length

    def __getitem__(self, key: int) -> dict:
        """Random windows: the item drawn from seed `key`. Fixed windows: chunk `key` (seed = key)."""
        if self.random_windows:
            rng = np.random.default_rng(key)
            index, start, length = self._random_window(rng)
        else:
            rng, (index, start, length) = None, self.windows[key]
        return self._item(index, start, length, key, rng if self.augment else None)

    def babble(self, rng: np.random.Generator, samples: int) -> np.ndarray:
        """(samples,) speech of a random place of the split (either channel, normalised): babble noise for
        `augment`, which scales it to its SNR."""
        scene = self.scenes[int(rng.choice(len(self.scenes), p=self.scene_weights))]
        start = int(rng.integers(0, max(len(scene.audio) - samples, 0) + 1))
        piece = scene.audio[start:start + samples, int(rng.integers(2))]
        return np.pad(piece, (0, samples - len(piece)))

    def _item(self, index: int, start: int, length: int, seed: int, rng: np.random.Generator | None) -> dict:
        """The item of a window; rng: the effects of `augment` are drawn from it (None: the audio as recorded)."""
        scene, size = self.scenes[index], self.max_seq_length
        motion = np.zeros((size, self.nfeats), np.float32)
        motion[:length] = scene.motion[start:start + length]
        variant = None if self.bank is None else 0 if rng is None else int(rng.integers(self.bank.variants))
        audio = self._audio(index, start, length, rng, variant)
        mask = np.arange(size) < length
        valid = mask.copy()
        valid[:length] &= scene.valid[start:start + length]
        lips = {} if self.lip_bank is None else \
            {"lips": torch.from_numpy(self.lip_bank.window(index, variant, start, length, size))}
        return {"motion": torch.from_numpy(motion), "mask": torch.from_numpy(mask),
                "valid": torch.from_numpy(valid), "audio": audio, **lips,
                "keyframes": torch.from_numpy(motion[::KEYFRAME_STEP][:size // KEYFRAME_STEP].copy()),
                "lengths": torch.tensor(length, dtype=torch.int64), "seed": torch.tensor(seed, dtype=torch.int64),
                "scene": scene.name, "start": start}


    def _audio(self, index: int, start: int, length: int, rng: np.random.Generator | None,
               variant: int | None) -> torch.Tensor:
        """The window's audio padded to max_seq_length frames (table above): waveform (T*1600, 2), or its
        log-mel (2, 4T, M) from the feature bank's `variant`; rng: the effects are drawn from it."""
        size = self.max_seq_length
        if self.bank is not None:
            return torch.from_numpy(self.bank.window(index, variant, start, length, size))
        window = self.scenes[index].audio[start * SAMPLES_PER_FRAME:(start + length) * SAMPLES_PER_FRAME]
        if rng is not None:
            recorded = augment(self.normalizer.denormalize(window, "audio"), rng, self.babble)
            window = self.normalizer.normalize(recorded, "audio")
        audio = np.zeros((size * SAMPLES_PER_FRAME, 2), np.float32)
        audio[:length * SAMPLES_PER_FRAME] = window
        return torch.from_numpy(audio)


def collate(items: list[dict]) -> dict:
    """Batch of items: tensors stacked along a new first axis; "scene" and "start" as lists."""
    return {key: torch.stack([item[key] for item in items]) if isinstance(items[0][key], torch.Tensor)
            else [item[key] for item in items] for key in items[0]}
