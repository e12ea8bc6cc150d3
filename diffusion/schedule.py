"""Noise schedules and timestep respacing.

The base process has `num_steps` (1000) discrete steps i = 0 .. num_steps-1 with noise levels
`alphas_cumprod[i]` = ᾱ_i (the fraction of signal variance left after step i); step 0 is nearly clean and the
last step nearly pure noise. A respaced process keeps a subset of the steps (ascending original indices) and
recomputes its betas from the kept ᾱ values; denoisers are always called with the ORIGINAL step index.

Schedules:
  cosine: ᾱ(s) = cos²(((s + 0.008) / 1.008) · π/2), β_i = min(1 − ᾱ((i+1)/N) / ᾱ(i/N), 0.999)
  linear: β linear from 1e-4 to 0.02, both scaled by 1000/N (so any N spans the same total noise)

Respacing specs (`--timestep_respacing`):
  ""            all steps
  "ddimN"       range(0, num_steps, k) for the smallest integer stride k giving exactly N steps
                (ddim100 -> stride 10, ddim500 -> stride 2)
  "a,b,c"       the steps split into len(sections) equal sections; section j keeps `a`, `b`, ... steps
                evenly spread over it (first and last step of the section included when the count is > 1)
All tables are float64 torch tensors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SCHEDULES = ("cosine", "linear")


def _cosine_alpha_bar(s: float) -> float:
    return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2


def make_betas(schedule: str = "cosine", num_steps: int = 1000) -> torch.Tensor:
    """(num_steps,) float64 betas β_i of the base process."""
    if schedule == "cosine":
        betas = [min(1 - _cosine_alpha_bar((i + 1) / num_steps) / _cosine_alpha_bar(i / num_steps), 0.999)
                 for i in range(num_steps)]
        return torch.tensor(betas, dtype=torch.float64)
    if schedule == "linear":
        scale = 1000 / num_steps
        return torch.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=torch.float64)
    raise ValueError(f"unknown noise schedule {schedule!r}; choose one of {SCHEDULES}")


def _ddim_steps(count: int, num_steps: int) -> list[int]:
    for stride in range(1, num_steps + 1):
        if len(range(0, num_steps, stride)) == count:
            return list(range(0, num_steps, stride))
    possible = sorted({len(range(0, num_steps, k)) for k in range(1, num_steps + 1)}, reverse=True)
    raise ValueError(f"timestep_respacing 'ddim{count}': no integer stride gives exactly {count} of "
                     f"{num_steps} steps; use one of ddim{possible[:12]}... or comma-separated section counts")


def _section_steps(counts: list[int], num_steps: int) -> list[int]:
    size_per_section, extra = divmod(num_steps, len(counts))
    steps, start = [], 0
    for j, count in enumerate(counts):
        size = size_per_section + (1 if j < extra else 0)
        if not 1 <= count <= size:
            raise ValueError(f"timestep_respacing: section {j} has {size} steps, cannot keep {count}")
        stride = (size - 1) / (count - 1) if count > 1 else 1.0
        steps += [start + round(k * stride) for k in range(count)]
        start += size
    return steps


def respaced_timesteps(spec: str, num_steps: int = 1000) -> list[int]:
    """The kept original step indices, ascending, for a respacing spec ("", "ddimN" or "a,b,c")."""
    spec = spec.strip()
    if spec == "":
        return list(range(num_steps))
    if spec.startswith("ddim"):
        count = spec[len("ddim"):]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"timestep_respacing {spec!r}: expected ddimN with a positive integer N "
                             f"(e.g. ddim100)")
        return _ddim_steps(int(count), num_steps)
    try:
        counts = [int(c) for c in spec.split(",")]
    except ValueError:
        raise ValueError(f"timestep_respacing {spec!r}: expected '', 'ddimN' or comma-separated integers "
                         f"such as '10,20,5'") from None
    return sorted(set(_section_steps(counts, num_steps)))


@dataclass
class Schedule:
    """A (possibly respaced) process of S steps.

    timesteps:      (S,) int64, the original step index of each kept step, ascending (what the model sees)
    alphas_cumprod: (S,) float64, ᾱ at each kept step (unchanged by respacing)
    """
    timesteps: torch.Tensor
    alphas_cumprod: torch.Tensor

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        """(S,) ᾱ of the previous kept step; 1 (clean data) before the first one."""
        return torch.cat([self.alphas_cumprod.new_ones(1), self.alphas_cumprod[:-1]])

    @property
    def betas(self) -> torch.Tensor:
        """(S,) betas of the respaced process, β_j = 1 − ᾱ_j / ᾱ_{j−1}."""
        return 1 - self.alphas_cumprod / self.alphas_cumprod_prev

    def __len__(self) -> int:
        return len(self.timesteps)


def make_schedule(schedule: str = "cosine", num_steps: int = 1000, respacing: str = "") -> Schedule:
    """The base process's ᾱ table restricted to the steps kept by `respacing`."""
    alphas_cumprod = torch.cumprod(1 - make_betas(schedule, num_steps), dim=0)
    kept = torch.tensor(respaced_timesteps(respacing, num_steps), dtype=torch.int64)
    return Schedule(timesteps=kept, alphas_cumprod=alphas_cumprod[kept])
