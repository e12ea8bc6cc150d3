"""The conversation partner (`sample.generate --both`): the same conversation heard from the other side.

The partner is channel 1 of the conversation; its model hears the audio with the channels swapped (channel
0 = the partner, 1 = the person), as the partner's own data set folder stores it (SYN002 is SYN001's scenes
seen from the other side). It is sampled by the partner's own model when --partner_model_path gives one
(a model trained on the partner's folder, or the paired identity of the original's models), else by the
person's model, and with seed --seed + PARTNER_SEED_OFFSET, so that the two do not share their noise (face
and body of the partner still pair up: both runs add the same offset). Its results.npy, PARTNER_RESULTS
beside the person's, stores the swapped audio, no ground truth (the person folder's test split holds the
person's motion only) and no scenes (the paired metrics' events are the person's).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_loaders.stats import Normalizer
from sample.audio_input import AudioOnDisk
from sample.windows import NormalizedAudio
from utils.config import arg

PARTNER_RESULTS = "partner_results.npy"
PARTNER_SEED_OFFSET = 1


@dataclass
class PartnerConfig:
    """The conversation partner (--both)."""
    both: bool = arg(False, f"also sample the conversation partner (channel 1) from the same audio with the "
                            f"channels swapped, into {PARTNER_RESULTS} beside results.npy; with --plot, videos of "
                            f"the two facing each other")
    partner_model_path: str = arg("", "the partner's own model (a model*.pt or its folder, e.g. trained on "
                                      "SYN002); default: the person's --model_path")
    partner_resume_trans: str = arg("", "the partner's guide transformer (body models); default: --resume_trans")


def partner_path(results_path: str | Path) -> Path:
    """Where the partner's results of a person's results.npy are (or go)."""
    return Path(results_path).with_name(PARTNER_RESULTS)


def swapped(raw: np.ndarray | AudioOnDisk) -> np.ndarray | AudioOnDisk:
    """Conversation audio (S, N, 2) with its two channels swapped (an AudioOnDisk stays on disk, one row)."""
    if isinstance(raw, AudioOnDisk):
        if len(raw) != 1:
            raise ValueError(f"an audio file is one sample, got {len(raw)} rows")
        return AudioOnDisk.from_blocks((block[:, ::-1] for block in raw.blocks()), raw.samples)
    return np.ascontiguousarray(raw[..., ::-1])


def partner_inputs(inputs, normalizer: Normalizer):
    """The sample.generate Inputs of the partner: swapped audio normalised for the partner's model; no ground
    truth, no scenes (module docstring). Audio files stay NormalizedAudio (normalised window by window)."""
    raw = swapped(inputs.raw_audio)
    if isinstance(raw, AudioOnDisk):
        audio = NormalizedAudio(raw, normalizer)
    else:
        audio = normalizer.normalize(torch.from_numpy(raw), "audio")
    return inputs._replace(audio=audio, raw_audio=raw, gt=None, scenes=None, starts=None)
