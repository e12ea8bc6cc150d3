"""Lip bank: the frozen lip regressor's vertices of every feature-bank variant, computed once per regressor.

A face model conditioned on lip vertices (`train.train_diffusion --lip_model_path`) runs its frozen lip
regressor on the audio of every training window. With a feature bank (data_loaders/feature_bank.py) that audio
is one of a few fixed log-mel variants per scene, so the regressor's output is fixed too: the lip bank holds it,
and a training step reads the window's vertices instead of running the regressor.

The vertices of a scene are the regressor's on consecutive tiles of `window` frames (the face model's training
and sampling window: sample.face feeds the regressor windows of that length too), normalised as the denoiser
takes them (`LipRegressor.normalise`). A training window reads its frames out of them, so near a tile's edge
its vertices have heard the tile's audio instead of the training window's, as they do in sampling, where a long
recording is cut into windows.

Layout, next to the feature bank's scenes:

    <feature bank folder>/lips_<key>/lips.json       the regressor file and the window
    <feature bank folder>/lips_<key>/<scene>.npy     float16 (V, T, L*3), V the bank's variants

The key hashes the regressor's model file (its bytes) and the window, so another regressor, or the same one
retrained, makes a new lip bank. It is written into a temporary folder and renamed when complete. Cost: one
regressor pass over every variant of every scene, under a second per minute of audio for the small models.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data_loaders.feature_bank import FeatureBank, write_folder
from model.lip_regressor import LipRegressor
from model.mel import MEL_FRAMES_PER_VIDEO_FRAME


def lip_bank_key(lip_file: Path, window: int) -> str:
    """16 hex digits of the hash of the regressor's model file and the tile length."""
    digest = hashlib.sha256(Path(lip_file).read_bytes())
    digest.update(f"window={window}".encode())
    return digest.hexdigest()[:16]


def unusable_reason(bank: FeatureBank, lip: LipRegressor) -> str | None:
    """Why the regressor cannot read the bank's log-mel (another front end), or None when it can."""
    encoder = lip.audio_encoder
    mel = getattr(encoder, "log_mel", None)
    if mel is None:
        return "the lip regressor reads the waveform"
    ours = (mel.filters.shape[0], *encoder.mel_range)
    theirs = (bank.spec.n_mels, bank.spec.mel_fmin, bank.spec.mel_fmax)
    if ours != theirs:
        return f"the lip regressor's mel bands (n_mels, fmin, fmax) {ours} are not the bank's {theirs}"
    return None


@torch.no_grad()
def scene_lips(lip: LipRegressor, log_mel: np.ndarray, window: int) -> np.ndarray:
    """log_mel (V, 2, 4T, M) of one scene -> float16 (V, T, L*3): normalised vertices, tile by tile."""
    device = next(lip.parameters()).device
    frames = log_mel.shape[2] // MEL_FRAMES_PER_VIDEO_FRAME
    out = np.empty((len(log_mel), frames, lip.num_vertices * 3), np.float16)
    for variant in range(len(log_mel)):
        for start in range(0, frames, window):
            end = min(start + window, frames)
            mel = torch.from_numpy(np.asarray(log_mel[variant, :, start * MEL_FRAMES_PER_VIDEO_FRAME:
                                                      end * MEL_FRAMES_PER_VIDEO_FRAME], np.float32))
            out[variant, start:end] = lip.normalise(lip(mel[None].to(device)))[0].cpu().numpy()
    return out


class LipBank:
    """A built lip bank, memory-mapped: `window(scene, variant, start, length, size)` -> (size, L*3)."""

    def __init__(self, folder: Path, scenes: list[str]):
        self.folder = folder
        self.scenes = [np.load(folder / f"{name}.npy", mmap_mode="r") for name in scenes]

    def window(self, scene: int, variant: int, start: int, length: int, size: int) -> np.ndarray:
        """float32 (size, L*3): the vertices of frames [start, start + length) of the variant, then zeros."""
        lips = self.scenes[scene]
        out = np.zeros((size, lips.shape[-1]), np.float32)
        out[:length] = lips[variant, start:start + length]
        return out


def build_lip_bank(bank: FeatureBank, lip: LipRegressor, lip_file: Path, window: int, folder: Path,
                   progress: bool = True) -> None:
    """Write the lip bank of `bank` into `folder` (`feature_bank.write_folder`)."""
    def write(temporary: Path) -> None:
        for name, log_mel in zip(tqdm(bank.spec.scenes, desc=f"lip bank {folder.name}", disable=not progress),
                                 bank.scenes):
            np.save(temporary / f"{name}.npy", scene_lips(lip, log_mel, window))
        (temporary / "lips.json").write_text(json.dumps({"lip_model": str(lip_file), "window": window}, indent=1))
    write_folder(folder, write)


def attach_lip_bank(dataset, bank: FeatureBank | None, lip: LipRegressor, lip_file: Path, window: int,
                    progress: bool = True) -> LipBank | None:
    """Make `dataset` (a SocialDataset served by `bank`) give every item the regressor's vertices ("lips",
    (T, L*3)) from its lip bank (opened or built); None, saying why, when the steps run the regressor."""
    if bank is None:
        return None
    reason = unusable_reason(bank, lip)
    if reason:
        tqdm.write(f"[lip bank] not used: {reason}; the regressor runs in every step")
        return None
    folder = bank.folder / f"lips_{lip_bank_key(lip_file, window)}"
    if not (folder / "lips.json").is_file():
        build_lip_bank(bank, lip, Path(lip_file).resolve(), window, folder, progress)
    lip_bank = LipBank(folder, bank.spec.scenes)
    dataset.use_lip_bank(lip_bank)
    return lip_bank
