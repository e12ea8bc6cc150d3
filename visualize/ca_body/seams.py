"""Hiding UV seams (the original's `utils/seams.py`): texels outside the islands copied from inside them
(`impaint`), and texels along island borders blended with the texel across the seam (`resample`).
The maps come from the checkpoint (`seam_sampler.*` at 1024^2 and `seam_sampler_2k.*` at 2048^2).
Both work in place, on maps the caller owns (as the original's impaint does)."""
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
        self.seam: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.register_load_state_dict_post_hook(lambda module, _: setattr(module, "seam", None))

    def seam_texels(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(flat indices (N,), grid_sample coordinates (N, 2), weights (N,)) of the texels whose weight is not
        0: elsewhere the blend returns the texel itself. Computed once per device."""
        if self.seam is None or self.seam[0].device != self.weights.device:
            flat_weights = self.weights.reshape(-1)
            index = torch.nonzero(flat_weights)[:, 0]
            self.seam = index, 2.0 * (self.uvs.reshape(-1, 2)[index] - 0.5), flat_weights[index]
        return self.seam

    def impaint(self, maps: torch.Tensor) -> torch.Tensor:
        """maps (B, C, S, S) with the dst texels replaced by the src texels, in place; returns maps."""
        maps[:, :, self.dst_ij[:, 0], self.dst_ij[:, 1]] = maps[:, :, self.src_ij[:, 0], self.src_ij[:, 1]]
        return maps

    def resample(self, maps: torch.Tensor) -> torch.Tensor:
        """maps (B, C, S, S) blended with their bilinear samples across the seams (border padding), every
        sample taken before any texel changes; in place, returns maps."""
        index, grid, weight = self.seam_texels()
        across = F.grid_sample(maps, grid[None, None].expand(len(maps), -1, -1, -1), align_corners=False,
                               padding_mode="border")[:, :, 0]  # (B, C, N)
        flat = maps.view(*maps.shape[:2], -1)
        flat[:, :, index] = (1.0 - weight) * flat[:, :, index] + weight * across
        return maps
