"""Per-sample random numbers: every training item carries an integer seed, and the noise, timestep and
condition dropout drawn for it depend on that seed alone. So a run resumed at step N, or split over several
processes (DDP), draws exactly what one uninterrupted process would have drawn."""
from __future__ import annotations

import torch


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) % (2**63 - 1))


def per_sample_normal(seeds: torch.Tensor, shape: tuple[int, ...], device=None) -> torch.Tensor:
    """(B, *shape) standard normal noise, row b drawn from seeds[b]."""
    rows = [torch.randn(shape, generator=_generator(s)) for s in seeds.tolist()]
    return torch.stack(rows).to(device)


def per_sample_uniform(seeds: torch.Tensor, salt: int = 0, device=None) -> torch.Tensor:
    """(B,) uniform numbers in [0, 1), one per seed; `salt` gives an independent stream for another use."""
    return torch.stack([torch.rand((), generator=_generator(s * 7919 + salt)) for s in seeds.tolist()]).to(device)


def per_sample_randint(seeds: torch.Tensor, high: int, salt: int = 0, device=None) -> torch.Tensor:
    """(B,) integers in [0, high), one per seed."""
    return torch.stack([torch.randint(high, (), generator=_generator(s * 104729 + salt))
                        for s in seeds.tolist()]).to(device)
