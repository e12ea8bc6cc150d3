"""The puppeteer's gesture repertoire: arm and hand poses of five co-speech gestures, and the rest pose.

An arm (one side) is ARM_PARAMETERS: 10 arm angles and 22 hand angles, named without the side prefix
("l_" / "r_"); both sides use the same values for mirror-image poses (the avatar's left and right joint frames
are mirrored). Poses are given in degrees as absolute angles; parameters a pose leaves out keep their REST
value. A gesture moves one arm (or both) from wherever it is to its `prep` pose, reaches its `stroke` pose
exactly on a stressed syllable, holds it for `hold` seconds, and retracts to rest over `retract` seconds
(unless the next gesture starts first). Amplitude a scales the excursion: pose = rest + a (target - rest).
Sign conventions are those of `avatar.skeleton`: shoulder rx > 0 raises the arm forward, shoulder rz > 0
lifts it sideways, shoulder ry > 0 turns it inwards, clavicle rz > 0 raises the shoulder, elbow rx > 0 bends,
forearm ry > 0 turns the palm up, wrist rx > 0 flexes the hand towards the palm, finger rx > 0 curls.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.parameters import DEG, POSE_INDEX

FINGERS = ("index", "middle", "ring", "pinky")
ARM_PARAMETERS = (("clavicle_rx", "clavicle_ry", "clavicle_rz", "shoulder_rx", "shoulder_ry", "shoulder_rz",
                   "elbow_rx", "forearm_ry", "wrist_rx", "wrist_rz", "palm_rx",
                   "thumb1_rx", "thumb1_ry", "thumb1_rz", "thumb2_rx", "thumb3_rx")
                  + tuple(f"{finger}{part}" for finger in FINGERS for part in ("1_rx", "1_rz", "2_rx", "3_rx")))
SIDES = ("l", "r")


def _fingers(knuckle: float, middle: float, end: float, spread: float = 0.0,
             which: tuple[str, ...] = FINGERS) -> dict[str, float]:
    """The same curl (degrees) for the listed fingers."""
    pose = {}
    for finger in which:
        pose.update({f"{finger}1_rx": knuckle, f"{finger}1_rz": spread, f"{finger}2_rx": middle,
                     f"{finger}3_rx": end})
    return pose


REST = {"shoulder_rx": 6.0, "shoulder_rz": 8.0, "elbow_rx": 20.0, "palm_rx": 5.0, "thumb1_rx": 10.0,
        "thumb1_rz": 10.0, "thumb2_rx": 10.0, "thumb3_rx": 10.0, **_fingers(15.0, 20.0, 10.0)}


@dataclass(frozen=True)
class Gesture:
    """A co-speech gesture: which hands ("one", "both" or "either"), prep and stroke poses (degrees, absolute)
    and the timing in seconds."""
    name: str
    hands: str
    prep: dict[str, float]
    stroke: dict[str, float]
    prep_time: float
    hold: float
    retract: float = 0.5
    head_tilt: float = 0.0  # head roll (degrees) at the stroke, for the shrug


GESTURES = (
    Gesture("beat", "either",
            prep={"shoulder_rx": 25.0, "elbow_rx": 70.0, "wrist_rx": -15.0, **_fingers(25.0, 30.0, 15.0)},
            stroke={"shoulder_rx": 20.0, "elbow_rx": 58.0, "wrist_rx": 12.0, **_fingers(30.0, 35.0, 20.0)},
            prep_time=0.2, hold=0.1, retract=0.4),
    Gesture("open_palms", "both",
            prep={"shoulder_rx": 22.0, "shoulder_rz": 15.0, "elbow_rx": 65.0, "forearm_ry": 35.0},
            stroke={"shoulder_rx": 18.0, "shoulder_rz": 22.0, "elbow_rx": 72.0, "forearm_ry": 75.0,
                    "wrist_rx": -15.0, "thumb1_rz": 40.0, "thumb1_rx": 0.0, "thumb2_rx": 0.0, "thumb3_rx": 0.0,
                    **_fingers(0.0, 0.0, 0.0, spread=10.0)},
            prep_time=0.3, hold=0.4),
    Gesture("point", "one",
            prep={"shoulder_rx": 30.0, "elbow_rx": 75.0, "forearm_ry": -10.0, **_fingers(40.0, 50.0, 30.0)},
            stroke={"shoulder_rx": 55.0, "shoulder_rz": 12.0, "shoulder_ry": 10.0, "elbow_rx": 30.0,
                    "forearm_ry": -25.0, "wrist_rx": 0.0, "thumb1_rz": 5.0, "thumb2_rx": 40.0,
                    "thumb3_rx": 45.0, **_fingers(0.0, 0.0, 0.0, which=("index",)),
                    **_fingers(80.0, 100.0, 60.0, which=("middle", "ring", "pinky"))},
            prep_time=0.3, hold=0.5),
    Gesture("shrug", "both",
            prep={"clavicle_rz": 8.0, "shoulder_rz": 10.0, "elbow_rx": 50.0, "forearm_ry": 30.0},
            stroke={"clavicle_rz": 20.0, "shoulder_rz": 14.0, "shoulder_rx": 8.0, "elbow_rx": 75.0,
                    "forearm_ry": 80.0, "wrist_rx": -20.0, "thumb1_rz": 35.0, **_fingers(5.0, 5.0, 5.0, 8.0)},
            prep_time=0.3, hold=0.4, head_tilt=8.0),
    Gesture("hands_together", "both",
            prep={"shoulder_rx": 25.0, "shoulder_ry": 20.0, "elbow_rx": 70.0},
            stroke={"shoulder_rx": 25.0, "shoulder_ry": 33.0, "elbow_rx": 85.0, "forearm_ry": -5.0,
                    "wrist_rx": 10.0, **_fingers(40.0, 45.0, 25.0)},
            prep_time=0.3, hold=0.6),
)
GESTURE_NAMES = tuple(g.name for g in GESTURES)
FOLDED = {"clavicle_rz": 3.0, "shoulder_rx": 18.0, "shoulder_ry": 42.0, "shoulder_rz": 6.0, "elbow_rx": 105.0,
          "forearm_ry": -5.0, "wrist_rx": 5.0, **_fingers(35.0, 40.0, 20.0)}  # arms folded (a reserved listener)


def arm_vector(pose: dict[str, float]) -> np.ndarray:
    """(32,) radians for ARM_PARAMETERS: REST overridden by `pose` (degrees)."""
    merged = {**REST, **pose}
    return np.array([merged.get(name, 0.0) for name in ARM_PARAMETERS]) * DEG


def arm_indices(side: str) -> np.ndarray:
    """(32,) pose vector indices of ARM_PARAMETERS for side "l" or "r"."""
    return np.array([POSE_INDEX[f"{side}_{name}"] for name in ARM_PARAMETERS])


@dataclass(frozen=True)
class GestureEvent:
    """One performed gesture: its stroke frame, the gesture, the sides it uses and its amplitude."""
    frame: int
    gesture: Gesture
    sides: tuple[str, ...]
    amplitude: float


def choose_gesture(rng: np.random.Generator, frame: int, weights: np.ndarray, right_hand: float,
                   scale: float) -> GestureEvent:
    """A random gesture for a stressed syllable at `frame`: type by `weights` (over GESTURES), hand by
    `right_hand` (chance of the right hand for one-handed gestures; "either" gestures use both hands 30 % of
    the time), amplitude uniform in [0.6, 1.2] times `scale` (the person's and the scene's energy)."""
    gesture = GESTURES[rng.choice(len(GESTURES), p=weights / weights.sum())]
    one_side = ("r",) if rng.random() < right_hand else ("l",)
    both = gesture.hands == "both" or (gesture.hands == "either" and rng.random() < 0.3)
    return GestureEvent(frame, gesture, SIDES if both else one_side, float(rng.uniform(0.6, 1.2) * scale))
