"""Sampling face codes from audio: the face modality of sample.generate (a `sample.windows.MotionSampler`).

    sampler = FaceSampler.load("runs/face/model000155000.pt", device)
    out = sampler.sample(audio (B, T*1600, 2) normalised, SamplingConfig(...), seeds=row_seeds(...))
    out.motion                                         # (R*B, T, 256) normalised face codes, rep-major

The checkpoint is a train.train_diffusion run with --data_format face: its model*.pt holds the EMA weights,
its args.json the configs, and args.json's lip_model_path the frozen lip regressor (train.train_lip) whose
vertices the model was trained with (none for an audio-only model). The original's released face models
load too (train/original_layout.py), with their own lip regressor. Per call, the conditions (audio
features, lip vertices, condition encoder layers) are computed ONCE for the B audio windows and reused by
every denoising step and every repetition; classifier-free guidance runs conditional and unconditional rows
in one batched pass (diffusion.guided_denoiser).

With settings.lip_consistency "on" (the default), every step's clean estimate has its mouth held to the lip
regressor's vertices (sample/lip_constraint.py). That needs a2p's reference face and a regressor of its lip
vertices: `lip_constraint_unavailable` says why a model has none (an audio-only model, the original's
models with their private face decoder), and such models sample unconstrained. For the original's models,
`reference_lips` draws their lip regressor's lips on the reference face (sample/original_lips.py) and
`avatar` is "original" (results.npy's avatar: its codes are not the reference face's).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from data_loaders.format import SAMPLES_PER_FRAME
from data_loaders.stats import Normalizer
from model.denoiser import FiLMTransformer
from model.lip_regressor import LipRegressor
from sample.lip_constraint import LipConstraint, lip_constraint_for
from sample.original_lips import OriginalLipsOnReferenceFace
from sample.windows import SamplingConfig, WindowSample, repeat_rows, sample_window
from train.checkpoint import resolve_recorded_path
from train.original_layout import original_kind
from train.train_diffusion import DiffusionModel, load_diffusion_model
from train.train_lip import load_lip_regressor


class FaceSampler:
    """The face model of a checkpoint with its lip regressor (module docstring)."""
    data_format = "face"
    output_suffix = ""

    def __init__(self, model: FiLMTransformer, lip: LipRegressor | None, normalizer: Normalizer, config: dict,
                 device: torch.device, lip_constraint: LipConstraint | None = None,
                 lip_constraint_unavailable: str | None = None, original: bool = False):
        self.model, self.lip, self.normalizer, self.config, self.device = model, lip, normalizer, config, device
        self.nfeats = model.cfg.nfeats
        self.window = int(config["max_seq_length"])
        self.lip_constraint, self.lip_constraint_unavailable = lip_constraint, lip_constraint_unavailable
        self.avatar = "original" if original else "reference"
        self.reference_lips = OriginalLipsOnReferenceFace(lip, normalizer, device) if original and lip else None

    @classmethod
    def from_model(cls, loaded: DiffusionModel, device: torch.device | str,
                   options: dict | None = None) -> "FaceSampler":
        """From an already loaded face checkpoint (train.train_diffusion.load_diffusion_model); the face
        needs no sample.generate options."""
        if loaded.config["data_format"] != "face":
            raise ValueError(f"{loaded.model_file}: a {loaded.config['data_format']!r} model, not a face model")
        carried = loaded.lip is not None  # the original's face models carry their own lip regressor
        lip = loaded.lip if carried else recorded_lip_regressor(loaded, device)
        constraint, unavailable = lip_constraint_of(loaded, lip, carried, device)
        return cls(loaded.model.to(device), lip, loaded.normalizer, loaded.config, torch.device(device),
                   constraint, unavailable, original=original_kind(loaded.model_file) == "diffusion")

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu",
             options: dict | None = None) -> "FaceSampler":
        """From a face model*.pt file (or its save_dir: the newest one); options: OriginalModelConfig's fields
        for the original's models."""
        return cls.from_model(load_diffusion_model(path, device, options), device)

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[dict, torch.Tensor | None]:
        """(condition dict of B rows, lip vertices (B, T, L, 3) in avatar units or None without a regressor)
        for audio (B, T*1600, 2) normalised; mask (B, T) True = real frame."""
        audio = audio.to(self.device)
        mask = None if mask is None else mask.to(self.device)
        lips = None if self.lip is None else self.lip(audio, mask=mask)
        return self.model.encode_condition(audio, None if lips is None else self.lip.normalise(lips), mask=mask), lips

    @torch.no_grad()
    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample:
        """R = settings.num_repetitions samples of each of the B audio windows: WindowSample(motion (R*B, T,
        256) normalised, rep-major; keyframes None). seeds (R*B,) noise seeds; known/known_mask: overlap to
        inpaint (sample.windows); settings.lip_consistency "on" holds the mouth to the lip regressor where the
        model has the constraint (module docstring)."""
        cond, lips = self.encode(audio, mask)
        cond = repeat_rows(cond, settings.num_repetitions)
        project = None
        if settings.lip_consistency == "on" and self.lip_constraint is not None:
            target = torch.cat([lips] * settings.num_repetitions)
            project = lambda x0: self.lip_constraint.project(x0, target)  # noqa: E731
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        motion = sample_window(self.model, cond, settings, seeds, frames, known=known, known_mask=known_mask,
                               project=project,
                               noise_schedule=self.config["noise_schedule"],
                               diffusion_steps=int(self.config["diffusion_steps"]), progress=progress)
        return WindowSample(motion)


def recorded_lip_regressor(loaded: DiffusionModel, device: torch.device | str) -> LipRegressor | None:
    """The frozen lip regressor that a2p's face model names in args.json lip_model_path (None for an audio-only
    model, lip_dim 0); clear errors when it is missing or predicts another number of vertices."""
    if loaded.model.cfg.lip_dim == 0:
        return None
    recorded = loaded.config.get("lip_model_path")
    lip_path = recorded and resolve_recorded_path(recorded, loaded.model_file)
    if not lip_path or not lip_path.exists():
        raise FileNotFoundError(f"{loaded.model_file}: the model was trained with the lip regressor "
                                f"{recorded!r} (args.json lip_model_path), which is not there; put it "
                                f"back or edit lip_model_path in {loaded.model_file.parent / 'args.json'}")
    lip = load_lip_regressor(lip_path, device)
    if lip.num_vertices * 3 != loaded.model.cfg.lip_dim:
        raise ValueError(f"{lip_path}: predicts {lip.num_vertices} lip vertices, but the face model "
                         f"{loaded.model_file} takes lip_dim {loaded.model.cfg.lip_dim} = L*3")
    return lip


def lip_constraint_of(loaded: DiffusionModel, lip: torch.nn.Module | None, carried: bool,
                      device: torch.device | str) -> tuple[LipConstraint | None, str | None]:
    """(the model's lip constraint, None) or (None, the one-line reason it has none); carried: the lip
    regressor came inside the checkpoint (the original's models)."""
    reason = " sampling without the lip constraint"
    if carried:
        return None, "the original's face codes belong to its private face decoder, which a2p does not have:" + reason
    if lip is None:
        return None, f"{loaded.model_file} hears the audio alone (no lip regressor):" + reason
    constraint = lip_constraint_for(loaded.normalizer, lip.num_vertices, device)
    if constraint is None:
        return None, f"{loaded.model_file}: its codes or lip vertices are not the reference face's:" + reason
    return constraint, None
