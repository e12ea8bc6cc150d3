"""The original's body skeleton and linear blend skinning (its `utils/lbs.py`: ParameterTransform,
solve_skeleton_state, states_to_matrix, LinearBlendSkinning and LBSModule), in one module.

A pose is the 104 model parameters of a results file (6 global: root translation and XYZ Euler rotation,
then 98 local). Together with the person's scale parameters they map linearly (`transform`, from the
assets' `lbs_config_dict`) to 7 channels per joint (tx ty tz rx ry rz, log2 scale); forward kinematics
turns those into a state per joint (translation, xyzw rotation, scale), the state relative to the bind
(zero) pose into a 3 x 4 matrix, and each vertex is moved by the weighted sum of up to 8 joints' matrices.

    lbs = LinearBlendSkinning.from_assets(assets)      # the dict of static_assets.pt (assets.py)
    geom = lbs.pose(motion)                            # (B, 104) -> posed template (B, V, 3), global scale in
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from visualize.ca_body import quaternion

CHANNELS_PER_JOINT = 7  # tx ty tz rx ry rz log2-scale
MAX_JOINTS_PER_VERTEX = 8
NO_PARENT = -1


def packed_skin_weights(pairs: list, offsets: list, n_vertices: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The LBS json's skinning weights (flat [joint, weight] pairs, vertex v owning pairs offsets[v]:
    offsets[v+1]) as (joint indices (V, 8) int64, weights (V, 8) float32); a vertex's pairs past 8 are dropped
    and unused slots hold joint 0 with weight 0, as in the original."""
    indices = np.zeros((n_vertices, MAX_JOINTS_PER_VERTEX), np.int64)
    weights = np.zeros((n_vertices, MAX_JOINTS_PER_VERTEX), np.float32)
    for vertex in range(n_vertices):
        own = pairs[offsets[vertex]:offsets[vertex + 1]][:MAX_JOINTS_PER_VERTEX]
        for slot, (joint, weight) in enumerate(own):
            indices[vertex, slot], weights[vertex, slot] = joint, weight
    return torch.from_numpy(indices), torch.from_numpy(weights)


