"""Both persons of a conversation in one video frame: the two avatars facing each other, seen from the side, above
each one's face close-up.

    view = ConversationView(size=512)
    frames = view.render([pose, partner_pose], [face_code, partner_face_code])   # (T, 2 * size, 2 * size, 3)

The persons stand as visualize/conversation.py places them (the person on the left of the picture, facing
right; the partner on the right, facing left; DISTANCE_CM apart). Top row (size x 2*size): a fixed camera on
the person's right (-x), SIDE_ELEVATION_DEG above the horizon, framing both bodies feet to head
(avatar_view.BODY_SPAN_CM). Bottom row: the person's face close-up (left) and the partner's (right), each
visualize.avatar_view's face camera, rendered in the person's own frame (the same picture as in the scene, both
moved alike) with that person only, so the other's raised hands never come between the camera and the face.
"""
from __future__ import annotations

import numpy as np

from visualize.avatar_view import BODY_FOV_DEG, BODY_SPAN_CM, AvatarView, _check_sequences, _distance_for_span
from visualize.conversation import placements
from visualize.renderer import Camera, MeshRenderer

SIDE_ELEVATION_DEG = 8.0


def side_camera() -> Camera:
    """The fixed camera of the top row: both persons from the side (module docstring)."""
    low, high = BODY_SPAN_CM
    target = np.array([0.0, (low + high) / 2, 0.0])
    distance = _distance_for_span(high - low, BODY_FOV_DEG)
    elevation = np.radians(SIDE_ELEVATION_DEG)
    direction = np.array([-np.cos(elevation), np.sin(elevation), 0.0])  # on the person's right: it is on the left
    return Camera(eye=target + distance * direction, target=target, fov_deg=BODY_FOV_DEG, near=10.0,
                  far=4 * distance)


class ConversationView:
    """Renders two persons' pose and face code sequences as (T, 2 * size, 2 * size, 3) uint8 frames."""

    def __init__(self, size: int = 512, device: str = "egl", samples: int = 4):
        self.single = AvatarView(size, device, samples)  # the avatar, its mesh and the size x size renderer
        self.wide = MeshRenderer(2 * size, size, device=device, samples=samples)

    def close(self) -> None:
        """Free both renderers' OpenGL contexts."""
        self.single.close()
        self.wide.close()

    def render(self, poses: list, face_codes: list) -> np.ndarray:
        """poses [(T, 104), (T, 104)], face_codes [(T, 256), (T, 256)] (person, partner; numpy or torch) ->
        frames (T, 2 * size, 2 * size, 3) uint8."""
        checked = [_check_sequences(pose, code) for pose, code in zip(poses, face_codes)]
        if len(checked) != 2 or len(checked[0][0]) != len(checked[1][0]):
            raise ValueError(f"a conversation needs two persons with the same number of frames, got "
                             f"{[len(pose) for pose, _ in checked]}")
        view, count = self.single, self.single.avatar.num_vertices
        places = placements(2)
        own = [view.posed_vertices(pose, code) for pose, code in checked]
        scene = np.concatenate([place.apply(vertices) for place, vertices in zip(places, own)], axis=1)
        faces = np.concatenate([view.faces, view.faces + count])
        top = self.wide.render(scene.astype(np.float32), faces, np.concatenate([view.colors, view.colors]),
                               side_camera())
        close_ups = [view.renderer.render(vertices, view.faces, view.colors, view.cameras(pose)[1])
                     for (pose, _), vertices in zip(checked, own)]  # each in its own frame: the same picture
        return np.concatenate([top, np.concatenate(close_ups, axis=2)], axis=1)
