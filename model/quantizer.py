"""Residual vector quantiser: `depth` Euclidean codebooks, each quantising what the previous ones left over.

Level 0 quantises the latent z, level l quantises z minus the sum of the codes chosen at levels < l; the
quantised latent is the sum of the `depth` chosen codes. Each codebook holds `size` vectors of width D
(the latent width itself: no projection). Codebooks are buffers, not parameters, and learn without the
optimiser (as in the original):

* k-means initialisation on the first training batch (`kmeans_iters` Lloyd iterations);
* exponential moving averages of per-code counts and vector sums (decay 0.99), codes = sum / count with
  Laplace smoothing (eps 1e-5);
* dead-code restarts: after every training update, codes whose EMA count is below `dead_code_threshold`
  are replaced by vectors drawn uniformly from the current batch (with `torch.randint`, so a run is
  deterministic given the torch RNG); a restarted code gets the count `dead_code_threshold`.

Gradients reach the encoder through the straight-through estimator; the commitment loss
MSE(stop_grad(code), residual) is averaged over valid vectors and over levels.

DDP: when torch.distributed is initialised, the k-means statistics and the EMA counts and sums are summed
over all processes (all_reduce) and restart vectors and k-means seeds are taken from rank 0 (broadcast), so
every process keeps identical codebooks. Every process must therefore run the training forward on every
step (DDP requires that anyway). Training-time perplexity and usage then describe the global batch.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.all_reduce(tensor)
    return tensor


def _sample_rows(x: torch.Tensor, count: int) -> torch.Tensor:
    """(count, D) rows of x (M, D) drawn uniformly with replacement; identical on every DDP rank (rank 0's)."""
    rows = x[torch.randint(x.shape[0], (count,), device=x.device)]
    if _distributed():
        dist.broadcast(rows, src=0)
    return rows


class Codebook(nn.Module):
    """One Euclidean codebook of `size` vectors of width `dim`, learnt by k-means + EMA (no gradients).

    Buffers: `inited` () bool, `cluster_size` (size,) EMA counts, `embed` (size, dim) codes,
    `embed_avg` (size, dim) EMA vector sums.
    """

    def __init__(self, size: int, dim: int, decay: float = 0.99, eps: float = 1e-5, kmeans_iters: int = 10,
                 dead_code_threshold: float = 2.0):
        super().__init__()
        self.size, self.decay, self.eps = size, decay, eps
        self.kmeans_iters, self.dead_code_threshold = kmeans_iters, dead_code_threshold
        self.register_buffer("inited", torch.tensor(False))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.randn(size, dim))
        self.register_buffer("embed_avg", self.embed.clone())

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index (M,) of the closest code to each row of x (M, D)."""
        distances = x.pow(2).sum(1, keepdim=True) - 2 * x @ self.embed.t() + self.embed.pow(2).sum(1)
        return distances.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes (..., D) of integer indices (...)."""
        return F.embedding(indices, self.embed)

    @torch.no_grad()
    def statistics(self, x: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-code counts (size,) and vector sums (size, D) of x (M, D), summed over DDP ranks."""
        counts = torch.zeros(self.size, device=x.device).index_add_(0, indices, torch.ones_like(indices, dtype=x.dtype))
        sums = torch.zeros_like(self.embed).index_add_(0, indices, x)
        return _all_reduce_sum(counts), _all_reduce_sum(sums)

    @torch.no_grad()
    def kmeans_init(self, x: torch.Tensor) -> None:
        """Lloyd's k-means on x (M, D), seeded with random rows; empty clusters keep their centre."""
        self.embed.copy_(_sample_rows(x, self.size))
        for _ in range(self.kmeans_iters):
            counts, sums = self.statistics(x, self.nearest(x))
            filled = counts > 0
            self.embed[filled] = sums[filled] / counts[filled, None]
        counts, _ = self.statistics(x, self.nearest(x))
        self.cluster_size.copy_(counts)
        self.embed_avg.copy_(self.embed * counts[:, None])
        self.inited.fill_(True)

    @torch.no_grad()
    def ema_update(self, counts: torch.Tensor, sums: torch.Tensor) -> None:
        """Move EMA counts, sums and codes towards a batch's per-code counts (size,) and sums (size, D)."""
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.size * self.eps) * total
        self.embed.copy_(self.embed_avg / smoothed[:, None])

    @torch.no_grad()
    def restart_dead_codes(self, x: torch.Tensor) -> None:
        """Replace codes whose EMA count is below the threshold by random rows of x (M, D)."""
        dead = self.cluster_size < self.dead_code_threshold
        if not dead.any():
            return
        fresh = _sample_rows(x, int(dead.sum()))
        self.embed[dead] = fresh
        self.cluster_size[dead] = self.dead_code_threshold
        self.embed_avg[dead] = fresh * self.dead_code_threshold


