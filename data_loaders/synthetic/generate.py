"""Generate the synthetic conversational data set: presets, one task per scene, a process pool, statistics.

`generate_dataset(config)` writes, under `config.out`, one folder per person in the official format
(`data_loaders.format`): pair k is SYN{2k+1:03d} / SYN{2k+2:03d} (see `persons`), each holding scene01 ..
sceneNN (audio, body pose, face codes, missing face frames, events) and data_stats.pth (`data_loaders.stats`).

A scene is one conversation of the pair: its length is uniform in the preset's range; each person gets a
style for the scene (`persons.scene_styles`: voice, language, speaking energy, listener attitude); the
conversation is spoken (`speech.record_conversation`) on two tracks; each person gets the tracks with their
own voice in channel 0 and performs them (`puppeteer.perform`, own random stream); then a few face frames go
missing (`faults`). Every random draw of scene s of pair k comes from SeedSequence([seed, SCENE_STREAM, k, s]) and
every style draw from the person's own stream, so the files depend on the seed alone: the same seed gives
the same bytes whatever the number of worker processes.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from data_loaders.format import FPS, SAMPLES_PER_FRAME, write_events, write_scene
from data_loaders.synthetic.faults import drop_face_frames, missing_face_frames
from data_loaders.synthetic.persons import PersonStyle, person_style, scene_styles
from data_loaders.synthetic.puppeteer import perform
from data_loaders.synthetic.speech import check_espeak, record_conversation
from utils.config import arg

SCENE_STREAM = 0  # tag of the scenes' random streams (persons.STYLE_STREAM tags the styles')


@dataclass(frozen=True)
class Preset:
    """Size of a data set: conversation pairs (2 persons each), scenes per pair, scene length range (s), and
    whether scene styles vary (`persons.scene_styles`; the tiny test set keeps one engaged English style, so
    that its 2 training scenes teach what its other scenes show)."""
    pairs: int
    scenes: int
    seconds: tuple[float, float]
    varied_styles: bool = True

    @property
    def hours(self) -> float:
        """Expected hours of conversation (each heard by both persons of its pair)."""
        return self.pairs * self.scenes * sum(self.seconds) / 2 / 3600


PRESETS = {"tiny": Preset(pairs=1, scenes=8, seconds=(6.0, 8.0), varied_styles=False),
           "default": Preset(pairs=2, scenes=24, seconds=(110.0, 150.0))}


@dataclass
class SyntheticConfig:
    """Generate the synthetic conversational data set (persons SYN001, SYN002, ... in the official format)."""
    preset: Literal["tiny", "default"] = arg("default", "data set size: tiny = 1 pair x 8 scenes of 6-8 s "
                                                        "(for tests); default = 2 pairs x 24 scenes of about "
                                                        "2 min (about 1.7 hours of conversation)")
    out: str = arg("dataset", "output folder; the person folders SYN001, SYN002, ... are created inside")
    seed: int = arg(0, "random seed (>= 0); the same seed gives identical files")
    workers: int = arg(0, "processes generating scenes in parallel (0 = one per CPU core, 1 = no pool)")
    overwrite: bool = arg(False, "replace person folders that already exist in --out")
    progress: bool = arg(True, "show a progress bar over scenes")


@dataclass(frozen=True)
class SceneTask:
    """Everything one worker needs to make scene `scene` of pair `pair` and write it for both persons."""
    seed: int
    pair: int
    scene: int
    name: str
    seconds: tuple[float, float]
    styles: tuple[PersonStyle, PersonStyle]
    folders: tuple[Path, Path]
    varied_styles: bool = True


def scene_name(index: int, count: int) -> str:
    """scene01, scene02, ... (zero-padded to sort in order for any count)."""
    return f"scene{index + 1:0{max(2, len(str(count)))}d}"


def make_scene(task: SceneTask) -> int:
    """Record, perform and write one scene for both persons of the pair; returns its number of frames."""
    seeds = np.random.SeedSequence([task.seed, SCENE_STREAM, task.pair, task.scene]).spawn(7)
    length_rng, style_rng, speech_rng, *person_rngs = (np.random.default_rng(s) for s in seeds)
    frames = int(round(length_rng.uniform(*task.seconds) * FPS))
    scenes = scene_styles(style_rng, task.varied_styles)
    tracks = record_conversation(speech_rng, frames * SAMPLES_PER_FRAME, tuple(s.voice for s in scenes),
                                 tuple(s.speaks() for s in scenes), tuple(s.backchannel_rate for s in scenes),
                                 tuple(s.pause_scale for s in scenes))
    for side, (style, folder) in enumerate(zip(task.styles, task.folders)):
        audio = np.ascontiguousarray(tracks[:, [side, 1 - side]])
        motion_rng, fault_rng = person_rngs[2 * side], person_rngs[2 * side + 1]
        performance = perform(audio, style, scenes[side], motion_rng)
        missing = missing_face_frames(fault_rng, frames)
        scene = write_scene(folder, task.name, audio, performance.pose,
                            drop_face_frames(performance.face, missing), missing)
        write_events(scene, performance.events)
    return frames


def _prepare_folders(folders: list[Path], overwrite: bool) -> None:
    for folder in folders:
        if folder.exists() and any(folder.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{folder} exists and is not empty; pass --overwrite to replace it, or "
                                      f"choose another --out")
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)


def _run(tasks: list[SceneTask], workers: int, progress: bool) -> list[int]:
    bar = dict(total=len(tasks), desc="synthetic scenes", unit="scene", disable=not progress)
    if workers <= 1:
        return [make_scene(task) for task in tqdm(tasks, **bar)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(tqdm(pool.map(make_scene, tasks), **bar))


def generate_dataset(config: SyntheticConfig) -> tuple[list[Path], float]:
    """Write the data set; returns (person folders, seconds of conversation written)."""
    from data_loaders.stats import compute_stats, save_stats  # torch is only needed for this last step

    if config.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {config.seed}")
    check_espeak()
    preset = PRESETS[config.preset]
    styles = [person_style(index, config.seed) for index in range(2 * preset.pairs)]
    folders = [Path(config.out) / style.name for style in styles]
    _prepare_folders(folders, config.overwrite)
    tasks = [SceneTask(config.seed, pair, scene, scene_name(scene, preset.scenes), preset.seconds,
                       (styles[2 * pair], styles[2 * pair + 1]), (folders[2 * pair], folders[2 * pair + 1]),
                       preset.varied_styles)
             for pair in range(preset.pairs) for scene in range(preset.scenes)]
    workers = min(config.workers or os.cpu_count() or 1, len(tasks))
    try:
        frames = _run(tasks, workers, config.progress)
        for folder in folders:
            save_stats(folder, compute_stats(folder))
    except BaseException:  # a full disk, Ctrl-C: no partial person folder is left for the next run to refuse
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folders, sum(frames) / FPS
