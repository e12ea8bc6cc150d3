"""Generated face codes checked against the training range and the avatar's plausible ranges."""
import numpy as np
import pytest

from avatar.parameters import FACE_INDEX
from data_loaders.format import FACE_DIM, POSE_DIM
from data_loaders.stats import Normalizer
from sample.face_range import TRAINING_RANGE_Z, face_range_report
from sample.generate import report_face_range
from sample.results import Results, motion_rows


def normalizer(code_std):
    """Stats with face code mean 0 and the given std everywhere."""
    return Normalizer({"pose_mean": np.zeros(POSE_DIM), "pose_std": np.ones(POSE_DIM), "code_mean": np.zeros(FACE_DIM),
                       "code_std": np.full(FACE_DIM, code_std), "audio_mean": np.zeros(2),
                       "audio_std_flat": np.ones(1)})


def test_codes_inside_both_ranges_say_nothing():
    codes = np.random.default_rng(0).uniform(0.0, 0.5, (2, 40, FACE_DIM))
    stats = normalizer(0.25)
    report = face_range_report(codes, np.array([40, 40]), stats)
    assert report.frames == 80 and report.outside_training == report.outside_avatar == 0
    assert report.describe(stats) is None and report.largest_z.amount <= 2.0 and report.furthest_outside.amount == 0


def test_the_largest_excursions_are_named_and_padding_ignored():
    codes = np.zeros((2, 30, FACE_DIM))
    codes[1, 15, FACE_INDEX["smile"]] = 1.4  # out of the training range only: 14 stds, plausible up to 1.5
    codes[0, 3, FACE_INDEX["jaw_open"]] = -0.5  # lips crossed by 1 cm: out of the plausible range only (5 stds)
    codes[0, 4, FACE_INDEX["gaze_yaw"]] = 1.2  # out of the training range only
    codes[1, 25:, :] = 50.0  # padding
    stats = normalizer(0.1)
    report = face_range_report(codes, np.array([30, 25]), stats)
    assert (report.outside_training, report.outside_avatar, report.frames) == (2, 1, 55)
    assert report.largest_z[:4] == (1, 15, FACE_INDEX["smile"], 1.4) and report.largest_z.amount == pytest.approx(14)
    assert report.furthest_outside[:4] == (0, 3, FACE_INDEX["jaw_open"], -0.5)
    assert report.furthest_outside.amount == pytest.approx(0.42) and report.largest_z.amount > TRAINING_RANGE_Z
    line = report.describe(stats)
    assert "3.6 % of frames" in line and "1.8 %" in line and "smile = 1.40 at 0.5 s of row 1" in line
    assert "furthest outside: jaw_open = -0.50 at 0.1 s of row 0 (plausible -0.08..1.5)" in line


def test_generate_reports_in_one_line(capsys):
    codes = np.zeros((1, 10, FACE_DIM))
    codes[0, 4, FACE_INDEX["jaw_open"]] = 5.0
    results = Results(motions=motion_rows(codes), audio=np.zeros((1, 16000, 2), np.float32), lengths=np.array([10]),
                      num_samples=1, num_repetitions=1, data_format="face")
    report_face_range(results, normalizer(0.3))
    printed = capsys.readouterr()
    assert (printed.out + printed.err).count("\n") == 1 and "jaw_open = 5.00" in printed.out + printed.err
