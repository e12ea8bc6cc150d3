"""Per-vertex values to and from the UV layout (the original's `utils/geom.py` GeometryModule), and the
per-vertex view cosines the view-dependent texture is conditioned on.

The UV index maps (which triangle and which barycentrics each texel has) were rasterised by the original with
pytorch3d and stored in the checkpoint (`geo_fn.index_image`, `bary_image`, `face_index_image`, texels outside
the UV islands filled with the nearest island texel); they are loaded from there, not recomputed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEGENERATE_NORM = 1e-5  # normals shorter than this are left unnormalised, as in the original


class GeometryModule(nn.Module):
    """The mesh topology and its UV index maps; buffers named as the original's state dict."""

    def __init__(self, n_faces: int, n_uvs: int, n_vertices: int, uv_size: int, n_uvs_per_vertex: int = 4):
        super().__init__()
        self.register_buffer("vi", torch.zeros(n_faces, 3, dtype=torch.int32))
        self.register_buffer("vt", torch.zeros(n_uvs, 2))
        self.register_buffer("vti", torch.zeros(n_faces, 3, dtype=torch.int32))
        self.register_buffer("v2uv", torch.zeros(n_vertices, n_uvs_per_vertex, dtype=torch.int64))
        self.register_buffer("index_image", torch.zeros(uv_size, uv_size, 3, dtype=torch.int64))
        self.register_buffer("bary_image", torch.zeros(uv_size, uv_size, 3))
        self.register_buffer("face_index_image", torch.zeros(uv_size, uv_size, dtype=torch.int64))
        self.texels: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.register_load_state_dict_post_hook(lambda module, _: setattr(module, "texels", None))

    def covered_texels(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flat indices (N,), corner vertices (N, 3), barycentrics (N, 3)) of the texels the index map
        assigns a triangle. Computed once per device."""
        if self.texels is None or self.texels[0].device != self.index_image.device:
            covered = (self.index_image != -1).all(-1).reshape(-1)
            index = torch.nonzero(covered)[:, 0]
            self.texels = (index, self.index_image.reshape(-1, 3)[index],
                           self.bary_image.reshape(-1, 3)[index].float())
        return self.texels

    def to_uv(self, values: torch.Tensor) -> torch.Tensor:
        """Per-vertex values (B, V, C) -> UV maps (B, C, S, S): barycentric blends of each texel's triangle,
        0 where the index map has none."""
        index, corners, bary = self.covered_texels()
        blended = (values[:, corners] * bary[None, :, :, None]).sum(2)  # (B, N, C)
        size = self.index_image.shape[0]
        maps = values.new_zeros(values.shape[0], values.shape[-1], size * size)
        maps[:, :, index] = blended.permute(0, 2, 1)
        return maps.reshape(values.shape[0], values.shape[-1], size, size)

    def from_uv(self, maps: torch.Tensor) -> torch.Tensor:
        """UV maps (B, C, S, S) -> per-vertex values (B, V, C): bilinear samples at the vertex's UV
        coordinates (corners aligned), averaged over the vertex's UV copies (v2uv)."""
        grid = (self.vt * 2.0 - 1.0)[None, :, None].expand(len(maps), -1, -1, -1)
        per_uv = F.grid_sample(maps, grid, mode="bilinear", align_corners=True)[..., 0].permute(0, 2, 1)
        return per_uv[:, self.v2uv].mean(2)


def normalised_or_kept(vectors: torch.Tensor) -> torch.Tensor:
    """vectors (..., 3) divided by their length, except those shorter than DEGENERATE_NORM."""
    norm = vectors.norm(dim=-1, keepdim=True)
    return vectors / torch.where(norm < DEGENERATE_NORM, torch.ones_like(norm), norm)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit normals (B, V, 3): the sum of the unit normals of the faces (F, 3) around each vertex."""
    corners = vertices[:, faces]  # (B, F, 3, 3)
    face = normalised_or_kept(torch.cross(corners[:, :, 1] - corners[:, :, 0],
                                          corners[:, :, 2] - corners[:, :, 0], dim=-1))
    summed = torch.zeros_like(vertices)
    for corner in range(3):
        summed.index_add_(1, faces[:, corner], face)
    return normalised_or_kept(summed)


def view_cosines(vertices: torch.Tensor, faces: torch.Tensor, camera_positions: torch.Tensor) -> torch.Tensor:
    """cos of the angle between each vertex normal and the direction camera -> vertex: (B, V); vertices
    (B, V, 3), faces (F, 3) int64, camera_positions (B, 3)."""
    normals = F.normalize(vertex_normals(vertices, faces), dim=-1)
    from_camera = F.normalize(vertices - camera_positions[:, None], dim=-1)
    return (normals * from_camera).sum(-1)
