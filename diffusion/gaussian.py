"""The Gaussian diffusion process and its training loss (x0 prediction, as in the original).

Forward noising: x_t = √ᾱ_t · x0 + √(1 − ᾱ_t) · ε, ε ~ N(0, I), t uniform over all base steps (no importance
weights). The denoiser predicts the clean sample: `denoise_fn(x_t (B,T,C), t (B,) int64) -> x0_hat (B,T,C)`,
with t the original step index in [0, num_steps).

Per-sample loss (fixing the original's weak spots: a frame counts when it is inside the clip AND has a
target, for both terms):
  w_f   = mask_f · valid_f                                     frames of the sample that carry a target
  rec   = Σ_f,c w_f (x0_hat − x0)² / (C · Σ_f w_f)
  vel   = Σ_f,c w_f w_{f+1} (Δx0_hat − Δx0)² / (C · Σ_f w_f w_{f+1}),   Δx_f = x_{f+1} − x_f
  loss  = mean over the batch of (rec + lambda_vel · vel)
A sample without any counted frame (or frame pair) contributes 0 to that term.

`vb` (logged, never trained on) is the original's variational-bound term in bits per dimension, computed
from the same prediction (the original ran a second forward pass for it): see `variational_bound`.
"""
from __future__ import annotations

import math

import torch

from diffusion.schedule import make_schedule
from utils.rng import per_sample_normal, per_sample_randint

TIMESTEP_SALT = 1  # stream of utils.rng used for the training timestep (noise uses the item's seed itself)


def _per_sample(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Gather a float64 (S,) table at t (B,) and shape it (B, 1, ..., 1) to broadcast over `like`."""
    picked = values.to(like.dtype).to(t.device)[t]
    return picked.view(-1, *[1] * (like.dim() - 1))


def _masked_mse(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B,) Σ_f,c w_f (prediction − target)² / (C · Σ_f w_f) for (B,T,C) tensors and a (B,T) 0/1 weight."""
    weight = weight.to(prediction.dtype)
    squared = ((prediction - target) ** 2).sum(dim=2)
    counted = (weight.sum(dim=1) * prediction.shape[2]).clamp(min=1)
    return (squared * weight).sum(dim=1) / counted


class GaussianDiffusion:
    """The base (un-respaced) process of `num_steps` steps with a "cosine" or "linear" schedule."""

    def __init__(self, num_steps: int = 1000, schedule: str = "cosine"):
        self.num_steps = num_steps
        self.schedule = schedule
        self.alphas_cumprod = make_schedule(schedule, num_steps).alphas_cumprod  # (num_steps,) float64

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t of the same shape as x0 (B, ...), from the clean x0, step indices t (B,) and noise like x0."""
        signal = _per_sample(self.alphas_cumprod.sqrt(), t, x0)
        noise_scale = _per_sample((1 - self.alphas_cumprod).sqrt(), t, x0)
        return signal * x0 + noise_scale * noise

    def draw_timesteps_and_noise(self, seeds: torch.Tensor, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """t (B,) int64 and ε (B,T,C) for each item, drawn from its seed alone (exact under resume and DDP)."""
        t = per_sample_randint(seeds, self.num_steps, salt=TIMESTEP_SALT, device=x0.device)
        noise = per_sample_normal(seeds, tuple(x0.shape[1:]), device=x0.device).to(x0.dtype)
        return t, noise

    def terms(self, denoise_fn, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor,
              lambda_vel: float = 0.0) -> dict[str, torch.Tensor]:
        """Per-sample (B,) loss terms for given steps t (B,) and noise like x0 (B,T,C): rec, vel, loss = rec +
        lambda_vel · vel, with the (B,T) frame weights w_f of the module docstring, and vb (no gradient)."""
        x_t = self.q_sample(x0, t, noise)
        x0_hat = denoise_fn(x_t, t)
        rec = _masked_mse(x0_hat, x0, weight)
        vel = _masked_mse(x0_hat.diff(dim=1), x0.diff(dim=1), weight[:, 1:] & weight[:, :-1])
        return {"loss": rec + lambda_vel * vel, "rec": rec, "vel": vel,
                "vb": self.variational_bound(x0, x_t, t, x0_hat.detach())}

    def training_loss(self, denoise_fn, x0: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor,
                      seeds: torch.Tensor, lambda_vel: float = 0.0) -> dict[str, torch.Tensor]:
        """The masked x0 loss of one batch.

        x0: (B,T,C) clean normalised motion; valid, mask: (B,T) bool (see the module docstring);
        seeds: (B,) int64 per-item seeds; denoise_fn(x_t, t) -> x0_hat (B,T,C).
        Returns {"loss": scalar to backpropagate, "rec", "vel", "vb": scalar batch means of the terms}.
        """
        t, noise = self.draw_timesteps_and_noise(seeds, x0)
        return {name: value.mean() for name, value in self.terms(denoise_fn, x0, t, noise, valid & mask,
                                                                 lambda_vel).items()}

    @torch.no_grad()
    def variational_bound(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                          x0_hat: torch.Tensor) -> torch.Tensor:
        """(B,) the original's "vb" term in bits per dimension, unmasked, as it logged it (guided-diffusion's
        _vb_terms_bpd with the fixed small variance): for t > 0 the KL divergence between the posterior
        q(x_{t-1} | x_t, x0) and the model's p(x_{t-1} | x_t), whose mean is the posterior mean at x0_hat and
        whose variance is the posterior's (clipped at step 0), i.e. 0.5 (coef1_t (x0 - x0_hat))² / β̃_t; for
        t = 0 the negative log-likelihood of x0 under a Gaussian discretised into 255 bins on [-1, 1] (the
        image code it comes from); both averaged over (T, C) and divided by ln 2."""
        alphas_cumprod = self.alphas_cumprod
        previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        betas = 1 - alphas_cumprod / previous
        variance = betas * (1 - previous) / (1 - alphas_cumprod)
        log_variance = _per_sample(torch.cat([variance[1:2], variance[1:]]).log(), t, x0)
        coef_x0 = _per_sample(betas * previous.sqrt() / (1 - alphas_cumprod), t, x0)
        coef_xt = _per_sample((1 - previous) * (1 - betas).sqrt() / (1 - alphas_cumprod), t, x0)
        model_mean = coef_x0 * x0_hat + coef_xt * x_t
        kl = 0.5 * (coef_x0 * x0 + coef_xt * x_t - model_mean) ** 2 * torch.exp(-log_variance)
        nll = -_discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * log_variance)
        bits = torch.where((t == 0).view(-1, *[1] * (x0.dim() - 1)), nll, kl)
        return bits.flatten(1).mean(1) / math.log(2.0)


def _discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(x) per element of a Gaussian discretised into 255 bins of width 2/255 on [-1, 1], the outer bins
    open-ended (guided-diffusion's, with its tanh approximation of the normal CDF)."""
    def cdf(z: torch.Tensor) -> torch.Tensor:
        return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (z + 0.044715 * z ** 3)))
    inverse_std = torch.exp(-log_scale)
    cdf_plus, cdf_minus = cdf(inverse_std * (x - mean + 1 / 255)), cdf(inverse_std * (x - mean - 1 / 255))
    log_cdf_plus = cdf_plus.clamp(min=1e-12).log()
    log_one_minus_cdf_minus = (1 - cdf_minus).clamp(min=1e-12).log()
    log_delta = (cdf_plus - cdf_minus).clamp(min=1e-12).log()
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_delta))
