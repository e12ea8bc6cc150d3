"""The public reference avatar's parameterisation: the 104 pose parameters and the named face code dims.

Pose vector (T, 104), the layout of `sceneNN_body_pose.npy`. Units: root translation in centimetres, every
other value an angle in radians about the named axis of the joint's local frame (x: right, y: up, z: forward
in the rest pose; the rest pose, all zeros, stands upright facing +z with the arms hanging at the sides,
palms towards the thighs, fingers straight). Limits are the ranges the synthetic puppeteer keeps within and
the renderer clamps to; they are not enforced on data read from disk.
The "right" above is the picture's right for a camera in front of the avatar: +x is the avatar's own left,
where the `l_*` joints are. Which world axis and sign each parameter turns about (positive rx is flexion for
limbs and fingers, forward bending for the spine), the rotation order, and the rest pose's joint positions
are tabulated in avatar/skeleton.py; right-side joints mirror the left, so equal values give mirror poses.

Face code (T, 256), the layout of `sceneNN_face_expression.npy`: the leading FACE_CODE_DIMS dimensions have
the named meanings (0 = neutral, 1 = a full expression; blinks 1 = closed); the rest are small detail. Each
dim has a plausible range (FACE_CODE_TABLE, FACE_DETAIL_RANGE for the detail dims): what the reference face
can show without breaking. The renderer clamps face codes to these ranges (avatar.Avatar.posed_vertices);
the metrics and the face decoder itself take codes as they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEG = math.pi / 180.0


@dataclass(frozen=True)
class PoseParameter:
    name: str
    joint: str
    axis: str  # "tx", "ty", "tz" (translation) or "rx", "ry", "rz" (rotation)
    lower: float  # cm or radians
    upper: float


def _rot(joint: str, limits: dict[str, tuple[float, float]]) -> list[PoseParameter]:
    return [PoseParameter(f"{joint}_{axis}", joint, axis, lo * DEG, hi * DEG) for axis, (lo, hi) in limits.items()]


def _finger(side: str, finger: str) -> list[PoseParameter]:
    """Four parameters per long finger: knuckle flexion and spread, middle and end joint flexion."""
    return (_rot(f"{side}_{finger}1", {"rx": (-20, 90), "rz": (-20, 20)})
            + _rot(f"{side}_{finger}2", {"rx": (0, 110)})
            + _rot(f"{side}_{finger}3", {"rx": (0, 80)}))


def _hand(side: str) -> list[PoseParameter]:
    """22 parameters: palm cup, thumb (3 + 1 + 1) and four fingers (4 each)."""
    params = _rot(f"{side}_palm", {"rx": (0, 30)})
    params += _rot(f"{side}_thumb1", {"rx": (-30, 60), "ry": (-30, 30), "rz": (-20, 60)})
    params += _rot(f"{side}_thumb2", {"rx": (0, 60)}) + _rot(f"{side}_thumb3", {"rx": (0, 80)})
    for finger in ("index", "middle", "ring", "pinky"):
        params += _finger(side, finger)
    return params


def _arm(side: str) -> list[PoseParameter]:
    """10 parameters: clavicle 3, shoulder 3, elbow flexion, forearm twist, wrist 2."""
    return (_rot(f"{side}_clavicle", {"rx": (-15, 15), "ry": (-15, 15), "rz": (-10, 30)})
            + _rot(f"{side}_shoulder", {"rx": (-90, 170), "ry": (-90, 90), "rz": (-30, 170)})
            + _rot(f"{side}_elbow", {"rx": (0, 150)})
            + _rot(f"{side}_forearm", {"ry": (-90, 90)})
            + _rot(f"{side}_wrist", {"rx": (-70, 70), "rz": (-30, 30)}))


def _leg(side: str) -> list[PoseParameter]:
    """8 parameters: hip 3, knee flexion, ankle 3, toes."""
    return (_rot(f"{side}_hip", {"rx": (-30, 120), "ry": (-45, 45), "rz": (-45, 45)})
            + _rot(f"{side}_knee", {"rx": (0, 150)})
            + _rot(f"{side}_ankle", {"rx": (-45, 45), "ry": (-30, 30), "rz": (-20, 20)})
            + _rot(f"{side}_toes", {"rx": (-30, 45)}))


def _build_pose_parameters() -> tuple[PoseParameter, ...]:
    params = [PoseParameter(f"root_{a}", "root", a, -200.0, 200.0) for a in ("tx", "ty", "tz")]
    params += _rot("root", {"rx": (-180, 180), "ry": (-180, 180), "rz": (-180, 180)})
    for joint in ("spine1", "spine2", "spine3"):
        params += _rot(joint, {"rx": (-30, 45), "ry": (-30, 30), "rz": (-25, 25)})
    for joint in ("neck1", "neck2"):
        params += _rot(joint, {"rx": (-30, 40), "ry": (-40, 40), "rz": (-25, 25)})
    params += _rot("head", {"rx": (-40, 40), "ry": (-50, 50), "rz": (-30, 30)})
    for side in ("l", "r"):
        params += _arm(side)
    for side in ("l", "r"):
        params += _hand(side)
    for side in ("l", "r"):
        params += _leg(side)
    return tuple(params)


POSE_PARAMETERS = _build_pose_parameters()
POSE_PARAMETER_NAMES = tuple(p.name for p in POSE_PARAMETERS)
POSE_INDEX = {p.name: i for i, p in enumerate(POSE_PARAMETERS)}
assert len(POSE_PARAMETERS) == 104, len(POSE_PARAMETERS)

@dataclass(frozen=True)
class FaceCodeDim:
    name: str
    lower: float  # plausible range: what a face can show; the renderer clamps to it (module docstring)
    upper: float
    meaning: str


# Leading face code dimensions (index = position). Their meaning: 0 = neutral, 1 = full; gaze -1..1 turns
# the eyes by 25 degrees (yaw) / 20 degrees (pitch). The ranges allow exaggeration, and negative values where
# the opposite is still a face (a frown for smile); they stop where the avatar breaks: the lips overlap more
# than pressed lips do, 0.16 cm (jaw_open, lip_round below 0), the eyelids cross (blink > 1), the eyes turn
# out of their sockets.
FACE_CODE_TABLE = (
    FaceCodeDim("jaw_open", -0.08, 1.5, "mouth opening, 2.05 cm at 1; below 0 the lower lip goes into the upper"),
    FaceCodeDim("lip_round", -0.2, 1.5, "rounded vowels (o, u): lips pucker, mouth narrows"),
    FaceCodeDim("lip_spread", -0.5, 1.5, "spread vowels (i, e): mouth widens"),
    FaceCodeDim("lip_press", -0.5, 1.2, "closed lips pressed (m, b, p): they overlap 0.16 cm at 1"),
    FaceCodeDim("smile", -0.5, 1.5, "mouth corners and cheeks up (negative: down)"),
    FaceCodeDim("brow_raise", -0.5, 1.5, "brows up"),
    FaceCodeDim("brow_furrow", -0.5, 1.5, "inner brows down and together"),
    FaceCodeDim("blink_left", -0.2, 1.1, "the avatar's left (+x) eye closes, 1 = closed"),
    FaceCodeDim("blink_right", -0.2, 1.1, "the right eye closes"),
    FaceCodeDim("gaze_yaw", -1.6, 1.6, "eyes turn towards +x (the avatar's left), 25 degrees at 1"),
    FaceCodeDim("gaze_pitch", -1.5, 1.5, "eyes turn up, 20 degrees at 1"),
    FaceCodeDim("cheek_puff", -0.5, 1.5, "cheeks puff out"),
)
FACE_DETAIL_RANGE = (-1.5, 1.5)  # every later dim: 5 x the 0.3 std the detail deformations are scaled for
FACE_CODE_DIMS = tuple(d.name for d in FACE_CODE_TABLE)
FACE_INDEX = {name: i for i, name in enumerate(FACE_CODE_DIMS)}


def pose_table_markdown() -> str:
    """The parameter table as Markdown (index, name, joint, axis, limits), as shown in README.md."""
    rows = ["| # | name | joint | axis | lower | upper |", "|---|---|---|---|---|---|"]
    for i, p in enumerate(POSE_PARAMETERS):
        unit, scale = ("cm", 1.0) if p.axis.startswith("t") else ("deg", 1.0 / DEG)
        rows.append(f"| {i} | {p.name} | {p.joint} | {p.axis} | {p.lower * scale:.0f} {unit} | {p.upper * scale:.0f} {unit} |")
    return "\n".join(rows)


def face_table_markdown() -> str:
    """The face code table as Markdown (index, name, plausible range, meaning), as shown in README.md."""
    rows = ["| # | name | lower | upper | meaning |", "|---|---|---|---|---|"]
    rows += [f"| {i} | {d.name} | {d.lower:g} | {d.upper:g} | {d.meaning} |" for i, d in enumerate(FACE_CODE_TABLE)]
    low, high = FACE_DETAIL_RANGE
    rows.append(f"| {len(FACE_CODE_TABLE)}.. | detail | {low:g} | {high:g} | small smooth skin deformations |")
    return "\n".join(rows)


def translation_dims(nfeats: int) -> np.ndarray:
    """(C,) bool: the root translation dims (cm) of a pose vector of the avatar's POSE_PARAMETERS layout (no dim
    of any other layout)."""
    if nfeats != len(POSE_PARAMETERS):
        return np.zeros(nfeats, bool)
    return np.array([p.axis.startswith("t") for p in POSE_PARAMETERS])
