"""The paired metrics on the tiny synthetic set: its ground truth scores near the ceiling, the same motion
against shifted events or motion that ignores the audio near chance; results.npy carries where each test
chunk came from, so sample.evaluate pairs each sequence with its own chunk's events."""
from pathlib import Path

import numpy as np
import pytest

from data_loaders.format import SAMPLES_PER_FRAME, list_scenes, read_events, read_wav
from data_loaders.synthetic import SyntheticConfig, generate_dataset
from sample import metrics
from sample.evaluate import main as evaluate_main
from sample.generate import chunk_inputs
from sample.results import Results, load_results, motion_rows, save_results

FRAMES = 180  # every scene of the tiny preset holds at least 6 s
CHUNK = 90  # frames per test chunk of the results.npy tests (two per test scene)
TWO_SECONDS = 60


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("paired") / "dataset"
    generate_dataset(SyntheticConfig(preset="tiny", out=str(out), seed=3, workers=1, progress=False))
    return out


@pytest.fixture(scope="module")
def scenes(dataset):
    """(poses (S, FRAMES + 60, 104), faces (S, FRAMES, 256), audio (S, FRAMES*1600, 2), events [S ChunkEvents
    of the first FRAMES frames]) of every scene of both persons (the poses run 2 s longer)."""
    poses, faces, audio, events = [], [], [], []
    for scene in list_scenes(dataset / "SYN001") + list_scenes(dataset / "SYN002"):
        poses.append(np.pad(np.load(scene.pose), ((0, TWO_SECONDS), (0, 0)), mode="edge")[:FRAMES + TWO_SECONDS])
        faces.append(np.load(scene.face)[:FRAMES])
        audio.append(read_wav(scene.audio)[0][:FRAMES * SAMPLES_PER_FRAME])
        events.append(metrics.chunk_events(read_events(scene), 0, FRAMES))
    return np.stack(poses).astype(np.float64), np.stack(faces), np.stack(audio), events


def test_ground_truth_scores_near_the_ceiling_and_shifted_events_near_chance(scenes):
    poses, faces, audio, events = scenes
    lengths = np.full(len(poses), FRAMES)
    nods = metrics.nod_scores(poses[:, :FRAMES], lengths, events)
    print({name: round(float(value), 3) for name, value in nods.items()})
    assert nods["speaker_nod_precision"] > 0.9 and nods["speaker_nod_recall"] > 0.9
    assert nods["speaker_nod_f1"] > 0.9 and nods["speaker_nod_f1_chance"] < 0.3
    assert nods["listener_nod_precision"] > 0.8 and nods["listener_nod_recall"] > 0.8
    assert nods["listener_nod_recall_chance"] < 0.3
    speaking = np.stack([chunk.speaking for chunk in events])
    assert metrics.speed_ratio(poses[:, :FRAMES], lengths, speaking) > 1.3  # calm or arm-folding listeners pull it down
    jaw = metrics.jaw_envelope_correlation(faces, audio, lengths)
    assert jaw["jaw_env_r"] > 0.85 and jaw["jaw_env_lag"] == 2  # the puppeteer's JAW_LAG


def test_motion_that_ignores_the_audio_scores_near_chance(scenes):
    poses, faces, audio, events = scenes
    lengths = np.full(len(poses), FRAMES)
    speaking = np.stack([chunk.speaking for chunk in events])
    other_scene, later = np.roll(poses[:, :FRAMES], 1, axis=0), poses[:, TWO_SECONDS:]
    for motion in (other_scene, later):
        nods = metrics.nod_scores(motion, lengths, events)
        print({name: round(float(value), 3) for name, value in nods.items()})
        assert nods["speaker_nod_f1"] < 0.35 and nods["listener_nod_recall"] < 0.5
    assert metrics.speed_ratio(other_scene, lengths, speaking) < 1.3
    assert metrics.jaw_envelope_correlation(np.roll(faces, 1, axis=0), audio, lengths)["jaw_env_r"] < 0.3


def test_speaking_frames_from_audio_match_the_events_speech_runs(scenes):
    _, _, audio, events = scenes
    from_audio = metrics.speaking_frames(audio, np.full(len(audio), FRAMES))
    agreement = (from_audio == np.stack([chunk.speaking for chunk in events])).mean()
    assert agreement > 0.98


def test_chunk_events_are_the_scenes_events_inside_the_chunk(dataset):
    scene = list_scenes(dataset / "SYN001")[0]
    events = read_events(scene)
    chunk = metrics.chunk_events(events, 40, 100)
    np.testing.assert_array_equal(chunk.speaker_nods, [f - 40 for f in events["speaker_nods"] if 40 <= f < 140])
    np.testing.assert_array_equal(chunk.listener_nods, [f - 40 for f in events["listener_nods"] if 40 <= f < 140])
    speaking = np.zeros(events["frames"], bool)
    for start, end in events["person"]["speech"]:
        speaking[start:end] = True
    np.testing.assert_array_equal(chunk.speaking, speaking[40:140])


def test_chunk_results_carry_their_scenes_and_the_evaluation_pairs_them(dataset, tmp_path, capsys):
    person = dataset / "SYN001"
    inputs = chunk_inputs(str(person), "pose", CHUNK, num_samples=100, seed=0)
    samples = len(inputs.audio)
    assert samples == 8 and inputs.starts.dtype == np.int64
    for scene, start, audio in zip(inputs.scenes, inputs.starts, inputs.raw_audio):
        own, _ = read_wav(Path(scene + "_audio.wav"))
        np.testing.assert_allclose(audio, own[start * SAMPLES_PER_FRAME:(start + CHUNK) * SAMPLES_PER_FRAME],
                                   atol=1e-4)
    gt = np.stack([np.load(scene + "_body_pose.npy")[start:start + CHUNK]
                   for scene, start in zip(inputs.scenes, inputs.starts)])
    other_chunks = np.roll(gt, 2, axis=0)  # motion generated for other audio
    results = Results(motions=motion_rows(np.concatenate([gt, other_chunks])), gt=motion_rows(np.tile(gt, (2, 1, 1))),
                      audio=np.tile(inputs.raw_audio, (2, 1, 1)), lengths=np.tile(inputs.lengths, 2),
                      num_samples=samples, num_repetitions=2, data_format="pose",
                      scenes=inputs.scenes, starts=inputs.starts)
    path = save_results(tmp_path / "results.npy", results)
    loaded = load_results(path)
    np.testing.assert_array_equal(loaded.scenes, inputs.scenes)
    np.testing.assert_array_equal(loaded.starts, inputs.starts)

    report = evaluate_main(["--results", str(path)])
    truth, mixed = report["ground_truth"], report["generated"]
    assert report["events"] and "no events" not in capsys.readouterr().out
    assert truth["speaker_nod_f1"] > 0.85
    assert truth["listener_nod_recall"] is None or truth["listener_nod_recall"] >= 0.75  # None: no listener nod
    assert truth["speaker_nod_f1_chance"] < 0.35
    # half of the rows are the ground truth, half other chunks' motion: in between
    assert truth["speaker_nod_f1"] - 0.5 > mixed["speaker_nod_f1"] - 0.25 > truth["speaker_nod_f1_chance"] - 0.1

    for scene in {Path(scene) for scene in inputs.scenes}:
        scene.with_name(scene.name + "_events.json").unlink()
    report = evaluate_main(["--results", str(path)])
    assert not report["events"] and "speaker_nod_f1" not in report["generated"]
    assert report["generated"]["speed_ratio"] > 0 and report["generated"]["beat_align"] > 0
    assert f"no events for {path}; paired metrics that need annotations are skipped" in capsys.readouterr().out
