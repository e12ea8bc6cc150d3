"""The reference avatar's face: a mesh decoded linearly from the 256-d face code, in the head joint's frame.

    vertices (..., Vf, 3) = mean (Vf, 3) + (basis (Vf*3, 256) @ code (..., 256)) reshaped

Coordinates are centimetres in the head joint's local frame (origin at the head joint, axes as the world's
in the rest pose: +x the avatar's left, y up, z forward); `avatar.Avatar` moves the face with the head. The
mesh (fixed topology, `faces`, per-vertex `colors`) is made of
- a skin mask over the front of the head (cylindrical grid around a vertical axis, rows at constant height)
  with a slit for the mouth (upper and lower lip vertices coincide when the mouth is closed) and an almond
  hole per eye; its border tucks just inside the head shell of `avatar.body_mesh` (same `head_radius`);
- a dark mouth interior (with a band of upper teeth) spanning the lips' inner edges, recessed;
- two eyeballs (white, iris, pupil) behind the eye holes.

Code dimensions (avatar.parameters.FACE_CODE_TABLE, with their plausible ranges: `face_code_limits`,
`clamp_face_code`; 0 neutral, 1 full; gaze -1..1): jaw_open drops the lower
lip and chin (jaw rotation, about 2.1 cm of vertical lip opening at 1); lip_round purses the lips (mouth
narrower by ~1.3 cm, lips forward, a 0.5 cm round opening); lip_spread widens the mouth (~0.9 cm); lip_press
thins and presses the lips (opening -0.16 cm); smile raises the mouth corners (~0.9 cm wider) and the cheeks;
brow_raise lifts the brows; brow_furrow pulls the inner brows down and together; blink_left / blink_right
close the eyelids of the avatar's left (+x) / right eye completely at 1 (`eye_opening` measures them);
gaze_yaw turns the eyes towards +x (the avatar's left, the picture's right) by 25 degrees at 1; gaze_pitch
turns them up by 20 degrees at 1; cheek_puff puffs the cheeks. The fields fade to 0 at the mask's border.
Dimensions 12..255 are smooth random (fixed seed) detail deformations of the skin, scaled so that a code with
those dims ~ N(0, 0.3^2) moves skin vertices by DETAIL_RMS_CM = 0.1 cm RMS; they keep the mouth closed.

Lip vertex set `LIP_VERTEX_INDICES` (L = 4 n + 6 face-vertex indices, n = MOUTH_SLIT_COLUMNS = 13), in
this order, each contour running from the avatar's left mouth corner (+x) to its right corner (-x):
    [0, n+2)        upper lip, outer contour (vermilion border), corners' columns included
    [n+2, 2n+4)     lower lip, outer contour
    [2n+4, 3n+4)    upper lip, inner contour (the mouth slit's upper edge), corners excluded
    [3n+4, 4n+4)    lower lip, inner contour
    4n+4, 4n+5      left corner (+x), right corner (-x)
Named landmarks (indices into the lip set): LIP_UPPER_MID / LIP_LOWER_MID (middle of the inner contours),
LIP_UPPER_OUTER_MID / LIP_LOWER_OUTER_MID, LIP_LEFT_CORNER / LIP_RIGHT_CORNER. `mouth_opening` measures the
opening from these (0 vertical for the neutral face, negative when the lips overlap), `inner_lip_gaps` the gap
in every column of the slit and `lips_crossed` whether the lips have passed each other.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy.interpolate import PchipInterpolator

from avatar.parameters import FACE_CODE_DIMS, FACE_CODE_TABLE, FACE_DETAIL_RANGE, FACE_INDEX

FACE_DIM = 256
DETAIL_RMS_CM = 0.1
DETAIL_SEED = 20240607

# ---- head shape (shared with the body mesh's head shell) ------------------------------------------------
HEAD_AXIS_Z = 1.0  # the vertical axis of the head's cylindrical coordinates: x = 0, z = HEAD_AXIS_Z
CHIN_Y, CROWN_Y = -10.0, 15.0  # lowest and highest point of the head, head frame (cm)
_DOME_Y = 4.0  # above this height the head's cross-sections shrink to a round dome
_HALF_WIDTH = PchipInterpolator([-10.0, -9.0, -7.0, -4.0, 0.0, 4.0], [2.6, 3.8, 5.5, 6.6, 7.3, 7.7])
_FRONT = PchipInterpolator([-10.0, -9.0, -7.0, -4.0, 0.0, 4.0], [5.8, 7.8, 8.4, 8.7, 8.9, 8.9])
_BACK = PchipInterpolator([-10.0, -6.0, -3.0, 0.0, 4.0], [2.5, 3.5, 5.5, 8.3, 9.8])

SKIN = (0.87, 0.68, 0.57)
HAIR = (0.22, 0.15, 0.10)
LIPS = (0.74, 0.42, 0.42)
BROWS = (0.25, 0.18, 0.12)
LASHES = (0.12, 0.09, 0.08)
MOUTH = (0.22, 0.06, 0.07)
TONGUE = (0.48, 0.20, 0.22)
TEETH = (0.93, 0.91, 0.86)
EYE_WHITE = (0.95, 0.94, 0.92)
IRIS = (0.30, 0.42, 0.55)
PUPIL = (0.03, 0.03, 0.04)


def smoothstep(x):
    """0 below 0, 1 above 1, 3x^2 - 2x^3 between (numpy)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def head_radius(theta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance (cm) from the head axis to the head surface at azimuth theta (radians, 0 = forward, pi/2 =
    +x) and height y; cross-sections are egg-shaped (half-ellipses in front and behind)."""
    y = np.clip(y, CHIN_Y, CROWN_Y)
    low = np.minimum(y, _DOME_Y)
    dome = np.sqrt(np.clip(1.0 - ((np.maximum(y, _DOME_Y) - _DOME_Y) / (CROWN_Y - _DOME_Y)) ** 2, 0.0, 1.0))
    half_width = _HALF_WIDTH(low)
    depth = np.where(np.cos(theta) >= 0, _FRONT(low), _BACK(low))
    return dome * half_width * depth / np.sqrt((depth * np.sin(theta)) ** 2 + (half_width * np.cos(theta)) ** 2)


def head_point(theta: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """(..., 3) head-frame points from cylindrical coordinates (azimuth theta, height y, radius)."""
    return np.stack(np.broadcast_arrays(radius * np.sin(theta), y, HEAD_AXIS_Z + radius * np.cos(theta)), -1)


MASK_THETA = math.radians(100.0)  # the skin mask spans azimuths -100..100 degrees (its seam behind the ears)
MASK_TOP = CROWN_Y - 0.4  # the mask's top row, a small circle inside the head shell's crown


def face_weight(theta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 over the skin mask, falling to 0 at its sides (behind the ears) and at the crown. The head shell sits
    deeper where this is 1; the mask's displacement fields are multiplied by it."""
    return smoothstep((MASK_THETA - np.abs(theta)) / math.radians(12.0)) * smoothstep((CROWN_Y - y) / 2.5)


def hair_amount(theta: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0 (skin) .. 1 (hair) over the head: the hairline is at 9.5 cm in front, lower at the sides and back."""
    side = np.abs(np.degrees(theta))
    hairline = 9.5 - 5.5 * smoothstep((side - 55.0) / 45.0) - 6.0 * smoothstep((side - 100.0) / 50.0)
    return smoothstep((y - hairline) / 1.2 + 0.5)


# ---- mask layout (topology; cheap, computed at import) ---------------------------------------------------
EYE_Y = 4.5  # height of the eye openings' slit row
MOUTH_Y = -4.3  # height of the closed mouth
LIP_ROWS = 4  # rows above (below) the mouth slit that make the upper (lower) lip


def _piecewise(points, counts) -> np.ndarray:
    """Concatenated linspaces through `points` with counts[i] steps between points[i] and points[i+1]."""
    parts = [np.linspace(a, b, n + 1)[:-1] for a, b, n in zip(points[:-1], points[1:], counts)]
    return np.concatenate(parts + [np.array(points[-1:], dtype=np.float64)])


_DOME_ROWS = _DOME_Y + (CROWN_Y - _DOME_Y) * np.sin(np.linspace(
    math.asin((11.5 - _DOME_Y) / (CROWN_Y - _DOME_Y)), math.asin((MASK_TOP - _DOME_Y) / (CROWN_Y - _DOME_Y)), 6))
ROWS_Y = np.concatenate([_piecewise([CHIN_Y, -6.6, MOUTH_Y, -2.2, 2.8, EYE_Y, 6.8, 11.5], [7, 9, 8, 14, 6, 7, 10]),
                         _DOME_ROWS[1:]])
_HALF_COLUMNS = _piecewise([0.0, 40.0, 100.0], [16, 12])
COLUMNS_DEG = np.concatenate([-_HALF_COLUMNS[:0:-1], _HALF_COLUMNS])  # azimuths of the grid columns
MOUTH_CORNER_DEG, EYE_INNER_DEG, EYE_OUTER_DEG = 17.5, 12.5, 30.0
_MOUTH_ROW = int(np.argmin(np.abs(ROWS_Y - MOUTH_Y)))
_EYE_ROW = int(np.argmin(np.abs(ROWS_Y - EYE_Y)))
_MOUTH_CORNER_STEPS = int(np.argmin(np.abs(_HALF_COLUMNS - MOUTH_CORNER_DEG)))
MOUTH_SLIT_COLUMNS = 2 * _MOUTH_CORNER_STEPS - 1


def _slit_columns(lo_deg: float, hi_deg: float) -> np.ndarray:
    """Grid columns strictly between azimuths lo and hi (degrees)."""
    return np.nonzero((COLUMNS_DEG > lo_deg + 1e-6) & (COLUMNS_DEG < hi_deg - 1e-6))[0]


def _column(deg: float) -> int:
    return int(np.argmin(np.abs(COLUMNS_DEG - deg)))


class _Layout:
    """Vertex numbering of the skin mask: grid (row, column) -> row * C + column, then the lower copies of
    the slit vertices (mouth, left eye, right eye). The face mesh continues with the mouth interior, the
    centre of the under-chin fan, the left eyeball and the right eyeball."""

    def __init__(self):
        rows, cols = len(ROWS_Y), len(COLUMNS_DEG)
        self.grid = np.arange(rows * cols).reshape(rows, cols)
        self.mouth_columns = _slit_columns(-MOUTH_CORNER_DEG, MOUTH_CORNER_DEG)  # left to right in x: -x first
        self.left_eye_columns = _slit_columns(EYE_INNER_DEG, EYE_OUTER_DEG)
        self.right_eye_columns = _slit_columns(-EYE_OUTER_DEG, -EYE_INNER_DEG)
        next_id = rows * cols
        self.lower = {}  # (row, column) -> id of the copy used by faces below the slit
        for row, columns in ((_MOUTH_ROW, self.mouth_columns), (_EYE_ROW, self.left_eye_columns),
                             (_EYE_ROW, self.right_eye_columns)):
            for c in columns:
                self.lower[(row, int(c))] = next_id
                next_id += 1
        self.left_corner, self.right_corner = _column(MOUTH_CORNER_DEG), _column(-MOUTH_CORNER_DEG)
        assert COLUMNS_DEG[self.left_corner] == MOUTH_CORNER_DEG
        self.mouth_span = np.arange(self.right_corner, self.left_corner + 1)  # corners included, -x first

    def faces(self) -> np.ndarray:
        """Skin mask triangles; cells right below a slit row use its lower copies."""
        rows, cols = self.grid.shape
        faces = []
        for i in range(rows - 1):
            for j in range(cols - 1):
                a, b = self.grid[i, j], self.grid[i, j + 1]
                c = self.lower.get((i + 1, j + 1), self.grid[i + 1, j + 1])
                d = self.lower.get((i + 1, j), self.grid[i + 1, j])
                faces += [(a, b, c), (a, c, d)]
        return np.array(faces, dtype=np.int64)

    def lip_indices(self) -> np.ndarray:
        """LIP_VERTEX_INDICES in the documented order (module docstring)."""
        left_to_right = self.mouth_span[::-1]
        inner = [c for c in left_to_right if c in set(self.mouth_columns.tolist())]
        parts = [self.grid[_MOUTH_ROW + LIP_ROWS, left_to_right], self.grid[_MOUTH_ROW - LIP_ROWS, left_to_right],
                 self.grid[_MOUTH_ROW, inner], [self.lower[(_MOUTH_ROW, int(c))] for c in inner],
                 [self.grid[_MOUTH_ROW, self.left_corner], self.grid[_MOUTH_ROW, self.right_corner]]]
        return np.concatenate([np.asarray(p, dtype=np.int64) for p in parts])


_LAYOUT = _Layout()
LIP_VERTEX_INDICES = _LAYOUT.lip_indices()  # (L,) int64 face-vertex indices (module docstring)
_N = MOUTH_SLIT_COLUMNS
LIP_UPPER_OUTER_MID = (_N + 2) // 2
LIP_LOWER_OUTER_MID = _N + 2 + (_N + 2) // 2
LIP_UPPER_MID = 2 * _N + 4 + _N // 2
LIP_LOWER_MID = 3 * _N + 4 + _N // 2
LIP_LEFT_CORNER = 4 * _N + 4
LIP_RIGHT_CORNER = 4 * _N + 5
assert len(LIP_VERTEX_INDICES) == 4 * _N + 6


def _eyelid_indices(columns: np.ndarray) -> np.ndarray:
    """(2, n) face-vertex indices of one eye's upper (row 0) and lower (row 1) lid edge, inner to outer."""
    ordered = sorted(columns.tolist(), key=lambda c: abs(COLUMNS_DEG[c]))
    return np.array([[_LAYOUT.grid[_EYE_ROW, c] for c in ordered], [_LAYOUT.lower[(_EYE_ROW, c)] for c in ordered]])


LEFT_EYELID_INDICES = _eyelid_indices(_LAYOUT.left_eye_columns)  # the avatar's left eye (+x)
RIGHT_EYELID_INDICES = _eyelid_indices(_LAYOUT.right_eye_columns)


def eye_opening(vertices: torch.Tensor) -> torch.Tensor:
    """Face vertices (..., Vf, 3) -> (..., 2) opening (cm) of the left (+x) and right eye: the largest distance
    between matching upper and lower lid edge vertices (about 1 cm open, 0 when a blink is complete)."""
    openings = [torch.linalg.vector_norm(vertices[..., lids[0], :] - vertices[..., lids[1], :], dim=-1).amax(-1)
                for lids in (LEFT_EYELID_INDICES, RIGHT_EYELID_INDICES)]
    return torch.stack(openings, dim=-1)


LIPS_CROSSED_CM = 0.2  # inner lips overlapping by more than this have passed each other (lips_crossed)
_UPPER_INNER = slice(2 * MOUTH_SLIT_COLUMNS + 4, 3 * MOUTH_SLIT_COLUMNS + 4)
_LOWER_INNER = slice(3 * MOUTH_SLIT_COLUMNS + 4, 4 * MOUTH_SLIT_COLUMNS + 4)


def inner_lip_gaps(lips: torch.Tensor) -> torch.Tensor:
    """Lip vertices (..., L, 3) in the head frame (as `lip_vertices` returns them) -> (..., n) height (cm) of
    each upper inner lip vertex above the lower one of its column, n = MOUTH_SLIT_COLUMNS, left to right: 0
    for the closed neutral mouth, positive when open, negative where the lips overlap. Heights are along the
    head frame's up axis (+y), which no face code moves, so the sign holds however far the lips cross."""
    return lips[..., _UPPER_INNER, 1] - lips[..., _LOWER_INNER, 1]


def mouth_opening(lips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mouth opening (cm) of lip vertices (..., L, 3) in the head frame: vertical = `inner_lip_gaps` at the
    middle of the mouth (0 for the closed neutral mouth; negative when the lips overlap: -0.16 for a full
    lip_press, -2.05 for jaw_open = -1), horizontal = the distance between the mouth corners."""
    vertical = lips[..., LIP_UPPER_MID, 1] - lips[..., LIP_LOWER_MID, 1]
    horizontal = torch.linalg.vector_norm(lips[..., LIP_LEFT_CORNER, :] - lips[..., LIP_RIGHT_CORNER, :], dim=-1)
    return vertical, horizontal


def lips_crossed(lips: torch.Tensor) -> torch.Tensor:
    """(..., L, 3) head-frame lip vertices -> (...,) bool: the inner lips have passed each other, i.e. in some
    column the upper lip lies more than LIPS_CROSSED_CM below the lower one. Pressed lips overlap up to
    0.16 cm (lip_press = 1; the synthetic data set's deepest press, 0.6, overlaps 0.1 cm) and do not count."""
    return inner_lip_gaps(lips).amin(dim=-1) < -LIPS_CROSSED_CM


# ---- rest geometry of the skin mask ----------------------------------------------------------------------
def _upper_lip_height(s: np.ndarray) -> np.ndarray:
    """Height (cm) of the upper lip's red part at s = azimuth / mouth corner azimuth in [-1, 1]."""
    s = np.minimum(np.abs(s), 1.0)
    bow = 1.0 - 0.08 * np.exp(-(s / 0.12) ** 2) + 0.06 * np.exp(-((s - 0.28) / 0.12) ** 2)
    return 0.95 * (0.16 + 0.84 * (1.0 - s * s) ** 0.6) * bow


def _lower_lip_height(s: np.ndarray) -> np.ndarray:
    s = np.minimum(np.abs(s), 1.0)
    return 1.05 * (0.16 + 0.84 * (1.0 - s * s) ** 0.5)


def _lip_profile(s: np.ndarray) -> np.ndarray:
    """1 in the middle of the mouth, 0 at and beyond the corners."""
    return (1.0 - np.minimum(s * s, 1.0)) ** 0.7


def _eye_opening(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper lid lift, lower lid drop) in cm along an eye, s = 0 inner corner .. 1 outer corner."""
    s = np.clip(s, 0.0, 1.0)
    upper = 0.55 * np.sin(np.pi * s) ** 0.75 * (1.0 + 0.15 * (0.5 - s))
    lower = 0.42 * np.sin(np.pi * s) ** 0.9
    return upper, lower


def _decay(distance: np.ndarray, reach: float) -> np.ndarray:
    return np.clip(1.0 - distance / reach, 0.0, 1.0) ** 2


class _SkinVertices:
    """Per skin-vertex attributes: azimuth, grid row, whether it is a slit's lower copy, and the derived
    mouth and eye coordinates used by the rest shape and the displacement fields."""

    def __init__(self, layout: _Layout):
        rows, cols = layout.grid.shape
        row = np.repeat(np.arange(rows), cols)
        column = np.tile(np.arange(cols), rows)
        lower = np.zeros(rows * cols, dtype=bool)
        extra = sorted(layout.lower.items(), key=lambda item: item[1])
        self.row = np.concatenate([row, [r for (r, _), _ in extra]])
        self.column = np.concatenate([column, [c for (_, c), _ in extra]])
        self.lower = np.concatenate([lower, np.ones(len(extra), dtype=bool)])
        self.theta = np.radians(COLUMNS_DEG[self.column])
        self.mouth_s = COLUMNS_DEG[self.column] / MOUTH_CORNER_DEG  # -1..1 across the mouth
        self.lip_k = self.row - _MOUTH_ROW  # rows above (>0) or below (<0) the mouth slit
        self.lower_side = (self.lip_k < 0) | ((self.lip_k == 0) & self.lower)
        side = np.abs(COLUMNS_DEG[self.column])
        self.eye_s = (side - EYE_INNER_DEG) / (EYE_OUTER_DEG - EYE_INNER_DEG)  # 0 inner .. 1 outer corner
        self.in_eye = (self.eye_s >= 0) & (self.eye_s <= 1)
        self.below_eye = (self.row < _EYE_ROW) | ((self.row == _EYE_ROW) & self.lower)
        self.y = self._rest_heights()
        self.lip_t = self._lip_coordinate()

    def _rest_heights(self) -> np.ndarray:
        """Row heights, warped so that rows +-LIP_ROWS follow the lips' outer contours and the eyelids open."""
        regular = ROWS_Y[self.row]
        k = self.lip_k
        lip = np.where(k >= 0, MOUTH_Y + k / LIP_ROWS * _upper_lip_height(self.mouth_s),
                       MOUTH_Y + k / LIP_ROWS * _lower_lip_height(self.mouth_s))
        blend = smoothstep((np.abs(self.mouth_s) - 1.0) / 0.35)
        y = np.where(np.abs(k) <= LIP_ROWS, lip + blend * (regular - lip), regular)
        up, down = _eye_opening(self.eye_s)
        lift = np.where(self.below_eye, -down * _decay(EYE_Y - regular, 1.5), up * _decay(regular - EYE_Y, 1.5))
        return y + np.where(self.in_eye, lift, 0.0)

    def _lip_coordinate(self) -> np.ndarray:
        """0 at the mouth slit, 1 at the lip's outer contour (larger beyond), per side."""
        t_up = (self.y - MOUTH_Y) / _upper_lip_height(self.mouth_s)
        t_down = (MOUTH_Y - self.y) / _lower_lip_height(self.mouth_s)
        return np.maximum(np.where(self.lower_side, t_down, t_up), 0.0)

    @property
    def in_lips(self) -> np.ndarray:
        return (np.abs(self.mouth_s) <= 1.0 + 1e-9) & (np.abs(self.lip_k) <= LIP_ROWS)


def _bump(x, y, cx, cy, sx, sy):
    return np.exp(-((x - cx) / sx) ** 2 - ((y - cy) / sy) ** 2)


def _relief(x: np.ndarray, y: np.ndarray, skin: _SkinVertices) -> np.ndarray:
    """Outward offset (cm) of the face features from the head surface at (x, y)."""
    ax = np.abs(x)
    nose_height = PchipInterpolator([-2.5, -1.9, -1.2, -0.5, 0.5, 2.0, 3.5, 5.0, 6.0],
                                    [0.0, 0.3, 1.1, 1.9, 1.9, 1.4, 0.85, 0.45, 0.0], extrapolate=False)
    nose_width = PchipInterpolator([-2.0, -1.0, 0.0, 2.0, 4.0, 6.0], [0.9, 1.0, 0.95, 0.75, 0.6, 0.7])
    nose = np.nan_to_num(nose_height(y)) * np.exp(-0.5 * (x / nose_width(np.clip(y, -2.0, 6.0))) ** 2)
    relief = (nose + 0.4 * _bump(ax, y, 1.2, -1.0, 0.6, 0.6)  # nostril wings
              + 0.40 * _bump(ax, y, 2.9, 6.1, 2.4, 0.9)  # brow ridge
              - 0.50 * _bump(ax, y, 3.2, 4.6, 1.6, 1.2)  # eye sockets
              + 0.20 * _bump(ax, y, 3.2, 5.0, 1.1, 0.5)  # upper lids over the eyeballs
              + 0.35 * _bump(ax, y, 4.0, -1.0, 1.8, 2.0)  # cheeks
              + 0.25 * _bump(x, y, 0.0, -2.6, 0.9, 0.9)  # philtrum
              - 0.20 * _bump(x, y, 0.0, -6.4, 2.0, 0.5)  # groove under the lower lip
              + 0.50 * _bump(x, y, 0.0, -8.0, 1.8, 1.3))  # chin
    t = skin.lip_t
    lips = np.where(skin.lower_side, 0.45 * np.exp(-((t - 0.5) / 0.6) ** 2) + 0.1,
                    0.35 * np.exp(-((t - 0.55) / 0.6) ** 2) + 0.12)
    return relief + _lip_profile(skin.mouth_s) * lips * np.exp(-np.maximum(t - 1.0, 0.0) ** 2 / 0.5)


def _skin_rest(skin: _SkinVertices) -> np.ndarray:
    """(Vs, 3) rest positions of the skin mask; the two copies of a mouth slit vertex coincide."""
    base = head_radius(skin.theta, skin.y)
    weight = face_weight(skin.theta, skin.y)
    x0 = base * np.sin(skin.theta)
    radius = np.maximum(base + weight * _relief(x0, skin.y, skin) - 0.4 * (1.0 - weight), 0.0)
    points = head_point(skin.theta, skin.y, radius)
    slit = (skin.lip_k == 0) & skin.lower
    upper_of = {(r, c): v for v, (r, c) in enumerate(zip(skin.row, skin.column)) if not skin.lower[v]}
    for v in np.nonzero(slit)[0]:
        points[v] = points[upper_of[(skin.row[v], skin.column[v])]]
    return points


def _mix(a, b, amount: np.ndarray) -> np.ndarray:
    """(n, 3) colours a + amount (b - a)."""
    return np.asarray(a) + amount[:, None] * (np.asarray(b) - np.asarray(a))


def _skin_colors(skin: _SkinVertices, points: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    ax = np.abs(x)
    colors = _mix(SKIN, HAIR, hair_amount(skin.theta, skin.y))
    brow_line = 6.3 + 0.35 * (1.0 - ((ax - 3.4) / 2.2) ** 2)
    brow = np.clip(1.0 - ((y - brow_line) / 0.42) ** 2, 0.0, 1.0) * smoothstep((ax - 1.2) / 0.5) * smoothstep(
        (5.6 - ax) / 0.9)
    colors = colors + brow[:, None] * (np.array(BROWS) - colors)
    colors[skin.in_lips & (skin.lip_t <= 1.0 + 1e-9)] = LIPS
    colors[(skin.row == _EYE_ROW) & skin.in_eye & ~skin.below_eye] = LASHES
    return colors


# ---- displacement fields ---------------------------------------------------------------------------------
def _rotation_x(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rotation_y(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rotate_about(points: np.ndarray, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Displacement that rotates points about centre (the chord: exact at weight 1, linear in between)."""
    return (points - centre) @ rotation.T + centre - points


def _skin_fields(skin: _SkinVertices, rest: np.ndarray) -> dict[str, np.ndarray]:
    """(Vs, 3) displacement (cm) of each skin vertex for a unit value of each named code dimension."""
    x, y, z = rest.T
    ax, sx = np.abs(x), np.sign(x)
    s, t = skin.mouth_s, skin.lip_t
    profile = _lip_profile(s)
    upper_lip = skin.in_lips & ~skin.lower_side
    lower_lip = skin.in_lips & skin.lower_side
    mouth_area = np.exp(-((x / 3.4) ** 2 + ((y - MOUTH_Y) / 2.0) ** 2) ** 2)
    zeros = np.zeros_like(rest)
    fields = {}

    # jaw: rotation about a hinge near the ear plus a small forward-down slide; weight 1 below the mouth
    side_deg = np.abs(np.degrees(skin.theta))
    band = 0.05 + 4.0 * smoothstep((side_deg - MOUTH_CORNER_DEG) / 25.0)
    jaw = smoothstep(0.5 + (MOUTH_Y - y) / band)
    in_slit = (skin.lip_k == 0) & (np.abs(s) < 1.0 - 1e-9)
    jaw = np.where(in_slit, skin.lower.astype(float), jaw)
    hinge = np.array([0.0, 1.0, 0.0])
    fields["jaw_open"] = jaw[:, None] * (_rotate_about(rest, _rotation_x(10.0), hinge) + [0.0, -0.4, 0.5])

    lip_open = np.where(upper_lip, 1.0, np.where(lower_lip, -1.0, 0.0)) * profile * (1.0 - 0.5 * np.minimum(t, 1.0))
    round_ = zeros.copy()
    round_[:, 0] = -0.35 * x * mouth_area
    round_[:, 2] = 0.55 * mouth_area
    round_[:, 1] = np.where(lip_open > 0, 0.2, 0.3) * lip_open
    fields["lip_round"] = round_

    spread = zeros.copy()
    spread[:, 0] = 0.23 * x * mouth_area
    spread[:, 2] = -0.15 * mouth_area
    spread[:, 1] = np.where(lip_open > 0, 0.08, 0.12) * lip_open - 0.1 * np.where(
        upper_lip, np.minimum(t, 1.0), np.where(lower_lip, -np.minimum(t, 1.0), 0.0)) * profile
    fields["lip_spread"] = spread

    press = zeros.copy()
    press[:, 1] = np.where(upper_lip, -(0.08 + 0.22 * t), np.where(lower_lip, 0.08 + 0.25 * t, 0.0)) * profile
    press[:, 2] = -0.15 * mouth_area
    fields["lip_press"] = press

    corner_x = np.abs(rest[_LAYOUT.grid[_MOUTH_ROW, _LAYOUT.left_corner], 0])
    corner = _bump(ax, y, corner_x, MOUTH_Y, 1.5, 1.5)
    cheek = _bump(ax, y, 3.9, -1.3, 1.6, 1.6)
    squint = np.where(skin.in_eye & skin.below_eye, _decay(EYE_Y - y, 1.0), 0.0)
    smile = np.stack([0.45 * sx * corner + 0.1 * sx * cheek, 0.5 * corner + 0.3 * cheek + 0.1 * squint,
                      -0.25 * corner + 0.25 * cheek], -1)
    smile[:, 1] += 0.05 * np.maximum(lip_open, 0.0)
    fields["smile"] = smile

    brow_band = smoothstep((y - 4.9) / 1.0) * (1.0 - 0.6 * smoothstep((y - 8.0) / 3.0))
    fields["brow_raise"] = np.stack([0 * x, 0.55 * brow_band * np.exp(-((ax - 3.0) / 3.0) ** 2), 0 * x], -1)
    inner_brow = _bump(ax, y, 1.6, 6.2, 1.3, 1.0)
    fields["brow_furrow"] = np.stack([-0.28 * sx * inner_brow, -0.3 * inner_brow, 0.1 * inner_brow], -1)

    for name, eye_side in (("blink_left", 1.0), ("blink_right", -1.0)):
        fields[name] = _blink_field(skin, rest, eye_side)

    lid = np.where(skin.in_eye, np.where(skin.below_eye, 0.5 * _decay(EYE_Y - skin.y, 1.0),
                                         _decay(skin.y - EYE_Y, 1.2)), 0.0)
    fields["gaze_pitch"] = np.stack([0 * x, 0.12 * lid, 0 * x], -1)
    fields["gaze_yaw"] = zeros.copy()

    puff = _bump(ax, y, 3.6, -4.2, 1.6, 1.9)
    outward = np.stack([np.sin(skin.theta), 0 * x, np.cos(skin.theta)], -1)
    fields["cheek_puff"] = 0.75 * puff[:, None] * outward + (0.15 * profile * mouth_area)[:, None] * [0, 0, 1]
    return fields


def _blink_field(skin: _SkinVertices, rest: np.ndarray, eye_side: float) -> np.ndarray:
    """The upper lid of one eye (eye_side +1: +x eye) closes onto the lower lid: the slit's upper copies move
    exactly onto the lower copies; rows above follow less."""
    field = np.zeros_like(rest)
    this_eye = skin.in_eye & (np.sign(skin.theta) == eye_side)
    slit = (skin.row == _EYE_ROW) & this_eye
    upper = {c: v for v in np.nonzero(slit & ~skin.lower)[0] for c in [skin.column[v]]}
    lower = {c: v for v in np.nonzero(slit & skin.lower)[0] for c in [skin.column[v]]}
    closing = {c: rest[lower[c]] - rest[upper[c]] if c in lower else np.zeros(3) for c in upper}
    for v in np.nonzero(this_eye & ~skin.below_eye)[0]:
        weight = _decay(ROWS_Y[skin.row[v]] - EYE_Y, 1.6)
        field[v] = weight * closing[skin.column[v]] + [0.0, 0.0, 0.12 * weight * (skin.row[v] > _EYE_ROW)]
    return field


def _detail_fields(rest: np.ndarray, count: int, weight: np.ndarray) -> np.ndarray:
    """(count, Vs, 3) smooth random fields (sums of 3 Gaussian bumps with random directions, times `weight`),
    fixed seed, scaled so that codes ~ N(0, 0.3^2) give DETAIL_RMS_CM of RMS vertex displacement."""
    rng = np.random.default_rng(DETAIL_SEED)
    centres = rest[rng.integers(len(rest), size=(count, 3))]  # (count, 3 bumps, 3)
    widths = rng.uniform(1.0, 3.0, size=(count, 3))
    directions = rng.normal(size=(count, 3, 3))
    falloff = np.exp(-((rest[None, None] - centres[:, :, None]) ** 2).sum(-1) / (2.0 * widths[..., None] ** 2))
    fields = falloff.transpose(0, 2, 1) @ directions * weight[:, None]  # (count, Vs, 3)
    rms = math.sqrt(0.3 ** 2 * (fields ** 2).sum(axis=(0, 2)).mean())
    return fields * (DETAIL_RMS_CM / rms)


# ---- mouth interior and eyeballs -------------------------------------------------------------------------
_INTERIOR_ROWS = ((0.0, 0.0, MOUTH), (0.18, 0.35, TEETH), (0.5, 1.3, MOUTH), (0.8, 0.7, TONGUE), (1.0, 0.0, MOUTH))


def _interior(layout: _Layout, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mouth interior: rows between the upper (t=0) and lower (t=1) inner lip edges across the mouth,
    recessed. Returns mixing (Vi, Vs) (each vertex a blend of skin vertices), offsets (Vi, 3) cm, colors
    (Vi, 3), faces (Fi, 3) (indices < Vs: skin vertices; Vs + i: this part's vertex i)."""
    span = layout.mouth_span
    upper = layout.grid[_MOUTH_ROW, span]
    lower = np.array([layout.lower.get((_MOUTH_ROW, int(c)), layout.grid[_MOUTH_ROW, c]) for c in span])
    s = COLUMNS_DEG[span] / MOUTH_CORNER_DEG
    mixing = np.zeros((len(_INTERIOR_ROWS) * len(span), len(rest)))
    offsets, colors = [], []
    for r, (t, depth, color) in enumerate(_INTERIOR_ROWS):
        for c in range(len(span)):
            mixing[r * len(span) + c, upper[c]] += 1.0 - t
            mixing[r * len(span) + c, lower[c]] += t
            offsets.append((0.0, 0.0, -depth * _lip_profile(s[c]) ** 0.5))
            colors.append(color)
    faces = []
    for r in range(len(_INTERIOR_ROWS) - 1):
        for c in range(len(span) - 1):
            a, b = r * len(span) + c, r * len(span) + c + 1
            faces += [(a, b, b + len(span)), (a, b + len(span), a + len(span))]
    return mixing, np.array(offsets), np.array(colors), np.array(faces, dtype=np.int64) + len(rest)


def _under_chin(layout: _Layout, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fan closing the mask's bottom row under the jaw; its centre moves with the row's mean (the jaw).
    Returns what `_interior` does."""
    bottom = layout.grid[0]
    mixing = np.zeros((1, len(rest)))
    mixing[0, bottom] = 1.0 / len(bottom)
    centre = np.array([0.0, CHIN_Y - 0.3, HEAD_AXIS_Z + 1.5])
    faces = np.array([(len(rest), bottom[j + 1], bottom[j]) for j in range(len(bottom) - 1)], dtype=np.int64)
    return mixing, (centre - rest[bottom].mean(0))[None], np.array([SKIN]), faces


EYEBALL_RADIUS = 1.3
_EYE_RINGS_DEG = (9.0, 11.0, 24.0, 26.0, 40.0, 60.0, 90.0, 130.0)  # angles from the forward pole
_EYE_SEGMENTS = 16


def _eyeball(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sphere with its pole forward (+z): vertices (Ve, 3), colors (Ve, 3), faces (Fe, 3)."""
    around = np.linspace(0, 2 * np.pi, _EYE_SEGMENTS, endpoint=False)
    points, colors = [centre + [0, 0, EYEBALL_RADIUS]], [PUPIL]
    for ring_deg in _EYE_RINGS_DEG:
        a = math.radians(ring_deg)
        for phi in around:
            points.append(centre + EYEBALL_RADIUS * np.array(
                [math.sin(a) * math.cos(phi), math.sin(a) * math.sin(phi), math.cos(a)]))
            colors.append(PUPIL if ring_deg < 10 else IRIS if ring_deg < 25 else EYE_WHITE)
    points.append(centre - [0, 0, EYEBALL_RADIUS])
    colors.append(EYE_WHITE)
    n, rings = _EYE_SEGMENTS, len(_EYE_RINGS_DEG)
    faces = [(0, 1 + (k + 1) % n, 1 + k) for k in range(n)]
    for r in range(rings - 1):
        for k in range(n):
            a, b = 1 + r * n + k, 1 + r * n + (k + 1) % n
            faces += [(a, b, b + n), (a, b + n, a + n)]
    last = 1 + rings * n
    faces += [(1 + (rings - 1) * n + k, 1 + (rings - 1) * n + (k + 1) % n, last) for k in range(n)]
    return np.array(points), np.array(colors), np.array(faces, dtype=np.int64)


def _eye_centre(skin: _SkinVertices, rest: np.ndarray, eye_side: float) -> np.ndarray:
    """Behind the middle of the eye hole, with the eyeball's front just behind the lid edges."""
    slit = (skin.row == _EYE_ROW) & skin.in_eye & (np.sign(skin.theta) == eye_side)
    corners = slit & ((skin.eye_s == 0) | (skin.eye_s == 1))
    middle = slit & (np.abs(skin.eye_s - 0.5) < 0.25)
    front = rest[middle, 2].min() - 0.08
    return np.array([rest[corners, 0].mean(), rest[middle, 1].mean(), front - EYEBALL_RADIUS])


# ---- the model -------------------------------------------------------------------------------------------
class FaceModel:
    """Linear face: mean (Vf, 3), basis (Vf*3, 256) (float64, head frame, cm), faces (F, 3) int64, colors
    (Vf, 3) float32 in [0, 1]; row 3v + a of the basis is coordinate a of vertex v. The lip vertex set's rows
    of both: lip_mean (L, 3) and lip_basis (3L, 256) (float64), so lip_vertices(code) = lip_mean + lip_basis @
    code (sample/lip_constraint.py fits codes to vertices with them)."""

    def __init__(self, mean: np.ndarray, basis: np.ndarray, faces: np.ndarray, colors: np.ndarray):
        self.mean = torch.tensor(mean, dtype=torch.float64)
        self.basis = torch.tensor(basis, dtype=torch.float64)
        self.faces = torch.tensor(faces, dtype=torch.int64)
        self.colors = torch.tensor(colors, dtype=torch.float32)
        self.num_vertices = len(mean)
        lips = torch.from_numpy(LIP_VERTEX_INDICES.copy())
        self.lip_mean = self.mean[lips]
        self.lip_basis = self.basis.view(-1, 3, FACE_DIM)[lips].reshape(-1, FACE_DIM)
        self._converted: dict = {}

    def _on(self, name: str, like: torch.Tensor) -> torch.Tensor:
        key = (name, like.dtype, like.device)
        if key not in self._converted:
            self._converted[key] = getattr(self, name).to(dtype=like.dtype, device=like.device)
        return self._converted[key]

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """code (..., 256) -> face vertices (..., Vf, 3), head frame, cm."""
        _check_code(code)
        flat = code @ self._on("basis", code).T
        return self._on("mean", code) + flat.view(*code.shape[:-1], self.num_vertices, 3)

    def lip_vertices(self, code: torch.Tensor) -> torch.Tensor:
        """code (..., 256) -> the lip vertex set (..., L, 3), head frame, cm (only these rows are decoded)."""
        _check_code(code)
        flat = code @ self._on("lip_basis", code).T
        return self._on("lip_mean", code) + flat.view(*code.shape[:-1], len(LIP_VERTEX_INDICES), 3)


def _check_code(code: torch.Tensor) -> None:
    if not torch.is_tensor(code) or code.shape[-1:] != (FACE_DIM,):
        shape = tuple(code.shape) if hasattr(code, "shape") else type(code).__name__
        raise ValueError(f"face code must be a tensor (..., {FACE_DIM}), got {shape}")


def face_code_limits() -> tuple[np.ndarray, np.ndarray]:
    """(lower (256,), upper (256,)) float64: the plausible range of every face code dim
    (avatar.parameters.FACE_CODE_TABLE, then FACE_DETAIL_RANGE for the detail dims)."""
    lower = np.full(FACE_DIM, FACE_DETAIL_RANGE[0])
    upper = np.full(FACE_DIM, FACE_DETAIL_RANGE[1])
    lower[:len(FACE_CODE_TABLE)] = [d.lower for d in FACE_CODE_TABLE]
    upper[:len(FACE_CODE_TABLE)] = [d.upper for d in FACE_CODE_TABLE]
    return lower, upper


def clamp_face_code(code: torch.Tensor) -> torch.Tensor:
    """code (..., 256) clamped to the plausible ranges (`face_code_limits`), what the renderer shows: the eyes
    stay in their sockets, the lower lip above the chin and the lips uncrossed by any single dim."""
    _check_code(code)
    lower, upper = (torch.as_tensor(bound, dtype=code.dtype, device=code.device) for bound in face_code_limits())
    return torch.clamp(code, lower, upper)


@functools.lru_cache(maxsize=1)
def face_model() -> FaceModel:
    """The reference face (built once, deterministic)."""
    skin = _SkinVertices(_LAYOUT)
    rest = _skin_rest(skin)
    skin_count = len(rest)
    skin_basis = np.zeros((skin_count, 3, FACE_DIM))
    weight = face_weight(skin.theta, skin.y)  # the mask's border stays put
    for name, field in _skin_fields(skin, rest).items():
        skin_basis[:, :, FACE_INDEX[name]] = weight[:, None] * field
    named = len(FACE_CODE_DIMS)
    skin_basis[:, :, named:] = _detail_fields(rest, FACE_DIM - named, weight).transpose(1, 2, 0)

    means, bases, colors = [rest], [skin_basis], [_skin_colors(skin, rest)]
    faces = [_LAYOUT.faces()]
    count = skin_count
    for mixing, offsets, part_colors, part_faces in (_interior(_LAYOUT, rest), _under_chin(_LAYOUT, rest)):
        means.append(mixing @ rest + offsets)
        bases.append((mixing @ skin_basis.reshape(skin_count, -1)).reshape(len(mixing), 3, FACE_DIM))
        colors.append(part_colors)
        faces.append(np.where(part_faces >= skin_count, part_faces - skin_count + count, part_faces))
        count += len(mixing)
    for eye_side in (1.0, -1.0):
        centre = _eye_centre(skin, rest, eye_side)
        points, eye_colors, eye_faces = _eyeball(centre)
        eye_basis = np.zeros((len(points), 3, FACE_DIM))
        eye_basis[:, :, FACE_INDEX["gaze_yaw"]] = _rotate_about(points, _rotation_y(25.0), centre)
        eye_basis[:, :, FACE_INDEX["gaze_pitch"]] = _rotate_about(points, _rotation_x(-20.0), centre)
        means.append(points), bases.append(eye_basis), colors.append(eye_colors)
        faces.append(eye_faces + count)
        count += len(points)
    mean = np.concatenate(means)
    basis = np.concatenate(bases).reshape(-1, FACE_DIM)
    return FaceModel(mean, basis, np.concatenate(faces), np.concatenate(colors))


def decode(code: torch.Tensor) -> torch.Tensor:
    """code (..., 256) -> face vertices (..., Vf, 3) of the reference face (head frame, cm)."""
    return face_model().decode(code)


def lip_vertices(code: torch.Tensor) -> torch.Tensor:
    """code (..., 256) -> lip vertices (..., L, 3) (LIP_VERTEX_INDICES order; head frame, cm)."""
    return face_model().lip_vertices(code)
