"""Gaussian diffusion shared by every denoiser (face and body): schedules and respacing, the x0 training
loss, samplers (ddpm, ddim, dpmpp2m) and classifier-free guidance in one batched pass."""
from diffusion.gaussian import GaussianDiffusion
from diffusion.guidance import guided_denoiser
from diffusion.samplers import SAMPLERS, sample
from diffusion.schedule import SCHEDULES, Schedule, make_betas, make_schedule, respaced_timesteps

__all__ = ["GaussianDiffusion", "guided_denoiser", "SAMPLERS", "sample", "SCHEDULES", "Schedule", "make_betas",
           "make_schedule", "respaced_timesteps"]
