"""Whether generated face codes stay where the face model was trained and where the avatar is still a face.

    report = face_range_report(codes (N, T, 256) raw face codes, lengths (N,), normalizer)
    line = report.describe(normalizer)      # one line, or None when every valid frame is in range

Two ranges, per dim:
- the training range: within TRAINING_RANGE_Z training stds of the training mean, |z| <= 10 with z =
  (code - code_mean) / code_std from the model's data_stats.pth (the z-scores the model generates). The
  checkpoint folder keeps the training data's mean and std, not its extremes, so the limit is set above what
  training data reaches: on the synthetic data set the sparse dims (blinks and brow raises, mostly 0 and now
  and then 1) reach |z| = 8, the others stay below 6.5. A frame beyond it holds a code the model never saw,
  like the gaze of 4.3 (|z| 17) it generated for loud real speech where training spans +-1.
- the avatar's plausible ranges (avatar.parameters.FACE_CODE_TABLE, avatar.face.face_code_limits): beyond
  them the face breaks (eyes out of their sockets, crossed lips); the renderer clamps codes to them.
Only valid frames count (t < lengths[n]).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from avatar.face import face_code_limits
from avatar.parameters import FACE_CODE_DIMS
from data_loaders.format import FPS
from data_loaders.stats import Normalizer

TRAINING_RANGE_Z = 10.0


def dim_name(dim: int) -> str:
    """The face code dim's name, or "detail N" for the unnamed dims."""
    return FACE_CODE_DIMS[dim] if dim < len(FACE_CODE_DIMS) else f"detail {dim}"


class Excursion(NamedTuple):
    """One value of the codes: its place (sequence = a row of codes, frame, dim), the value, and how far it
    goes (|z|, or code units beyond the plausible range)."""
    sequence: int
    frame: int
    dim: int
    value: float
    amount: float

    def where(self) -> str:
        return f"{dim_name(self.dim)} = {self.value:.2f} at {self.frame / FPS:.1f} s of row {self.sequence}"


@dataclass(frozen=True)
class FaceRangeReport:
    """Valid frames, how many leave each range, the largest |z| and the value furthest beyond a plausible
    range (amount 0 when none is)."""
    frames: int
    outside_training: int
    outside_avatar: int
    largest_z: Excursion
    furthest_outside: Excursion

    def describe(self, normalizer: Normalizer) -> str | None:
        """One line saying how often and how far the codes leave the ranges; None when they never do."""
        if not (self.outside_training or self.outside_avatar):
            return None
        z, out = self.largest_z, self.furthest_outside
        line = (f"face codes leave the training range (|z| > {TRAINING_RANGE_Z:g}) in "
                f"{100 * self.outside_training / self.frames:.1f} % of frames, the avatar's plausible ranges in "
                f"{100 * self.outside_avatar / self.frames:.1f} % (clamped when rendered); largest |z| {z.amount:.1f}: "
                f"{z.where()} (training mean {normalizer.mean['face'][z.dim]:.2f}, std "
                f"{normalizer.std['face'][z.dim]:.2f})")
        if self.outside_avatar:
            lower, upper = (bound[out.dim] for bound in face_code_limits())
            line += f"; furthest outside: {out.where()} (plausible {lower:g}..{upper:g})"
        return line


def _largest(amounts: np.ndarray, codes: np.ndarray) -> Excursion:
    """The Excursion at the largest of amounts (N, T, 256)."""
    sequence, frame, dim = np.unravel_index(int(np.argmax(amounts)), amounts.shape)
    return Excursion(int(sequence), int(frame), int(dim), float(codes[sequence, frame, dim]),
                     float(amounts[sequence, frame, dim]))


def face_range_report(codes: np.ndarray, lengths: np.ndarray, normalizer: Normalizer) -> FaceRangeReport:
    """Check raw face codes (N, T, 256) with valid lengths (N,) against the training statistics of
    `normalizer` and the avatar's plausible ranges (module docstring)."""
    codes = np.asarray(codes, dtype=np.float64)
    valid = (np.arange(codes.shape[1])[None, :] < np.asarray(lengths)[:, None])[..., None]
    z = np.abs(normalizer.normalize(codes, "face")) * valid
    lower, upper = face_code_limits()
    beyond = (np.maximum(lower - codes, 0.0) + np.maximum(codes - upper, 0.0)) * valid
    return FaceRangeReport(frames=int(valid.sum()), outside_training=int((z > TRAINING_RANGE_Z).any(-1).sum()),
                           outside_avatar=int((beyond > 0).any(-1).sum()), largest_z=_largest(z, codes),
                           furthest_outside=_largest(beyond, codes))