def joint_matrices(bind_states: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """3 x 4 matrices (B, J, 3, 4) taking a bind-pose point of each joint to its posed place: the inverse of
    the bind state (1, J, 8) followed by the state (B, J, 8); a state is (translation, xyzw rotation, scale)."""
    bind_rotation_inv = quaternion.invert(bind_states[..., 3:7])
    bind_scale_inv = bind_states[..., 7:].reciprocal()
    bind_translation_inv = quaternion.rotate(bind_rotation_inv, -bind_states[..., :3]) * bind_scale_inv
    rotation = quaternion.multiply(states[..., 3:7], bind_rotation_inv)
    scale = states[..., 7:] * bind_scale_inv
    translation = quaternion.rotate(states[..., 3:7], bind_translation_inv * states[..., 7:]) + states[..., :3]
    linear = quaternion.to_matrix(rotation) * scale[..., None]
    return torch.cat([linear, translation[..., None]], -1)


class LinearBlendSkinning(nn.Module):
    """Skeleton, parameter transform and skinning of one person (module docstring)."""

    def __init__(self, transform: torch.Tensor, transform_offsets: torch.Tensor, joint_offsets: torch.Tensor,
                 joint_rotations: torch.Tensor, parents: list[int], skin_indices: torch.Tensor,
                 skin_weights: torch.Tensor, template: torch.Tensor, scale: torch.Tensor,
                 global_scaling: torch.Tensor):
        """transform (7J, P), transform_offsets (7J,), joint_offsets (J, 3), joint_rotations (J, 4) xyzw,
        parents: J indices (NO_PARENT for a root; parents come before their children), skin_indices and
        skin_weights (V, 8), template: the unposed mesh (V, 3) in skeleton units, scale: the person's scale
        parameters (S,), global_scaling: skeleton units to the decoder's (scalar or (3,))."""
        super().__init__()
        self.parents = parents  # buffers are not persistent: they come from the assets, never a checkpoint
        self.register_buffer("transform", transform, persistent=False)
        self.register_buffer("transform_offsets", transform_offsets, persistent=False)
        self.register_buffer("joint_offsets", joint_offsets, persistent=False)
        self.register_buffer("joint_rotations", joint_rotations, persistent=False)
        self.register_buffer("skin_indices", skin_indices, persistent=False)
        self.register_buffer("skin_weights", skin_weights, persistent=False)
        self.register_buffer("template", template, persistent=False)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("global_scaling", global_scaling, persistent=False)
        zero = torch.zeros(1, transform.shape[1])
        self.register_buffer("bind_states", self.skeleton_states(self.joint_parameters_of(zero)), persistent=False)

    @classmethod
    def from_assets(cls, assets: Mapping[str, Any]) -> "LinearBlendSkinning":
        """From the static_assets dict: lbs_model_json (Skeleton.Bones, SkinnedModel), lbs_config_dict
        (transform, transform_offsets), lbs_template_verts, lbs_scale, global_scaling (checked by assets.py)."""
        bones = assets["lbs_model_json"]["Skeleton"]["Bones"]
        skinned = assets["lbs_model_json"]["SkinnedModel"]
        n_vertices = len(skinned["SkinningOffsets"]) - 1
        indices, weights = packed_skin_weights(skinned["SkinningWeights"], skinned["SkinningOffsets"], n_vertices)
        config = assets["lbs_config_dict"]
        as_float = lambda value: torch.as_tensor(np.asarray(value, np.float32))  # noqa: E731
        return cls(transform=as_float(config["transform"]),
                   transform_offsets=as_float(config["transform_offsets"]).reshape(-1),
                   joint_offsets=as_float([bone["TranslationOffset"] for bone in bones]),
                   joint_rotations=as_float([bone["PreRotation"] for bone in bones]),
                   parents=[bone["Parent"] if bone["Parent"] < len(bones) else NO_PARENT for bone in bones],
                   skin_indices=indices, skin_weights=weights,
                   template=as_float(assets["lbs_template_verts"]), scale=as_float(assets["lbs_scale"]),
                   global_scaling=as_float(assets["global_scaling"]))

    def joint_parameters_of(self, parameters: torch.Tensor) -> torch.Tensor:
        """Model parameters with the scale parameters (B, P) -> joint channels (B, 7J)."""
        return parameters @ self.transform.T + self.transform_offsets

    def joint_parameters(self, motion: torch.Tensor) -> torch.Tensor:
        """Poses (B, P - S) with this person's scale -> joint channels (B, 7J)."""
        return self.joint_parameters_of(torch.cat([motion, self.scale.expand(len(motion), -1)], 1))

    def skeleton_states(self, joint_parameters: torch.Tensor) -> torch.Tensor:
        """Forward kinematics: joint channels (B, 7J) -> global states (B, J, 8): translation, xyzw rotation,
        scale."""
        channels = joint_parameters.reshape(len(joint_parameters), -1, CHANNELS_PER_JOINT)
        local_translation = channels[..., :3] + self.joint_offsets
        local_rotation = quaternion.multiply(self.joint_rotations.expand_as(channels[..., :4]),
                                             quaternion.from_euler_xyz(channels[..., 3:6]))
        local_scale = torch.pow(2.0, channels[..., 6:])
        states: list[torch.Tensor] = []
        for joint, parent in enumerate(self.parents):
            translation, rotation, scale = (local_translation[:, joint], local_rotation[:, joint],
                                            local_scale[:, joint])
            if parent != NO_PARENT:
                above = states[parent]
                translation = quaternion.rotate(above[:, 3:7], translation * above[:, 7:]) + above[:, :3]
                rotation = quaternion.multiply(above[:, 3:7], rotation)
                scale = above[:, 7:] * scale
            states.append(torch.cat([translation, rotation, scale], 1))
        return torch.stack(states, 1)

    def matrices(self, motion: torch.Tensor) -> torch.Tensor:
        """Poses (B, P - S) -> joint matrices (B, J, 3, 4) from the bind pose."""
        return joint_matrices(self.bind_states, self.skeleton_states(self.joint_parameters(motion)))

    def vertex_matrices(self, motion: torch.Tensor) -> torch.Tensor:
        """The weighted sum of each vertex's joint matrices (B, V, 3, 4)."""
        per_joint = self.matrices(motion)[:, self.skin_indices]  # (B, V, 8, 3, 4)
        return (per_joint * self.skin_weights[..., None, None]).sum(2)

    def skin(self, motion: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        """Bind-pose vertices (B or 1, V, 3) posed by motion (B, P - S): (B, V, 3), skeleton units."""
        blended = self.vertex_matrices(motion)
        return (blended[..., :3] @ vertices[..., None])[..., 0] + blended[..., 3]

    def unskin(self, motion: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        """The inverse of skin: posed vertices (B, V, 3) back to the bind pose, by inverting each vertex's
        blended matrix."""
        blended = self.vertex_matrices(motion)
        return torch.linalg.solve(blended[..., :3], (vertices - blended[..., 3])[..., None])[..., 0]

    def pose(self, motion: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """The template plus per-vertex offsets (B, V, 3) posed by motion (B, P - S), in decoder units
        (times global_scaling): (B, V, 3)."""
        unposed = self.template if offsets is None else self.template + offsets
        return self.skin(motion, unposed.expand(len(motion), -1, -1)) * self.global_scaling

    def unpose(self, geom: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """The offsets from the template that pose (motion) takes to geom (B, V, 3): (B, V, 3)."""
        return self.unskin(motion, geom / self.global_scaling) - self.template
