"""sample.evaluate reads results.npy in our layout and the original's, scores it, and names bad files."""
import json
import re

import numpy as np
import pytest

from data_loaders.format import FACE_DIM, POSE_DIM
from sample.evaluate import ResultsError, evaluate, ground_truth_metrics, load_results, main, unpack
from tests.test_metrics import syllable_audio
from utils.cli import run_cli
from visualize import render_results

FACE_PAIRED = {"jaw_env_r", "jaw_env_lag"}  # the metrics that pair motion with its audio (and events)
BODY_PAIRED = {"beat_align", "speed_ratio"}
FACE_KEYS = {"fd_g", "fd_k", "div_g", "div_k", "div_sample", "lip_vertical", "lip_horizontal", "lip_mesh_l2",
             "lip_lve"} | FACE_PAIRED
BODY_KEYS = {"fd_g", "fd_k", "div_g", "div_k", "div_sample"} | BODY_PAIRED


def smooth(rng, shape, width=5):
    """Random motion (..., T, C) smoothed along time by a moving average of `width` frames."""
    noise = rng.normal(size=shape[:-2] + (shape[-2] + width - 1, shape[-1]))
    windows = np.lib.stride_tricks.sliding_window_view(noise, width, axis=-2)
    return windows.mean(axis=-1)


def make_results(channels, samples=3, repetitions=2, frames=60, seed=0):
    """A results dict in the layout sample.generate writes (generated motion = ground truth + noise; the
    audio has stressed syllables)."""
    rng = np.random.default_rng(seed)
    n = samples * repetitions
    gt = np.tile(smooth(rng, (samples, frames, channels)), (repetitions, 1, 1))
    motion = gt + 0.3 * smooth(rng, gt.shape)
    audio = np.tile(syllable_audio(frames), (n, 1, 1))
    return {"motions": motion.transpose(0, 2, 1)[:, :, None], "gt": gt.transpose(0, 2, 1)[:, :, None],
            "audio": audio.astype(np.float32), "lengths": np.full(n, frames, dtype=np.int64),
            "num_samples": samples, "num_repetitions": repetitions}


def save(path, results):
    np.save(path, results, allow_pickle=True)
    return str(path)


@pytest.mark.parametrize("channels, keys, paired", [(FACE_DIM, FACE_KEYS, FACE_PAIRED),
                                                    (POSE_DIM, BODY_KEYS, BODY_PAIRED)])
def test_cli_writes_json_with_expected_keys(tmp_path, capsys, channels, keys, paired):
    path = save(tmp_path / "results.npy", make_results(channels))
    main(["--results", path, "--out", str(tmp_path / "scores.json")])
    report = json.loads((tmp_path / "scores.json").read_text())
    assert report["kind"] == ("face" if channels == FACE_DIM else "body")
    assert (report["num_samples"], report["num_repetitions"], report["frames"]) == (3, 2, 60)
    assert set(report["generated"]) == keys
    assert set(report["ground_truth"]) == {"div_g", "div_k"} | paired
    for name in keys - paired:
        assert report["generated"][name] > 0.0
    if "beat_align" in keys:
        assert 0.0 < report["generated"]["beat_align"] <= 1.0 and 0.0 < report["ground_truth"]["beat_align"] <= 1.0
        assert report["generated"]["speed_ratio"] > 0.0 and report["ground_truth"]["speed_ratio"] > 0.0
    else:
        assert -1.0 <= report["generated"]["jaw_env_r"] <= 1.0 and report["generated"]["jaw_env_lag"] in range(5)
    printed = capsys.readouterr().out
    assert "fd_g" in printed
    assert report["events"] is False and ("no events for" in printed) == (channels == POSE_DIM)


def test_default_output_beside_results(tmp_path):
    path = save(tmp_path / "results.npy", make_results(POSE_DIM, repetitions=1))
    report = main(["--results", path])
    assert report["generated"]["div_sample"] is None  # one repetition: no sample diversity
    assert json.loads((tmp_path / "results_metrics.json").read_text()) == report


def test_perfect_generation_scores_zero_errors():
    results = make_results(FACE_DIM)
    results["motions"] = results["gt"].copy()
    scores = evaluate(results)
    assert abs(scores["fd_g"]) < 1e-4 and abs(scores["fd_k"]) < 1e-4  # of a trace near 50
    assert scores["lip_lve"] == pytest.approx(0.0, abs=1e-9) and scores["div_sample"] == 0.0
    assert scores["div_g"] == pytest.approx(ground_truth_metrics(results)["div_g"], rel=0.2)
    assert scores["div_k"] == pytest.approx(ground_truth_metrics(results)["div_k"], rel=1e-9)


