"""Rendering and video encoding speed on this machine, as a table of frames per second.

    .venv/bin/python scripts/bench_render.py [--frames 90] [--size 512] [--repeats 3]

Rows: a ~10k-vertex test sphere (one view with and without 4x MSAA, two views side by side), the reference
avatar's two views with and without MSAA (AvatarView.render, posing on the CPU included, and the
rasterisation alone), and H.264
+ AAC encoding of the avatar frames. The best of `repeats` runs is reported (other work on the machine only
slows runs down). CPU ms/frame counts every thread of this process (llvmpipe rasterises on all cores) and
ffmpeg: on an otherwise idle machine the wall-clock rate lies between 1000 / CPU ms and cores * 1000 / CPU ms.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from utils.cli import run_cli
from utils.config import arg, parse_config
from visualize.avatar_view import AvatarView
from visualize.renderer import Camera, MeshRenderer
from visualize.video import VIEW_SIZE_RANGE, write_video


@dataclass
class BenchConfig:
    """What to measure."""
    frames: int = arg(90, "frames per measurement (30 fps video frames)")
    size: int = arg(512, "width and height of one view, pixels", **VIEW_SIZE_RANGE)
    repeats: int = arg(3, "runs per row; the fastest is reported")


def test_sphere(rows: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """A unit UV sphere of rows * rows (10k) vertices: vertices (V, 3) float32, faces (Fc, 3)."""
    theta, phi = np.meshgrid(np.linspace(0, np.pi, rows), np.linspace(0, 2 * np.pi, rows), indexing="ij")
    vertices = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1)
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(rows - 1), indexing="ij")
    a = (i * rows + j).ravel()
    faces = np.concatenate([np.stack([a, a + rows, a + 1], 1), np.stack([a + 1, a + rows, a + rows + 1], 1)])
    return vertices.reshape(-1, 3).astype(np.float32), faces


def cpu_seconds() -> float:
    """CPU time of this process (all threads, llvmpipe's included) and of its finished children (ffmpeg)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def measure(work, frames: int, repeats: int) -> tuple[float, float]:
    """(frames per second of wall time, CPU milliseconds per frame) of the fastest of `repeats` calls."""
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), cpu_seconds()
        work()
        runs.append((time.perf_counter() - wall, cpu_seconds() - cpu))
    wall, cpu = min(runs)
    return frames / wall, 1000 * cpu / frames


def main(argv=None) -> None:
    config, = parse_config([BenchConfig], argv, description=__doc__.split("\n")[0])
    frames, size, repeats = config.frames, config.size, config.repeats
    load = os.getloadavg()[0]
    vertices, faces = test_sphere()
    wobble = 1 + 0.05 * np.sin(np.arange(frames) / 5)[:, None, None]
    batch = (vertices[None] * wobble).astype(np.float32)
    colors = np.random.default_rng(0).uniform(0.3, 0.9, (len(vertices), 3))
    front = Camera(eye=(0, 0.5, 3.5), target=(0, 0, 0), fov_deg=40)
    side = Camera(eye=(3.5, 0.5, 0), target=(0, 0, 0), fov_deg=40)
    rows = []
    for samples in (4, 0):
        with MeshRenderer(size, size, samples=samples) as renderer:
            label = f"sphere {len(vertices)} vertices, 1 view {size}x{size}, MSAA {samples or 'off'}"
            rows.append((label, measure(lambda: renderer.render(batch, faces, colors, front), frames, repeats)))
    with MeshRenderer(size, size) as renderer:
        label = f"sphere {len(vertices)} vertices, 2 views {2 * size}x{size}, MSAA 4"
        rows.append((label, measure(lambda: renderer.render(batch, faces, colors, [front, side]), frames, repeats)))

    generator = torch.Generator().manual_seed(0)
    pose = 0.2 * torch.randn(frames, 104, generator=generator)
    pose[:, :6] = 0
    face_code = 0.3 * torch.rand(frames, 256, generator=generator)
    for samples in (4, 0):
        view = AvatarView(size, samples=samples)
        label = f"avatar {view.avatar.num_vertices} vertices, 2 views {2 * size}x{size}, MSAA {samples or 'off'}"
        rows.append((label + ", posing included", measure(lambda: view.render(pose, face_code), frames, repeats)))
        posed, cameras = view.posed_vertices(pose, face_code), view.cameras(pose)
        rows.append((label + ", rasterisation only",
                     measure(lambda: view.renderer.render(posed, view.faces, view.colors, cameras), frames, repeats)))
        video = view.render(pose, face_code)
        view.close()
    audio = np.zeros((frames * 1600, 2), np.float32)
    with tempfile.TemporaryDirectory() as workdir:
        target = Path(workdir) / "bench.mp4"
        label = f"encode {2 * size}x{size} H.264 (crf 18, veryfast) + AAC"
        rows.append((label, measure(lambda: write_video(target, video, audio), frames, repeats)))

    width = max(len(label) for label, _ in rows)
    print(f"load average before: {load:.2f} on {os.cpu_count()} cores (other work slows the wall-clock rows)")
    print(f"{'measurement':<{width}}  frames/s  CPU ms/frame")
    for label, (fps, cpu_ms) in rows:
        print(f"{label:<{width}}  {fps:8.1f}  {cpu_ms:12.1f}")


if __name__ == "__main__":
    run_cli(main)
