"""The Table 1 baselines (sample/baselines.py) and the table script (scripts/baselines.py) on a tiny random
person folder with tiny models trained for a few steps: shapes, the random and nearest-neighbour baselines
return real training segments, VQ-only is the guide's decoded keyframes, audio-only ignores the guide poses
and guide-only ignores the audio, and the script prints every row of the table."""
from __future__ import annotations

import functools
import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from data_loaders.dataset import SocialDataset
from data_loaders.format import SAMPLES_PER_FRAME
from sample.baselines import (AudioOnlySampler, GuideOnlySampler, NearestNeighbourSampler, RandomSegmentSampler,
                              VQOnlySampler, build_baselines, train_windows, upsample_keyframes)
from sample.body import BodySampler, keyframe_count
from sample.windows import SamplingConfig, row_seeds
from tests.data_fixtures import make_person_folder
from train.train_diffusion import main as train_diffusion
from train.train_guide import main as train_guide
from train.train_vq import main as train_vq

WINDOW = 60  # frames (2 keyframes); the tiny scenes hold 150 frames
AUDIO = ["--n_mels", "16", "--audio_hidden", "16", "--audio_channel_dim", "8"]
LOOP = ["--device", "cpu", "--num_workers", "0", "--num_steps", "3", "--warm_up_iter", "1", "--log_interval", "3",
        "--save_interval", "100", "--eval_interval", "0", "--batch_size", "4"]
FAST = SamplingConfig(num_repetitions=2, timestep_respacing="ddim3", sampler="ddim", guidance_param=2.0, seed=3)
REPO = Path(__file__).resolve().parent.parent


