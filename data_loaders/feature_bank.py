"""Feature bank: the audio side of training windows computed once, so a training step costs only the network.

A training window's audio front end (the channel effects of `data_loaders.augment`, the log-mel of
`model.mel`) does not depend on the model. The bank holds, for every scene of a split, V variants of the
whole scene's log-mel (both channels, of the normalised waveform as the models read it):

    variant 0        the scene as recorded
    variants 1..V-1  augment(scene, rng) with rng = default_rng([BANK_SEED, scene index, variant]) (only with
                     --augment; a bank of a run without it holds variant 0 alone)

and a training item draws its variant from its own seed (`SocialDataset`), then slices the window's mel
frames out of the memory-mapped file. The model's front end takes that log-mel in place of the waveform
(`model.audio_encoder`: loudness normalisation, per window, and the conv stack run in the step as before).
The log-mel of a window cut from the scene's log-mel equals the log-mel of the cut window (to float16
rounding, 2e-3) except in its first and last mel frame and, for a window shorter than the training length,
the mel frame just past its end (these see 312 samples of the neighbouring audio or of the window instead of
zeros); the frames further past a short window's end hold the log floor, as zero padding gives.

Layout (one folder per person folder, split and front-end setting, under --feature_bank):

    <bank root>/<person>_<split>_<key>/bank.json      what it was made from (BankSpec) and its key
    <bank root>/<person>_<split>_<key>/<scene>.npy    float16 (V, 2, 4T, n_mels) log10 band power

The key hashes the person folder's path, the scenes' audio files (name, size, modification time),
data_stats.pth, the mel settings, V and BANK_VERSION, so changing the data, the statistics or the front end
makes a new bank (and an old one is never read for the new data). A bank is written into a temporary folder and renamed when complete, so two
trainers starting together cannot read half a bank. Building costs about 1.5 s of one core per minute of
audio and variant.

    python -m data_loaders.feature_bank --data_root dataset/SYN001 --n_mels 64   # made ahead (trainers also
                                                                                  # make it when missing)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from tqdm import tqdm

from data_loaders.augment import augment
from data_loaders.dataset import SocialDataset
from model.mel import HOP, LOG_FLOOR, MEL_FRAMES_PER_VIDEO_FRAME, LogMel
from utils.cli import run_cli
from utils.config import arg, parse_config

BANK_VERSION = 1  # bump when data_loaders.augment or model.mel change what they compute
BANK_SEED = 20241207
LOG_FLOOR_VALUE = float(np.log10(LOG_FLOOR))


@dataclass
class FeatureBankConfig:
    """Precomputed audio features of the training windows (data_loaders/feature_bank.py)."""
    feature_bank: str = arg("auto", "folder of feature banks: the log-mel of every training scene in "
                                    "--bank_variants augmented variants, made once (here, or by `python -m "
                                    "data_loaders.feature_bank`) and reused by every run; auto = "
                                    "$XDG_CACHE_HOME/a2p/feature_bank (~/.cache/...); none = compute the channel "
                                    "effects and the log-mel of every window in every step (on the fly)")
    bank_variants: int = arg(8, "variants of each scene in the bank: the recording and bank_variants - 1 "
                                "augmented copies (--augment); 1 without --augment")


@dataclass
class BankSpec:
    """What a bank is made from (its key hashes all of it)."""
    person: str
    root: str
    split: str
    scenes: list
    files: list  # [name, size, mtime_ns] of each scene's audio file and of data_stats.pth
    variants: int
    n_mels: int
    mel_fmin: float
    mel_fmax: float
    hop: int = HOP
    version: int = BANK_VERSION

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def default_bank_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "a2p" / "feature_bank"


def bank_spec(dataset, variants: int, n_mels: int, mel_fmin: float, mel_fmax: float) -> BankSpec:
    """The spec of `dataset`'s (a SocialDataset) bank with these settings."""
    files = [dataset.root / f"{scene.name}_audio.wav" for scene in dataset.scenes] + [dataset.root / "data_stats.pth"]
    stamps = [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files]
    return BankSpec(dataset.root.name, str(dataset.root.resolve()), dataset.split, [scene.name for scene in dataset.scenes], stamps, variants,
                    n_mels, float(mel_fmin), float(mel_fmax))


def _scene_features(dataset, index: int, variants: int, log_mel: LogMel) -> np.ndarray:
    """(V, 2, 4T, n_mels) float16 log-mel of scene `index`'s variants (module docstring)."""
    scene = dataset.scenes[index]
    out = np.empty((variants, 2, len(scene.motion) * MEL_FRAMES_PER_VIDEO_FRAME, log_mel.filters.shape[0]),
                   np.float16)
    for variant in range(variants):
        audio = scene.audio
        if variant:
            rng = np.random.default_rng([BANK_SEED, index, variant])
            recorded = augment(dataset.normalizer.denormalize(audio, "audio"), rng, dataset.babble)
            audio = dataset.normalizer.normalize(recorded, "audio")
        with torch.no_grad():
            out[variant] = log_mel(torch.from_numpy(np.ascontiguousarray(audio.T, np.float32))).numpy()
    return out


