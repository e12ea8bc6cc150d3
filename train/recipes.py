"""Training recipes: the flags of every stage of `scripts/train_all.sh` for each size, in one place.

    python -m train.recipes small lip      # prints the flags, one per line (train_all.sh reads them)

Stages, in dependency order: lip -> face (conditioned on the lip regressor's vertices); vq -> guide -> pose.
Every stage also gets --data_root and --save_dir RUN/<stage> from train_all.sh; "{run}" in a flag stands for
RUN (the pose model's training keyframes go through RUN/vq, as the guide's do at sampling time).

small      the shipped checkpoints/: d 128, 4 layers, log-mel 64 + audio convs 64 wide, 8 s windows, a short
           hot schedule (warm-up 100 steps, cosine to 0) and a short EMA; the lip regressor and the face model
           hear their training voices warped by up to 6 semitones (--voice_warp); the audio of the training windows from
           the feature bank (data_loaders/feature_bank.py: 8 variants per scene, made once); loading in the
           training process (on 2 cores a worker process only competes with the step: scripts/bench_train.py)
small-gpu  the same models on one GPU: 4x the batch, bf16, two loader workers, 4x the steps of small at a
           modest learning-rate increase (not measured here: no GPU was lent when it was written)
full       the original's sizes and step counts (the trainers' defaults; days on one GPU)
"""
from __future__ import annotations

import sys

from utils.cli import run_cli

STAGES = ("lip", "face", "vq", "guide", "pose")

_AUDIO = ["--n_mels", "64", "--audio_hidden", "64", "--audio_channel_dim", "64"]
_LOOP = ["--num_workers", "0", "--warm_up_iter", "100", "--schedule", "cosine", "--log_interval", "50",
         "--save_interval", "500", "--eval_interval", "500", "--keep_checkpoints", "1"]
_DIFFUSION = ["--latent_dim", "128", "--layers", "4", "--heads", "4", "--ff_size", "256", "--max_seq_length", "240",
              "--min_seq_length", "180", "--ema_decay", "0.99", *_AUDIO]
_SMALL = {
    "lip": ["--lip_latent_dim", "128", "--lip_encoder_layers", "1", "--lip_decoder_layers", "2", "--lip_ff_size",
            "256", "--max_seq_length", "240", "--min_seq_length", "180", "--batch_size", "16", "--lr", "5e-4",
            "--ema_decay", "0.99", "--num_steps", "3000", "--voice_warp", "6", *_AUDIO, *_LOOP],
    "face": [*_DIFFUSION, "--batch_size", "8", "--lr", "5e-4", "--num_cond_layers", "1", "--num_steps", "3000",
             "--voice_warp", "6", *_LOOP],
    "vq": ["--codebook_size", "256", "--depth", "4", "--emb_width", "64", "--translation_weight", "10",
           "--batch_size", "32", "--num_steps", "3000", "--warm_up_iter", "100", "--num_workers", "0",
           "--log_interval", "100", "--save_interval", "1000", "--eval_interval", "1000", "--keep_checkpoints", "1"],
    "guide": ["--layers", "4", "--dim", "64", "--heads", "4", "--ff_size", "256", "--audio_layers", "1",
              "--max_seq_length", "240", "--batch_size", "16", "--lr", "1e-3", "--ema_decay", "0.99",
              "--num_steps", "4000", *_AUDIO, *_LOOP],
    "pose": [*_DIFFUSION, "--batch_size", "8", "--lr", "5e-4", "--lambda_vel", "2.0", "--guide_vq_path", "{run}/vq",
             "--num_steps", "3000", *_LOOP],
}
_GPU_CHANGES = {"--batch_size": 4.0, "--num_steps": 4.0, "--lr": 1.5}
_GPU_LOOP = ["--num_workers", "2", "--device", "cuda"]
RECIPES = {"small": _SMALL, "full": {stage: [] for stage in STAGES}}
RECIPES["full"]["pose"] = ["--lambda_vel", "2.0"]


def _scaled(flags: list[str]) -> list[str]:
    """small's flags with batch, steps and learning rate scaled by _GPU_CHANGES and the GPU loader."""
    out = []
    for name, value in zip(flags[::2], flags[1::2]):
        if name == "--num_workers":
            continue
        factor = _GPU_CHANGES.get(name)
        out += [name, value if factor is None else (f"{float(value) * factor:g}" if "." in value or "e" in value
                                                    else str(int(int(value) * factor)))]
    return out + _GPU_LOOP


RECIPES["small-gpu"] = {stage: _scaled(flags) for stage, flags in _SMALL.items()}


def recipe(size: str, stage: str, run: str = "") -> list[str]:
    """The flags of `stage` in recipe `size`, with {run} replaced by `run`."""
    if size not in RECIPES or stage not in STAGES:
        raise ValueError(f"unknown recipe {size!r} / stage {stage!r}; sizes {sorted(RECIPES)}, stages {STAGES}")
    return [flag.replace("{run}", run) for flag in RECIPES[size][stage]]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or args[0] in ("-h", "--help"):
        print(f"usage: python -m train.recipes SIZE STAGE [RUN]   (SIZE: {', '.join(RECIPES)}; STAGE: "
              f"{', '.join(STAGES)})\n\n{__doc__}")
        raise SystemExit(0 if args and args[0] in ("-h", "--help") else 2)
    flags = recipe(*args)
    if flags:
        print("\n".join(flags))


if __name__ == "__main__":
    run_cli(main)
