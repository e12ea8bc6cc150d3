"""Sampling body poses from audio: the body modality of sample.generate (a `sample.windows.MotionSampler`).

    sampler = BodySampler.load("runs/pose/model000340000.pt", device, resume_trans="runs/guide", top_p=0.94)
    out = sampler.sample(audio (B, T*1600, 2) normalised, SamplingConfig(...), seeds=row_seeds(...))
    out.motion                                         # (R*B, T, 104) normalised poses, rep-major
    out.keyframes                                      # (R*B, K, 104) normalised guide poses used, K = ceil(T/30)

The pose checkpoint is a train.train_diffusion run with --data_format pose (EMA weights, args.json). The
guide (`resume_trans`: a train.train_guide model*.pt or save_dir) brings its VQ-VAE through its own
args.json (resume_pth); no path is parsed. Per call, for each of the R*B rows (repetition-major):

1. guide poses: the guide draws K*depth tokens autoregressively from the audio with nucleus sampling
   (top_p), from a generator seeded by the rows' seeds (so the same seeds give the same tokens, other seeds
   other tokens, and every repetition its own); the VQ-VAE decodes them to (R*B, K, C) keyframes. Without a
   guide the caller's `keyframes` (B, K, C), e.g. the ground truth, are used for every repetition (the
   original does the same, with a warning); with neither, it is an error. Given keyframes win over the guide;
   drop_guide=True uses the learned null guide condition instead (audio-only samples: the paper's "no
   guide" baseline); drop_audio=True keeps the guide poses and uses the learned null audio (guide-only
   samples, the paper's "no audio" baseline).
   Inside the frames `known` from an earlier window (long audio), keyframes are blended towards the known
   poses with the inpainting weights (sample.windows): w * known + (1 - w) * drawn.
2. the denoiser's condition (audio tokens + guide pose tokens) is encoded ONCE and reused by every
   denoising step; classifier-free guidance runs the conditional and the null rows (audio AND guide poses
   dropped, as trained) in one batched pass (diffusion.guided_denoiser).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME
from data_loaders.stats import Normalizer
from model.denoiser import FiLMTransformer
from model.vqvae import indices_from_tokens
from sample.windows import SamplingConfig, WindowSample, sample_window
from train.train_diffusion import DiffusionModel, load_diffusion_model
from train.original_layout import original_kind
from train.train_guide import Guide, load_guide
from utils.config import arg

GUIDE_TOKEN_SALT = 7  # separates the guide's token draws from the rows' diffusion noise (same seeds)


@dataclass
class BodyConfig:
    """Body model: the guide transformer that draws the 1 fps guide poses from the audio."""
    resume_trans: Optional[str] = arg(None, "guide transformer checkpoint (model*.pt or save_dir of "
                                            "train.train_guide; its args.json names its VQ-VAE). Without it the "
                                            "body needs ground-truth keyframes, as the original")
    top_p: float = arg(0.94, "nucleus mass of the guide's token sampling (original: 0.94; its demo: 0.97)")


def keyframe_count(frames: int) -> int:
    """K = ceil(T / 30): the keyframes motion[::30] of a T-frame window (frames 0, 30, 60, ...)."""
    return -(-frames // KEYFRAME_STEP)


def guide_tag(model_file: Path) -> str:
    """The guide's part of the output folder's name, the original's `<2nd path component>_<file name>` of
    checkpoints/guide/c1_pose/checkpoints/iter-0100000.pt (guide_iter-0100000.pt); for a2p's guides the run
    folder's name and the file's (guide_model000003000.pt)."""
    kind_folder = model_file.parents[2] if original_kind(model_file) == "guide" else model_file.parent
    return f"{kind_folder.name}_{model_file.name}"


class BodySampler:
    """The pose model of a checkpoint with its guide transformer and VQ-VAE (module docstring)."""
    data_format = "pose"

    def __init__(self, model: FiLMTransformer, guide: Guide | None, normalizer: Normalizer, config: dict,
                 device: torch.device, top_p: float = BodyConfig.top_p, original: bool = False):
        if not model.cfg.use_guide:
            raise ValueError("BodySampler: the pose model was trained without guide poses (use_guide false)")
        if guide is not None and guide.vq.cfg.nfeats != model.cfg.nfeats:
            raise ValueError(f"{guide.model_file}: its VQ-VAE decodes {guide.vq.cfg.nfeats} pose parameters but "
                             f"the pose model takes {model.cfg.nfeats}")
        if not 0 < top_p <= 1:
            raise ValueError(f"--top_p must be in (0, 1], got {top_p}")
        self.model, self.guide, self.normalizer, self.config, self.device = model, guide, normalizer, config, device
        self.top_p = top_p
        self.nfeats = model.cfg.nfeats
        self.window = int(config["max_seq_length"])
        self.output_suffix = "" if guide is None else guide_tag(guide.model_file)
        self.avatar = "original" if original else "reference"  # results.npy's: "original" = its own skeleton

    @classmethod
    def from_model(cls, loaded: DiffusionModel, device: torch.device | str, options: dict | None = None) -> "BodySampler":
        """From an already loaded pose checkpoint (train.train_diffusion.load_diffusion_model); options: the
        fields of BodyConfig (resume_trans, top_p), e.g. sample.generate's parsed flags."""
        if loaded.config["data_format"] != "pose":
            raise ValueError(f"{loaded.model_file}: a {loaded.config['data_format']!r} model, not a body model")
        options = options or {}
        guide = load_guide(options["resume_trans"], device, options) if options.get("resume_trans") else None
        return cls(loaded.model.to(device), guide, loaded.normalizer, loaded.config, torch.device(device),
                   options.get("top_p", BodyConfig.top_p), original=original_kind(loaded.model_file) == "diffusion")

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu",
             resume_trans: str | os.PathLike | None = None, top_p: float = BodyConfig.top_p,
             options: dict | None = None) -> "BodySampler":
        """From a pose model*.pt file (or its save_dir: the newest one) and optionally a guide checkpoint;
        options: OriginalModelConfig's fields for the original's models."""
        options = {**(options or {}), "resume_trans": resume_trans, "top_p": top_p}
        return cls.from_model(load_diffusion_model(path, device, options), device, options)

    @torch.no_grad()
    def guide_poses(self, audio: torch.Tensor, seeds: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(R*B, K, C) normalised keyframes decoded from guide tokens drawn for audio (B, T*1600, 2), R =
        len(seeds) / B rows (repetition-major), K = ceil(T / 30)."""
        if self.guide is None:
            raise ValueError("guide_poses: this BodySampler has no guide; load it with resume_trans")
        repetitions = len(seeds) // audio.shape[0]
        audio = torch.cat([audio.to(self.device)] * repetitions)
        mask = None if mask is None else torch.cat([mask.to(self.device)] * repetitions)
        state = np.random.SeedSequence([*seeds.tolist(), GUIDE_TOKEN_SALT]).generate_state(1, np.uint64)[0]
        generator = torch.Generator(self.device).manual_seed(int(state))
        tokens = self.guide.model.generate(audio, keyframe_count(audio.shape[1] // SAMPLES_PER_FRAME),
                                           top_p=self.top_p, generator=generator, frame_mask=mask)
        return self.guide.vq.decode(indices_from_tokens(tokens, self.guide.vq.cfg.depth))

    def _keyframes(self, audio: torch.Tensor, seeds: torch.Tensor, mask: torch.Tensor | None,
                   keyframes: torch.Tensor | None) -> torch.Tensor:
        """(R*B, K, C) guide poses of the rows: given keyframes repeated, else drawn by the guide."""
        if keyframes is not None:
            if self.guide is None:
                warnings.warn("no guide transformer (--resume_trans): the body follows the GIVEN keyframes "
                              "(e.g. the ground truth), as the original does", stacklevel=3)
            return torch.cat([keyframes.to(self.device)] * (len(seeds) // audio.shape[0]))
        if self.guide is None:
            raise ValueError("the body model needs guide poses: load a guide transformer (--resume_trans, a "
                             "train.train_guide checkpoint) or pass ground-truth keyframes")
        return self.guide_poses(audio, seeds, mask)

    @torch.no_grad()
    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False,
               keyframes: torch.Tensor | None = None, drop_guide: bool = False,
               drop_audio: bool = False) -> WindowSample:
        """R = settings.num_repetitions samples of each of the B audio windows (B, T*1600, 2) normalised:
        WindowSample(motion (R*B, T, C) normalised, rep-major; keyframes (R*B, K, C) the guide poses used).
        seeds (R*B,) row seeds; mask (B, T) True = real frame; known/known_mask: overlap to inpaint
        (sample.windows); keyframes (B, K, C) normalised guide poses to use instead of the guide's;
        drop_guide: the guide poses are the learned null (audio-only samples, the paper's "no guide"
        baseline; keyframes None in the result); drop_audio: the audio tokens and pooled audio are the learned
        nulls (guide-only samples; the guide still draws its tokens from the audio)."""
        repetitions = settings.num_repetitions
        if len(seeds) != repetitions * audio.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for {audio.shape[0]} windows x {repetitions} repetitions")
        audio = audio.to(self.device)
        mask = None if mask is None else mask.to(self.device)
        if drop_guide:
            frames = audio.shape[1] // SAMPLES_PER_FRAME
            guide_poses = torch.zeros(len(seeds), keyframe_count(frames), self.nfeats, device=self.device)
        else:
            guide_poses = self._keyframes(audio, seeds, mask, keyframes)
        if known is not None:
            count = guide_poses.shape[1]
            weight = known_mask.to(self.device, guide_poses.dtype)[:, ::KEYFRAME_STEP][:, :count, None]
            guide_poses = weight * known.to(self.device)[:, ::KEYFRAME_STEP][:, :count] + (1 - weight) * guide_poses
        rows_mask = None if mask is None else torch.cat([mask] * repetitions)
        cond = self.model.encode_condition(torch.cat([audio] * repetitions), keyframes=guide_poses, mask=rows_mask)
        null = self.model.null_condition(cond)
        if drop_guide:
            cond["guide"] = null["guide"]
        if drop_audio:
            cond["memory"], cond["pooled"] = null["memory"], null["pooled"]
        motion = sample_window(self.model, cond, settings, seeds, audio.shape[1] // SAMPLES_PER_FRAME, known=known,
                               known_mask=known_mask, noise_schedule=self.config.get("noise_schedule", "cosine"),
                               diffusion_steps=int(self.config.get("diffusion_steps", 1000)), progress=progress)
        return WindowSample(motion, None if drop_guide else guide_poses)
