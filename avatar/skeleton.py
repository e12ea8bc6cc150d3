"""The reference avatar's kinematic skeleton: joints, rest offsets and forward kinematics of the 104-d pose.

Frame and units: centimetres, y up, the avatar faces +z, and +x is the avatar's own LEFT (so the right of
the picture for a camera in front of it, as in SMPL). Joints `l_*` lie at +x, `r_*` at -x.

Rest pose (all 104 parameters zero), an adult 175 cm tall: the pelvis (joint `root`) at the origin, standing
upright; the soles on the floor at y = FLOOR_Y = -97; the head joint (top of the neck) at y = 63 and the top
of the head (`head_end`) at y = 78; shoulders at (+-18.5, 46, -2); the arms hang straight down at the sides,
wrists at (+-21.5, -8, -1), palms towards the thighs, thumbs forward, fingers straight down (middle
fingertip at y = -27.5); feet point forward (+z).

Joints: the 57 joints named in `avatar.parameters` (same names, same order as they first appear in the pose
vector), then 13 end sites without parameters (`head_end`, `{l,r}_{thumb,index,middle,ring,pinky}_end`,
`{l,r}_toes_end`) that mark the ends of the last bones; J = 70. `PARENTS[j] < j` (root: -1).

Rotations. Every joint frame is aligned with the world axes in the rest pose (as in BVH). A joint's rotation
relative to its parent is the product of three rotations about world-aligned axes, in parameter order:

    R_local = R_{A0}(s0 * rx) @ R_{A1}(s1 * ry) @ R_{A2}(s2 * rz)       (intrinsic: rx first, then ry, rz)

where (A_k, s_k) is the joint's axis table below (A: world axis x, y or z; s: sign) and a parameter a joint
lacks is 0. World rotation R_j = R_parent @ R_local, world position p_j = p_parent + R_parent @ offset_j; the
root's position is (root_tx, root_ty, root_tz) + its rest offset (0). Right-side joints are mirror images of
the left ones (rotations about world y and z change sign), so equal values on both sides give mirror-image
poses. Axis tables (left side and centre joints) and the meaning of positive values:

| joint              | rx  ry  rz  | rx > 0                   | ry > 0                       | rz > 0                  |
|--------------------|-------------|--------------------------|------------------------------|-------------------------|
| root, spine, neck, | +x  +y  +z  | bend forward / nod down  | turn towards +x (own left)   | lean towards -x (right) |
| head               |             |                          |                              |                         |
| clavicle           | +x  -y  +z  | roll the girdle          | shoulder forward             | shoulder up (shrug)     |
| shoulder           | -x  -y  +z  | arm forward (flexion)    | inward (internal rotation)   | arm out to the side     |
| elbow              | -x          | bend (forearm forward)   |                              |                         |
| forearm            |     +y      |                          | palm up (supination)         |                         |
| wrist              | -z      -x  | flex towards the palm    |                              | towards the thumb       |
| palm               | +y          | cup (ring, pinky roll in)|                              |                         |
| thumb1             | -z  +y  -x  | across the palm          | twist                        | away from the hand      |
| thumb2, thumb3     | -z          | bend towards the palm    |                              |                         |
| index1, middle1    | -z      -x  | curl                     |                              | spread (towards thumb)  |
| ring1, pinky1      | -z      +x  | curl                     |                              | spread (away from thumb)|
| finger 2, 3        | -z          | curl                     |                              |                         |
| hip                | -x  -y  +z  | thigh forward (flexion)  | toes inward                  | leg out to the side     |
| knee               | +x          | bend (shin backward)     |                              |                         |
| ankle              | -x  -y  +z  | toes up                  | toes inward                  | sole outward            |
| toes               | -x          | toes up                  |                              |                         |

Finger joints (`index1` ... `pinky3`) follow the index/middle or ring/pinky rows by finger. The BVH export
(visualize.export_bvh) writes exactly these axes as each joint's channel order, so its angles are ours.

API: forward_kinematics(pose (..., 104)) -> world rotations (..., J, 3, 3), positions (..., J, 3) cm;
local_rotations, joint_angles, bone_lengths; JOINT_NAMES, JOINT_INDEX, PARENTS, REST_OFFSETS (J, 3) and
REST_POSITIONS (J, 3) (float64 tensors, cm), END_SITES, FLOOR_Y, and the axis tables JOINT_PARAMETERS,
JOINT_AXES, JOINT_SIGNS.
"""
from __future__ import annotations

