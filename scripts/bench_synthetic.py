"""Synthetic data set generation speed on this machine, as tables.

    .venv/bin/python scripts/bench_synthetic.py [--presets tiny default] [--workers 0]

First table: one full `python -m data_loaders.synthetic` run per preset (into a temporary folder): persons,
scenes, hours of conversation and of person audio written, wall time, and hours of conversation made per hour
of wall time. Second table: the stages of one 2-minute scene in this process (speech, puppeteer per person,
writing per person).
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_loaders.format import FPS, SAMPLES_PER_FRAME, write_scene
from data_loaders.synthetic.generate import PRESETS, SyntheticConfig, generate_dataset
from data_loaders.synthetic.persons import person_style, scene_styles
from data_loaders.synthetic.puppeteer import perform
from data_loaders.synthetic.speech import record_conversation
from utils.cli import run_cli
from utils.config import arg, parse_config


@dataclass
class BenchConfig:
    """What to measure."""
    presets: list[str] = arg(["tiny", "default"], "presets to generate (tiny, default)")
    workers: int = arg(0, "worker processes (0 = one per CPU core)")
    stage_seconds: float = arg(120.0, "length of the scene timed stage by stage")


def time_preset(preset: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_synthetic_") as out:
        start = time.perf_counter()
        folders, seconds = generate_dataset(SyntheticConfig(preset=preset, out=out, workers=workers,
                                                            progress=False))
        wall = time.perf_counter() - start
        size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    return dict(preset=preset, persons=len(folders), scenes=PRESETS[preset].scenes * PRESETS[preset].pairs,
                hours=seconds / 3600, person_hours=2 * seconds / 3600, wall=wall, size=size)


def time_stages(seconds: float) -> list[tuple[str, float]]:
    frames = int(seconds * FPS)
    style, scenes = person_style(0, 0), scene_styles(np.random.default_rng(0))
    stages = []
    start = time.perf_counter()
    tracks = record_conversation(np.random.default_rng(0), frames * SAMPLES_PER_FRAME, (scenes[0].voice,
                                                                                        scenes[1].voice))
    stages.append(("speech (espeak-ng, resample, mix)", time.perf_counter() - start))
    start = time.perf_counter()
    performance = perform(tracks, style, scenes[0], np.random.default_rng(1))
    stages.append(("puppeteer, one person", time.perf_counter() - start))
    with tempfile.TemporaryDirectory(prefix="bench_synthetic_") as out:
        start = time.perf_counter()
        write_scene(out, "scene01", tracks, performance.pose, performance.face, np.zeros(0, np.int64))
        stages.append(("write scene files, one person", time.perf_counter() - start))
    return stages


def main(argv=None) -> None:
    config, = parse_config([BenchConfig], argv, description=__doc__.split("\n")[0])
    print("| preset | persons | scenes | conversation h | person audio h | files GB | wall s | conversation h / wall h |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in config.presets:
        row = time_preset(preset, config.workers)
        print(f"| {row['preset']} | {row['persons']} | {row['scenes']} | {row['hours']:.3f} | "
              f"{row['person_hours']:.3f} | {row['size'] / 1e9:.2f} | {row['wall']:.1f} | "
              f"{row['hours'] * 3600 / row['wall']:.0f} |", flush=True)
    print(f"\n| stage of one {config.stage_seconds:.0f} s scene | seconds | x real time |")
    print("|---|---|---|")
    for name, seconds in time_stages(config.stage_seconds):
        print(f"| {name} | {seconds:.2f} | {config.stage_seconds / seconds:.0f} |")


if __name__ == "__main__":
    run_cli(main)