def write_folder(folder: Path, write: Callable[[Path], None]) -> None:
    """Make `folder` by write(temporary folder), renamed when complete: a reader never sees half of it, and
    when another process made it meanwhile (same key, same content) its copy is kept."""
    temporary = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        write(temporary)
        if folder.exists():
            shutil.rmtree(temporary)
        else:
            os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def build_bank(dataset, folder: Path, spec: BankSpec, progress: bool = True) -> None:
    """Write the bank of `dataset` into `folder` (`write_folder`)."""
    def write(temporary: Path) -> None:
        log_mel = LogMel(spec.n_mels, spec.mel_fmin, spec.mel_fmax)
        for index, scene in enumerate(tqdm(dataset.scenes, desc=f"feature bank {folder.name}", disable=not progress)):
            np.save(temporary / f"{scene.name}.npy", _scene_features(dataset, index, spec.variants, log_mel))
        (temporary / "bank.json").write_text(json.dumps({"key": spec.key(), **asdict(spec)}, indent=1))
    write_folder(folder, write)


class FeatureBank:
    """A built bank, memory-mapped: `window(scene, variant, start, length, size)` -> (2, 4*size, n_mels)."""

    def __init__(self, folder: Path, spec: BankSpec):
        self.folder, self.spec = folder, spec
        self.variants = spec.variants
        self.scenes = [np.load(folder / f"{name}.npy", mmap_mode="r") for name in spec.scenes]

    def window(self, scene: int, variant: int, start: int, length: int, size: int) -> np.ndarray:
        """float16 (2, 4*size, n_mels): the log-mel of frames [start, start + length) of variant `variant` of
        scene `scene`, then the log floor up to `size` frames."""
        step = MEL_FRAMES_PER_VIDEO_FRAME
        out = np.full((2, size * step, self.spec.n_mels), LOG_FLOOR_VALUE, np.float16)
        out[:, :length * step] = self.scenes[scene][variant, :, start * step:(start + length) * step]
        return out


def open_feature_bank(dataset, cfg: FeatureBankConfig, n_mels: int, mel_fmin: float, mel_fmax: float,
                      progress: bool = True) -> FeatureBank:
    """The bank of `dataset` (a SocialDataset) under cfg.feature_bank, built first when there is none for its
    current data and settings."""
    if cfg.bank_variants < 1:
        raise ValueError(f"--bank_variants must be >= 1, got {cfg.bank_variants}")
    root = default_bank_root() if cfg.feature_bank == "auto" else Path(cfg.feature_bank)
    spec = bank_spec(dataset, cfg.bank_variants if dataset.augment else 1, n_mels, mel_fmin, mel_fmax)
    folder = root / f"{spec.person}_{spec.split}_{spec.key()}"
    if not (folder / "bank.json").is_file():
        build_bank(dataset, folder, spec, progress)
    return FeatureBank(folder, spec)


def attach_feature_bank(dataset, cfg: FeatureBankConfig, audio_cfg, progress: bool = True) -> FeatureBank | None:
    """Make `dataset` serve its audio from its bank (opened or built) for a model with the front end audio_cfg
    (model.audio_encoder.AudioEncoderConfig); None, saying why, when the run computes it on the fly."""
    if cfg.feature_bank == "none":
        return None
    if audio_cfg.audio_encoder != "mel_conv":
        tqdm.write(f"[feature bank] not used: --audio_encoder {audio_cfg.audio_encoder} reads the waveform")
        return None
    bank = open_feature_bank(dataset, cfg, audio_cfg.n_mels, audio_cfg.mel_fmin, audio_cfg.mel_fmax, progress)
    dataset.use_feature_bank(bank)
    return bank


@dataclass
class BankCommand(FeatureBankConfig):
    """Make the feature bank of a person folder's training split ahead of training."""
    data_root: str = arg("", "person folder in the official format, e.g. dataset/SYN001")
    data_format: Literal["face", "pose"] = arg("face", "whose windows (face skips scenes without any face frame)")
    augment: bool = arg(True, "augmented variants (as the trainers' --augment)")
    n_mels: int = arg(80, "mel bands (the model's --n_mels)")
    mel_fmin: float = arg(0.0, "lowest mel filter edge (Hz; the model's --mel_fmin)")
    mel_fmax: float = arg(8000.0, "highest mel filter edge (Hz; the model's --mel_fmax)")


def main(argv: list[str] | None = None) -> Path:
    cfg, = parse_config([BankCommand], argv, description=BankCommand.__doc__)
    if not cfg.data_root:
        raise SystemExit("--data_root is required: a person folder, e.g. dataset/SYN001")
    dataset = SocialDataset(cfg.data_root, "train", cfg.data_format, augment=cfg.augment)
    bank = open_feature_bank(dataset, cfg, cfg.n_mels, cfg.mel_fmin, cfg.mel_fmax)
    print(f"feature bank -> {bank.folder}")
    return bank.folder


if __name__ == "__main__":
    run_cli(main)
