"""Samplers over a (respaced) process: DDPM, DDIM and DPM-Solver++(2M). Every one makes exactly ONE
denoiser call per kept step and returns the final x0 prediction (the original's DDIM loop does the same).

Notation for a kept step j (0 = cleanest) of the respaced schedule: ᾱ_j, ᾱ_{j−1} (1 before the first step),
α_j = √ᾱ_j, σ_j = √(1 − ᾱ_j), and the model's clean estimate x̂0 = denoise_fn(x_j, t_j), from which
ε̂ = (x_j − α_j x̂0) / σ_j.

ddim     x_{j−1} = α_{j−1} x̂0 + √(1 − ᾱ_{j−1} − s_j²) ε̂ + s_j z,
         s_j = eta · √((1 − ᾱ_{j−1}) / (1 − ᾱ_j)) · √(1 − ᾱ_j / ᾱ_{j−1}).  eta = 0 is deterministic (the
         original's sampler); eta = 1 equals ddpm.
ddpm     ancestral sampling of the respaced process: x_{j−1} = posterior mean μ̃(x_j, x̂0) + √β̃_j z with
         β_j = 1 − ᾱ_j/ᾱ_{j−1}, μ̃ = β_j α_{j−1}/(1 − ᾱ_j) · x̂0 + (1 − ᾱ_{j−1}) √(1 − β_j)/(1 − ᾱ_j) · x_j,
         and the fixed small variance β̃_j = β_j (1 − ᾱ_{j−1}) / (1 − ᾱ_j).
dpmpp2m  DPM-Solver++(2M) (Lu et al. 2022), the multistep second-order solver of the probability-flow ODE in
         data-prediction form. With the half log-SNR λ_j = log(α_j / σ_j) and h = λ_{j−1} − λ_j:
         x_{j−1} = (σ_{j−1}/σ_j) x_j − α_{j−1} (e^{−h} − 1) D,
         D = (1 + 1/(2r)) x̂0_j − 1/(2r) x̂0_{j+1} with r = (λ_j − λ_{j+1}) / h, and the first-order
         D = x̂0_j (= a DDIM step) on the first step and on the step into the cleanest kept step, whose λ
         jump is the largest (the solver's "lower order final": extrapolating over it overshoots; with
         Gaussian data and ddim20 it cuts the error from 5e-2 to 7e-3, DDIM's being 3e-2). The
         evaluation at the cleanest kept step returns x̂0 (a step to σ = 0, λ = ∞). Deterministic;
         meant for few steps (10-25).
z ~ N(0, I) is drawn from `generator` (no noise is added on the last step).
"""
from __future__ import annotations

import math

import torch
from tqdm import tqdm

from diffusion.schedule import Schedule, make_schedule

SAMPLERS = ("ddim", "ddpm", "dpmpp2m")


def _randn(shape, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device (so results match across devices), moved to device."""
    draw_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=draw_device).to(device)


def _ddim_stepper(plan: Schedule, eta: float, generator):
    def step(x, x0_hat, j):
        ab, ab_prev = plan.alphas_cumprod[j].item(), plan.alphas_cumprod_prev[j].item()
        eps_hat = (x - math.sqrt(ab) * x0_hat) / math.sqrt(1 - ab)
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        x_prev = math.sqrt(ab_prev) * x0_hat + math.sqrt(max(1 - ab_prev - sigma ** 2, 0.0)) * eps_hat
        if sigma > 0:
            x_prev = x_prev + sigma * _randn(x.shape, generator, x.device)
        return x_prev
    return step


def _ddpm_stepper(plan: Schedule, generator):
    def step(x, x0_hat, j):
        ab, ab_prev, beta = (plan.alphas_cumprod[j].item(), plan.alphas_cumprod_prev[j].item(),
                             plan.betas[j].item())
        mean = (beta * math.sqrt(ab_prev) / (1 - ab) * x0_hat
                + (1 - ab_prev) * math.sqrt(1 - beta) / (1 - ab) * x)
        variance = beta * (1 - ab_prev) / (1 - ab)
        return mean + math.sqrt(variance) * _randn(x.shape, generator, x.device)
    return step


def _dpmpp2m_stepper(plan: Schedule):
    alpha = plan.alphas_cumprod.sqrt()
    sigma = (1 - plan.alphas_cumprod).sqrt()
    lam = (alpha / sigma).log()
    previous = {}  # x̂0 and λ of the step before (j + 1)

    def step(x, x0_hat, j):
        h = (lam[j - 1] - lam[j]).item()
        data = x0_hat
        if previous and j > 1:
            r = (lam[j] - previous["lam"]).item() / h
            data = (1 + 1 / (2 * r)) * x0_hat - (1 / (2 * r)) * previous["x0_hat"]
        previous.update(x0_hat=x0_hat, lam=lam[j])
        return (sigma[j - 1] / sigma[j]).item() * x - (alpha[j - 1].item() * math.expm1(-h)) * data
    return step


def _stepper(sampler: str, plan: Schedule, eta: float, generator):
    """step(x_j, x0_hat_j, j) -> x_{j-1} for j >= 1."""
    if sampler == "ddim":
        return _ddim_stepper(plan, eta, generator)
    if sampler == "ddpm":
        return _ddpm_stepper(plan, generator)
    return _dpmpp2m_stepper(plan)


@torch.no_grad()
def sample(denoise_fn, shape: tuple[int, ...], *, timestep_respacing: str = "ddim100", sampler: str = "ddim",
           eta: float = 0.0, noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
           schedule: str = "cosine", num_steps: int = 1000, device: torch.device | str | None = None,
           progress: bool = False) -> torch.Tensor:
    """Draw samples of `shape` (B, T, C) and return the final x0 prediction, float32 on `device`.

    denoise_fn(x_t (B,T,C), t (B,) int64 original step index) -> x0_hat (B,T,C); called once per kept step.
    timestep_respacing: "", "ddimN" or section counts (diffusion/schedule.py); schedule/num_steps: the base
    process the model was trained on. eta: DDIM stochasticity (ddim only). noise: the starting x_T (B,T,C)
    (else drawn from `generator`); `generator` also drives the per-step noise of ddpm / ddim with eta > 0, so
    the result is a deterministic function of (noise or generator state).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    if eta != 0.0 and sampler != "ddim":
        raise ValueError(f"eta={eta} only applies to the ddim sampler (ddpm is ddim with eta=1; dpmpp2m is "
                         f"deterministic)")
    if device is None:
        device = noise.device if noise is not None else torch.device("cpu")
    if noise is not None and tuple(noise.shape) != tuple(shape):
        raise ValueError(f"noise has shape {tuple(noise.shape)} but shape {tuple(shape)} was asked for")
    x = noise.to(device, torch.float32) if noise is not None else _randn(shape, generator, device)
    plan = make_schedule(schedule, num_steps, timestep_respacing)
    step = _stepper(sampler, plan, eta, generator)
    for j in tqdm(range(len(plan) - 1, -1, -1), desc=f"{sampler} {len(plan)} steps", disable=not progress):
        t = torch.full((shape[0],), int(plan.timesteps[j]), dtype=torch.int64, device=device)
        x0_hat = denoise_fn(x, t).to(torch.float32)
        if j > 0:
            x = step(x, x0_hat, j)
    return x0_hat
