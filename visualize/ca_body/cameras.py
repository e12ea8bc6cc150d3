"""a2p's own two cameras for a person's Codec Avatar when the original's assets/render_defaults_<person>.pth
is absent: the full body (left) and a face close-up (right), both from the front, fixed for the clip.

They are placed from the rest pose (all 104 pose values 0): "up" is the longest axis of the mesh, pointing
from its centre towards the face (the static assets' mouth_eyes_mask_geom vertices); "front" is the mean
normal of the face vertices, made horizontal. OpenCV convention: Rt maps world to camera (x right, y down,
z forward), K holds the focal lengths and the principal point in pixels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from visualize.ca_body.uv import vertex_normals

FOV_DEG = 30.0
BODY_MARGIN = 1.15  # the body's length along "up" times this fills the view's height
FACE_SPAN = 0.25  # the face close-up frames this fraction of the body's length


def look_at(position: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Rt (3, 4) of a camera at position (3,) looking at target (3,), `up` (3,) upwards in the image."""
    forward = F.normalize(target - position, dim=0)
    down = F.normalize(-up + (up @ forward) * forward, dim=0)
    right = torch.cross(down, forward, dim=0)
    rotation = torch.stack([right, down, forward])
    return torch.cat([rotation, -(rotation @ position)[:, None]], 1)


def intrinsics(height: int, width: int) -> torch.Tensor:
    """K (3, 3) with a vertical field of view of FOV_DEG, square pixels, centred."""
    focal = height / 2 / math.tan(math.radians(FOV_DEG) / 2)
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def body_and_face_cameras(rest: torch.Tensor, faces: torch.Tensor, face_mask: torch.Tensor, height: int,
                          width: int) -> dict[str, torch.Tensor]:
    """K (2, 3, 3), Rt (2, 3, 4), campos (2, 3) of the body and face views of the rest mesh (V, 3) with faces
    (F, 3) int64; face_mask (V,) > 0 on the face's vertices."""
    centre = rest.mean(0)
    on_face = face_mask > 0
    face_centre = rest[on_face].mean(0) if on_face.any() else rest[(rest - centre).norm(dim=1).argmax()]
    axes = torch.linalg.svd(rest - centre, full_matrices=False).Vh
    up = axes[0] * torch.sign((face_centre - centre) @ axes[0])
    normals = vertex_normals(rest[None], faces)[0]
    front = normals[on_face].sum(0) if on_face.any() else axes[2]
    front = front - (front @ up) * up
    front = F.normalize(front if front.norm() > 1e-6 else axes[1], dim=0)
    along_up = (rest - centre) @ up
    length = float(along_up.max() - along_up.min())
    reach = 1 / math.tan(math.radians(FOV_DEG) / 2) / 2
    body_position = centre + front * (BODY_MARGIN * length * reach)
    face_position = face_centre + front * (FACE_SPAN * length * reach)
    Rt = torch.stack([look_at(body_position, centre, up), look_at(face_position, face_centre, up)])
    K = intrinsics(height, width).expand(2, -1, -1).clone()
    return {"K": K, "Rt": Rt, "campos": torch.stack([body_position, face_position])}
