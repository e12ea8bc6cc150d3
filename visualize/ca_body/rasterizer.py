"""Drawing the textured mesh through OpenCV-style cameras with a small torch rasteriser, in place of the
original's pytorch3d MeshRasterizer + TexturesUV (its `utils/render.py` RenderLayer), with the same
conventions:

- cameras: K (3 x 3) and Rt (3 x 4) map a point X to pixel (u, v) = (fx x/z + cx, fy y/z + cy) of
  (x, y, z) = R X + t; pixel (row i, column j) samples the point (j + 0.5, i + 0.5);
- a pixel is covered by a triangle when all three screen-space barycentrics are > 0 (either winding: no
  culling), and faces with a vertex behind the camera are dropped; the nearest covering triangle wins
  (perspective-correct depth), ties going to the lower face index;
- barycentrics are perspective-corrected (b_i z_j z_k, normalised), the UVs interpolated with them and the
  texture sampled bilinearly (corners aligned, border padding); uncovered pixels are 0.

Work is vectorised over (triangle, pixel of its bounding box) pairs, in chunks of at most CHUNK pairs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK = 1 << 22
PERSPECTIVE_EPS = 1e-8


def project(vertices: torch.Tensor, K: torch.Tensor, Rt: torch.Tensor) -> torch.Tensor:
    """World points (B, V, 3) -> (B, V, 3): pixel x, pixel y, depth along the camera's z."""
    camera = vertices @ Rt[:, :, :3].transpose(1, 2) + Rt[:, None, :, 3]
    depth = camera[..., 2:]
    pixels = camera[..., :2] / depth * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]
    return torch.cat([pixels, depth], -1)


def edge(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Twice the signed area of the triangle (a, b, p); points (..., 2)."""
    return (p[..., 0] - a[..., 0]) * (b[..., 1] - a[..., 1]) - (p[..., 1] - a[..., 1]) * (b[..., 0] - a[..., 0])


def bounding_boxes(corners: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Triangles (F, 3, 2) in pixels -> the first pixel (column, row) whose centre lies in each one's
    bounding box and the box's extent in pixels (0 when none), both (F, 2) int64."""
    low = torch.ceil(corners.amin(1) - 0.5).clamp(min=0)
    high = torch.minimum(torch.floor(corners.amax(1) - 0.5), corners.new_tensor([width - 1, height - 1]))
    return low.long(), (high - low + 1).clamp(min=0).long()


def face_pixel_pairs(low: torch.Tensor, extent: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(face index, pixel index row * width + column) of every pixel of each bounding box, both (N,)."""
    counts = extent[:, 0] * extent[:, 1]
    faces = torch.repeat_interleave(torch.arange(len(low), device=low.device), counts)
    offset = torch.arange(len(faces), device=low.device) - (torch.cumsum(counts, 0) - counts)[faces]
    columns = low[faces, 0] + offset % extent[faces, 0]
    rows = low[faces, 1] + torch.div(offset, extent[faces, 0], rounding_mode="floor")
    return faces, rows * width + columns


def barycentrics(triangles: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Screen-space barycentrics (N, 3) of points (N, 2) in triangles (N, 3, 2)."""
    a, b, c = triangles.unbind(1)
    area = edge(a, b, c) + PERSPECTIVE_EPS
    return torch.stack([edge(b, c, points), edge(c, a, points), edge(a, b, points)], -1) / area[:, None]


def rasterize(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One view: screen vertices (V, 3) from project, faces (F, 3) int64 -> the nearest face per pixel
    (H, W) int64 (-1: none) and its perspective-correct barycentrics (H, W, 3) (0 where none)."""
    n_pixels = height * width
    best_depth = screen.new_full((n_pixels,), float("inf"))
    best_face = torch.full((n_pixels,), -1, dtype=torch.int64, device=screen.device)
    best_bary = screen.new_zeros(n_pixels, 3)
    triangles = screen[faces]  # (F, 3, 3)
    face_ids = torch.nonzero((triangles[..., 2] > 0).all(1))[:, 0]
    low, extent = bounding_boxes(triangles[face_ids, :, :2], height, width)
    chunk_of_face = torch.div(torch.cumsum(extent[:, 0] * extent[:, 1], 0), CHUNK, rounding_mode="floor")
    chunk_sizes = torch.unique_consecutive(chunk_of_face, return_counts=True)[1].tolist()
    for chunk, chunk_low, chunk_extent in zip(face_ids.split(chunk_sizes), low.split(chunk_sizes),
                                              extent.split(chunk_sizes)):
        local, pixel = face_pixel_pairs(chunk_low, chunk_extent, width)
        tri = triangles[chunk[local]]  # (N, 3, 3)
        point = torch.stack([pixel % width, torch.div(pixel, width, rounding_mode="floor")], -1).to(screen) + 0.5
        bary = barycentrics(tri[..., :2], point)
        inside = (bary > 0).all(1)
        bary, z, pixel, face = bary[inside], tri[inside][..., 2], pixel[inside], chunk[local[inside]]
        weighted = bary * torch.stack([z[:, 1] * z[:, 2], z[:, 0] * z[:, 2], z[:, 0] * z[:, 1]], -1)
        weighted = weighted / weighted.sum(1, keepdim=True).clamp(min=PERSPECTIVE_EPS)
        depth = (weighted * z).sum(1)
        nearest = screen.new_full((n_pixels,), float("inf")).scatter_reduce(0, pixel, depth, "amin")
        at_nearest = depth == nearest[pixel]
        first = torch.full((n_pixels,), len(faces), dtype=torch.int64, device=screen.device)
        first = first.scatter_reduce(0, pixel[at_nearest], face[at_nearest], "amin")
        winner = at_nearest & (face == first[pixel]) & (depth < best_depth[pixel])
        pixel = pixel[winner]
        best_depth[pixel], best_face[pixel], best_bary[pixel] = depth[winner], face[winner], weighted[winner]
    return best_face.reshape(height, width), best_bary.reshape(height, width, 3)


def render(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, uv_faces: torch.Tensor,
           texture: torch.Tensor, K: torch.Tensor, Rt: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Textured views (B, C, H, W): vertices (B, V, 3), faces and uv_faces (F, 3), uvs (T, 2) in [0, 1]
    (u right, v down the texture rows), texture (B, C, S, S), K (B, 3, 3), Rt (B, 3, 4)."""
    faces, uv_faces = faces.long(), uv_faces.long()
    screen = project(vertices, K, Rt)
    images = []
    for view in range(len(vertices)):
        face, bary = rasterize(screen[view], faces, height, width)
        covered = face >= 0
        corner_uvs = uvs[uv_faces[face.clamp(min=0)]]  # (H, W, 3, 2)
        uv = (bary[..., None] * corner_uvs).sum(2)
        colour = F.grid_sample(texture[view:view + 1], (uv * 2 - 1)[None], mode="bilinear", padding_mode="border",
                               align_corners=True)[0]
        images.append(colour * covered)
    return torch.stack(images)
