"""The reference avatar's body: a procedural mesh skinned to `avatar.skeleton` by linear blend skinning.

The mesh is built in the rest pose (world frame, cm; see avatar.skeleton) from swept tubes: a torso
(superelliptic cross-sections along the spine), neck, arms (shoulder to wrist), palms, five fingers per hand
(three phalanges each), legs (hip to ankle) and shoes, plus a head shell (the shape `avatar.face.head_radius`,
sunk behind the face mask, hair-coloured above the hairline) and ears. Pieces overlap at the joints instead
of being stitched. Colours: skin, a short-sleeved shirt, trousers, shoes, hair.

Skinning weights (V, J) are a partition of unity: along each tube the weight passes from one joint to the
next with a smoothstep over a blend zone around each joint (wider for the forearm twist); the torso blends
the spine joints by height and hands its sides over to the clavicles (shoulders) and hips (pelvis). Head
shell and ears follow the head only, exactly as the face does.

    skinned v = sum_j w_vj (R_j (v - rest_j) + p_j),   R_j, p_j: world rotation and position from FK
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from avatar import face
from avatar.skeleton import FLOOR_Y, JOINT_INDEX, NUM_JOINTS, REST_POSITIONS

SKIN = face.SKIN
HAIR = face.HAIR
SHIRT = (0.22, 0.40, 0.62)
TROUSERS = (0.24, 0.25, 0.30)
SHOES = (0.16, 0.12, 0.10)
SLEEVE_LENGTH = 14.0  # cm of upper arm covered by the shirt

_REST = REST_POSITIONS.numpy()


def _joint(name: str) -> int:
    return JOINT_INDEX[name]


def _rest(name: str) -> np.ndarray:
    return _REST[JOINT_INDEX[name]]


class _Piece:
    """One closed surface: vertices (n, 3), faces (m, 3) local indices, weights (n, J), colors (n, 3)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, weights: np.ndarray, colors: np.ndarray):
        self.vertices, self.faces, self.weights, self.colors = vertices, faces, weights, colors