class Quantized(NamedTuple):
    """Output of `ResidualQuantizer.forward`."""
    latent: torch.Tensor      # (B, K, D) sum of the chosen codes, straight-through to the input
    indices: torch.Tensor     # (B, K, depth) int64 code index per level
    commit: torch.Tensor      # () commitment loss, mean over valid vectors and levels
    perplexity: torch.Tensor  # (depth,) exp(entropy) of the code histogram of each level in this batch
    usage: torch.Tensor       # (depth,) fraction of each level's codebook used in this batch


class ResidualQuantizer(nn.Module):
    """`depth` levels of `codebook_size` x `dim` codebooks applied to successive residuals."""

    def __init__(self, depth: int, codebook_size: int, dim: int, decay: float = 0.99, eps: float = 1e-5,
                 kmeans_iters: int = 10, dead_code_threshold: float = 2.0):
        super().__init__()
        self.levels = nn.ModuleList(
            Codebook(codebook_size, dim, decay, eps, kmeans_iters, dead_code_threshold) for _ in range(depth))

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> Quantized:
        """Quantise z (B, K, D); mask (B, K) bool marks valid vectors (None: all valid).

        In training mode each codebook is k-means initialised on its first batch, then EMA-updated and
        dead codes restarted, using valid vectors only (all vectors if none is valid).
        """
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(z.float(), mask)

    def _quantize(self, z: torch.Tensor, mask: torch.Tensor | None) -> Quantized:
        flat_mask = torch.ones(z.shape[:2], dtype=torch.bool, device=z.device) if mask is None else mask
        flat_mask = flat_mask.reshape(-1)
        if not flat_mask.any():
            flat_mask = torch.ones_like(flat_mask)
        residual, latent = z, torch.zeros_like(z)
        indices, commits, perplexities, usages = [], [], [], []
        for codebook in self.levels:
            flat = residual.reshape(-1, residual.shape[-1])
            valid = flat[flat_mask].detach()
            if self.training and not codebook.inited:
                codebook.kmeans_init(valid)
            level_indices = codebook.nearest(flat.detach())
            code = codebook.lookup(level_indices).view_as(residual)
            if self.training:
                counts, sums = codebook.statistics(valid, level_indices[flat_mask])
                codebook.ema_update(counts, sums)
                codebook.restart_dead_codes(valid)
            else:
                counts = torch.bincount(level_indices[flat_mask], minlength=codebook.size).float()
            commits.append(((code.detach() - residual).pow(2).mean(-1).reshape(-1)[flat_mask]).mean())
            perplexities.append(_perplexity(counts))
            usages.append((counts > 0).float().mean())
            code = residual + (code - residual).detach()
            latent = latent + code
            residual = residual - code
            indices.append(level_indices.view(z.shape[:2]))
        return Quantized(latent, torch.stack(indices, -1), torch.stack(commits).mean(),
                         torch.stack(perplexities), torch.stack(usages))

    @torch.no_grad()
    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """Indices (B, K, depth) of z (B, K, D), without touching the codebooks."""
        residual, indices = z.float(), []
        with torch.autocast(z.device.type, enabled=False):
            for codebook in self.levels:
                level_indices = codebook.nearest(residual.reshape(-1, residual.shape[-1])).view(z.shape[:2])
                residual = residual - codebook.lookup(level_indices)
                indices.append(level_indices)
        return torch.stack(indices, -1)

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Latent (B, K, D): the sum over levels of the codes of indices (B, K, depth)."""
        return sum(codebook.lookup(indices[..., level]) for level, codebook in enumerate(self.levels))


def _perplexity(counts: torch.Tensor) -> torch.Tensor:
    probs = counts / counts.sum().clamp_min(1)
    return torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
