"""The original's released models, in the folders its download script unpacks, recognised and loaded into
a2p's modules (model/original_checkpoint.py), so that a2p's samplers, windows, renderer and tools run them:

    checkpoints/diffusion/c1_face/{args.json, model000155000.pt}        face denoiser, its lip regressor inside
    checkpoints/diffusion/c1_pose/{args.json, model000340000.pt}        pose denoiser
    checkpoints/guide/c1_pose/{args.json, checkpoints/iter-0100000.pt}  guide transformer; args.json resume_pth
                                                                        names its VQ-VAE
    checkpoints/vq/c1_pose/{args.json, net_iter300000.pth}              VQ-VAE
    assets/iter-0200000.pt                                              lip regressor, read only for a face file
                                                                        without lip_model.* keys
    dataset/<ID>/data_stats.pth                                         the person's statistics (args.json data_root)

A run folder is the original's when its args.json has the original's own keys (a2p writes none of them): a
diffusion run "train_platform_type", a guide "out_dir" and "dim", a VQ "out_dir" and "code_dim". A model
path is its file or its folder (then the newest model / iter- / net_iter file). The original ran from its
repository root, so the paths in its args.json (data_root, resume_pth) and assets/ are relative to that: they
are looked up in the folder that holds the checkpoints/ tree, then in the working directory. --data_stats
(else sample.generate's --data_root) and --lip_model_path (OriginalModelConfig) override. Every load prints one line saying what it recognised.

Files: a denoiser's model*.pt is a bare state dict; a guide's iter-*.pt {"iteration", "model_state_dict",
"optimizer_state_dict"}; the VQ's net_iter*.pth {"net", "optimizer", "scheduler"}, whose "scheduler" is a
pickled learning-rate scheduler OBJECT. No pickle code runs: every file is read with torch.load(weights_only
=True), and for objects outside torch's allow-list (`read_weights`) every such global is replaced by an inert
placeholder that stores nothing, so a pickled object can neither import nor call anything; its entries are
then ignored. Statistics go through data_loaders.stats.load_stats.
"""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from torch import nn
from tqdm import tqdm

from data_loaders.format import STATS_FILE
from data_loaders.stats import Normalizer, load_stats
from model.original_checkpoint import original_denoiser, original_guide, original_lip, original_vq
from model.vqvae import ResidualVQVAE
from train.checkpoint import latest_checkpoint
from utils.config import arg, load_args_json, merged_dict

SIGNATURES = {"diffusion": {"train_platform_type"}, "guide": {"out_dir", "dim"}, "vq": {"out_dir", "code_dim"}}
LIP_FILE = Path("assets") / "iter-0200000.pt"
GUIDE_FILE = re.compile(r"^iter-(\d+)\.pt$")
VQ_FILE = re.compile(r"^net_iter(\d+)\.pth$")
TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


@dataclass
class OriginalModelConfig:
    """The original's released models (recognised by their args.json)."""
    lip_model_path: Optional[str] = arg(None, "the original's lip regressor file (default: the face model file's "
                                              "own lip_model.*, else assets/iter-0200000.pt beside the checkpoints/ "
                                              "tree or in the working directory)")
    data_stats: Optional[str] = arg(None, "data_stats.pth of the person, or its folder (default: the one in "
                                          "--data_root when given, else in the model's args.json data_root)")
    wav2vec_activation: Literal["gelu", "relu"] = arg("gelu", "activation of the original's vq-wav2vec front end: "
                                                              "gelu is the most likely for the released file; "
                                                              "relu the other reading (model/wav2vec.py)")


def _run_folder(path: Path) -> Path:
    """The folder holding args.json for a model path (a guide's iter file sits in its checkpoints/ subfolder)."""
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" and GUIDE_FILE.match(path.name) else path.parent


def original_kind(path: str | os.PathLike) -> str | None:
    """"diffusion", "guide" or "vq" when `path` (a model file or its folder) is an original run, else None."""
    args = _run_folder(Path(path)) / "args.json"
    if not args.is_file():
        return None
    keys = set(load_args_json(args))
    return next((kind for kind, signature in SIGNATURES.items() if signature <= keys), None)


def _checkpoints_root(folder: Path) -> Path | None:
    """The folder holding the checkpoints/ tree that `folder` is in (the original's repository root)."""
    for parent in folder.resolve().parents:
        if parent.name == "checkpoints":
            return parent.parent
    return None


