"""Videos of the original's photoreal avatars: pose and face code per frame -> two views side by side,
drawn from a person's Codec Avatar files (the original's BodyRenderer, on the CPU or a GPU).

    view = PhotorealView(folder, defaults, size=512)         # checkpoints/ca_body/data/<person>, its cameras
    frames = view.render(pose (T, 104), face_code (T, 256))    # (T, size, 2 * width, 3) uint8

Cameras: the original's two from assets/render_defaults_<person>.pth when that file exists (with its
ambient occlusion), otherwise a2p's body and face close-up (cameras.py) with the person's mean ambient
occlusion. The views are `size` pixels high and as wide as config.yml's renderer aspect (height x width)
makes them (rounded to even numbers for the video encoder); the cameras' intrinsics are scaled to match.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from visualize.ca_body import display, rasterizer
from visualize.ca_body.assets import read_person, read_render_defaults
from visualize.ca_body.autoencoder import BodyDecoder
from visualize.ca_body.cameras import body_and_face_cameras

DEFAULT_ASPECT = (1, 1)  # height, width of a view when config.yml has no renderer section
CAMERA_FRAMES = 30


def person_paths(model_path: str | Path, data_root: str | Path) -> tuple[Path, Path]:
    """(checkpoints/ca_body/data/<person>, assets/render_defaults_<person>.pth) of the original's tree that
    holds model_path (the `checkpoints` folder above it; ./checkpoints when there is none); the person is
    the data root's folder name (e.g. dataset/PXB184 -> PXB184)."""
    person = Path(data_root).name
    checkpoints = next((folder for folder in Path(model_path).resolve().parents if folder.name == "checkpoints"),
                       Path("checkpoints"))
    return checkpoints / "ca_body" / "data" / person, checkpoints.parent / "assets" / f"render_defaults_{person}.pth"


def even(value: float) -> int:
    """The nearest even number >= 2."""
    return max(2, 2 * round(value / 2))


class PhotorealView:
    """One person's decoder and two cameras (module docstring)."""

    def __init__(self, folder: str | Path, defaults: str | Path | None = None, size: int = 512,
                 device: str | torch.device = "cpu"):
        files = read_person(folder)
        self.device = torch.device(device)
        self.decoder = BodyDecoder.from_files(files).to(self.device)
        with torch.no_grad():
            self.body_code = self.decoder.body_code()
        renderer = files.config.get("renderer") or {}
        aspect = (renderer.get("image_height", DEFAULT_ASPECT[0]), renderer.get("image_width", DEFAULT_ASPECT[1]))
        self.height, self.width = even(size), even(size * aspect[1] / aspect[0])
        self.face_mask = torch.as_tensor(np.asarray(files.assets["mouth_eyes_mask_geom"], np.float32))
        self.cameras: dict[str, torch.Tensor] | None = None
        self.cameras_from = "a2p's body and face cameras, placed for each clip (no render_defaults file)"
        if defaults is not None and Path(defaults).is_file():
            cameras = read_render_defaults(defaults)
            cameras["K"] = cameras["K"] * torch.tensor([self.width / aspect[1], self.height / aspect[0], 1.0])[:, None]
            self.cameras = {key: value.to(self.device) for key, value in cameras.items()}
            self.cameras_from = f"the original's cameras ({defaults})"
        self.folder = Path(folder)

    @torch.no_grad()
    def clip_cameras(self, poses: torch.Tensor) -> dict[str, torch.Tensor]:
        """a2p's cameras (cameras.py) for a clip (T, 104): placed around the mean of the posed template over
        up to CAMERA_FRAMES frames spread over the clip, with the person's mean ambient occlusion."""
        chosen = poses[torch.linspace(0, len(poses) - 1, min(len(poses), CAMERA_FRAMES)).long()]
        mesh = torch.stack([self.decoder.lbs.pose(pose[None])[0] for pose in chosen]).mean(0)
        cameras = body_and_face_cameras(mesh, self.decoder.geo_fn.vi.long(), self.face_mask.to(mesh.device),
                                        self.height, self.width)
        cameras = {key: value.to(self.device) for key, value in cameras.items()}
        return {**cameras, "ao": self.decoder.shadow_net.ao_mean.expand(2, 1, -1, -1)}

    def describe(self) -> str:
        """One line: what is drawn, at which size, through which cameras."""
        return (f"photoreal avatar of {self.folder} (views of {self.height} x {self.width}, {self.cameras_from}, "
                f"on {self.device.type})")

    @torch.no_grad()
    def frame(self, pose: torch.Tensor, face_code: torch.Tensor, cameras: dict[str, torch.Tensor]) -> torch.Tensor:
        """pose (104,), face code (256,), cameras {K, Rt, campos, ao} of C views -> uint8 frame (H, C * W, 3)."""
        shared = self.decoder.decode_shared(pose[None], face_code[None], embs=self.body_code)
        texture = self.decoder.decode_texture(shared, cameras["campos"], cameras["ao"])["tex_rec"]
        geo = self.decoder.geo_fn
        rgb = rasterizer.render(shared["geom"].expand(len(cameras["K"]), -1, -1), geo.vi, geo.vt, geo.vti, texture,
                                cameras["K"], cameras["Rt"], self.height, self.width)
        return display.frame(rgb)

    def render(self, pose: np.ndarray, face_code: np.ndarray, progress: bool = False) -> np.ndarray:
        """pose (T, 104), face codes (T, 256) -> frames (T, H, C * W, 3) uint8."""
        poses = torch.as_tensor(pose, dtype=torch.float32, device=self.device)
        codes = torch.as_tensor(face_code, dtype=torch.float32, device=self.device)
        cameras = self.cameras if self.cameras is not None else self.clip_cameras(poses)
        frames = [self.frame(p, c, cameras).cpu().numpy() for p, c in
                  tqdm(zip(poses, codes), total=len(poses), desc="photoreal", unit="frame", disable=not progress)]
        return np.stack(frames)

    def close(self) -> None:
        """Nothing to release (the same call as AvatarView's)."""
