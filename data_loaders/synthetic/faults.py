"""Recording faults like those of the real capture: short runs of missing face frames.

A scene of T frames loses 1 + Poisson(T / 1800) runs (about two more per minute) of 2-20 frames each, at
uniform random places; the runs' frame indices go to `sceneNN_missing_face_frames.npy` and the face code
rows of those frames are set to zeros (MISSING_FACE_VALUE), as a tracker that lost the face would write.
"""
from __future__ import annotations

import numpy as np

from data_loaders.format import FPS

MISSING_FACE_VALUE = 0.0
RUN_FRAMES = (2, 20)


def missing_face_frames(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Sorted unique int64 indices in [0, frames) of the missing face frames of one scene."""
    runs = 1 + rng.poisson(frames / (60 * FPS))
    missing = set()
    for _ in range(runs):
        length = int(rng.integers(RUN_FRAMES[0], RUN_FRAMES[1] + 1))
        start = int(rng.integers(0, max(frames - length, 1)))
        missing.update(range(start, min(start + length, frames)))
    return np.array(sorted(missing), dtype=np.int64)


def drop_face_frames(face: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """A copy of face (T, D) with the rows of `missing` set to MISSING_FACE_VALUE."""
    face = face.copy()
    face[missing] = MISSING_FACE_VALUE
    return face
