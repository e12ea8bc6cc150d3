"""The golden fixtures of the original's Codec Avatar decoder (../shared/fixtures/ca_body, read its README.md)
laid out as the original's download: checkpoints/ca_body/data/<person>/{body_dec.ckpt, config.yml,
static_assets.pt} and assets/render_defaults_<person>.pth (the goldens' two cameras and ambient occlusion).

    folder = make_ca_body_folder(tmp_path / "checkpoints/ca_body/data/PXB184")
    golden = load_golden("golden_decoder")
"""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ca_body"
SEAM_DATA = {"seam_data_1024": "seam_sampler", "seam_data_2048": "seam_sampler_2k"}


def load_golden(name: str) -> dict:
    """golden_lbs or golden_decoder: a dict of tensors, inputs under "inputs"."""
    return torch.load(FIXTURES / f"{name}.pt", weights_only=True)


def gunzip_to(source: Path, target: Path) -> None:
    with gzip.open(source) as packed, open(target, "wb") as out:
        shutil.copyfileobj(packed, out)


def make_ca_body_folder(folder: Path) -> Path:
    """The three files of one person in `folder`: static_assets.pt holds the LBS json, the parameter
    transform and the seam data inline, as the original's file does. Returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    gunzip_to(FIXTURES / "body_dec.ckpt.gz", folder / "body_dec.ckpt")
    shutil.copyfile(FIXTURES / "config.yml", folder / "config.yml")
    state = torch.load(folder / "body_dec.ckpt", weights_only=True)["model"]
    with gzip.open(FIXTURES / "static_assets.pt.gz") as packed:
        assets = torch.load(packed, weights_only=True)
    assets["lbs_model_json"] = json.loads((FIXTURES / "lbs_model.json").read_text())
    assets["lbs_config_dict"] = json.loads((FIXTURES / "lbs_config_dict.json").read_text())
    for name, prefix in SEAM_DATA.items():
        assets[name] = {key: state[f"{prefix}.{key}"] for key in ("dst_ij", "src_ij", "uvs", "weights")}
    torch.save(assets, folder / "static_assets.pt")
    return folder


def make_render_defaults(path: Path) -> Path:
    """assets/render_defaults_<person>.pth with the golden decoder's cameras and ambient occlusion."""
    inputs = load_golden("golden_decoder")["inputs"]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: inputs[key] for key in ("K", "Rt", "campos", "ao")}, path)
    return path
