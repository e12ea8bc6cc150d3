"""The reference avatar seen by two cameras side by side: the full body (left) and a face close-up (right).

    view = AvatarView(size=512)
    frames = view.render(pose (T, 104), face_code (T, 256))      # (T, size, 2 * size, 3) uint8

Cameras (world in cm, y up, the avatar faces +z in the rest pose; see avatar.skeleton):
- body view: fixed for the clip. It looks at the avatar from the front, BODY_ELEVATION_DEG from above,
  framing the vertical range BODY_SPAN_CM around the pelvis (feet to just above the head, room for raised
  hands) at the clip's mean root position.
- face close-up: follows the face. Its target is the avatar's face centre (between eyes and mouth, on the
  face's front) smoothed over time with a Gaussian of FACE_SMOOTHING_FRAMES frames, so the head drifts
  slowly back to the middle but nods and turns stay visible; it frames FACE_SPAN_CM vertically from the front,
  FACE_ELEVATION_DEG from above, so the mouth is always in view.
"Front" is the clip's mean facing direction of the body (the root's forward axis, horizontal), so both
cameras keep facing an avatar that stands turned. Both cameras depend on the whole clip (means, smoothing):
render a clip in one call; its frames take 3 * size * 2 * size bytes each (1.5 MB at 512).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from avatar.avatar import Avatar
from avatar.skeleton import JOINT_INDEX, forward_kinematics
from data_loaders.format import FACE_DIM, POSE_DIM
from visualize.renderer import Camera, MeshRenderer

BODY_SPAN_CM = (-104.0, 112.0)  # rest-pose heights (pelvis = 0): soles at -97, top of the head at 78
BODY_ELEVATION_DEG = 8.0
BODY_FOV_DEG = 30.0
FACE_SPAN_CM = 40.0
FACE_ELEVATION_DEG = 5.0
FACE_FOV_DEG = 30.0
FACE_SMOOTHING_FRAMES = 6.0  # sigma of the Gaussian that smooths the close-up's target, in frames
ROOT = JOINT_INDEX["root"]


def _camera_direction(forward: np.ndarray, elevation_deg: float) -> np.ndarray:
    """Unit vector from the subject towards a camera in front of it (horizontal `forward` (3,)), raised."""
    elevation = np.radians(elevation_deg)
    return np.cos(elevation) * forward + np.sin(elevation) * np.array([0.0, 1.0, 0.0])


def _distance_for_span(span: float, fov_deg: float) -> float:
    """Distance at which a perspective camera of vertical field of view fov_deg sees `span` vertically."""
    return span / 2 / np.tan(np.radians(fov_deg) / 2)


class AvatarView:
    """Renders pose and face code sequences of the reference avatar as two size x size views side by side."""

    def __init__(self, size: int = 512, device: str = "egl", samples: int = 4):
        self.avatar = Avatar()
        self.renderer = MeshRenderer(size, size, device=device, samples=samples)
        self.faces = self.avatar.faces.numpy().astype(np.int32)
        self.colors = self.avatar.colors.numpy()

    def close(self) -> None:
        """Free the renderer's OpenGL context."""
        self.renderer.close()

    def posed_vertices(self, pose: torch.Tensor, face_code: torch.Tensor) -> np.ndarray:
        """pose (T, 104), face_code (T, 256) -> world vertices (T, V, 3) float32, cm."""
        with torch.no_grad():
            return self.avatar.posed_vertices(pose, face_code).numpy()

    def cameras(self, pose: torch.Tensor) -> list[Camera]:
        """[body camera (fixed), face close-up camera (eye and target per frame)] for pose (T, 104)."""
        with torch.no_grad():
            rotations, _ = forward_kinematics(pose)
            forward = rotations[:, ROOT, :, 2].mean(0).double().numpy()  # mean of the root's z axis
            face_centre = self.avatar.face_centre(pose).double().numpy()
        forward[1] = 0.0
        norm = np.linalg.norm(forward)
        forward = forward / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])  # lying down: look from +z
        root = pose[:, :3].double().mean(0).numpy()
        low, high = BODY_SPAN_CM
        body_target = root + np.array([0.0, (low + high) / 2, 0.0])
        body_distance = _distance_for_span(high - low, BODY_FOV_DEG)
        body = Camera(eye=body_target + body_distance * _camera_direction(forward, BODY_ELEVATION_DEG),
                      target=body_target, fov_deg=BODY_FOV_DEG, near=10.0, far=4 * body_distance)
        face_target = gaussian_filter1d(face_centre, FACE_SMOOTHING_FRAMES, axis=0, mode="nearest")
        face_distance = _distance_for_span(FACE_SPAN_CM, FACE_FOV_DEG)
        face = Camera(eye=face_target + face_distance * _camera_direction(forward, FACE_ELEVATION_DEG),
                      target=face_target, fov_deg=FACE_FOV_DEG, near=2.0, far=4 * face_distance)
        return [body, face]

    def render(self, pose, face_code) -> np.ndarray:
        """pose (T, 104), face_code (T, 256) (numpy or torch) -> frames (T, size, 2 * size, 3) uint8."""
        pose, face_code = _check_sequences(pose, face_code)
        return self.renderer.render(self.posed_vertices(pose, face_code), self.faces, self.colors,
                                    self.cameras(pose))


def _check_sequences(pose, face_code) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 tensors pose (T, 104) and face_code (T, 256), or a ValueError that says what is wrong."""
    pose = torch.as_tensor(pose, dtype=torch.float32).cpu()
    face_code = torch.as_tensor(face_code, dtype=torch.float32).cpu()
    if pose.ndim != 2 or pose.shape[1] != POSE_DIM or len(pose) == 0:
        raise ValueError(f"pose must be (T, {POSE_DIM}) with T > 0, got {tuple(pose.shape)}")
    if face_code.shape != (len(pose), FACE_DIM):
        raise ValueError(f"face_code must be (T, {FACE_DIM}) = ({len(pose)}, {FACE_DIM}) like the pose, "
                         f"got {tuple(face_code.shape)}")
    for name, values in (("pose", pose), ("face_code", face_code)):
        if not torch.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    return pose, face_code
