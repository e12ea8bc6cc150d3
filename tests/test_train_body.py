"""Body trainers on the tiny synthetic data set: the VQ-VAE reconstructs held-out poses and uses its
codebooks, the guide transformer learns the VQ's tokens from audio, and both runs leave an args.json from
which the models are rebuilt (the guide's names its VQ-VAE).

The tiny models are trained once per test process by the cached helpers below, which
tests/test_body_sampling.py reuses (import `from test_train_body import ...`)."""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from data_loaders.dataset import collate
from data_loaders.synthetic import SyntheticConfig, generate_dataset
from model.audio_encoder import AudioEncoderConfig
from model.guide import GuideConfig, GuideTransformer
from model.vqvae import VQConfig
from train.loop import TrainConfig
from train.train_guide import (GuideDataConfig, evaluate_guide, load_guide, parse_args, token_frequencies,
                               train_guide)
from train.train_vq import (KeyframeDataConfig, keyframe_dataset, keyframes_and_mask, load_vq, rotation_dims,
                            train_vq)
from utils.device import seed_everything

WINDOW = 90  # frames per window (3 keyframes); the tiny scenes hold 180-240 frames
TINY_AUDIO = dict(n_mels=32, audio_hidden=32, audio_channel_dim=16)
TINY_VQ = dict(codebook_size=32, depth=2, emb_width=32)
TINY_GUIDE = dict(layers=2, dim=32, heads=2, ff_size=64, audio_layers=1)
pytestmark = pytest.mark.slow  # every test uses the tiny models trained below


class Run(NamedTuple):
    """A finished tiny training run: its save_dir and TrainLoop.run()'s summary."""
    save_dir: Path
    summary: dict


def tiny_train_config(save_dir: Path, **overrides) -> TrainConfig:
    values = dict(save_dir=str(save_dir), device="cpu", num_workers=0, warm_up_iter=20, log_interval=20,
                  save_interval=10_000, eval_interval=0, lr=1e-3)
    return TrainConfig(**{**values, **overrides})


@functools.cache
def synthetic_person(base: Path) -> Path:
    """SYN001 of the tiny synthetic data set (8 scenes of 6-8 s: 2 train, 2 val, 4 test)."""
    generate_dataset(SyntheticConfig(preset="tiny", out=str(base / "synthetic"), seed=0, workers=2, progress=False))
    return base / "synthetic" / "SYN001"


@functools.cache
def trained_vq(base: Path) -> Run:
    save_dir = base / "vq"
    summary = train_vq(tiny_train_config(save_dir, batch_size=16, num_steps=400, betas=(0.9, 0.99), ema_decay=0.0),
                       KeyframeDataConfig(str(synthetic_person(base)), WINDOW), VQConfig(**TINY_VQ))
    return Run(save_dir, summary)


@functools.cache
def trained_guide(base: Path) -> Run:
    save_dir = base / "guide"
    data = GuideDataConfig(str(synthetic_person(base)), WINDOW, resume_pth=str(trained_vq(base).save_dir))
    summary = train_guide(tiny_train_config(save_dir, batch_size=4, num_steps=150, ema_decay=0.9),
                          data, GuideConfig(**TINY_GUIDE, codebook_size=TINY_VQ["codebook_size"],
                                            depth=TINY_VQ["depth"]), AudioEncoderConfig(**TINY_AUDIO))
    return Run(save_dir, summary)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


def mean_pose_error_deg(data: KeyframeDataConfig, split: str) -> float:
    """Mean absolute joint-angle error (degrees) of predicting the person's mean pose for every keyframe of
    the split's windows: the scale a reconstruction error is judged against."""
    dataset = keyframe_dataset(data, split)
    keyframes, mask = keyframes_and_mask(collate([dataset[i] for i in range(len(dataset))]))
    raw = dataset.normalizer.denormalize(keyframes.double(), "pose")
    mean = dataset.normalizer.denormalize(torch.zeros_like(keyframes).double(), "pose")
    angles = torch.as_tensor(rotation_dims(dataset.nfeats))
    return float((raw - mean)[mask][:, angles].abs().mean().rad2deg())


def test_vq_reconstructs_held_out_poses_and_uses_its_codebooks(base):
    run = trained_vq(base)
    val, train = run.summary["eval"], run.summary["metrics"]
    baseline = mean_pose_error_deg(KeyframeDataConfig(str(synthetic_person(base)), WINDOW), "val")
    print(f"VQ val reconstruction {val['recon_deg']:.2f} deg (mean-pose baseline {baseline:.2f} deg), "
          f"{val['recon_cm']:.2f} cm; train perplexity per level "
          f"{[round(train[f'perplexity_l{level}'], 1) for level in range(TINY_VQ['depth'])]} of "
          f"{TINY_VQ['codebook_size']} codes, usage {[round(train[f'usage_l{level}'], 2) for level in range(2)]}")
    assert val["recon_deg"] < 0.9 * baseline  # 2 training scenes of 7 s: some held-out poses were never seen
    for level in range(TINY_VQ["depth"]):
        assert train[f"perplexity_l{level}"] > TINY_VQ["codebook_size"] / 4  # a collapsed codebook gives ~1
        assert train[f"usage_l{level}"] > 0.4
        assert val[f"usage_l{level}"] > 0


