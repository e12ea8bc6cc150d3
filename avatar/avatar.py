"""The reference avatar: skinned body (avatar.body_mesh) plus the linear face (avatar.face) on the head.

    avatar = Avatar()
    vertices = avatar.posed_vertices(pose (..., 104), face_code (..., 256))   # (..., V, 3) world, cm
    avatar.faces (F, 3) int64, avatar.colors (V, 3) float32 in [0, 1]

Vertices [0, num_body_vertices) are the body's, the rest the face's (face vertex i is vertex
num_body_vertices + i; `lip_vertex_indices` are the lip set's indices into the whole mesh). The face mesh is
decoded in the head joint's frame and moved by the head joint's world rotation and position, like the head
shell it fits. The face code is clamped to the avatar's plausible ranges first (avatar.face.clamp_face_code), so
what is shown stays a face whatever a model generates: the eyes inside the head, the jaw above the chin. Any leading dims (B, T) and any float dtype and device; static tensors are cached per dtype and
device.
"""
from __future__ import annotations

import torch

from avatar.body_mesh import body_mesh
from avatar.face import LIP_VERTEX_INDICES, clamp_face_code, face_model
from avatar.skeleton import JOINT_INDEX, forward_kinematics

HEAD = JOINT_INDEX["head"]
FACE_CENTRE = (0.0, 0.5, 9.0)  # cm, head frame: the middle of the face (nose, between eyes and mouth)


class Avatar:
    """Poses the reference avatar's whole mesh (module docstring)."""

    def __init__(self):
        self.body = body_mesh()
        self.face = face_model()
        self.num_body_vertices = self.body.num_vertices
        self.num_vertices = self.body.num_vertices + self.face.num_vertices
        self.faces = torch.cat([self.body.faces, self.face.faces + self.num_body_vertices])
        self.colors = torch.cat([self.body.colors, self.face.colors])
        self.lip_vertex_indices = torch.from_numpy(LIP_VERTEX_INDICES + self.num_body_vertices)

    def joint_positions(self, pose: torch.Tensor) -> torch.Tensor:
        """(..., 104) -> (..., J, 3) world joint positions, cm (avatar.skeleton.JOINT_NAMES order)."""
        return forward_kinematics(pose)[1]

    def head_rotation(self, pose: torch.Tensor) -> torch.Tensor:
        """(..., 104) -> (..., 3, 3) world rotation of the head frame (columns: its x, y, z axes)."""
        return forward_kinematics(pose)[0][..., HEAD, :, :]

    def head_position(self, pose: torch.Tensor) -> torch.Tensor:
        """(..., 104) -> (..., 3) world position of the head joint (top of the neck), cm."""
        return forward_kinematics(pose)[1][..., HEAD, :]

    def face_centre(self, pose: torch.Tensor) -> torch.Tensor:
        """(..., 104) -> (..., 3) world position of FACE_CENTRE (a face close-up camera's target), cm."""
        rotations, positions = forward_kinematics(pose)
        centre = torch.tensor(FACE_CENTRE, dtype=pose.dtype, device=pose.device)
        return positions[..., HEAD, :] + rotations[..., HEAD, :, :] @ centre

    def posed_vertices(self, pose: torch.Tensor, face_code: torch.Tensor) -> torch.Tensor:
        """pose (..., 104), face_code (..., 256) with the same leading dims -> (..., V, 3) world, cm; the face
        code clamped to its plausible ranges (module docstring)."""
        if pose.shape[:-1] != face_code.shape[:-1]:
            raise ValueError(f"pose {tuple(pose.shape)} and face_code {tuple(face_code.shape)} must share leading dims")
        rotations, positions = forward_kinematics(pose)
        body = self.body.skin(rotations, positions)
        face_local = self.face.decode(clamp_face_code(face_code.to(pose.dtype)))
        head_rotation = rotations[..., HEAD, None, :, :]
        face = (head_rotation @ face_local[..., None])[..., 0] + positions[..., HEAD, None, :]
        return torch.cat([body, face], dim=-2)
