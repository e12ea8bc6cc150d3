"""Hiding UV seams (the original's `utils/seams.py`): texels outside the islands copied from inside them
(`impaint`), and texels along island borders blended with the texel across the seam (`resample`).
The maps come from the checkpoint (`seam_sampler.*` at 1024^2 and `seam_sampler_2k.*` at 2048^2)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SeamSampler(nn.Module):
    """dst_ij / src_ij: (N, 2) texel (row, column) pairs; uvs: (S, S, 2) where each texel looks across the
    seam, (x = u, y = v) in [0, 1]; weights: (1, 1, S, S) how much of that it takes (0 off the borders)."""

    def __init__(self, n_pairs: int, size: int):
        super().__init__()
        self.register_buffer("dst_ij", torch.zeros(n_pairs, 2, dtype=torch.int64))
        self.register_buffer("src_ij", torch.zeros(n_pairs, 2, dtype=torch.int64))
        self.register_buffer("uvs", torch.zeros(size, size, 2))
        self.register_buffer("weights", torch.zeros(1, 1, size, size))

    def impaint(self, maps: torch.Tensor) -> torch.Tensor:
        """maps (B, C, S, S) with the dst texels replaced by the src texels (a new tensor)."""
        filled = maps.clone()
        filled[:, :, self.dst_ij[:, 0], self.dst_ij[:, 1]] = maps[:, :, self.src_ij[:, 0], self.src_ij[:, 1]]
        return filled

    def resample(self, maps: torch.Tensor) -> torch.Tensor:
        """maps (B, C, S, S) blended with their bilinear samples across the seams (border padding), where the
        weight is not 0 (elsewhere the blend would return the texel itself: those are left untouched)."""
        flat_weights = self.weights.reshape(-1)
        seam = torch.nonzero(flat_weights)[:, 0]
        grid = (2.0 * (self.uvs.reshape(-1, 2)[seam] - 0.5))[None, None].expand(len(maps), -1, -1, -1)
        across = F.grid_sample(maps, grid, align_corners=False, padding_mode="border")[:, :, 0]  # (B, C, N)
        flat = maps.reshape(*maps.shape[:2], -1)
        weight = flat_weights[seam]
        blended = flat.clone()
        blended[:, :, seam] = (1.0 - weight) * flat[:, :, seam] + weight * across
        return blended.reshape(maps.shape)