def test_vq_args_json_rebuilds_the_model(base):
    run = trained_vq(base)
    args = json.loads((run.save_dir / "args.json").read_text())
    assert args["data_root"] == str(synthetic_person(base).resolve()) and args["max_seq_length"] == WINDOW
    assert {key: args[key] for key in TINY_VQ} == TINY_VQ and "commit" in args and "kmeans_iters" in args
    from_dir, config, model_file = load_vq(run.save_dir)
    from_file, _, _ = load_vq(model_file)
    assert model_file == run.save_dir.resolve() / "model000000400.pt"
    assert config["codebook_size"] == TINY_VQ["codebook_size"] and not from_dir.training
    dataset = keyframe_dataset(KeyframeDataConfig(str(synthetic_person(base)), WINDOW), "test")
    keyframes = dataset[0]["keyframes"][None]
    assert torch.equal(from_dir.encode(keyframes), from_file.encode(keyframes))
    assert from_dir.decode(from_dir.encode(keyframes)).shape == keyframes.shape


def test_guide_loss_falls_and_val_cross_entropy_improves_on_the_untrained_guide(base):
    run = trained_guide(base)
    losses = run.summary["losses"]
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    guide = load_guide(run.save_dir)
    seed_everything(tiny_train_config(run.save_dir).seed)  # the trainer's initial weights
    untrained = GuideTransformer(guide.model.cfg, AudioEncoderConfig(**TINY_AUDIO)).eval()
    data = KeyframeDataConfig(str(synthetic_person(base)), WINDOW)
    val_set = keyframe_dataset(data, "val")
    frequencies = token_frequencies(guide.vq, keyframe_dataset(data, "train", random_windows=False))
    before, after = evaluate_guide(untrained, guide.vq, val_set, frequencies), run.summary["eval"]
    print(f"guide loss {first:.3f} -> {last:.3f}; val ce {before['ce']:.3f} -> {after['ce']:.3f} nats (uniform "
          f"{math.log(TINY_VQ['codebook_size']):.3f}), accuracy {before['accuracy']:.3f} -> {after['accuracy']:.3f}, "
          f"argmax keyframes {before['argmax_deg']:.2f} -> {after['argmax_deg']:.2f} deg")
    assert last < 0.75 * first
    assert after["ce"] < before["ce"] - 0.5
    assert after["unigram_ce"] == pytest.approx(before["unigram_ce"]) and after["gain"] > before["gain"]
    levels = [after[f"gain_l{level}"] for level in range(TINY_VQ["depth"])]  # every level has as many tokens
    assert sum(levels) / len(levels) == pytest.approx(after["gain"], abs=1e-6)
    assert 0.0 <= after["accuracy"] <= after["top5"] <= 1.0


def test_guide_args_json_names_its_vq_and_everything_the_sampler_needs(base):
    run, vq_run = trained_guide(base), trained_vq(base)
    args = json.loads((run.save_dir / "args.json").read_text())
    assert args["resume_pth"] == str(vq_run.save_dir.resolve() / "model000000400.pt")
    for key in (*TINY_GUIDE, *TINY_AUDIO, "audio_encoder", "cond_drop_prob", "codebook_size", "depth"):
        assert key in args, key
    assert args["audio_layers"] == TINY_GUIDE["audio_layers"] and args["codebook_size"] == TINY_VQ["codebook_size"]
    guide = load_guide(run.save_dir)
    vq, _, _ = load_vq(vq_run.save_dir)
    assert guide.model_file == run.save_dir.resolve() / "model000000150.pt" and not guide.model.training
    for mine, theirs in zip(guide.vq.state_dict().values(), vq.state_dict().values()):
        assert torch.equal(mine, theirs)


def test_a_guide_whose_vq_is_gone_fails_naming_the_missing_file(base, tmp_path):
    stored = torch.load(trained_guide(base).save_dir / "model000000150.pt", weights_only=True)
    stored["config"]["resume_pth"] = str(tmp_path / "moved" / "model000000400.pt")
    torch.save(stored, tmp_path / "model000000150.pt")
    with pytest.raises(FileNotFoundError, match=r"moved/model000000400\.pt \(resume_pth.*missing"):
        load_guide(tmp_path / "model000000150.pt")


def test_guide_takes_the_vocabulary_from_its_vq_and_rejects_conflicting_flags(base, tmp_path):
    vq_dir = str(trained_vq(base).save_dir)
    common = ["--resume_pth", vq_dir, "--data_root", str(synthetic_person(base)), "--save_dir", str(tmp_path)]
    _, data, guide_cfg, _, _ = parse_args(common)
    assert (guide_cfg.codebook_size, guide_cfg.depth) == (TINY_VQ["codebook_size"], TINY_VQ["depth"])
    assert data.resume_pth == vq_dir
    with pytest.raises(ValueError, match=r"--codebook_size 1024 conflicts with the VQ-VAE .*model000000400\.pt"):
        train_guide(*parse_args(common + ["--codebook_size", "1024"]))
    with pytest.raises(ValueError, match="--depth 3 conflicts"):
        train_guide(*parse_args(common + ["--depth", "3"]))
    with pytest.raises(ValueError, match=r"guide: holds a guide transformer run \(see its args.json\), not a VQ-VAE"):
        load_vq(trained_guide(base).save_dir)
