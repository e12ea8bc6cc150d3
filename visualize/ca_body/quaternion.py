"""Quaternions stored as (x, y, z, w), the layout of the original's skeletons (`PreRotation` in the LBS json).

All functions broadcast over leading dimensions: q is (..., 4), v is (..., 3).
"""
from __future__ import annotations

import torch


def multiply(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Hamilton product q * r (apply r first, then q): (..., 4)."""
    qx, qy, qz, qw = q.unbind(-1)
    rx, ry, rz, rw = r.unbind(-1)
    return torch.stack([qw * rx + qx * rw + qy * rz - qz * ry,
                        qw * ry - qx * rz + qy * rw + qz * rx,
                        qw * rz + qx * ry - qy * rx + qz * rw,
                        qw * rw - qx * rx - qy * ry - qz * rz], -1)


def rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """v rotated by the unit quaternion q: (..., 3)."""
    axis, w = q[..., :3], q[..., 3:]
    cross = torch.cross(axis, v, dim=-1)
    return v + 2 * (cross * w + torch.cross(axis, cross, dim=-1))


def invert(q: torch.Tensor) -> torch.Tensor:
    """q^-1 = conjugate / |q|^2: (..., 4)."""
    conjugate = q * q.new_tensor([-1.0, -1.0, -1.0, 1.0])
    return conjugate / (q * q).sum(-1, keepdim=True)


def from_euler_xyz(angles: torch.Tensor) -> torch.Tensor:
    """The rotation Rz(az) @ Ry(ay) @ Rx(ax) (x applied first) of angles (..., 3) in radians: (..., 4)."""
    cx, cy, cz = torch.cos(angles * 0.5).unbind(-1)
    sx, sy, sz = torch.sin(angles * 0.5).unbind(-1)
    return torch.stack([sx * cy * cz - cx * sy * sz,
                        cx * sy * cz + sx * cy * sz,
                        cx * cy * sz - sx * sy * cz,
                        cx * cy * cz + sx * sy * sz], -1)


def to_matrix(q: torch.Tensor) -> torch.Tensor:
    """The 3 x 3 rotation matrix of the unit quaternion q: (..., 3, 3), acting on column vectors."""
    x, y, z, w = q.unbind(-1)
    xx, yy, zz = 2 * x * x, 2 * y * y, 2 * z * z
    xy, xz, yz = 2 * x * y, 2 * x * z, 2 * y * z
    wx, wy, wz = 2 * w * x, 2 * w * y, 2 * w * z
    rows = [torch.stack([1 - (yy + zz), xy - wz, xz + wy], -1),
            torch.stack([xy + wz, 1 - (xx + zz), yz - wx], -1),
            torch.stack([xz - wy, yz + wx, 1 - (xx + yy)], -1)]
    return torch.stack(rows, -2)
