"""A checkpoint folder's recommended sampling settings: `sampling.json` beside its args.json.

    {"guidance_param": 10.0, "sampler": "dpmpp2m", "timestep_respacing": "ddim20", "lip_consistency": "on"}

Keys are sample.generate's flag names (RECOMMENDABLE, fields of sample.windows.SamplingConfig), any subset;
a folder without the file recommends nothing. Each model folder has its own (the face model's and the body
model's differ). Whoever samples a checkpoint takes, per setting: the flag given on the command line, else
the folder's recommendation, else SamplingConfig's default. sample.generate, scripts/quickstart.sh,
demo/demo.py and scripts/bench_real_speech.py do. scripts/make_checkpoints.py writes the file into the
shipped folders (its values: RECOMMENDED there); changing it changes no weights.
"""
from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path

from sample.windows import SamplingConfig

SAMPLING_FILE = "sampling.json"
RECOMMENDABLE = ("guidance_param", "sampler", "timestep_respacing", "lip_consistency")


def checkpoint_folder(model_path: str | os.PathLike) -> Path:
    """The folder of a model*.pt file, or the save_dir itself."""
    path = Path(model_path)
    return path if path.is_dir() else path.parent


def _check(values: object, source: Path) -> dict:
    fix = f"write a JSON object with some of the keys {', '.join(RECOMMENDABLE)}, or delete the file"
    if not isinstance(values, dict):
        raise ValueError(f"{source}: holds {type(values).__name__}, not an object of sampling settings; {fix}")
    unknown = sorted(set(values) - set(RECOMMENDABLE))
    if unknown:
        raise ValueError(f"{source}: unknown sampling settings {unknown}; {fix}")
    samplers = typing.get_args(typing.get_type_hints(SamplingConfig)["sampler"])
    if "sampler" in values and values["sampler"] not in samplers:
        raise ValueError(f"{source}: sampler {values['sampler']!r} is none of {samplers}; {fix}")
    if "lip_consistency" in values and values["lip_consistency"] not in ("on", "off"):
        raise ValueError(f"{source}: lip_consistency {values['lip_consistency']!r} is neither \"on\" nor \"off\"; {fix}")
    if "guidance_param" in values and not isinstance(values["guidance_param"], (int, float)):
        raise ValueError(f"{source}: guidance_param {values['guidance_param']!r} is not a number; {fix}")
    if "timestep_respacing" in values and not isinstance(values["timestep_respacing"], str):
        raise ValueError(f"{source}: timestep_respacing {values['timestep_respacing']!r} is not a string such as "
                         f"\"ddim20\"; {fix}")
    return values


def recommended_sampling(model_path: str | os.PathLike) -> dict:
    """{flag name: value} recommended by the folder of `model_path` ({} without a sampling.json); a ValueError
    names a malformed file."""
    source = checkpoint_folder(model_path) / SAMPLING_FILE
    if not source.is_file():
        return {}
    try:
        values = json.loads(source.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON ({error}); fix or delete the file") from error
    return _check(values, source)


def write_recommended_sampling(folder: str | os.PathLike, settings: dict) -> Path:
    """Write `settings` ({flag name: value}, RECOMMENDABLE keys) as folder/sampling.json; returns its path."""
    path = Path(folder) / SAMPLING_FILE
    path.write_text(json.dumps(_check(dict(settings), path), indent=4, sort_keys=True) + "\n")
    return path


def sampling_settings(model_path: str | os.PathLike, **given) -> SamplingConfig:
    """SamplingConfig's defaults, replaced by the folder's recommendation, replaced by the `given` values that
    are not None (flags a person set)."""
    chosen = {**recommended_sampling(model_path), **{k: v for k, v in given.items() if v is not None}}
    return dataclasses.replace(SamplingConfig(), **chosen)
