"""The paper's Table 1 for the body on a synthetic person's test split: ground truth, five baselines, full model.

    python scripts/baselines.py                              # the shipped checkpoints/ (trains nothing)
    python scripts/baselines.py --train --size small         # first trains every model (scripts/train_all.sh)

Without --data_root the person is SYN001 of the synthetic `default` preset in RUN_DIR/dataset, generated
there (about a minute) when missing; the shipped checkpoints were trained on exactly that person (seed 0).
The test split is cut into fixed chunks of the pose model's window (sample.generate's chunks, all of them by
default), each sampled --num_repetitions times by every method of sample/baselines.py with the same row
seeds, then scored with sample.evaluate (formulas in sample/metrics.py, raw pose units): FD_g, FD_k, Div_g,
Div_k, Div_sample, and the paired metrics, each sequence against the audio and the events of the test chunk
it was generated for (results.npy records the chunk's scene and start): speaker-nod F1 and listener-nod
recall, each with its chance level in brackets (the same score with the nods moved in time), the wrist speed
ratio speaking / listening, beat alignment. The ground-truth row gives the diversity and the paired scores
the methods should reach (the speed ratio is best close to it); the chance levels, what motion that ignores
the audio gets. Without events files (real data) the nod columns stay empty.

Prints the table in the paper's layout (markdown) and writes the numbers and settings to --out (JSON).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sample.baselines import BASELINES, build_baselines, train_windows  # noqa: E402
from sample.body import BodySampler  # noqa: E402
from sample.evaluate import evaluate, ground_truth_metrics  # noqa: E402
from sample.generate import GenerateConfig, chunk_inputs, sample_inputs  # noqa: E402
from sample.windows import SamplingConfig  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402
from utils.device import device_name, resolve_device, seed_everything  # noqa: E402
from utils.files import atomic_write  # noqa: E402

ROW_NAMES = {"gt": "Ground truth", "random": "Random train segment", "nn": "Nearest neighbour (audio)",
             "vq_only": "VQ-only (guide tokens)", "audio_only": "Audio-only diffusion (no guide)",
             "guide_only": "Guide-only diffusion (no audio)", "full": "Full model"}
ROUNDING_NOISE = 1e-12  # smaller values print as 0 (e.g. Div_sample of identical repetitions: 4e-32)
COLUMNS = {"fd_g": "FD_g ↓", "fd_k": "FD_k ↓", "div_g": "Div_g ↑", "div_k": "Div_k ↑",
           "div_sample": "Div_sample ↑", "speaker_nod_f1": "Speaker-nod F1 ↑ (chance)",
           "listener_nod_recall": "Listener-nod recall ↑ (chance)", "speed_ratio": "Wrist speed speak / listen",
           "beat_align": "Beat align ↑"}
CHANCE = {"speaker_nod_f1": "speaker_nod_f1_chance", "listener_nod_recall": "listener_nod_recall_chance"}


@dataclass
class BaselinesConfig:
    """Models, data and output of the table."""
    checkpoints: str = arg(str(REPO / "checkpoints"), "folder holding the pose/ and guide/ runs (its guide names "
                                                      "its VQ-VAE); ignored with --train (RUN_DIR is used)")
    train: bool = arg(False, "first train every model with `bash scripts/train_all.sh SIZE RUN_DIR` (resumes a "
                             "finished or interrupted run)")
    size: Literal["small", "full"] = arg("small", "model size of --train (scripts/train_all.sh)")
    run_dir: str = arg(str(REPO / "runs" / "small"), "folder of the runs of --train and of the generated data set")
    data_root: Optional[str] = arg(None, "person folder whose test split is scored (default: RUN_DIR/dataset/"
                                         "SYN001, generated from the synthetic default preset when missing)")
    num_samples: int = arg(1000, "test chunks scored (the first of a seeded shuffle; all when there are fewer)")
    top_p: float = arg(0.94, "nucleus mass of the guide's token sampling")
    nn_stride: int = arg(30, "frames between the starts of the nearest-neighbour candidate train windows")
    batch_size: int = arg(48, "sequences (chunks x repetitions) sampled together")
    device: str = arg("auto", "auto, cpu, cuda or cuda:N", check=device_name)
    methods: list[str] = arg(list(BASELINES), f"rows to score, in the table's order (of {', '.join(BASELINES)})")
    out: str = arg("", "JSON file for the table (default: RUN_DIR/baselines.json)")
    progress: bool = arg(True, "show progress bars")


def prepare_data(config: BaselinesConfig) -> Path:
    """The person folder to score: --data_root, else SYN001 of the default preset in RUN_DIR (made if missing)."""
    if config.data_root:
        return Path(config.data_root)
    dataset = Path(config.run_dir) / "dataset"
    if not (dataset / "SYN001" / "data_stats.pth").is_file():
        subprocess.run([sys.executable, "-m", "data_loaders.synthetic", "--preset", "default", "--out",
                        str(dataset), "--seed", "0"], check=True, cwd=REPO)
    return dataset / "SYN001"


def markdown_table(scores: dict[str, dict]) -> str:
    """The rows of `scores` (name -> metrics) in the paper's layout, chance levels in brackets; '-' where a value
    does not apply."""
    def number(value):
        if value is None or math.isnan(value):
            return "-"
        return "0" if abs(value) < ROUNDING_NOISE else f"{value:.4g}"

    def cell(row, key):
        chance = row.get(CHANCE.get(key))
        return number(row.get(key)) + ("" if chance is None else f" ({number(chance)})")

    lines = ["| Method | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {ROW_NAMES[name]} | " + " | ".join(cell(row, key) for key in COLUMNS) + " |"
              for name, row in scores.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    config, settings = parse_config([BaselinesConfig, SamplingConfig], argv, description=__doc__.split("\n")[0])
    unknown = sorted(set(config.methods) - set(BASELINES))
    if unknown:
        raise SystemExit(f"baselines: unknown --methods {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
    checkpoints = Path(config.checkpoints)
    if config.train:
        command = ["bash", str(REPO / "scripts" / "train_all.sh"), config.size, config.run_dir]
        subprocess.run(command + ([config.data_root] if config.data_root else []), check=True)
        checkpoints = Path(config.run_dir)
    data_root = prepare_data(config)
    device = resolve_device(config.device)
    seed_everything(settings.seed)
    body = BodySampler.load(checkpoints / "pose", device, resume_trans=checkpoints / "guide", top_p=config.top_p)
    inputs = chunk_inputs(str(data_root), "pose", body.window, config.num_samples, settings.seed)
    samplers = build_baselines(body, train_windows(str(data_root), body.window), config.nn_stride)
    generate = GenerateConfig(batch_size=config.batch_size, progress=config.progress)
    scores, seconds = {}, {}
    for name in [name for name in BASELINES if name in config.methods]:
        started = time.perf_counter()
        results = sample_inputs(samplers[name], inputs, settings, generate, body.window).to_dict()
        seconds[name] = time.perf_counter() - started
        if not scores:
            scores["gt"] = ground_truth_metrics(results, settings.seed)
        scores[name] = evaluate(results, settings.seed)
        print(f"[baselines] {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores[name].items() if v is not None)
              + f" ({seconds[name]:.0f} s)", flush=True)
    table = markdown_table(scores)
    print(f"\n{len(inputs.audio)} test chunks of {body.window} frames x {settings.num_repetitions} repetitions of "
          f"{data_root}; {settings.sampler} {settings.timestep_respacing}, guidance {settings.guidance_param}, "
          f"top-p {config.top_p}\n\n{table}")
    out = Path(config.out or Path(config.run_dir) / "baselines.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"data_root": str(data_root), "checkpoints": str(checkpoints), "chunks": len(inputs.audio),
              "frames": body.window, "settings": asdict(settings), "top_p": config.top_p, "scores": scores,
              "seconds": seconds, "table": table}
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {out}")
    return report


if __name__ == "__main__":
    run_cli(main)
