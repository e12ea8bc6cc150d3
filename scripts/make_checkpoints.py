"""Make the small pretrained checkpoints shipped in checkpoints/ (what the quickstart and the demo load).

    python scripts/make_checkpoints.py [--data_root PERSON_DIR] [--run_dir runs/small] [--out checkpoints]

1. trains every model of size "small" with `bash scripts/train_all.sh small RUN_DIR PERSON_DIR` (about 1.5
   hours on 2 CPU cores; without --data_root it first generates the synthetic `default` preset into
   RUN_DIR/dataset and trains on SYN001; a finished run is not trained again);
2. exports each run's newest model file into OUT/{lip,face,vq,guide,pose}/ as a portable folder:
   - model{step:09d}.pt with the floating-point weights stored as float16 (half the size; load_state_dict
     casts them back to the model's float32), "step" and "config" as written by train/loop.py;
   - args.json: that config, flat, as the trainers write it;
   - face, pose: the person's data_stats.pth (sampling needs the normalisation statistics, not the data set)
     and sampling.json, the sampling settings recommended for the model (RECOMMENDED; sample/recommended.py).
     `--only_sampling` writes just these into OUT's existing folders (no training, the weights untouched).
   Paths recorded in the configs are made relative to the checkpoint's own folder: lip_model_path "../lip"
   (face), resume_pth "../vq" (guide), guide_vq_path "../vq" (pose), save_dir "."; data_root is emptied
   (it named a folder of this machine; pass --data_root to sample.generate to sample a test split).
A summary of the exported files (size, step, parameters) is printed at the end.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data_loaders.format import STATS_FILE  # noqa: E402
from sample.recommended import write_recommended_sampling  # noqa: E402
from train.checkpoint import checkpoint_path, latest_checkpoint, load_checkpoint_file, save_atomic  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402
from utils.files import atomic_write  # noqa: E402

MODELS = ("lip", "face", "vq", "guide", "pose")  # training order of scripts/train_all.sh
WITH_STATS = ("face", "pose")  # diffusion models: sampling reads data_stats.pth beside the model file
PORTABLE_PATHS = {"lip_model_path": "../lip", "resume_pth": "../vq", "guide_vq_path": "../vq", "save_dir": ".",
                  "data_root": "", "feature_bank": "auto", "init_from": "(see checkpoints/README.md)"}
# sampling.json of the diffusion models: our sampler and step count; body guidance 2 as the original's README;
# face guidance 2.5, not its 10: on the real dev recordings (scripts/bench_real_speech.py, clean copies of 5
# files) the small face model at 10 pushes codes to 7-8 training stds, out of the avatar's ranges in 33-75 % of
# frames, median lip-sync r 0.16; at 2.5: 2-4 stds, 23-47 %, r 0.27
RECOMMENDED = {"face": {"guidance_param": 2.5, "sampler": "dpmpp2m", "timestep_respacing": "ddim20",
                        "lip_consistency": "on"},
               "pose": {"guidance_param": 2.0, "sampler": "dpmpp2m", "timestep_respacing": "ddim20"}}


@dataclass
class MakeCheckpointsConfig:
    """Train the small models and export them as the shipped checkpoints."""
    data_root: Optional[str] = arg(None, "person folder to train on (default: generate the synthetic default "
                                         "preset into RUN_DIR/dataset and use its SYN001)")
    run_dir: str = arg(str(REPO / "runs" / "small"), "folder of the training runs (outside checkpoints/)")
    out: str = arg(str(REPO / "checkpoints"), "folder receiving lip/, face/, vq/, guide/ and pose/")
    train: bool = arg(True, "run scripts/train_all.sh small first (--no-train: export the runs as they are)")
    only_sampling: bool = arg(False, "only write RECOMMENDED's sampling.json into OUT/face and OUT/pose (no "
                                     "training, no export)")
    models: list[str] = arg(list(MODELS), "the runs to export (e.g. lip pose: ship a retrained or fine-tuned "
                                          "model and keep the others)")


def half_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with float32 tensors stored as float16 (other dtypes unchanged)."""
    return {key: value.half() if value.dtype == torch.float32 else value for key, value in state.items()}


def portable_config(config: dict) -> dict:
    """The flat config with its machine paths replaced by PORTABLE_PATHS (only keys it has, and only those
    that hold a value: a face model without lip regressor keeps lip_model_path None)."""
    return {key: PORTABLE_PATHS[key] if key in PORTABLE_PATHS and value else value for key, value in config.items()}


def export_run(run: Path, target: Path) -> Path:
    """Write the portable copy of the newest model file of training run `run` into `target` (emptied first);
    returns the model file written."""
    source = latest_checkpoint(run, "model")
    if source is None:
        raise FileNotFoundError(f"{run}: no model*.pt; train it first (bash scripts/train_all.sh small)")
    stored = load_checkpoint_file(source)
    config = portable_config(stored["config"])
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    model_file = checkpoint_path(target, "model", int(stored["step"]))
    save_atomic({"model": half_weights(stored["model"]), "step": stored["step"], "config": config}, model_file)
    with atomic_write(target / "args.json") as tmp:
        tmp.write_text(json.dumps(config, indent=4, sort_keys=True))
    if target.name in WITH_STATS:
        shutil.copyfile(run / STATS_FILE, target / STATS_FILE)
    if target.name in RECOMMENDED:
        write_recommended_sampling(target, RECOMMENDED[target.name])
    return model_file


def summary_line(model_file: Path) -> str:
    stored = load_checkpoint_file(model_file)
    params = sum(value.numel() for value in stored["model"].values())
    size = sum(f.stat().st_size for f in model_file.parent.iterdir()) / 2 ** 20
    return f"{model_file.parent.name:<6}{stored['step']:>8}{params:>12,}{size:>10.2f} MB   {model_file}"


def main(argv: list[str] | None = None) -> None:
    config, = parse_config([MakeCheckpointsConfig], argv, description=__doc__.split("\n")[0])
    if config.only_sampling:
        for name, settings in RECOMMENDED.items():
            print(f"wrote {write_recommended_sampling(Path(config.out) / name, settings)}")
        return
    run_dir = Path(config.run_dir)
    if config.train:
        command = ["bash", str(REPO / "scripts" / "train_all.sh"), "small", str(run_dir)]
        subprocess.run(command + ([config.data_root] if config.data_root else []), check=True)
    unknown = sorted(set(config.models) - set(MODELS))
    if unknown:
        raise SystemExit(f"--models {' '.join(unknown)}: unknown; choose among {' '.join(MODELS)}")
    written = [export_run(run_dir / name, Path(config.out) / name) for name in MODELS if name in config.models]
    print(f"{'model':<6}{'step':>8}{'parameters':>12}{'folder':>13}")
    for model_file in written:
        print(summary_line(model_file))


if __name__ == "__main__":
    run_cli(main)
