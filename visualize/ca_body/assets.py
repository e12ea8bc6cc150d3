"""Reading a person's Codec Avatar files as the original's download lays them out, strictly and without
running anything from them:

    checkpoints/ca_body/data/<person>/body_dec.ckpt     torch.save({"model": state_dict}), the decoder's weights
    checkpoints/ca_body/data/<person>/config.yml        YAML; its `model` section sizes the networks
    checkpoints/ca_body/data/<person>/static_assets.pt  torch.save(dict): mesh, skeleton, skinning, seam maps
    assets/render_defaults_<person>.pth                 torch.save(dict): the two cameras K, Rt, campos, ao

The pickles load through utils/safe_load.py (plain data only: tensors, numpy arrays, containers); the YAML
through yaml.safe_load. Every key the decoder reads must be there, and config options this port does not
know are refused (they could change the networks): each problem is one error naming the file and the key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from utils.safe_load import load_torch

CHECKPOINT, CONFIG, STATIC_ASSETS = "body_dec.ckpt", "config.yml", "static_assets.pt"
PERSON_FILES = (CHECKPOINT, CONFIG, STATIC_ASSETS)
ASSET_KEYS = ("topology", "lbs_model_json", "lbs_config_dict", "lbs_template_verts", "lbs_scale",
              "global_scaling", "seam_data_1024", "seam_data_2048", "tex_mean", "face_cond_mask",
              "mouth_eyes_mask_geom", "pose_cond_mask", "head_cond_mask", "body_cond_mask", "face_mask",
              "mugsy_face_mask", "face_frontal_view", "ao_mean", "camera_ids")
TOPOLOGY_KEYS = ("vi", "vt", "vti", "v2uv")
SEAM_KEYS = ("dst_ij", "src_ij", "uvs", "weights")
RENDER_DEFAULT_KEYS = ("K", "Rt", "campos", "ao")
# the options of the original's config.yml `model` section that this port reads (or, for training-only
# parts, whose checkpoint keys it checks; noise_std, logvar_scale: training noise; ckpt: weights that
# body_dec.ckpt replaces); None: not a section
MODEL_SECTIONS: dict[str, tuple[str, ...] | None] = {
    "ckpt": None,
    "encoder": ("n_embs", "noise_std", "logvar_scale"),
    "encoder_face": ("n_embs", "noise_std", "logvar_scale", "n_vert_in"),
    "decoder_face": ("n_latent", "n_vert_out", "ckpt"),
    "decoder": ("init_uv_size", "uv_size", "n_init_channels", "n_min_channels", "n_pose_dims",
                "n_pose_enc_channels", "n_embs", "n_embs_enc_channels", "n_face_embs"),
    "decoder_view": ("net_uv_size", "n_init_ftrs"),
    "shadow_net": ("uv_size", "shadow_size", "n_dims"),
    "upscale_net": ("n_ftrs",),
    "renderer": ("image_height", "image_width"),
    "cal": ("identity_camera",),
    "pixel_cal": ("image_height", "image_width", "ds_rate"),
    "learn_blur": None,
}
REQUIRED_SECTIONS = ("encoder", "encoder_face", "decoder_face", "decoder", "decoder_view", "shadow_net",
                     "upscale_net")
CLASS_NAME = "ca_body.models.mesh_vae_drivable.AutoEncoder"


@dataclass
class PersonFiles:
    """The three files of one person, read: config = the YAML's `model` section."""
    folder: Path
    config: dict[str, Any]
    assets: dict[str, Any]
    state: dict[str, torch.Tensor]


def require(mapping: Any, keys: tuple[str, ...], where: str) -> None:
    """ValueError naming `where` and the first of `keys` missing from the mapping."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: expected a dict, found {type(mapping).__name__}; use the files of the "
                         f"original's ca_body download")
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}; use the files of the original's ca_body "
                         f"download")


def read_model_config(path: Path) -> dict[str, Any]:
    """The `model` section of config.yml, every option checked against MODEL_SECTIONS."""
    document = yaml.safe_load(path.read_text())
    require(document, ("model",), str(path))
    model = document["model"]
    require(model, ("class_name",) + REQUIRED_SECTIONS, f"{path}: model")
    if model["class_name"] != CLASS_NAME:
        raise ValueError(f"{path}: model.class_name is {model['class_name']}, this port reads {CLASS_NAME}")
    for section, value in model.items():
        if section == "class_name":
            continue
        if section not in MODEL_SECTIONS:
            raise ValueError(f"{path}: model.{section} is not supported by a2p's port of the decoder (it reads "
                             f"{', '.join(MODEL_SECTIONS)})")
        options = MODEL_SECTIONS[section]
        if options is None:
            continue
        unknown = sorted(set(value or {}) - set(options))
        if unknown:
            raise ValueError(f"{path}: model.{section}.{unknown[0]} is not an option a2p's port of the decoder "
                             f"reads ({', '.join(options)})")
    return model


def read_person(folder: str | Path) -> PersonFiles:
    """The checked files of checkpoints/ca_body/data/<person>/ (module docstring)."""
    folder = Path(folder)
    missing = [name for name in PERSON_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder}: missing {', '.join(missing)}; it needs {', '.join(PERSON_FILES)} as the "
                         f"original's download lays them out")
    config = read_model_config(folder / CONFIG)
    assets = load_torch(folder / STATIC_ASSETS)
    require(assets, ASSET_KEYS, str(folder / STATIC_ASSETS))
    require(assets["topology"], TOPOLOGY_KEYS, f"{folder / STATIC_ASSETS}: topology")
    for name in ("seam_data_1024", "seam_data_2048"):
        require(assets[name], SEAM_KEYS, f"{folder / STATIC_ASSETS}: {name}")
    checkpoint = load_torch(folder / CHECKPOINT)
    require(checkpoint, ("model",), str(folder / CHECKPOINT))
    return PersonFiles(folder, config, assets, checkpoint["model"])


def read_render_defaults(path: str | Path) -> dict[str, torch.Tensor]:
    """The original's assets/render_defaults_<person>.pth: K (C, 3, 3), Rt (C, 3, 4), campos (C, 3) and
    ao (C, 1, s, s) of its C cameras, float32."""
    defaults = load_torch(path)
    require(defaults, RENDER_DEFAULT_KEYS, str(path))
    values = {key: torch.as_tensor(defaults[key]).float() for key in RENDER_DEFAULT_KEYS}
    cameras = len(values["K"])
    expected = {"K": (cameras, 3, 3), "Rt": (cameras, 3, 4), "campos": (cameras, 3)}
    for key, shape in expected.items():
        if tuple(values[key].shape) != shape:
            raise ValueError(f"{path}: {key} has shape {tuple(values[key].shape)}, expected {shape}")
    if values["ao"].dim() != 4 or values["ao"].shape[:2] != (cameras, 1):
        raise ValueError(f"{path}: ao has shape {tuple(values['ao'].shape)}, expected ({cameras}, 1, H, W)")
    return values
