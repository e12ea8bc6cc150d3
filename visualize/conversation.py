"""Where the two persons of a conversation stand: facing each other at a conversational distance.

Each person's motion is in its own avatar frame (avatar.skeleton: cm, y up, facing +z, pelvis at the origin
in the rest pose). A `Placement` (a turn about the vertical axis, then a shift) puts it into the shared
scene: the person (channel 0) at z = -DISTANCE_CM / 2 facing +z, the partner (channel 1) at
z = +DISTANCE_CM / 2 turned 180 degrees, facing -z, so the two look at each other across the origin.
DISTANCE_CM, pelvis to pelvis, is the near end of Hall's social distance (about 1.2 m), where two standing
people talk. A single person keeps its own frame (the identity placement).

    world (..., 3) = placement.apply(points (..., 3))       # torch or numpy, cm
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DISTANCE_CM = 120.0


@dataclass(frozen=True)
class Placement:
    """A turn of yaw_deg about +y, then a shift `translation` (x, y, z) in cm."""
    yaw_deg: float = 0.0
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) float64 rotation about +y."""
        c, s = np.cos(np.radians(self.yaw_deg)), np.sin(np.radians(self.yaw_deg))
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    @property
    def quaternion(self) -> tuple[float, float, float, float]:
        """The rotation as a glTF quaternion (x, y, z, w)."""
        half = np.radians(self.yaw_deg) / 2
        return 0.0, float(np.sin(half)), 0.0, float(np.cos(half))

    def apply(self, points):
        """(..., 3) points in the avatar's frame -> the scene's (same type: numpy array or torch tensor)."""
        rotation, translation = self.rotation, np.asarray(self.translation)
        if isinstance(points, np.ndarray):
            return points @ rotation.T + translation
        return points @ points.new_tensor(rotation).T + points.new_tensor(translation)


def placements(count: int) -> list[Placement]:
    """The placements of `count` persons (1: the identity; 2: person, partner facing each other)."""
    if count == 1:
        return [Placement()]
    if count == 2:
        half = DISTANCE_CM / 2
        return [Placement(0.0, (0.0, 0.0, -half)), Placement(180.0, (0.0, 0.0, half))]
    raise ValueError(f"a conversation scene holds 1 or 2 persons, got {count}")
