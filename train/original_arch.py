"""`--arch original` (every trainer but train_lip): build the original's architecture at its sizes, and write
the original's files, so that the original's own code (and a2p's loader of the original's models,
train/original_layout.py) loads what a2p trained.

    arch: Arch = arch_field()                        --arch a2p (default) | original: a field of the trainers'
                                                     data configs, so a resumed run must keep it
    defaults = original_defaults(kind, frames)       config defaults of the original's model (flags still win)
    path = original_asset(VQ_WAV2VEC_FILE, save_dir, given, flag)   a frozen model of the original's assets/
    files = OriginalDiffusionFiles(model, lip, extra) / OriginalGuideFiles(model, extra) / OriginalVQFiles(model)
    args = original_args(kind, merged)               the original's args.json keys a2p's flat config lacks

What the original's architecture is (model/original_checkpoint.py released_configs): the face model 8 layers
x 8 heads, d 512, two audio encoder layers, conditioned on the original lip regressor's 338 vertices; the pose
model 6 x 8, d 256, guide-pose cross-attention and the 256-wide causal post-net; the guide 6 layers, dim 64,
two blocks of 1024-wide audio convs, one shared token table; all three hear the frozen vq-wav2vec features of
both channels (100 Hz, rotary "index", learned null sequences of the window's token count: 1998 for 600
frames); the VQ-VAE 4 x 1024 codes of 64 (a2p's default already). Size flags still win (e.g. --layers 2).

The frozen models come from the original's assets/ (its download script's files), looked up in the folder
holding the save_dir's checkpoints/ tree (the original's repository root), then in the working directory:
    assets/vq-wav2vec.pt     face, pose, guide (or --wav2vec_path): the fairseq vq-wav2vec checkpoint
    assets/iter-0200000.pt   face (or --lip_model_path): the original lip regressor, its wav2vec_large inside
A missing one ends the command with one line naming the file.

Files written (train/checkpoint.py ModelFiles; a2p's opt*.pt beside them resumes the run as usual):
    face / pose   save_dir/model{step:09d}.pt       the bare state dict under the original's names, the face's
                                                    lip regressor as lip_model.*
    guide         save_dir/checkpoints/iter-{step:07d}.pt   {"iteration", "model_state_dict"}
    VQ-VAE        save_dir/net_iter{step}.pth       {"net"}
The fairseq keys the original never runs (vq-wav2vec's quantizer, aggregator and prediction head; the lip's
wav2vec_large prediction head) are copied from the assets files, and the VQ decoder's unused
project_mean_shape is written as zeros, so that the original's strict loading finds every key it expects.
args.json holds a2p's fields and the original's keys a2p's lack (e.g. train_platform_type, out_dir,
code_dim, num_audio_layers), which also mark the run as the original's for a2p's loaders.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME
from model.audio_encoder import AudioEncoderConfig
from model.original_checkpoint import NEVER_RUN_PREFIXES, original_state, released_configs
from model.wav2vec import NEVER_RUN, read_fairseq_checkpoint
from train.checkpoint import ModelFiles, checkpoint_path, save_atomic
from train.original_layout import GUIDE_FILE, VQ_FILE, read_weights, relative_to_origin
from utils.config import arg, merged_dict

VQ_WAV2VEC_FILE = Path("assets") / "vq-wav2vec.pt"
SAMPLE_RATE_RATIO, RECEPTIVE_FIELD, STRIDE = 3, 465, 160  # 48 -> 16 kHz; vq-wav2vec's conv stack


Arch = Literal["a2p", "original"]


def arch_field() -> Any:
    """The --arch field of the trainers' data configs (one definition; a resumed run must keep it)."""
    return arg("a2p", "a2p: a2p's models in a2p's files (model*.pt); original: the original's architecture at its "
                      "sizes (frozen vq-wav2vec from assets/, the face with the original lip regressor) in the "
                      "original's files, which its own code loads (train/original_arch.py)")


