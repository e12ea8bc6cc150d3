"""`python -m train.train_diffusion --data_format face|pose --data_root DIR --save_dir DIR ...`: train the face
or body DDPM (UPSTREAM 4.1) with the shared TrainLoop.

Per batch (data_loaders/dataset.py), the conditions are encoded ONCE and every randomness comes from the
items' seeds:
    lips = lip.normalise(lip(audio, mask))              face with --lip_model_path: the frozen lip regressor,
                                                        under no_grad (B, T, L*3); with the feature bank read
                                                        from its lip bank instead (data_loaders/lip_bank.py)
    cond = model.encode_condition(audio, lips, keyframes, mask)   keyframes: pose, the ground-truth 1 fps
                                                        poses of the window (B, T//30, C); with
                                                        --guide_vq_path passed through that frozen VQ-VAE
    cond = model.drop_condition(cond, seeds)            classifier-free guidance training (--cond_drop_prob)
    loss = GaussianDiffusion.training_loss(lambda x_t, t: model(x_t, t, cond), motion, valid, mask, seeds,
                                           lambda_vel)
Without --lip_model_path the face model hears the audio alone (lip_dim = 0): simpler and still lip-synced
through the audio tokens, but the original conditions on lip vertices; train a lip regressor first with
`python -m train.train_lip` for the original's setup. Training always uses every step of the base process
(--diffusion_steps); --timestep_respacing is accepted for the original's command lines and ignored (its
default 'ddim100' silently trained a 100-step model there); sampling picks steps with sample.generate.

Model sizes default to the original's (`denoiser_preset`): face 8 layers x 8 heads, d 512; pose 6 x 8,
d 256, guide-pose cross-attention and the causal post-net. --nfeats is taken from the data and --lip_dim
from the lip regressor (L*3). Validation (every --eval_interval steps and at the end, EMA weights): the
same loss on the fixed chunks of the validation scenes (TensorBoard Val/loss).

save_dir gets args.json (all fields of DiffusionDataConfig, DenoiserConfig, AudioEncoderConfig and
TrainConfig, flat: everything `load_diffusion_model` needs to rebuild the model), data_stats.pth (a copy
of the person's statistics, so sampling works without the data set) and the checkpoints of train/loop.py.

--arch original builds the original's face or pose model at its sizes (frozen vq-wav2vec from its assets/, the
face conditioned on the original lip regressor) and writes model*.pt as the original's bare state dicts, with
the original's args.json keys beside a2p's (train/original_arch.py); load_diffusion_model reads them back as
the original's models.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Optional

import torch

from data_loaders.augment import AugmentConfig
from data_loaders.dataset import SocialDataset, collate
from data_loaders.feature_bank import FeatureBankConfig, attach_feature_bank
from data_loaders.format import STATS_FILE, FormatError
from data_loaders.lip_bank import attach_lip_bank
from data_loaders.stats import Normalizer, load_stats
from diffusion import GaussianDiffusion
from model.audio_encoder import AudioEncoderConfig
from model.denoiser import DenoiserConfig, FiLMTransformer, denoiser_preset
from model.lip_regressor import LipRegressor
from model.vqvae import ResidualVQVAE
from train.checkpoint import RUN_KINDS, ModelFiles, check_run_kind, load_model_checkpoint, load_weights, \
    resolve_model_file
from train.distributed import is_main_process
from train.loop import TrainConfig, TrainLoop, move_to
from train.original_arch import Arch, OriginalDiffusionFiles, arch_field, lip_never_run, original_args, \
    original_asset, original_defaults, with_original_audio
from train.original_layout import LIP_FILE, load_original_diffusion, original_kind, read_original_lip
from train.train_lip import load_lip_regressor
from train.train_vq import load_vq
from utils.cli import run_cli
from utils.config import arg, from_dict, merged_dict, parse_config
from utils.device import seed_everything

EVAL_BATCH = 8


@dataclass
class DiffusionDataConfig(AugmentConfig):
    """Data, conditioning and diffusion process of the face / body DDPM."""
    data_format: Literal["face", "pose"] = arg("pose", "what the model generates: face codes or body pose; "
                                                       "also picks the model size defaults")
    data_root: str = arg("", "person folder in the official format, e.g. dataset/SYN001 (required)")
    max_seq_length: int = arg(600, "frames per training window (600 = 20 s, the original's)")
    min_seq_length: int = arg(400, "shortest random training window (frames); lengths are uniform in "
                                   "[min, max), zero-padded to max (the original's 400)")
    lip_model_path: Optional[str] = arg(None, "face: lip regressor checkpoint (model*.pt or save_dir of "
                                              "train.train_lip) whose lip vertices condition the model; none = "
                                              "audio only (lip_dim 0); with --arch original the original's lip "
                                              "regressor file (default: its assets/iter-0200000.pt)")
    guide_vq_path: Optional[str] = arg(None, "pose: a train.train_vq checkpoint (the guide's VQ-VAE); the "
                                             "ground-truth keyframes pass through it (encode, decode) before "
                                             "conditioning, as the guide's keyframes do at sampling time; none "
                                             "= exact ground-truth keyframes (the original)")
    lambda_vel: float = arg(0.0, "weight of the velocity loss (original README: 2.0 pose, 0 face)")
    noise_schedule: Literal["cosine", "linear"] = arg("cosine", "noise schedule of the base process")
    diffusion_steps: int = arg(1000, "steps of the base process (the original ignored this flag: always 1000)")
    dataset: Literal["social"] = arg("social", "accepted for the original's command lines: its only data set "
                                              "(the official format)")
    add_frame_cond: Optional[float] = arg(None, "accepted for the original's command lines: 1 = guide poses at "
                                                "1 fps, which the pose model uses by default (--use_guide)")
    timestep_respacing: str = arg("", "accepted for the original's command lines and ignored: training always "
                                      "uses all --diffusion_steps steps (choose sampling steps with "
                                      "sample.generate --timestep_respacing)")
    arch: Arch = arch_field()


class DiffusionModel(NamedTuple):
    """A trained denoiser ready to sample: model (eval mode), the flat args.json dict, the person's
    Normalizer, the model file it came from, and the lip regressor it carries (the original's face models;
    a2p's name theirs in args.json lip_model_path)."""
    model: FiLMTransformer
    config: dict[str, Any]
    normalizer: Normalizer
    model_file: Path
    lip: torch.nn.Module | None = None


class DiffusionLoss:
    """loss_fn(model, batch) of the TrainLoop (module docstring); `lip` is the frozen lip regressor or None,
    `guide_vq` the frozen VQ-VAE the keyframes pass through (--guide_vq_path) or None."""

    def __init__(self, diffusion: GaussianDiffusion, lambda_vel: float, lip: LipRegressor | None,
                 guide_vq: ResidualVQVAE | None = None):
        self.diffusion, self.lambda_vel, self.lip, self.guide_vq = diffusion, lambda_vel, lip, guide_vq

    def lip_input(self, batch: dict) -> torch.Tensor | None:
        """(B, T, L*3) normalised lip vertices of the audio's channel 0: the lip bank's ("lips") when the batch
        has them, else the frozen regressor's; None without a lip regressor."""
        if self.lip is None:
            return None
        if "lips" in batch:
            return batch["lips"]
        audio, mask = batch["audio"], batch["mask"]
        self.lip.to(audio.device)
        with torch.no_grad():
            return self.lip.normalise(self.lip(audio, mask=mask))

    def guide_input(self, keyframes: torch.Tensor) -> torch.Tensor:
        """(B, K, C) normalised keyframes as the model sees them: through the VQ-VAE when there is one."""
        if self.guide_vq is None:
            return keyframes
        self.guide_vq.to(keyframes.device)
        with torch.no_grad():
            return self.guide_vq.decode(self.guide_vq.encode(keyframes)).to(keyframes.dtype)

    def __call__(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        cond = model.encode_condition(batch["audio"], self.lip_input(batch),
                                      self.guide_input(batch["keyframes"]) if model.cfg.use_guide else None,
                                      mask=batch["mask"])
        cond = model.drop_condition(cond, batch["seed"])
        terms = self.diffusion.training_loss(lambda x_t, t: model(x_t, t, cond), batch["motion"], batch["valid"],
                                             batch["mask"], batch["seed"], self.lambda_vel)
        return terms["loss"], {"rec": terms["rec"], "vel": terms["vel"], "vb": terms["vb"]}


def validation(loss: DiffusionLoss, dataset: SocialDataset):
    """eval_fn(model, step) -> {"loss", "rec", "vb"}: the training loss and the original's variational bound
    over the fixed validation chunks (item seed = chunk index, so every evaluation draws the same noise and
    timesteps)."""
    def eval_fn(model, step: int) -> dict:
        device = next(model.parameters()).device
        totals, count = {"loss": 0.0, "rec": 0.0, "vb": 0.0}, 0
        for first in range(0, len(dataset), EVAL_BATCH):
            items = [dataset[i] for i in range(first, min(first + EVAL_BATCH, len(dataset)))]
            value, metrics = loss(model, move_to(collate(items), device))
            totals["loss"] += float(value) * len(items)
            for name in ("rec", "vb"):
                totals[name] += float(metrics[name]) * len(items)
            count += len(items)
        return {key: total / count for key, total in totals.items()}
    return eval_fn


def parse_args(argv: list[str] | None = None) -> tuple:
    """(TrainConfig, DiffusionDataConfig, DenoiserConfig, AudioEncoderConfig, FeatureBankConfig); model
    defaults from the preset of --data_format (flags still win), and --frame_audio for the body."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--data_format", default=DiffusionDataConfig.data_format)
    peek.add_argument("--arch", default=DiffusionDataConfig.arch)
    peek.add_argument("--max_seq_length", type=int, default=DiffusionDataConfig.max_seq_length)
    known = peek.parse_known_args(argv)[0]
    data_format = known.data_format
    defaults = denoiser_preset(data_format) if data_format in ("face", "pose") else {}
    defaults["frame_audio"] = data_format == "pose"  # a2p's body default (README: A body that moves with the speech)
    if known.arch == "original" and data_format in ("face", "pose"):
        defaults = original_defaults(data_format, known.max_seq_length)
    return parse_config([TrainConfig, DiffusionDataConfig, DenoiserConfig, AudioEncoderConfig, FeatureBankConfig], argv,
                        defaults=defaults, description=(
                            "Train the face or body diffusion model (FiLM transformer denoiser, x0 prediction) on "
                            "a person folder. Model sizes default to the original's for --data_format; --nfeats "
                            "comes from the data and --lip_dim from the lip regressor."))


def main(argv: list[str] | None = None) -> dict:
    """Parse the flags, train, return TrainLoop.run()'s summary."""
    train_cfg, data_cfg, model_cfg, audio_cfg, bank_cfg = parse_args(argv)
    if not data_cfg.data_root:
        raise SystemExit("--data_root is required: a person folder in the official format, e.g. dataset/SYN001")
    if data_cfg.lip_model_path and data_cfg.data_format != "face":
        raise SystemExit("--lip_model_path conditions the face model; leave it out with --data_format pose")
    if data_cfg.add_frame_cond is not None and (data_cfg.add_frame_cond != 1 or data_cfg.data_format != "pose"
                                                or not model_cfg.use_guide):
        raise SystemExit(f"--add_frame_cond {data_cfg.add_frame_cond:g}: only 1 (1 fps guide poses) with "
                         f"--data_format pose and --use_guide, as in the original's body command")
    if data_cfg.guide_vq_path and (data_cfg.data_format != "pose" or not model_cfg.use_guide):
        raise SystemExit("--guide_vq_path shapes the guide poses of the body model; use it with --data_format "
                         "pose and --use_guide")
    data_cfg = dataclasses.replace(
        data_cfg, data_root=str(Path(data_cfg.data_root).resolve()),
        lip_model_path=str(Path(data_cfg.lip_model_path).resolve()) if data_cfg.lip_model_path else None,
        guide_vq_path=str(resolve_model_file(data_cfg.guide_vq_path).resolve()) if data_cfg.guide_vq_path else None)
    if data_cfg.arch == "original":
        data_cfg, audio_cfg, lip, never_run = original_inputs(train_cfg, data_cfg, audio_cfg)
    else:
        lip, never_run = load_lip_regressor(data_cfg.lip_model_path) if data_cfg.lip_model_path else None, None
    guide_vq = load_vq(data_cfg.guide_vq_path)[0] if data_cfg.guide_vq_path else None
    seed_everything(train_cfg.seed)
    train_set = SocialDataset(data_cfg.data_root, "train", data_cfg.data_format,
                              max_seq_length=data_cfg.max_seq_length, min_seq_length=data_cfg.min_seq_length,
                              augment=data_cfg.augment)
    bank = attach_feature_bank(train_set, bank_cfg, audio_cfg)
    if lip is not None:
        attach_lip_bank(train_set, bank, lip, resolve_model_file(data_cfg.lip_model_path), data_cfg.max_seq_length)
    val_set = SocialDataset(data_cfg.data_root, "val", data_cfg.data_format, max_seq_length=data_cfg.max_seq_length,
                            min_seq_length=data_cfg.min_seq_length, random_windows=False)
    model_cfg = dataclasses.replace(model_cfg, nfeats=train_set.nfeats,
                                    lip_dim=0 if lip is None else lip.num_vertices * 3)
    model = FiLMTransformer(model_cfg, audio_cfg)
    loss = DiffusionLoss(GaussianDiffusion(data_cfg.diffusion_steps, data_cfg.noise_schedule), data_cfg.lambda_vel,
                         lip, guide_vq)
    original = data_cfg.arch == "original"
    merged = merged_dict(train_cfg, data_cfg, model_cfg, audio_cfg)
    loop = TrainLoop(model, loss, train_set, train_cfg, collate_fn=collate,
                     configs_to_save=(data_cfg, model_cfg, audio_cfg), eval_fn=validation(loss, val_set),
                     configs_to_record=(bank_cfg, *([original_args("diffusion", merged)] if original else [])),
                     init_weights=lambda path: load_diffusion_model(path).model.state_dict(),
                     model_files=OriginalDiffusionFiles(model, lip, never_run) if original else ModelFiles())
    if is_main_process():
        shutil.copyfile(Path(data_cfg.data_root) / STATS_FILE, Path(train_cfg.save_dir) / STATS_FILE)
    return loop.run()


def original_inputs(train_cfg: TrainConfig, data_cfg: DiffusionDataConfig, audio_cfg: AudioEncoderConfig) -> tuple:
    """--arch original: (data config, audio config reading the original's vq-wav2vec, the original lip
    regressor of a face model or None, the assets' never-run keys to write beside the weights)
    (train/original_arch.py)."""
    audio_cfg, never_run = with_original_audio(audio_cfg, train_cfg.save_dir)
    lip = None
    if data_cfg.data_format == "face":
        path = original_asset(LIP_FILE, train_cfg.save_dir, data_cfg.lip_model_path, "--lip_model_path")
        lip, never_run = read_original_lip(path), {**never_run, **lip_never_run(path)}
        data_cfg = dataclasses.replace(data_cfg, lip_model_path=str(path))
    else:
        data_cfg = dataclasses.replace(data_cfg, add_frame_cond=1.0)  # what the original's pose run records
    return data_cfg, audio_cfg, lip, never_run


def load_normalizer(model_file: Path, config: dict) -> Normalizer:
    """The person's statistics: the copy in the model's folder, else the data_stats.pth of its data_root."""
    for folder in (model_file.parent, Path(config.get("data_root") or "")):
        if (folder / STATS_FILE).is_file():
            return Normalizer(load_stats(folder))
    raise FormatError(f"{model_file.parent / STATS_FILE}: not found, nor in the training data_root "
                      f"{config.get('data_root')!r}; copy the person's data_stats.pth into {model_file.parent}")


def load_diffusion_model(path: str | os.PathLike, device: torch.device | str = "cpu",
                         options: dict | None = None) -> DiffusionModel:
    """The denoiser of a train_diffusion checkpoint (model*.pt, EMA weights) or save_dir, in eval mode; also
    the original's released face and pose runs (train/original_layout.py; options: OriginalModelConfig's)."""
    if original_kind(path) == "diffusion":
        return DiffusionModel(*load_original_diffusion(path, device, options))
    model_file = resolve_model_file(path)
    if (options or {}).get("data_stats"):
        raise ValueError(f"--data_stats {options['data_stats']}: only the original's released models take it; "
                         f"{model_file.parent} is an a2p run, which samples with the statistics it was trained "
                         f"with (its {STATS_FILE}, else its data_root's): leave --data_stats out")
    state, config = load_model_checkpoint(model_file, device)
    check_run_kind(config, model_file, *RUN_KINDS.values())
    if config.get("data_format") not in ("face", "pose"):
        raise ValueError(f"{model_file}: its args.json has data_format {config.get('data_format')!r}; this is "
                         f"not a checkpoint of train.train_diffusion")
    model = load_weights(FiLMTransformer(from_dict(DenoiserConfig, config), from_dict(AudioEncoderConfig, config)),
                         state, model_file)
    return DiffusionModel(model.to(device).eval(), config, load_normalizer(model_file, config), model_file)


if __name__ == "__main__":
    run_cli(main)