@functools.cache
def tiny_runs(base: Path) -> tuple[Path, Path]:
    """(person folder, checkpoint folder with pose/, vq/ and guide/ runs of 3 steps each)."""
    person = make_person_folder(base / "P0", num_scenes=8, frames=150)
    runs = base / "checkpoints"
    train_diffusion(["--data_format", "pose", "--data_root", str(person), "--save_dir", str(runs / "pose"),
                     "--max_seq_length", str(WINDOW), "--min_seq_length", "30", "--latent_dim", "32", "--layers",
                     "1", "--heads", "2", "--ff_size", "32", *AUDIO, *LOOP])
    train_vq(["--data_root", str(person), "--save_dir", str(runs / "vq"), "--max_seq_length", str(WINDOW),
              "--codebook_size", "8", "--depth", "2", "--emb_width", "8", *LOOP])
    train_guide(["--data_root", str(person), "--save_dir", str(runs / "guide"), "--resume_pth", str(runs / "vq"),
                 "--max_seq_length", str(WINDOW), "--layers", "1", "--dim", "16", "--heads", "2", "--ff_size", "32",
                 "--audio_layers", "1", *AUDIO, *LOOP])
    return person, runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    return tiny_runs(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def body(runs) -> BodySampler:
    return BodySampler.load(runs[1] / "pose", resume_trans=runs[1] / "guide")


@pytest.fixture(scope="module")
def train(runs) -> SocialDataset:
    return train_windows(str(runs[0]), WINDOW)


@pytest.fixture(scope="module")
def test_audio(runs) -> torch.Tensor:
    """(3, WINDOW*1600, 2) normalised audio of three test chunks."""
    dataset = SocialDataset(runs[0], "test", "pose", WINDOW, WINDOW, random_windows=False)
    return torch.stack([dataset[i]["audio"] for i in range(3)])


def seeds_for(audio: torch.Tensor, settings: SamplingConfig = FAST) -> torch.Tensor:
    return row_seeds(settings.seed, range(len(audio)), settings.num_repetitions)


def find_in_train(train: SocialDataset, segment: torch.Tensor) -> tuple[str, int] | None:
    """(scene name, start) of the train window equal to segment (T, C), or None."""
    frames = len(segment)
    for scene in train.scenes:
        motion = torch.from_numpy(scene.motion)
        for start in range(len(motion) - frames + 1):
            if torch.equal(motion[start:start + frames], segment):
                return scene.name, start
    return None


def test_upsampled_keyframes_pass_through_them_linearly_and_hold_the_last():
    keyframes = torch.tensor([[[0.0, 10.0], [3.0, 4.0], [6.0, -2.0]]])
    motion = upsample_keyframes(keyframes, 75)
    assert motion.shape == (1, 75, 2)
    torch.testing.assert_close(motion[:, [0, 30, 60]], keyframes)
    torch.testing.assert_close(motion[0, 15], torch.tensor([1.5, 7.0]))
    torch.testing.assert_close(motion[0, 45], torch.tensor([4.5, 1.0]))
    assert (motion[0, 60:] == keyframes[0, 2]).all()


def test_random_baseline_returns_training_segments_drawn_per_row(train, test_audio):
    out = RandomSegmentSampler(train).sample(test_audio, FAST, seeds=seeds_for(test_audio))
    assert out.motion.shape == (6, WINDOW, train.nfeats)
    places = [find_in_train(train, row) for row in out.motion]
    assert all(place is not None for place in places)
    assert len(set(places)) == len(places)  # every (sample, repetition) row draws its own segment


def test_nearest_neighbour_finds_the_training_window_of_its_own_audio(train, test_audio):
    sampler = NearestNeighbourSampler(train, WINDOW, stride=30)
    scene = train.scenes[1]
    query = torch.from_numpy(scene.audio[30 * SAMPLES_PER_FRAME:(30 + WINDOW) * SAMPLES_PER_FRAME])[None]
    assert sampler.nearest(query) == [(1, 30)]
    out = sampler.sample(torch.cat([query, test_audio]), FAST, seeds=seeds_for(torch.cat([query, test_audio])))
    assert out.motion.shape == (8, WINDOW, train.nfeats)
    torch.testing.assert_close(out.motion[0], torch.from_numpy(scene.motion[30:30 + WINDOW]))
    assert all(find_in_train(train, row) is not None for row in out.motion)
    assert torch.equal(out.motion[:4], out.motion[4:])  # deterministic: every repetition the same segment


def test_vq_only_is_the_guides_decoded_keyframes_at_30_fps(body, test_audio):
    seeds = seeds_for(test_audio)
    out = VQOnlySampler(body).sample(test_audio, FAST, seeds=seeds)
    keyframes = body.guide_poses(test_audio, seeds)
    assert keyframes.shape == (6, keyframe_count(WINDOW), body.nfeats)
    torch.testing.assert_close(out.keyframes, keyframes)
    torch.testing.assert_close(out.motion, upsample_keyframes(keyframes, WINDOW))


def test_audio_only_ignores_the_guide_and_guide_only_ignores_the_audio(body, test_audio, monkeypatch):
    seeds = seeds_for(test_audio)
    other_audio = test_audio.flip(0)  # other chunks under the same seeds
    first_keyframes = body.guide_poses(test_audio, seeds)

    def sample(sampler, audio, keyframes):
        monkeypatch.setattr(body, "guide_poses", lambda *args, **kwargs: keyframes)
        return sampler.sample(audio, FAST, seeds=seeds).motion

    shifted = first_keyframes + 3.0
    audio_only, guide_only = AudioOnlySampler(body), GuideOnlySampler(body)
    torch.testing.assert_close(sample(audio_only, test_audio, first_keyframes), sample(audio_only, test_audio, shifted))
    assert not torch.allclose(sample(audio_only, test_audio, first_keyframes), sample(audio_only, other_audio, shifted))
    torch.testing.assert_close(sample(guide_only, test_audio, first_keyframes),
                               sample(guide_only, other_audio, first_keyframes))
    assert not torch.allclose(sample(guide_only, test_audio, first_keyframes), sample(guide_only, test_audio, shifted))
    full = body.sample(test_audio, FAST, seeds=seeds).motion
    assert not torch.allclose(full, body.sample(other_audio, FAST, seeds=seeds).motion)


def test_every_baseline_samples_long_audio_through_generate(body, train, runs):
    from sample.generate import GenerateConfig, Inputs, sample_inputs
    dataset = SocialDataset(runs[0], "test", "pose", 150, 150, random_windows=False)
    audio = dataset[0]["audio"][None]  # 150 frames: three overlapping windows of 60
    inputs = Inputs(audio, audio.numpy(), torch.tensor([150]).numpy(), dataset[0]["motion"][None], None)
    settings = SamplingConfig(num_repetitions=2, timestep_respacing="ddim2", sampler="ddim", guidance_param=1.0)
    for name, sampler in build_baselines(body, train).items():
        results = sample_inputs(sampler, inputs, settings, GenerateConfig(progress=False), WINDOW)
        assert results.motions.shape == (2, body.nfeats, 1, 150), name
        assert results.gt is not None and results.data_format == "pose", name


def load_table_script(monkeypatch):
    spec = importlib.util.spec_from_file_location("baselines_script", REPO / "scripts" / "baselines.py")
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # dataclasses look their module up there
    spec.loader.exec_module(script)
    return script


def test_table_script_scores_every_row(runs, tmp_path, capsys, monkeypatch):
    script = load_table_script(monkeypatch)
    report = script.main(["--checkpoints", str(runs[1]), "--data_root", str(runs[0]), "--num_samples", "3",
                          "--num_repetitions", "2", "--timestep_respacing", "ddim2", "--no-progress",
                          "--out", str(tmp_path / "table.json")])
    printed = capsys.readouterr().out
    assert list(report["scores"]) == ["gt", "random", "nn", "vq_only", "audio_only", "guide_only", "full"]
    for name, scores in report["scores"].items():
        assert script.ROW_NAMES[name] in printed
        assert scores["div_g"] > 0 and scores["div_k"] > 0
        if name != "gt":
            assert math.isfinite(scores["fd_g"]) and scores["fd_g"] >= 0
    assert report["scores"]["nn"]["div_sample"] == 0.0  # one segment for every repetition
    assert report["scores"]["random"]["div_sample"] > 0
    assert all(scores["speed_ratio"] > 0 for scores in report["scores"].values())
    assert "Speaker-nod F1 ↑ (chance)" in printed and "no events for" in printed  # the fixture has no events
    assert (tmp_path / "table.json").is_file()


def test_table_shows_chance_levels_in_brackets_and_dashes_for_missing_values(monkeypatch):
    script = load_table_script(monkeypatch)
    table = script.markdown_table({"gt": {"div_g": 2.0, "speaker_nod_f1": 0.98, "speaker_nod_f1_chance": 0.2},
                                   "full": {"fd_g": 0.5, "speaker_nod_f1": float("nan"), "speed_ratio": 1.5}})
    header, _, truth, full = table.splitlines()
    assert header.split(" | ")[6:8] == ["Speaker-nod F1 ↑ (chance)", "Listener-nod recall ↑ (chance)"]
    assert truth.split(" | ")[1:] == ["-", "-", "2", "-", "-", "0.98 (0.2)", "-", "-", "- |"]
    assert full.split(" | ")[1:] == ["0.5", "-", "-", "-", "-", "-", "-", "1.5", "- |"]


def test_table_script_scores_the_chosen_rows_and_rejects_unknown_ones(runs, tmp_path, monkeypatch):
    script = load_table_script(monkeypatch)
    common = ["--checkpoints", str(runs[1]), "--data_root", str(runs[0]), "--num_samples", "2", "--num_repetitions",
              "2", "--timestep_respacing", "ddim2", "--no-progress", "--out", str(tmp_path / "table.json")]
    report = script.main(common + ["--methods", "full", "random"])
    assert list(report["scores"]) == ["gt", "random", "full"]  # the table's order, not the flag's
    with pytest.raises(SystemExit, match="unknown --methods vq"):
        script.main(common + ["--methods", "vq", "full"])