def _superellipse(segments: int, exponent: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit cross-section (cos-like, sin-like) of |u|^e + |v|^e = 1, `segments` points."""
    angle = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    c, s = np.cos(angle), np.sin(angle)
    return np.sign(c) * np.abs(c) ** (2.0 / exponent), np.sign(s) * np.abs(s) ** (2.0 / exponent)


def _tube(centres: np.ndarray, u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray, segments: int,
          exponent: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed tube: rings at centres[1:-1] (R-2 rings, half-axes a, b along the unit vectors u, v) and a
    pole vertex at centres[0] and centres[-1]. Returns vertices, faces and each vertex's station index."""
    cu, cv = _superellipse(segments, exponent)
    rings = (centres[1:-1, None, :] + (a[1:-1, None] * cu)[..., None] * u[1:-1, None, :]
             + (b[1:-1, None] * cv)[..., None] * v[1:-1, None, :])
    count = len(rings)
    vertices = np.concatenate([centres[:1], rings.reshape(-1, 3), centres[-1:]])
    station = np.concatenate([[0], np.repeat(np.arange(1, count + 1), segments), [count + 1]])
    faces = []
    ring = lambda r, k: 1 + r * segments + k % segments  # noqa: E731
    for k in range(segments):
        faces.append((0, ring(0, k + 1), ring(0, k)))
        for r in range(count - 1):
            faces += [(ring(r, k), ring(r, k + 1), ring(r + 1, k + 1)), (ring(r, k), ring(r + 1, k + 1), ring(r + 1, k))]
        faces.append((ring(count - 1, k), ring(count - 1, k + 1), len(vertices) - 1))
    return vertices, np.array(faces, dtype=np.int64), station


def _chain_weights(s: np.ndarray, parent: int, owners: list[int], breaks: list[float],
                   widths: list[float]) -> np.ndarray:
    """(n, J) weights along a chain: `parent` before breaks[0], owners[k] between breaks[k] and breaks[k+1],
    smoothstep blends of half-width widths[k] around each break (weights sum to 1)."""
    steps = [np.clip((s - b + h) / (2.0 * h), 0.0, 1.0) for b, h in zip(breaks, widths)]
    steps = [x * x * (3.0 - 2.0 * x) for x in steps]
    weights = np.zeros((len(s), NUM_JOINTS))
    weights[:, parent] += 1.0 - steps[0]
    for k, owner in enumerate(owners):
        weights[:, owner] += steps[k] - (steps[k + 1] if k + 1 < len(steps) else 0.0)
    return weights


def _capsule_stations(points: np.ndarray, start_cap: float, end_cap: float, step: float
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stations along the polyline `points` (K, 3), extended by rounded caps: arc length s (n,), centres (n, 3),
    tangents (n, 3), radius factor (n,) (1 inside, sqrt(1 - d^2) in the caps, 0 at the poles)."""
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    knots = np.concatenate([[0.0], np.cumsum(lengths)])
    total = knots[-1]
    cap_steps = lambda cap: np.sin(np.linspace(0.0, np.pi / 2, max(3, int(cap / step * 1.5) + 2)))[1:]  # noqa: E731
    inner = np.linspace(0.0, total, max(2, int(np.ceil(total / step)) + 1))
    s = np.concatenate([-start_cap * cap_steps(start_cap)[::-1], inner, total + end_cap * cap_steps(end_cap)])
    segment = np.clip(np.searchsorted(knots, s, side="right") - 1, 0, len(lengths) - 1)
    tangent = (points[segment + 1] - points[segment]) / lengths[segment, None]
    centres = points[segment] + (s - knots[segment])[:, None] * tangent
    beyond = np.maximum(np.maximum(-s / max(start_cap, 1e-9), (s - total) / max(end_cap, 1e-9)), 0.0)
    factor = np.sqrt(np.clip(1.0 - beyond ** 2, 0.0, 1.0))
    return s, centres, tangent, factor


def _frame(tangent: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors u (reference made perpendicular to the tangent) and v = tangent x u, per station."""
    u = reference - (reference * tangent).sum(-1, keepdims=True) * tangent
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return u, np.cross(tangent, u)


def _limb(points: np.ndarray, radii_at: list[tuple[float, float, float]], reference, segments: int,
          start_cap: float, end_cap: float, step: float, weights_of, color_of, exponent: float = 2.0) -> _Piece:
    """A tube along a joint chain; radii_at: (arc length, half-axis along u, along v) key points."""
    s, centres, tangent, factor = _capsule_stations(points, start_cap, end_cap, step)
    key_s, key_a, key_b = np.array(radii_at).T
    a = np.interp(s, key_s, key_a) * factor
    b = np.interp(s, key_s, key_b) * factor
    u, v = _frame(tangent, np.broadcast_to(np.asarray(reference, dtype=np.float64), tangent.shape))
    vertices, faces, station = _tube(centres, u, v, a, b, segments, exponent)
    return _Piece(vertices, faces, weights_of(s[station]), color_of(s[station], vertices))


def _constant(color) -> callable:
    return lambda s, vertices: np.tile(np.array(color, dtype=np.float64), (len(vertices), 1))


# ---- pieces ----------------------------------------------------------------------------------------------
_TORSO_PROFILE = np.array([
    # y     half-width  half-depth  centre z
    [-15.0, 6.0, 5.0, -1.0],
    [-14.0, 11.0, 8.5, -1.0],
    [-11.0, 14.5, 10.0, -0.8],
    [-6.0, 16.0, 10.5, -0.5],
    [0.0, 15.5, 10.0, -0.2],
    [6.0, 14.0, 9.5, 0.0],
    [12.0, 13.5, 9.5, 0.3],
    [20.0, 14.5, 10.2, 0.8],
    [28.0, 15.5, 10.8, 1.2],
    [36.0, 16.0, 10.5, 1.0],
    [42.0, 17.0, 8.5, -0.5],
    [45.5, 16.8, 7.2, -1.5],
    [48.0, 14.0, 6.0, -2.0],
    [50.0, 9.0, 4.5, -2.2],
    [51.5, 4.5, 3.0, -2.3],
    [52.3, 0.0, 0.0, -2.3],
])


def _torso() -> _Piece:
    y = np.concatenate([[-15.0], np.linspace(-14.0, 51.5, 34), [52.3]])
    a, b, zc = (np.interp(y, _TORSO_PROFILE[:, 0], _TORSO_PROFILE[:, k]) for k in (1, 2, 3))
    centres = np.stack([0 * y, y, zc], -1)
    count = len(y)
    vertices, faces, station = _tube(centres, np.tile([1.0, 0, 0], (count, 1)), np.tile([0, 0, -1.0], (count, 1)),
                                     a, b, 28, exponent=2.6)
    x, height = vertices[:, 0], vertices[:, 1]
    weights = _chain_weights(height, _joint("root"), [_joint(n) for n in ("spine1", "spine2", "spine3", "neck1")],
                             [10.0, 21.0, 33.0, 48.0], [4.0, 4.0, 4.0, 2.5])
    side = np.abs(x)
    clavicle = _smooth((side - 8.0) / 8.0) * _smooth((height - 34.0) / 8.0)
    shoulder = 0.35 * clavicle * _smooth((side - 14.0) / 3.0)
    hip = 0.5 * _smooth((side - 3.0) / 8.0) * _smooth((-6.0 - height) / 6.0)
    weights *= (1.0 - clavicle - hip)[:, None]
    for prefix, on_side in (("l_", x > 0), ("r_", x <= 0)):
        weights[:, _joint(prefix + "clavicle")] += np.where(on_side, clavicle - shoulder, 0.0)
        weights[:, _joint(prefix + "shoulder")] += np.where(on_side, shoulder, 0.0)
        weights[:, _joint(prefix + "hip")] += np.where(on_side, hip, 0.0)
    colors = np.where((height < 1.0)[:, None], TROUSERS, SHIRT)
    neckline = (x / 7.0) ** 2 + ((52.0 - height) / 6.0) ** 2 < 1.0
    colors = np.where(neckline[:, None], SKIN, colors)
    return _Piece(vertices, faces, weights, colors)


def _smooth(x: np.ndarray) -> np.ndarray:
    return face.smoothstep(x)


def _neck() -> _Piece:
    points = np.stack([_rest("neck1"), _rest("neck2"), _rest("head"), _rest("head") + [0.0, 3.0, 0.5]])
    owners = [_joint(n) for n in ("neck1", "neck2", "head")]
    knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    return _limb(points, [(0.0, 5.6, 5.4), (knots[2], 5.0, 5.2), (knots[3], 4.6, 4.8)], (1.0, 0.0, 0.0), 16,
                 start_cap=3.0, end_cap=2.0, step=1.5,
                 weights_of=lambda s: _chain_weights(s, _joint("spine3"), owners, list(knots[:3]), [2.0, 2.5, 2.5]),
                 color_of=_constant(SKIN))


def _head_shell() -> _Piece:
    """The head surface (avatar.face.head_radius), sunk 0.25 cm, and deeper (2.15 cm) behind the face mask."""
    segments = 36
    theta = np.linspace(-np.pi, np.pi, segments, endpoint=False)
    low = np.linspace(face.CHIN_Y, 4.0, 15)
    high = 4.0 + (face.CROWN_Y - 4.0) * np.sin(np.linspace(0.0, np.pi / 2, 10)[1:-1])
    y = np.concatenate([low, high])
    t, h = np.meshgrid(theta, y)
    radius = face.head_radius(t, h) - 0.25 - 1.9 * face.face_weight(t, h)
    rings = face.head_point(t, h, radius)
    bottom = np.array([0.0, face.CHIN_Y - 0.3, face.HEAD_AXIS_Z + 1.5])
    top = np.array([0.0, face.CROWN_Y - 0.25, face.HEAD_AXIS_Z + 0.4])
    count = len(y)
    vertices = np.concatenate([bottom[None], rings.reshape(-1, 3), top[None]])
    faces = []
    ring = lambda r, k: 1 + r * segments + k % segments  # noqa: E731
    for k in range(segments):
        faces.append((0, ring(0, k), ring(0, k + 1)))
        for r in range(count - 1):
            faces += [(ring(r, k), ring(r + 1, k + 1), ring(r, k + 1)), (ring(r, k), ring(r + 1, k), ring(r + 1, k + 1))]
        faces.append((ring(count - 1, k), len(vertices) - 1, ring(count - 1, k + 1)))
    hair = np.concatenate([[0.0], face.hair_amount(t, h).reshape(-1), [1.0]])
    colors = np.asarray(SKIN) + hair[:, None] * (np.asarray(HAIR) - np.asarray(SKIN))
    return _rigid(vertices + _rest("head"), np.array(faces, dtype=np.int64), colors, _joint("head"))


def _rigid(vertices: np.ndarray, faces: np.ndarray, colors, joint: int) -> _Piece:
    weights = np.zeros((len(vertices), NUM_JOINTS))
    weights[:, joint] = 1.0
    return _Piece(vertices, faces, weights, np.broadcast_to(np.asarray(colors, dtype=np.float64),
                                                            (len(vertices), 3)).copy())


def _ear(side: float) -> _Piece:
    """A flattened ellipsoid on the side of the head (head frame offset to its rest position)."""
    centre = _rest("head") + [side * 7.3, 2.5, 0.2]
    y = np.linspace(-1.0, 1.0, 9)
    centres = centre + np.stack([0 * y, 2.9 * y, 0 * y], -1)
    factor = np.sqrt(1.0 - y ** 2)
    u = np.tile([0.0, 0.0, 1.0], (9, 1))
    v = np.tile([side, 0.0, 0.0], (9, 1))
    vertices, faces, _ = _tube(centres, u, v, 1.7 * factor, 0.7 * factor, 10)
    return _rigid(vertices, faces, SKIN, _joint("head"))


def _arm(prefix: str) -> _Piece:
    names = ("shoulder", "elbow", "forearm", "wrist")
    points = np.stack([_rest(prefix + n) for n in names])
    knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    radii = [(0.0, 4.6, 5.0), (9.0, 4.3, 4.5), (20.0, 3.8, 3.9), (knots[1], 3.4, 3.5), (knots[1] + 5.0, 3.7, 3.9),
             (knots[1] + 17.0, 2.9, 3.3), (knots[3], 2.1, 2.8), (knots[3] + 2.0, 2.1, 2.8)]
    owners = [_joint(prefix + n) for n in names]

    def colors(s, vertices):
        return np.where((s < SLEEVE_LENGTH)[:, None], SHIRT, SKIN)

    return _limb(points, radii, (1.0, 0.0, 0.0), 14, start_cap=3.0, end_cap=1.5, step=2.0,
                 weights_of=lambda s: _chain_weights(s, _joint(prefix + "clavicle"), owners, list(knots),
                                                     [4.0, 3.5, 7.0, 1.5]),
                 color_of=colors)


def _palm(prefix: str) -> _Piece:
    wrist = _rest(prefix + "wrist")
    points = np.stack([wrist, wrist + [0.0, -9.3, 0.0]])
    radii = [(0.0, 1.6, 2.6), (3.5, 1.55, 3.7), (9.3, 1.3, 4.1)]
    forearm, wrist_joint, palm = _joint(prefix + "forearm"), _joint(prefix + "wrist"), _joint(prefix + "palm")
    piece = _limb(points, radii, (1.0, 0.0, 0.0), 16, start_cap=1.0, end_cap=1.2, step=1.2,
                  weights_of=lambda s: _chain_weights(s, forearm, [wrist_joint], [0.0], [1.2]),
                  color_of=_constant(SKIN), exponent=3.5)
    towards_pinky = wrist[2] - piece.vertices[:, 2]
    down = wrist[1] - piece.vertices[:, 1]
    share = _smooth((towards_pinky - 0.5) / 3.0) * _smooth((down - 3.0) / 4.0) * piece.weights[:, wrist_joint]
    piece.weights[:, wrist_joint] -= share
    piece.weights[:, palm] += share
    return piece


_FINGER_RADII = {"thumb": (1.45, 1.1, 1.0, 0.85), "index": (0.95, 0.85, 0.75, 0.65),
                 "middle": (1.0, 0.88, 0.78, 0.67), "ring": (0.93, 0.83, 0.74, 0.63), "pinky": (0.82, 0.72, 0.64, 0.56)}


def _finger(prefix: str, finger: str) -> _Piece:
    names = [f"{prefix}{finger}1", f"{prefix}{finger}2", f"{prefix}{finger}3", f"{prefix}{finger}_end"]
    points = np.stack([_rest(n) for n in names])
    knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    radii = [(k, r, r) for k, r in zip(knots, _FINGER_RADII[finger])]
    parent = _joint(prefix + ("palm" if finger in ("ring", "pinky") else "wrist"))
    owners = [_joint(n) for n in names[:3]]
    return _limb(points, radii, (0.0, 0.0, 1.0), 8, start_cap=1.0, end_cap=_FINGER_RADII[finger][-1], step=0.8,
                 weights_of=lambda s: _chain_weights(s, parent, owners, list(knots[:3]), [1.0, 0.6, 0.5]),
                 color_of=_constant(SKIN))


def _leg(prefix: str) -> _Piece:
    names = ("hip", "knee", "ankle")
    points = np.stack([_rest(prefix + n) for n in names])
    knots = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    radii = [(0.0, 8.0, 8.3), (12.0, 7.2, 7.5), (30.0, 5.8, 6.0), (knots[1], 5.0, 5.3), (knots[1] + 8.0, 5.2, 5.8),
             (knots[1] + 28.0, 4.3, 4.5), (knots[2], 4.0, 4.1)]
    owners = [_joint(prefix + n) for n in names]
    return _limb(points, radii, (1.0, 0.0, 0.0), 16, start_cap=7.0, end_cap=2.5, step=2.5,
                 weights_of=lambda s: _chain_weights(s, _joint("root"), owners, list(knots), [5.0, 4.0, 1.5]),
                 color_of=_constant(TROUSERS))


_SHOE_PROFILE = np.array([
    # z from the ankle, half-width, half-height (the sole on the floor)
    [-5.6, 0.0, 3.0],
    [-5.0, 2.5, 3.5],
    [-3.5, 3.1, 5.0],
    [0.0, 3.3, 6.0],
    [5.0, 3.8, 5.0],
    [10.0, 4.3, 3.6],
    [13.0, 4.4, 2.8],
    [16.0, 3.8, 2.3],
    [18.5, 2.8, 1.7],
    [19.3, 0.0, 1.2],
])


def _shoe(prefix: str) -> _Piece:
    ankle = _rest(prefix + "ankle")
    z = np.concatenate([[-5.6], np.linspace(-5.0, 18.5, 15), [19.3]])
    half_width = np.interp(z, _SHOE_PROFILE[:, 0], _SHOE_PROFILE[:, 1])
    half_height = np.interp(z, _SHOE_PROFILE[:, 0], _SHOE_PROFILE[:, 2])
    centres = np.stack([np.full_like(z, ankle[0]), FLOOR_Y + half_height, ankle[2] + z], -1)
    count = len(z)
    vertices, faces, station = _tube(centres, np.tile([1.0, 0, 0], (count, 1)), np.tile([0, 1.0, 0], (count, 1)),
                                     half_width, half_height, 14, exponent=3.0)
    toes_z = _rest(prefix + "toes")[2]
    weights = _chain_weights(vertices[:, 2], _joint(prefix + "ankle"), [_joint(prefix + "toes")], [toes_z], [1.5])
    return _Piece(vertices, faces, weights, np.tile(np.array(SHOES), (len(vertices), 1)))


# ---- the mesh --------------------------------------------------------------------------------------------
class BodyMesh:
    """rest_vertices (V, 3) float64 cm (world, rest pose), faces (F, 3) int64, weights (V, J) float64 (rows sum
    to 1), colors (V, 3) float32 in [0, 1]. `skin` poses it with FK output."""

    def __init__(self, pieces: list[_Piece]):
        offsets = np.cumsum([0] + [len(p.vertices) for p in pieces])
        self.rest_vertices = torch.tensor(np.concatenate([p.vertices for p in pieces]))
        self.faces = torch.tensor(np.concatenate([p.faces + o for p, o in zip(pieces, offsets)]), dtype=torch.int64)
        self.weights = torch.tensor(np.concatenate([p.weights for p in pieces]))
        self.colors = torch.tensor(np.concatenate([p.colors for p in pieces]), dtype=torch.float32)
        self.num_vertices = len(self.rest_vertices)
        self._converted: dict = {}

    def _on(self, name: str, like: torch.Tensor) -> torch.Tensor:
        key = (name, like.dtype, like.device)
        if key not in self._converted:
            source = REST_POSITIONS if name == "rest_joints" else getattr(self, name)
            self._converted[key] = source.to(dtype=like.dtype, device=like.device)
        return self._converted[key]

    def skin(self, rotations: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """World joint rotations (..., J, 3, 3) and positions (..., J, 3) -> posed vertices (..., V, 3), cm."""
        translations = positions - (rotations @ self._on("rest_joints", positions)[..., None])[..., 0]
        transforms = torch.cat([rotations.flatten(-2), translations], dim=-1)  # (..., J, 12)
        blended = self._on("weights", positions) @ transforms  # (..., V, 12)
        rest = self._on("rest_vertices", positions)
        rotated = (blended[..., :9].unflatten(-1, (3, 3)) @ rest[..., None])[..., 0]
        return rotated + blended[..., 9:]


@functools.lru_cache(maxsize=1)
def body_mesh() -> BodyMesh:
    """The reference body (built once, deterministic)."""
    pieces = [_torso(), _neck(), _head_shell(), _ear(1.0), _ear(-1.0)]
    for prefix in ("l_", "r_"):
        pieces += [_arm(prefix), _palm(prefix)]
        pieces += [_finger(prefix, f) for f in ("thumb", "index", "middle", "ring", "pinky")]
        pieces += [_leg(prefix), _shoe(prefix)]
    return BodyMesh(pieces)
