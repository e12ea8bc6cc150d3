"""The audio-motion relationships of a synthetic person folder, measured on its files: what a model can learn.

    python scripts/synthetic_relationships.py DATA_ROOT/SYN001 [--split test]

Measured on the ground truth of every scene of --split (all scenes by default), with the paired metrics of
sample/metrics.py against the scenes' events files and the puppeteer's detectors:
- lip sync: the mouth opening against the person's speech envelope (best lag 0-4 frames), and against the
  partner's envelope (a mouth that follows the wrong voice);
- speaker nods on stressed syllables and listener nods after the partner's pauses: recall of the annotated
  nods by the nods detected in the poses, and the same with the nods moved (chance);
- wrist speed while speaking / while listening;
- the scene style, heard and seen: correlation over scenes of the speaking energy with the syllable rate
  (nuclei per second of the person's voice activity) and with the share of stressed syllables that get a
  gesture; and per listener attitude, backchannels per minute of listening, the share of the partner's
  pauses answered by a nod, and the elbow flexion while listening (folded arms).
Prints a markdown table (the README's "measured relationships").
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from avatar.parameters import POSE_INDEX  # noqa: E402
from data_loaders.format import FPS, list_scenes, read_events, read_wav, split_scenes  # noqa: E402
from data_loaders.synthetic.audio_features import speech_envelope  # noqa: E402
from data_loaders.synthetic.speech_events import speech_events  # noqa: E402
from sample import metrics  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, build_parser, from_dict  # noqa: E402

BACKCHANNEL_FRAMES = FPS  # a speech run of the person this short, with this much silence on both sides, is a backchannel


@dataclass
class RelationshipsConfig:
    """Which scenes to measure."""
    split: Literal["all", "train", "val", "test"] = arg("all", "scenes measured: all, or one split")


@dataclass
class Scene:
    """One scene as measured: audio (N, 2), pose (T, 104), face (T, 256) with missing frames at the mean code,
    events dict."""
    audio: np.ndarray
    pose: np.ndarray
    face: np.ndarray
    events: dict


def read_scenes(folder: Path, split: str) -> list[Scene]:
    scenes = list_scenes(folder)
    if split != "all":
        scenes = split_scenes(scenes, split)
    loaded = []
    for scene in scenes:
        face = np.load(scene.face).astype(np.float64)
        missing = np.load(scene.missing)
        valid = np.setdiff1d(np.arange(len(face)), missing)
        face[missing] = face[valid].mean(0)
        events = read_events(scene)
        if events is None:
            raise SystemExit(f"{scene.events}: no events file; measure a synthetic person folder")
        loaded.append(Scene(read_wav(scene.audio)[0], np.load(scene.pose).astype(np.float64), face, events))
    return loaded


def speaking(scene: Scene) -> np.ndarray:
    return metrics.chunk_events(scene.events, 0, len(scene.pose)).speaking


def lip_rows(scenes: list[Scene]) -> list[tuple[str, str]]:
    openings = [metrics.mouth_openings(s.face) for s in scenes]
    own = metrics.lip_sync(openings, [speech_envelope(s.audio[:, 0]) for s in scenes])
    partner = metrics.lip_sync(openings, [speech_envelope(s.audio[:, 1]) for s in scenes])
    return [("lip sync: mouth vs own speech envelope (r, lag)", f"{own[0]:.3f} at {own[1]:.0f} frames"),
            ("mouth vs the partner's envelope (r)", f"{partner[0]:.3f}")]


def nod_rows(scenes: list[Scene]) -> list[tuple[str, str]]:
    lengths = [len(s.pose) for s in scenes]
    frames = max(lengths)
    poses = np.stack([np.pad(s.pose, ((0, frames - len(s.pose)), (0, 0)), mode="edge") for s in scenes])
    events = [metrics.chunk_events(s.events, 0, len(s.pose)) for s in scenes]
    nods = metrics.nod_scores(poses, np.array(lengths), events)
    ratio = metrics.speed_ratio(poses, np.array(lengths), np.stack([np.pad(speaking(s), (0, frames - len(s.pose)))
                                                                   for s in scenes]))
    return [("speaker nods on stressed syllables: F1 (chance)",
             f"{nods['speaker_nod_f1']:.2f} ({nods['speaker_nod_f1_chance']:.2f})"),
            ("listener nods after the partner's pauses: recall (chance)",
             f"{nods['listener_nod_recall']:.2f} ({nods['listener_nod_recall_chance']:.2f})"),
            ("wrist speed speaking / listening", f"{ratio:.2f}")]


def count_backchannels(runs: list[list[int]], frames: int) -> int:
    """Speech runs [start, end) shorter than BACKCHANNEL_FRAMES with at least as much silence on both sides."""
    bounds = [(-frames, -frames)] + [tuple(run) for run in runs] + [(2 * frames, 2 * frames)]
    return sum(1 for before, (start, end), after in zip(bounds, bounds[1:], bounds[2:])
               if end - start < BACKCHANNEL_FRAMES and start - before[1] >= BACKCHANNEL_FRAMES
               and after[0] - end >= BACKCHANNEL_FRAMES)


def style_rows(scenes: list[Scene]) -> list[tuple[str, str]]:
    energy, rate, gesturing = [], [], []
    by_attitude: dict[str, list[list[float]]] = {"engaged": [[], [], []], "reserved": [[], [], []]}
    for scene in scenes:
        events, talking = scene.events, speaking(scene)
        voiced = speech_events(scene.audio[:, 0])
        if talking.sum() > 5 * FPS:
            energy.append(events["style"]["energy"])
            rate.append(len(voiced.nuclei) / (voiced.active.sum() / FPS))
            gesturing.append(len(events["gestures"]) / max(len(events["person"]["stressed"]), 1))
        listening = ~talking
        minutes = listening.sum() / FPS / 60
        backchannels = count_backchannels(events["person"]["speech"], len(scene.pose))
        answered = len(events["listener_nods"]) / max(len(events["listening_pauses"]), 1)
        elbows = scene.pose[listening][:, [POSE_INDEX["l_elbow_rx"], POSE_INDEX["r_elbow_rx"]]].mean()
        for values, value in zip(by_attitude[events["style"]["attitude"]], (backchannels / max(minutes, 1e-9),
                                                                           answered, np.degrees(elbows))):
            values.append(value)
    rows = [("energy vs syllables per second of speech (r over scenes)", f"{np.corrcoef(energy, rate)[0, 1]:.2f}"),
            ("energy vs gestures per stressed syllable (r over scenes)",
             f"{np.corrcoef(energy, gesturing)[0, 1]:.2f}")]
    names = ("backchannels per minute of listening", "partner pauses answered by a nod",
             "elbow flexion while listening (degrees)")
    for index, name in enumerate(names):
        engaged, reserved = (np.mean(by_attitude[a][index]) for a in ("engaged", "reserved"))
        rows.append((f"{name}: engaged / reserved", f"{engaged:.2f} / {reserved:.2f}"))
    return rows


def main(argv: list[str] | None = None) -> list[tuple[str, str]]:
    parser = build_parser([RelationshipsConfig], description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a synthetic person folder, e.g. dataset/SYN001")
    namespace = parser.parse_args(argv)
    config = from_dict(RelationshipsConfig, vars(namespace))
    scenes = read_scenes(Path(namespace.folder), config.split)
    rows = lip_rows(scenes) + nod_rows(scenes) + style_rows(scenes)
    print(f"| relationship ({namespace.folder}, {len(scenes)} scenes) | measured |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return rows


if __name__ == "__main__":
    run_cli(main)