import numpy as np
import torch

from avatar.parameters import POSE_PARAMETERS

FLOOR_Y = -97.0  # cm, height of the soles in the rest pose (pelvis at 0)

# Rest positions (cm, world) of the centre and left-side joints; right-side joints mirror the left (x -> -x).
_CENTRE_AND_LEFT = {
    "root": (None, (0.0, 0.0, 0.0)),
    "spine1": ("root", (0.0, 10.0, -1.0)),
    "spine2": ("spine1", (0.0, 21.0, -1.5)),
    "spine3": ("spine2", (0.0, 33.0, -1.0)),
    "neck1": ("spine3", (0.0, 48.0, -2.5)),
    "neck2": ("neck1", (0.0, 55.5, -1.5)),
    "head": ("neck2", (0.0, 63.0, 0.0)),
    "head_end": ("head", (0.0, 78.0, 0.0)),
    "l_clavicle": ("spine3", (2.0, 44.0, 2.5)),
    "l_shoulder": ("l_clavicle", (18.5, 46.0, -2.0)),
    "l_elbow": ("l_shoulder", (20.5, 17.0, -2.5)),
    "l_forearm": ("l_elbow", (21.0, 4.5, -1.75)),
    "l_wrist": ("l_forearm", (21.5, -8.0, -1.0)),
    "l_palm": ("l_wrist", (21.5, -10.5, -0.6)),
    "l_hip": ("root", (9.0, -6.0, 0.0)),
    "l_knee": ("l_hip", (9.0, -48.0, 0.5)),
    "l_ankle": ("l_knee", (9.0, -89.0, -1.5)),
    "l_toes": ("l_ankle", (9.0, -95.0, 11.5)),
    "l_toes_end": ("l_toes", (9.0, -95.0, 17.0)),
}
# Fingers of the left hand: parent of the first joint, knuckle position, segment lengths (cm) to the tip,
# direction of the (straight) finger.
_THUMB_DIRECTION = np.array([-0.25, -0.8, 0.55]) / np.linalg.norm([-0.25, -0.8, 0.55])
_FINGERS = {
    "thumb": ("l_wrist", (20.6, -10.0, 1.2), (4.2, 3.2, 2.6), _THUMB_DIRECTION),
    "index": ("l_wrist", (21.5, -17.5, 1.7), (4.3, 2.5, 2.1), np.array([0.0, -1.0, 0.0])),
    "middle": ("l_wrist", (21.5, -17.8, -0.1), (4.6, 2.9, 2.2), np.array([0.0, -1.0, 0.0])),
    "ring": ("l_palm", (21.5, -17.4, -1.9), (4.3, 2.7, 2.1), np.array([0.0, -1.0, 0.0])),
    "pinky": ("l_palm", (21.5, -16.6, -3.6), (3.4, 2.0, 1.9), np.array([0.0, -1.0, 0.0])),
}

# Signed world axis per parameter axis (rx, ry, rz) of centre and left-side joints (module docstring).
_AXES = {
    "root": "+x +y +z", "spine": "+x +y +z", "neck": "+x +y +z", "head": "+x +y +z",
    "clavicle": "+x -y +z", "shoulder": "-x -y +z", "elbow": "-x -y +z", "forearm": "+x +y +z",
    "wrist": "-z +y -x", "palm": "+y +x +z", "thumb": "-z +y -x",
    "index": "-z +y -x", "middle": "-z +y -x", "ring": "-z +y +x", "pinky": "-z +y +x",
    "hip": "-x -y +z", "knee": "+x +y +z", "ankle": "-x -y +z", "toes": "-x -y +z",
}
_AXIS_NAMES = "xyz"