def test_reads_the_original_layout(capsys):
    # the original's eval reads "motion"; it writes neither lengths nor sample counts, and GT repeats per rep,
    # nor where the chunks came from: the paired metrics that need events are skipped with a notice
    results = make_results(POSE_DIM, samples=2, repetitions=3, frames=30)
    original = {"motion": results["motions"], "gt": results["gt"], "audio": results["audio"]}
    seqs = unpack(original, source="original.npy")
    assert seqs.events is None and seqs.speaking.shape == (2, 30)
    assert capsys.readouterr().out == ("[evaluate] no events for original.npy; paired metrics that need "
                                       "annotations are skipped\n")
    assert seqs.motion.shape == (3, 2, 30, POSE_DIM) and seqs.gt.shape == (2, 30, POSE_DIM)
    np.testing.assert_array_equal(seqs.lengths, [30, 30])
    assert evaluate(original)["fd_g"] == pytest.approx(evaluate(results)["fd_g"])


def test_any_length_and_padding():
    results = make_results(POSE_DIM, samples=2, repetitions=2, frames=50)
    results["lengths"] = np.array([50, 35, 50, 35])
    padded = {**results, "motions": results["motions"].copy()}
    padded["motions"][1, :, :, 35:] = 1e3
    padded["motions"][3, :, :, 35:] = -1e3
    scores = evaluate(padded)
    assert scores == pytest.approx(evaluate(results))
    assert 0.0 < scores["beat_align"] <= 1.0


def test_gt_results_supplies_the_ground_truth(tmp_path):
    results = make_results(POSE_DIM)
    reference = save(tmp_path / "reference.npy", {"gt": results.pop("gt")})
    path = save(tmp_path / "generated.npy", results)
    with pytest.raises(ResultsError, match="generated.npy.*'gt'"):
        main(["--results", path])
    report = main(["--results", path, "--gt_results", reference])
    assert set(report["generated"]) == BODY_KEYS


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npy"):
        load_results(tmp_path / "nowhere.npy")


def test_not_a_results_dict_is_named(tmp_path):
    array_file = tmp_path / "array.npy"
    np.save(array_file, np.zeros((2, 3)))
    with pytest.raises(ResultsError, match="array.npy"):
        load_results(array_file)
    text_file = tmp_path / "text.npy"
    text_file.write_text("not numpy")
    with pytest.raises(ResultsError, match="text.npy"):
        load_results(text_file)


def test_bad_layouts_are_named(tmp_path):
    good = make_results(POSE_DIM)
    wrong_shape = {**good, "motions": good["motions"][:, :, 0]}
    with pytest.raises(ResultsError, match=r"wrong.npy: 'motions' has shape \(6, 104, 60\)"):
        main(["--results", save(tmp_path / "wrong.npy", wrong_shape)])
    cases = [
        ({"gt": good["gt"], "audio": good["audio"]}, "missing key 'motions'"),
        ({**good, "gt": good["gt"][..., :50]}, "'gt' has shape"),
        ({k: v for k, v in good.items() if k != "audio"}, "missing key 'audio'"),
        ({**good, "num_samples": 4}, "not a whole number"),
        ({**good, "num_repetitions": 3}, r"num_repetitions 3 != 6"),
        ({**good, "lengths": np.full(6, 61)}, "'lengths' must hold 6 values"),
        ({**good, "audio": good["audio"][:, :1000]}, "'audio' has shape"),
    ]
    for results, message in cases:
        with pytest.raises(ResultsError, match=message):
            unpack(results, source="bad.npy")


def test_other_dimensions_get_fd_and_div_only():
    results = make_results(12)
    assert unpack(results).kind == "motion"
    assert set(evaluate(results)) == {"fd_g", "fd_k", "div_g", "div_k", "div_sample"}


def object_array(like: np.ndarray) -> np.ndarray:
    crafted = np.empty(like.shape, object)
    crafted[...] = 1.0
    return crafted


CRAFTED_FIELDS = {"fps_0": ({"fps": 0}, r"'fps' is 0; expected a frame rate of 1 to 240"),
                  "audio_none": ({"audio": None}, r"missing"),
                  "object_motions": ({"motions": object_array(np.zeros((1, POSE_DIM, 1, 30)))},
                                     r"'motions' holds object values, not numbers"),
                  "object_lengths": ({"lengths": np.array([None])}, r"'lengths' holds object values"),
                  "text_count": ({"num_samples": "one"}, r"'num_samples' is 'one'; expected a whole number")}


@pytest.mark.parametrize("crafted, message", CRAFTED_FIELDS.values(), ids=CRAFTED_FIELDS.keys())
def test_crafted_fields_are_one_line_in_evaluate_and_render_results(tmp_path, capsys, monkeypatch, crafted, message):
    """Harmless but crafted results.npy fields used to crash both (ZeroDivisionError, TypeError)."""
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    path = save(tmp_path / "crafted.npy", {**make_results(POSE_DIM, samples=1, repetitions=1, frames=30), **crafted})
    commands = [(render_results.main, ["--pose_codes", path, "--out_dir", str(tmp_path / "videos")])]
    if "fps" not in crafted:  # evaluate does not use the frame rate
        commands.append((main, ["--results", path]))
    for command, argv in commands:
        with pytest.raises(SystemExit) as stopped:
            run_cli(command, argv)
        error = capsys.readouterr().err
        assert stopped.value.code == 2, error
        assert re.fullmatch(rf"\S+: error: {re.escape(path)}: .*{message}.*\n", error), error