def relative_to_origin(recorded: str | os.PathLike, folder: Path) -> Path:
    """A path the original recorded or hard-coded, relative to its repository root (module docstring)."""
    path = Path(recorded)
    root = _checkpoints_root(folder)
    if not path.is_absolute() and root is not None and (root / path).exists():
        return root / path
    return path


def _newest(folder: Path, pattern: re.Pattern, what: str) -> Path:
    found = sorted((int(m.group(1)), p) for p in folder.glob("*") if (m := pattern.match(p.name)))
    if not found:
        raise FileNotFoundError(f"{folder}: no {what} file; pass the file itself")
    return found[-1][1]


def _model_file(path: Path, kind: str) -> Path:
    """The file to load for a model path of `kind` (module docstring)."""
    if path.is_file():
        return path
    if not path.is_dir():
        run = _run_folder(path)
        found = sorted(p.name for p in run.rglob("*.pt*"))
        raise FileNotFoundError(f"{path}: not found; the run folder {run} holds {found or 'no model file'}")
    if kind == "diffusion":
        found = latest_checkpoint(path, "model")
        if found is None:
            raise FileNotFoundError(f"{path}: the original's diffusion run holds no model*.pt file")
        return found
    if kind == "guide":
        return _newest(path / "checkpoints", GUIDE_FILE, "checkpoints/iter-NNNNNNN.pt")
    return _newest(path, VQ_FILE, "net_iterNNNNNN.pth")


class _Unread:
    """Stands in for a pickled object that is not read: built from nothing, keeps nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _empty_dict(*args) -> dict:
    """Stands in for a pickled dict subclass (collections.defaultdict) that is not read."""
    return {}


def read_weights(path: Path) -> dict[str, Any]:
    """A torch.save file read with weights_only=True; globals outside torch's allow-list (a pickled scheduler
    and its optimizer) become inert placeholders: nothing of them is imported, called or kept. A pickle that
    needs more than that (calling the method of an object, say) is refused with a ValueError."""
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    stand_ins = [(_empty_dict if name == "collections.defaultdict" else _Unread, name) for name in unsafe]
    with torch.serialization.safe_globals(stand_ins):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = next((line for line in lines if not line.startswith(TORCH_BOILERPLATE)), lines[-1])
            raise ValueError(f"{path}: refused, it holds pickled objects that cannot be read without running "
                             f"them ({reason})") from None


def _entry(path: Path, key: str) -> dict[str, torch.Tensor]:
    """The state dict stored under `key` of an original checkpoint file; a clear error otherwise."""
    stored = read_weights(path)
    if not isinstance(stored, dict) or key not in stored:
        found = sorted(stored)[:6] if isinstance(stored, dict) else type(stored).__name__
        raise ValueError(f"{path}: no {key!r} entry (found {found}); not the original's checkpoint of this kind")
    return stored[key]


def _normalizer(args: dict, folder: Path, options: dict) -> tuple[Normalizer, Path]:
    """The person's Normalizer from --data_stats, --data_root or the args.json data_root, and the stats file."""
    given = options.get("data_stats") or options.get("data_root")
    if given:
        stats = Path(given)
        if stats.is_file() and stats.name != STATS_FILE:
            raise ValueError(f"--data_stats {given}: name the file {STATS_FILE} (or pass its folder)")
        stats_folder = stats.parent if stats.name == STATS_FILE else stats
    else:
        stats_folder = relative_to_origin(args.get("data_root") or ".", folder)
    return Normalizer(load_stats(stats_folder)), stats_folder / STATS_FILE


def _lip_regressor(state: dict, model_file: Path, folder: Path, options: dict) -> tuple[nn.Module | None, str]:
    """The face model's lip regressor: --lip_model_path, else its own lip_model.* (loaded with the model),
    else assets/iter-0200000.pt of the original's repository root or the working directory."""
    given = options.get("lip_model_path")
    if given is None and any(k.startswith("lip_model.") for k in state):
        return None, f"its own lip regressor ({model_file.name} lip_model.*)"
    path = Path(given) if given else relative_to_origin(LIP_FILE, folder)
    if not path.is_file():
        raise FileNotFoundError(f"{model_file}: the face model needs the original's lip regressor; {path} is "
                                f"not there (pass --lip_model_path)")
    return read_original_lip(path), f"lip regressor {path}"


def read_original_lip(path: Path) -> nn.Module:
    """The original lip regressor (frozen, eval) of its file (assets/iter-0200000.pt: model_state_dict)."""
    return original_lip(_entry(path, "model_state_dict"), str(path))


