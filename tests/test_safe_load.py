"""No code runs from a data file: every pickle-bearing file a2p reads (data_stats.pth, results.npy, model and
optimizer checkpoints, plain .npy arrays) is refused with one line naming it when it asks for anything but
numpy arrays, tensors and containers, and a marker file proves the payload never ran. The original's real
statistics files, its results.npy layout (numpy 1.x module names) and ours still load."""
from __future__ import annotations

import argparse
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from data_loaders.format import STATS_FILE, FormatError
from data_loaders.stats import check_stats, load_stats
from data_loaders.validate import validate_folder
from sample import evaluate
from sample.results import Results, load_results, save_results
from tests.data_fixtures import make_person_folder
from train.checkpoint import checkpoint_path, load_checkpoint_file
from utils.safe_load import UnsafeFileError, load_npy, load_torch
from visualize import export_bvh

UPSTREAM_STATS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "upstream" / "data_stats"


class Payload:
    """Unpickling it runs `touch MARKER` (what a crafted file would do with any shell command)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "PAYLOAD_RAN"
    yield path
    assert not path.exists(), "the payload ran"


def save_npy_object(path: Path, value, protocol: int = 5) -> Path:
    stored = np.empty((), dtype=object)
    stored[()] = value
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(stored))
        pickle.dump(stored, handle, protocol=protocol)
    return path


def test_the_payload_runs_when_loaded_unsafely(tmp_path):
    """The control: the crafted file below does run its command with a plain unpickler."""
    marker = tmp_path / "ran"
    np.load(save_npy_object(tmp_path / "evil.npy", {"motions": Payload(marker)}), allow_pickle=True)
    assert marker.exists()


def test_a_crafted_stats_file_is_refused_by_every_reader(tmp_path, marker):
    folder = make_person_folder(tmp_path / "P0", frames=30)
    stats = load_stats(folder)
    torch.save({**stats, "pose_mean": Payload(marker)}, folder / STATS_FILE)
    with pytest.raises(FormatError, match=rf"{folder / STATS_FILE}: refused to load: it asks for posix\.system"):
        load_stats(folder)
    problems = [str(p) for p in validate_folder(folder)]
    assert any("refused to load" in p and STATS_FILE in p for p in problems)


def test_a_crafted_results_file_is_refused_by_every_reader(tmp_path, marker):
    evil = save_npy_object(tmp_path / "results.npy", {"motions": Payload(marker), "audio": np.zeros((1, 1600, 2))})
    with pytest.raises(UnsafeFileError, match=rf"{evil}: refused to load: it asks for posix\.system, which is not "
                                              r"plain data .*nothing of it was run"):
        load_results(evil)
    with pytest.raises(UnsafeFileError):
        evaluate.main(["--results", str(evil)])
    with pytest.raises(UnsafeFileError):
        export_bvh.main([str(evil), "--out", str(tmp_path / "out.bvh")])
    with pytest.raises(UnsafeFileError):
        load_npy(save_npy_object(tmp_path / "poses.npy", [Payload(marker)], protocol=2))


def test_a_crafted_checkpoint_is_refused(tmp_path, marker):
    model_file = checkpoint_path(tmp_path, "model", 10)
    torch.save({"model": {"w": torch.zeros(2)}, "step": 10, "config": {"x": Payload(marker)}}, model_file)
    with pytest.raises(UnsafeFileError, match=r"model000000010\.pt: refused to load: it asks for posix\.system"):
        load_checkpoint_file(model_file)


def test_allowed_classes_are_explicit(tmp_path):
    """A caller may allow a plain class for one file kind (the original's fairseq checkpoints hold an
    argparse.Namespace); without it, the class is refused."""
    path = tmp_path / "fairseq.pt"
    torch.save({"args": argparse.Namespace(layers=2), "model": {"w": torch.ones(2)}}, path)
    with pytest.raises(UnsafeFileError, match="argparse.Namespace"):
        load_torch(path)
    loaded = load_torch(path, extra={"argparse.Namespace": argparse.Namespace})
    assert loaded["args"].layers == 2 and torch.equal(loaded["model"]["w"], torch.ones(2))


@pytest.mark.parametrize("person", ["PXB184", "RLW104"])
def test_the_originals_real_stats_files_load(tmp_path, person):
    source = UPSTREAM_STATS / f"{person}_data_stats.pth"
    if not source.is_file():
        pytest.skip(f"{source} not found (../shared/fixtures of the project)")
    shutil.copyfile(source, tmp_path / STATS_FILE)
    stats = load_stats(tmp_path)
    assert check_stats(stats) == []
    assert stats["pose_mean"].shape == (104,) and stats["pose_mean"].dtype == np.float64
    assert stats["code_std"].shape == (256,) and stats["audio_std_flat"].dtype == np.float32
    assert stats["facekp_mean"].shape == (274, 3)  # the original's extra keys come along


def original_results_bytes(results: dict) -> bytes:
    """results.npy as the original wrote it: np.save under numpy 1.x (protocol 3, numpy.core module names)."""
    stored = np.empty((), dtype=object)
    stored[()] = results
    handle = io.BytesIO()
    np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(stored))
    data = pickle.dumps(stored, protocol=3).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in data
    return handle.getvalue() + data


def test_the_originals_results_layout_and_ours_load(tmp_path):
    rng = np.random.default_rng(0)
    samples, reps, frames = 2, 3, 30
    audio = rng.standard_normal((samples, frames * 1600, 2)).astype(np.float32)
    motions = rng.standard_normal((samples * reps, 104, 1, frames))
    original = tmp_path / "original.npy"
    original.write_bytes(original_results_bytes({"motions": motions, "gt": motions, "audio": np.tile(audio, (reps, 1, 1)),
                                                 "lengths": np.full(samples * reps, frames)}))
    loaded = load_results(original)
    assert (loaded.num_samples, loaded.num_repetitions, loaded.data_format) == (samples, reps, "pose")
    assert np.array_equal(loaded.motions, motions) and np.array_equal(loaded.audio_row(5), audio[1])  # rep 2, sample 1
    ours = save_results(tmp_path / "ours.npy", Results(motions=motions, audio=audio, lengths=np.full(6, frames),
                                                      num_samples=samples, num_repetitions=reps, data_format="pose"))
    assert np.array_equal(np.load(ours, allow_pickle=True).item()["motions"], motions)  # numpy reads ours
    again = load_results(ours)
    assert again.audio.shape == (samples, frames * 1600, 2)  # the audio once per sample
    assert all(np.array_equal(again.audio_row(row), loaded.audio_row(row)) for row in range(samples * reps))
