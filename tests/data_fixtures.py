"""Small random person folders in the official format, for tests (a folder of 8 scenes x 90 frames in < 1 s).

    from tests.data_fixtures import make_person_folder
    folder = make_person_folder(tmp_path / "P0")      # scene01..scene08 + data_stats.pth

Scenes hold smooth random pose (T, 104) and face codes (T, 256), stereo noise audio with a speech-like
syllable envelope (the two channels take turns), and a few missing face frames whose codes are set to a
"corrupt" constant (CORRUPT_FACE_VALUE) so that code that forgets the missing list is caught.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from data_loaders.format import FACE_DIM, POSE_DIM, SAMPLE_RATE, SAMPLES_PER_FRAME, list_scenes, write_scene
from data_loaders.stats import compute_stats, save_stats

CORRUPT_FACE_VALUE = 50.0
MISSING_PER_SCENE = 3


def smooth_noise(rng: np.random.Generator, frames: int, dims: int, scale: float, width: int = 9) -> np.ndarray:
    """(frames, dims) float64 noise low-passed by a moving average of `width` frames, std about `scale`."""
    noise = rng.standard_normal((frames + width - 1, dims))
    kernel = np.ones(width) / np.sqrt(width)
    return scale * np.stack([np.convolve(noise[:, d], kernel, mode="valid") for d in range(dims)], axis=1)


def speech_like_audio(rng: np.random.Generator, frames: int) -> np.ndarray:
    """(frames*1600, 2) float32 noise shaped by a ~4 Hz syllable envelope; channel 1 talks while 0 pauses."""
    samples = frames * SAMPLES_PER_FRAME
    t = np.arange(samples) / SAMPLE_RATE
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)), 0, None)
    turn = (np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 2 * np.pi)) > 0).astype(np.float64)
    envelope = np.stack([turn, 1.0 - turn], axis=1) * syllables[:, None]
    return (0.2 * envelope * rng.standard_normal((samples, 2)) + 0.002 * rng.standard_normal((samples, 2))
            ).astype(np.float32)


def make_scene_arrays(rng: np.random.Generator, frames: int, pose_offset: np.ndarray,
                      face_offset: np.ndarray) -> tuple[np.ndarray, ...]:
    """(audio (T*1600, 2), pose (T, 104), face (T, 256), missing (M,)) for one random scene of T frames
    around the person's mean pose (104,) and face code (256,)."""
    pose = smooth_noise(rng, frames, POSE_DIM, 0.3) + pose_offset
    face = smooth_noise(rng, frames, FACE_DIM, 0.5) + face_offset
    missing = np.sort(rng.choice(frames, size=min(MISSING_PER_SCENE, frames - 1), replace=False))
    face[missing] = CORRUPT_FACE_VALUE
    return speech_like_audio(rng, frames), pose, face, missing


def make_person_folder(folder: str | os.PathLike, num_scenes: int = 8, frames: int | Sequence[int] = 90,
                       seed: int = 0, stats: bool = True) -> Path:
    """Write scene01..sceneNN and, if `stats`, data_stats.pth; returns the folder.

    frames: one int for all `num_scenes` scenes, or one length per scene (then num_scenes is ignored).

    Stats cover the train scenes; a folder with fewer than 7 scenes has no train split, so its stats cover
    all scenes.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    lengths = [frames] * num_scenes if isinstance(frames, int) else list(frames)
    pose_offset, face_offset = rng.normal(0.0, 5.0, POSE_DIM), rng.normal(0.0, 0.2, FACE_DIM)
    for index, length in enumerate(lengths):
        write_scene(folder, f"scene{index + 1:02d}", *make_scene_arrays(rng, length, pose_offset, face_offset))
    if stats:
        scenes = list_scenes(folder)
        save_stats(folder, compute_stats(folder, scenes if len(scenes) < 7 else None))
    return folder
