"""Rendering and video encoding speed on this machine, as a table of frames per second.

    .venv/bin/python scripts/bench_render.py [--frames 90] [--size 512] [--repeats 3]

Rows: a ~10k-vertex test sphere (one view with and without 4x MSAA, two views side by side), the reference
avatar's two views with and without MSAA (AvatarView.render, posing on the CPU included, and the
rasterisation alone), H.264 + AAC encoding of the avatar frames, and the original's photoreal Codec Avatar
(visualize/ca_body: decoder and torch rasteriser, one frame = both views) at its config.yml view height and at
--preview_size, on --photoreal_device (cpu, or cuda where a GPU is lent). The photoreal person is --ca_body
(the original's checkpoints/ca_body/data/<person>, with --render_defaults), by default the golden fixture of
../shared/fixtures/ca_body (random weights at the original's texture sizes, a 384-vertex mesh). The best of `repeats` runs is reported (other work on the machine only
slows runs down). CPU ms/frame counts every thread of this process (llvmpipe rasterises on all cores) and
ffmpeg: on an otherwise idle machine the wall-clock rate lies between 1000 / CPU ms and cores * 1000 / CPU ms.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sys

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402
from visualize.avatar_view import AvatarView  # noqa: E402
from visualize.ca_body.assets import read_person  # noqa: E402
from visualize.ca_body.photoreal import PhotorealView  # noqa: E402
from visualize.renderer import Camera, MeshRenderer  # noqa: E402
from visualize.video import VIEW_SIZE_RANGE, write_video  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ca_body"


@dataclass
class BenchConfig:
    """What to measure."""
    frames: int = arg(90, "frames per measurement (30 fps video frames)")
    size: int = arg(512, "width and height of one view, pixels", **VIEW_SIZE_RANGE)
    repeats: int = arg(3, "runs per row; the fastest is reported")
    ca_body: str = arg("", "the original's checkpoints/ca_body/data/<person> folder to time (default: the "
                           "fixture of ../shared/fixtures/ca_body; none: no photoreal rows)")
    render_defaults: str = arg("", "its assets/render_defaults_<person>.pth (default: a2p's cameras)")
    photoreal_frames: int = arg(3, "frames per photoreal measurement (each takes seconds on a CPU)")
    preview_size: int = arg(128, "view height of the photoreal preview row, pixels")
    photoreal_device: str = arg("cpu", "torch device of the photoreal rows (cpu, cuda)")


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


def photoreal_rows(config: BenchConfig, pose: torch.Tensor, face_code: torch.Tensor, workdir: Path) -> list:
    """(label, (frames/s, CPU ms/frame)) of the photoreal avatar at its config's view height and at the
    preview size (module docstring); [] when there is no person folder to time."""
    folder = config.ca_body
    if not folder and (FIXTURE / "body_dec.ckpt.gz").is_file():
        from tests.ca_body_fixtures import make_ca_body_folder
        folder = make_ca_body_folder(workdir / "ca_body")
    if not folder or folder == "none":
        return []
    height = (read_person(folder).config.get("renderer") or {}).get("image_height", config.preview_size)
    frames, rows = config.photoreal_frames, []
    for size in dict.fromkeys((height, config.preview_size)):
        view = PhotorealView(folder, config.render_defaults or None, size, config.photoreal_device)
        label = (f"photoreal {view.decoder.geo_fn.v2uv.shape[0]} vertices, 2 views {2 * view.width}x{view.height} "
                 f"on {config.photoreal_device}, decoding included")
        rows.append((label, measure(lambda: view.render(pose[:frames], face_code[:frames]), frames, config.repeats)))
    return rows


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
        rows += photoreal_rows(config, pose, face_code, Path(workdir))

    width = max(len(label) for label, _ in rows)
    print(f"load average before: {load:.2f} on {os.cpu_count()} cores (other work slows the wall-clock rows)")
    print(f"{'measurement':<{width}}  frames/s  CPU ms/frame")
    for label, (fps, cpu_ms) in rows:
        print(f"{label:<{width}}  {fps:8.2f}  {cpu_ms:12.1f}")


if __name__ == "__main__":
    run_cli(main)