def _left_and_centre_joints() -> dict[str, tuple[str | None, tuple[float, float, float]]]:
    joints = dict(_CENTRE_AND_LEFT)
    for finger, (parent, knuckle, lengths, direction) in _FINGERS.items():
        position = np.array(knuckle)
        names = [f"l_{finger}1", f"l_{finger}2", f"l_{finger}3", f"l_{finger}_end"]
        for name, length in zip(names, (0.0,) + lengths):
            position = position + length * direction
            joints[name] = (parent, tuple(position))
            parent = name
    return joints


def _mirror(name: str | None) -> str | None:
    return "r_" + name[2:] if name is not None and name.startswith("l_") else name


def _build_joints() -> tuple[tuple[str, ...], tuple[int, ...], np.ndarray]:
    left = _left_and_centre_joints()
    table = dict(left)
    for name, (parent, (x, y, z)) in left.items():
        if name.startswith("l_"):
            table[_mirror(name)] = (_mirror(parent), (-x, y, z))
    with_parameters = list(dict.fromkeys(p.joint for p in POSE_PARAMETERS))
    end_sites = [name for name in table if name.endswith("_end")]
    end_sites = sorted(end_sites, key=lambda n: with_parameters.index(table[n][0]))
    names = tuple(with_parameters + end_sites)
    assert set(names) == set(table), set(names) ^ set(table)
    parents = tuple(names.index(table[n][0]) if table[n][0] else -1 for n in names)
    assert all(p < j for j, p in enumerate(parents))
    positions = np.array([table[n][1] for n in names], dtype=np.float64)
    return names, parents, positions


JOINT_NAMES, PARENTS, _REST_POSITIONS = _build_joints()
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: j for j, name in enumerate(JOINT_NAMES)}
END_SITES = tuple(n for n in JOINT_NAMES if n.endswith("_end"))
REST_POSITIONS = torch.tensor(_REST_POSITIONS)  # (J, 3) float64 cm, world, rest pose
REST_OFFSETS = torch.tensor(_REST_POSITIONS - np.where(np.array(PARENTS)[:, None] >= 0,
                                                       _REST_POSITIONS[np.maximum(PARENTS, 0)], 0.0))  # (J, 3)


def _joint_kind(name: str) -> str:
    base = name[2:] if name[:2] in ("l_", "r_") else name
    return base.rstrip("123")


def _build_axis_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(J, 3) parameter index per axis (-1: none), (J, 3) world axis 0/1/2, (J, 3) sign (0 where no parameter)."""
    index = {(p.joint, p.axis): i for i, p in enumerate(POSE_PARAMETERS)}
    params = np.full((NUM_JOINTS, 3), -1, dtype=np.int64)
    axes = np.tile(np.arange(3), (NUM_JOINTS, 1))
    signs = np.zeros((NUM_JOINTS, 3))
    for j, name in enumerate(JOINT_NAMES):
        if name in END_SITES:
            continue
        table = _AXES[_joint_kind(name)].split()
        for k, axis_name in enumerate(("rx", "ry", "rz")):
            axes[j, k] = _AXIS_NAMES.index(table[k][1])
            sign = 1.0 if table[k][0] == "+" else -1.0
            if name.startswith("r_") and axes[j, k] != 0:
                sign = -sign  # mirror image of the left side
            if (name, axis_name) in index:
                params[j, k], signs[j, k] = index[(name, axis_name)], sign
    assert sorted(params[params >= 0].tolist()) == list(range(3, len(POSE_PARAMETERS)))
    assert all(sorted(row) == [0, 1, 2] for row in axes.tolist())
    return params, axes, signs


# (J, 3) each, per joint and parameter axis (rx, ry, rz): pose vector index (-1: none), world axis 0/1/2, sign
JOINT_PARAMETERS, JOINT_AXES, JOINT_SIGNS = _build_axis_tables()


def _axis_matrices() -> tuple[torch.Tensor, torch.Tensor]:
    """(3, J, 3, 3) e e^T and (3, J, 3, 3) cross-product matrices [e]x of each joint's k-th rotation axis e."""
    eye = np.eye(3)
    outer = np.zeros((3, NUM_JOINTS, 3, 3))
    cross = np.zeros((3, NUM_JOINTS, 3, 3))
    for k in range(3):
        for j in range(NUM_JOINTS):
            e = eye[JOINT_AXES[j, k]]
            outer[k, j] = np.outer(e, e)
            cross[k, j] = np.cross(np.eye(3), e)  # rows e_i x e: [e]x, so [e]x v = e x v
    return torch.tensor(outer), torch.tensor(cross)