def vq_wav2vec_tokens(frames: int) -> int:
    """The vq-wav2vec tokens of a window of `frames` video frames (1998 for 600, 798 for 240)."""
    return (frames * SAMPLES_PER_FRAME // SAMPLE_RATE_RATIO - RECEPTIVE_FIELD) // STRIDE + 1


def original_defaults(kind: str, frames: int) -> dict[str, Any]:
    """The flat config defaults of the original's `kind` ("face", "pose", "guide", "vq") for windows of
    `frames` video frames: its released sizes, learned null sequences as long as such a window's condition."""
    configs = released_configs()[kind]
    configs = configs if isinstance(configs, tuple) else (configs,)
    defaults = merged_dict(*configs)
    if kind in ("face", "pose", "guide"):
        defaults["null_audio_tokens"] = vq_wav2vec_tokens(frames)
    if kind == "pose":
        defaults["null_keyframes"] = -(-frames // KEYFRAME_STEP)
    if kind in ("face", "pose"):
        defaults["frame_audio"] = False
    return defaults


def original_asset(recorded: Path, save_dir: str, given: str | None, flag: str) -> Path:
    """The file of the original's assets/ that `flag` overrides (module docstring); one line when missing."""
    path = Path(given) if given else relative_to_origin(recorded, Path(save_dir))
    if not path.is_file():
        where = f"{given} ({flag})" if given else f"{recorded} (beside the checkpoints/ tree of {save_dir}, or in " \
                                                  f"the working directory)"
        raise FileNotFoundError(f"--arch original needs the original's {recorded.name}: {where} is not there; put "
                                f"the original's assets/ files there or pass {flag}")
    return path.resolve()


def vq_wav2vec_settings(path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    """(activation, the never-run keys under the original's audio_model. prefix) of a fairseq vq-wav2vec file."""
    state, args = read_fairseq_checkpoint(path)
    unused = {"audio_model." + k: v for k, v in state.items() if k.startswith(NEVER_RUN["vq_wav2vec"])}
    return args.get("activation", "gelu"), unused


def lip_never_run(path: Path) -> dict[str, torch.Tensor]:
    """The never-run keys of the original lip regressor file `path`, under the face model's lip_model. prefix."""
    state = read_weights(path)["model_state_dict"]
    return {"lip_model." + k: v for k, v in state.items() if k.startswith(NEVER_RUN_PREFIXES["lip"])}


class OriginalDiffusionFiles(ModelFiles):
    """save_dir/model{step:09d}.pt: the denoiser's bare state dict under the original's names, with the face's
    lip regressor (lip_model.*) and `extra` (never-run keys) beside it."""

    def __init__(self, model: nn.Module, lip: nn.Module | None, extra: dict[str, torch.Tensor]):
        self.model, self.extra = model, extra
        self.lip = {} if lip is None else {"lip_model." + k: v for k, v in original_state(lip, "lip").items()}

    def contents(self, state: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """The file's contents for the model's state dict `state` at `step`."""
        return {**original_state(self.model, "denoiser", state), **self.lip, **self.extra}

    def save(self, save_dir: Path, step: int, state: dict, config: dict) -> None:
        save_atomic(self.contents(state, step), checkpoint_path(save_dir, "model", step))


class OriginalGuideFiles(ModelFiles):
    """save_dir/checkpoints/iter-{step:07d}.pt: {"iteration", "model_state_dict"} under the original's names."""

    def __init__(self, model: nn.Module, extra: dict[str, torch.Tensor]):
        self.model, self.extra = model, extra

    def contents(self, state: dict[str, torch.Tensor], step: int) -> dict:
        """The file's contents for the model's state dict `state` at `step`."""
        return {"iteration": step, "model_state_dict": {**original_state(self.model, "guide", state), **self.extra}}

    def save(self, save_dir: Path, step: int, state: dict, config: dict) -> None:
        (save_dir / "checkpoints").mkdir(exist_ok=True)
        save_atomic(self.contents(state, step), save_dir / "checkpoints" / f"iter-{step:07d}.pt")

    def files(self, save_dir: Path) -> list[Path]:
        return sorted(p for p in (save_dir / "checkpoints").glob("iter-*.pt") if GUIDE_FILE.match(p.name))


class OriginalVQFiles(ModelFiles):
    """save_dir/net_iter{step}.pth: {"net"} under the original's names, with its unused project_mean_shape."""

    def __init__(self, model: nn.Module):
        self.model = model
        width, nfeats = model.cfg.emb_width, model.cfg.nfeats
        self.unused = {"decoder.project_mean_shape.weight": torch.zeros(width, nfeats),
                       "decoder.project_mean_shape.bias": torch.zeros(width)}

    def contents(self, state: dict[str, torch.Tensor], step: int) -> dict:
        """The file's contents for the model's state dict `state` at `step`."""
        return {"net": {**original_state(self.model, "vq", state), **self.unused}}

    def save(self, save_dir: Path, step: int, state: dict, config: dict) -> None:
        save_atomic(self.contents(state, step), save_dir / f"net_iter{step}.pth")

    def files(self, save_dir: Path) -> list[Path]:
        return sorted(p for p in save_dir.glob("net_iter*.pth") if VQ_FILE.match(p.name))


def original_args(kind: str, merged: dict[str, Any]) -> dict[str, Any]:
    """The original's args.json keys of a `kind` run ("diffusion", "guide", "vq") that a2p's flat config
    `merged` lacks, valued from it where a2p has the setting (module docstring)."""
    if kind == "diffusion":
        keys = dict(split=None, num_audio_layers=3, cond_mask_prob=merged["cond_drop_prob"],
                    unconstrained=False, not_rotary=False, simplify_audio=False, sigma_small=True,
                    train_platform_type="NoPlatform", resume_checkpoint="")
    elif kind == "guide":
        keys = dict(out_dir=merged["save_dir"], total_iter=merged["num_steps"], resume_trans=None,
                    num_audio_layers=merged["audio_convs"])
    else:
        keys = dict(out_dir=merged["save_dir"], total_iter=merged["num_steps"], code_dim=merged["codebook_size"],
                    output_emb_width=merged["emb_width"], nb_joints=merged["nfeats"], print_iter=merged["log_interval"],
                    eval_iter=merged["eval_interval"])
    return {key: value for key, value in keys.items() if key not in merged}


def with_original_audio(audio_cfg: AudioEncoderConfig, save_dir: str
                        ) -> tuple[AudioEncoderConfig, dict[str, torch.Tensor]]:
    """(audio config reading assets/vq-wav2vec.pt (or --wav2vec_path) with that file's activation, the file's
    never-run keys under audio_model.)."""
    path = original_asset(VQ_WAV2VEC_FILE, save_dir, audio_cfg.wav2vec_path, "--wav2vec_path")
    activation, unused = vq_wav2vec_settings(path)
    return dataclasses.replace(audio_cfg, wav2vec_path=str(path), wav2vec_activation=activation), unused
