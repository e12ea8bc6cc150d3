"""`python -m visualize.render_anno --data_root DIR --save_dir DIR`: videos of a person folder's ground truth.

Every scene of the folder (or those named with --scenes) is cut into non-overlapping chunks of
--max_seq_length frames starting at 0, L, 2L, ... (the start rule of the data set's fixed windows,
data_loaders/dataset.py), and each chunk is rendered with the reference avatar (visualize.avatar_view:
full body | face close-up, size x 2*size) with the scene's stereo 48 kHz audio muxed in. Unlike the data
set, which drops a scene's trailing partial chunk, the last, shorter chunk is kept: these videos are for
looking at the data, all of it.

Files: `save_dir/<scene name>_<start:04d>.mp4`, e.g. scene01_0000.mp4, scene01_0600.mp4 (the original wrote
`scene{i}_{start:04d}.mp4_pred.mp4`, with a doubled suffix, dropped here; the scene's own name replaces its
index so a file names the scene it shows).

Poses are shown as stored. Face codes of the frames listed as missing (sceneNN_missing_face_frames.npy) hold
the last present code before them (the first present one at the start of a scene; the neutral zero code in
a scene without any), so a capture drop-out does not flash as a distorted face; --no-hold_missing_faces
shows them as stored, as the original did.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_loaders.format import FPS, SAMPLES_PER_FRAME, FormatError, list_scenes
from data_loaders.validate import load_scene
from utils.cli import run_cli
from utils.config import arg, parse_config
from visualize.avatar_view import AvatarView
from visualize.video import VIEW_SIZE_RANGE, write_video


@dataclass
class RenderAnnoConfig:
    """Which scenes to render, and how."""
    data_root: str = arg("", "person folder in the official format, e.g. dataset/SYN001 (required)")
    save_dir: str = arg("", "folder for the mp4 files (required)")
    max_seq_length: int = arg(600, "frames per video (600 = 20 s); the last chunk of a scene may be shorter")
    scenes: list[str] = arg([], "names of the scenes to render, e.g. scene01 scene07 (none given: all)")
    hold_missing_faces: bool = arg(True, "show missing face frames with the last present code "
                                         "(--no-hold_missing_faces: as stored, like the original)")
    size: int = arg(512, "pixels per view: a frame is size x 2*size (full body | face close-up)",
                    **VIEW_SIZE_RANGE)
    progress: bool = arg(True, "show a progress bar")


def chunk_starts(frames: int, length: int) -> list[int]:
    """First frames of the non-overlapping chunks of `length` frames covering `frames` (the last may be short)."""
    if length < 1:
        raise ValueError(f"--max_seq_length must be >= 1, got {length}")
    return list(range(0, frames, length))


def hold_missing(codes: np.ndarray, present: np.ndarray) -> np.ndarray:
    """codes (T, C) with each row where `present` (T,) is False replaced by the last present row before it
    (the first present row before any; zeros when no row is present)."""
    if not present.any():
        return np.zeros_like(codes)
    last = np.maximum.accumulate(np.where(present, np.arange(len(codes)), -1))
    return codes[np.where(last >= 0, last, np.argmax(present))]


def render_anno(data_root: str | os.PathLike, save_dir: str | os.PathLike, max_seq_length: int = 600,
                scenes: list[str] | None = None, hold_missing_faces: bool = True, size: int = 512,
                progress: bool = True) -> list[Path]:
    """Render the chunks of the chosen scenes (module docstring); returns the mp4 paths written."""
    available = list_scenes(data_root)
    if not available:
        raise FormatError(f"{data_root}: no scenes found; a person folder holds files named like "
                          f"scene01_audio.wav (see data_loaders/format.py)")
    chosen = [s for s in available if not scenes or s.name in scenes]
    unknown = sorted(set(scenes or ()) - {s.name for s in available})
    if unknown:
        raise FormatError(f"{data_root}: no scene named {', '.join(unknown)}; it holds "
                          f"{', '.join(s.name for s in available)}")
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    written = []
    view = AvatarView(size)
    try:
        with tqdm(total=0, desc="render", unit="chunk", disable=not progress) as bar:
            for scene in chosen:
                data = load_scene(scene)
                faces = hold_missing(data.face, data.face_valid) if hold_missing_faces else data.face
                starts = chunk_starts(data.frames, max_seq_length)
                bar.total += len(starts)  # known once the scene is read
                bar.refresh()
                for start in starts:
                    end = min(start + max_seq_length, data.frames)
                    frames = view.render(data.pose[start:end], faces[start:end])
                    audio = data.audio[start * SAMPLES_PER_FRAME:end * SAMPLES_PER_FRAME]
                    written.append(write_video(save_dir / f"{scene.name}_{start:04d}.mp4", frames, audio, fps=FPS))
                    bar.update()
    finally:
        view.close()
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    config, = parse_config([RenderAnnoConfig], argv, description=(
        "Render the ground truth of a person folder (pose, face codes, stereo audio) as mp4 videos of the "
        "reference avatar, in chunks of --max_seq_length frames."))
    if not config.data_root or not config.save_dir:
        raise SystemExit("--data_root (a person folder) and --save_dir (the folder for the videos) are required")
    written = render_anno(config.data_root, config.save_dir, config.max_seq_length, config.scenes,
                          config.hold_missing_faces, config.size, config.progress)
    print(f"wrote {len(written)} videos to {config.save_dir}")
    return written


if __name__ == "__main__":
    run_cli(main)