def load_original_diffusion(path: str | os.PathLike, device: torch.device | str = "cpu", options: dict | None = None
                            ) -> tuple[nn.Module, dict, Normalizer, Path, nn.Module]:
    """(denoiser, flat config for the samplers, Normalizer, model file, lip regressor or None) of an original
    face or pose run; options: OriginalModelConfig's fields."""
    options = options or {}
    folder = _run_folder(Path(path))
    model_file = _model_file(Path(path), "diffusion")
    args = load_args_json(folder / "args.json")
    state = read_weights(model_file)
    lip, lip_note = _lip_regressor(state, model_file, folder, options) if args["data_format"] == "face" else (None, "")
    if lip is not None:
        state = {k: v for k, v in state.items() if not k.startswith("lip_model.")}
    activation = options.get("wav2vec_activation", "gelu")
    model, own_lip = original_denoiser(state, int(args["heads"]), activation, str(model_file))
    normalizer, stats_file = _normalizer(args, folder, options)
    config = {**args, **merged_dict(model.cfg), "diffusion_steps": 1000,  # the original ignored its flag
              "cond_drop_prob": args.get("cond_mask_prob", 0.2), "data_root": str(stats_file.parent),
              "max_seq_length": int(args.get("max_seq_length") or 600),
              "noise_schedule": args.get("noise_schedule", "cosine")}
    cfg = model.cfg
    tqdm.write(f"[original] {model_file}: the original's {args['data_format']} model ({cfg.layers} layers x "
               f"{cfg.heads} heads, d {cfg.latent_dim}, vq-wav2vec front end ({activation})"
               + (f", {lip_note}" if lip_note else "") + f"); stats {stats_file}")
    lip = lip or own_lip
    return model.to(device), config, normalizer, model_file, None if lip is None else lip.to(device)


def load_original_vq(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[ResidualVQVAE, dict, Path]:
    """(VQ-VAE frozen in eval mode, flat config like train_vq's, model file) of an original VQ run."""
    model_file = _model_file(Path(path), "vq")
    model = original_vq(_entry(model_file, "net"), str(model_file))
    return model.to(device).requires_grad_(False), merged_dict(model.cfg), model_file


def load_original_guide(path: str | os.PathLike, device: torch.device | str = "cpu",
                        options: dict | None = None) -> tuple[nn.Module, ResidualVQVAE, dict, Path]:
    """(guide, its VQ-VAE, flat config, model file) of an original guide run; the VQ-VAE is the args.json
    resume_pth (an original net_iter file, or any VQ-VAE train.train_vq loads)."""
    from train.train_vq import load_vq  # train_vq's loader recognises original VQ runs through this module
    options = options or {}
    folder = _run_folder(Path(path))
    model_file = _model_file(Path(path), "guide")
    args = load_args_json(folder / "args.json")
    vq_path = relative_to_origin(args["resume_pth"], folder)
    if not vq_path.exists():
        raise FileNotFoundError(f"{model_file}: its VQ-VAE {args['resume_pth']} (args.json resume_pth) is not under "
                                f"{_checkpoints_root(folder) or folder} nor in the working directory")
    vq, _, vq_file = load_vq(vq_path, device)
    model = original_guide(_entry(model_file, "model_state_dict"), vq.cfg.depth,
                           options.get("wav2vec_activation", "gelu"), str(model_file))
    tqdm.write(f"[original] {model_file}: the original's guide transformer ({model.cfg.layers} layers, dim "
               f"{model.cfg.dim}) with its VQ-VAE {vq_file} ({vq.cfg.depth} x {vq.cfg.codebook_size} codes of "
               f"{vq.cfg.emb_width})")
    config = {**args, **merged_dict(model.cfg), "resume_pth": str(vq_file)}
    return model.to(device).requires_grad_(False), vq, config, model_file


def original_model_folders(folder: str | os.PathLike) -> dict[str, Path]:
    """{"face", "pose", "guide"} -> the original's run folders in a checkpoints/ tree (the demo's
    --checkpoints): diffusion/* by their args.json data_format, guide/* (empty when there are none)."""
    folder, found = Path(folder), {}
    for run in sorted(folder.glob("diffusion/*")):
        if original_kind(run) == "diffusion":
            found.setdefault(load_args_json(run / "args.json")["data_format"], run)
    for run in sorted(folder.glob("guide/*")):
        if original_kind(run) == "guide":
            found.setdefault("guide", run)
    return found