_AXIS_OUTER, _AXIS_CROSS = _axis_matrices()


def joint_angles(pose: torch.Tensor) -> torch.Tensor:
    """(..., 104) pose -> (..., J, 3) signed angles (radians) about each joint's three world-aligned axes."""
    _check_pose(pose)
    padded = torch.cat([pose, pose.new_zeros(pose.shape[:-1] + (1,))], dim=-1)
    index = torch.as_tensor(np.where(JOINT_PARAMETERS >= 0, JOINT_PARAMETERS, pose.shape[-1]), device=pose.device)
    return padded[..., index] * torch.as_tensor(JOINT_SIGNS, dtype=pose.dtype, device=pose.device)


def local_rotations(pose: torch.Tensor) -> torch.Tensor:
    """(..., 104) pose -> (..., J, 3, 3) rotation of each joint relative to its parent (rest frame = world)."""
    angles = joint_angles(pose)
    outer = _AXIS_OUTER.to(pose)
    cross = _AXIS_CROSS.to(pose)
    eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
    rotation = None
    for k in range(3):
        cos = torch.cos(angles[..., k])[..., None, None]
        sin = torch.sin(angles[..., k])[..., None, None]
        factor = outer[k] + cos * (eye - outer[k]) + sin * cross[k]  # Rodrigues about a fixed unit axis
        rotation = factor if rotation is None else rotation @ factor
    return rotation


def forward_kinematics(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations (..., J, 3, 3) and positions (..., J, 3) in cm of pose (..., 104); differentiable."""
    local = local_rotations(pose)
    offsets = REST_OFFSETS.to(pose)
    rotations: list[torch.Tensor] = []
    positions: list[torch.Tensor] = []
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            rotations.append(local[..., j, :, :])
            positions.append(pose[..., :3] + offsets[j])
        else:
            rotations.append(rotations[parent] @ local[..., j, :, :])
            positions.append(positions[parent] + rotations[parent] @ offsets[j])
    return torch.stack(rotations, dim=-3), torch.stack(positions, dim=-2)


def bone_lengths(positions: torch.Tensor) -> torch.Tensor:
    """(..., J, 3) joint positions -> (..., J) distance of each joint to its parent (0 for the root)."""
    parents = torch.as_tensor([max(p, 0) for p in PARENTS], device=positions.device)
    return torch.linalg.vector_norm(positions - positions[..., parents, :], dim=-1)


def _check_pose(pose: torch.Tensor) -> None:
    if not torch.is_tensor(pose) or pose.shape[-1:] != (len(POSE_PARAMETERS),):
        shape = tuple(pose.shape) if hasattr(pose, "shape") else type(pose).__name__
        raise ValueError(f"pose must be a tensor (..., {len(POSE_PARAMETERS)}), got {shape}")
