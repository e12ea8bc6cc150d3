"""The metrics give hand-computed values on tiny arrays and react to what they measure."""
import numpy as np
import pytest

from avatar.parameters import FACE_INDEX, POSE_INDEX
from data_loaders.format import FACE_DIM, POSE_DIM, SAMPLE_RATE, SAMPLES_PER_FRAME
from data_loaders.synthetic.audio_features import speech_envelope
from data_loaders.synthetic.speech_events import stressed_syllables
from sample import metrics


def gaussian_set(rng, n, dims, scale=1.0):
    """(n, dims) correlated Gaussian vectors."""
    mixing = rng.normal(size=(dims, dims)) * scale
    return rng.normal(size=(n, dims)) @ mixing


def test_frechet_distance_hand_computed_1d():
    # a = {0, 2}: mean 1, variance 2; b = {1, 3, 5}: mean 3, variance 4 (unbiased, as np.cov)
    fd = metrics.frechet_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0], [5.0]]))
    assert fd == pytest.approx((1 - 3) ** 2 + 2 + 4 - 2 * np.sqrt(2 * 4), abs=1e-12)


def test_frechet_distance_diagonal_covariances():
    # independent dims: FD = |mu1 - mu2|^2 + sum (sd1 - sd2)^2
    a = np.array([[-1.0, -2.0], [1.0, 2.0], [-1.0, 2.0], [1.0, -2.0]])  # variances 4/3 and 16/3, mean 0
    b = 3.0 * a + np.array([1.0, -1.0])  # sd x3, mean (1, -1)
    expected = 2.0 + (np.sqrt(4 / 3) * 2) ** 2 + (np.sqrt(16 / 3) * 2) ** 2
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_self_shift_and_symmetry():
    rng = np.random.default_rng(0)
    a, b = gaussian_set(rng, 400, 6), gaussian_set(rng, 300, 6, scale=2.0) + 1.0
    shift = np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0])
    assert abs(metrics.frechet_distance(a, a)) < 1e-8
    assert metrics.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)
    assert metrics.frechet_distance(a, b) == pytest.approx(metrics.frechet_distance(b, a), rel=1e-6)
    assert metrics.frechet_distance(a, b) > 1.0


def test_frechet_distance_of_degenerate_sets():
    # fewer vectors than dims: singular covariances still give a finite, non-negative distance
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(6, 20))
    assert 0.0 <= metrics.frechet_distance(a, b) < np.inf
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(a[:1], b)


def test_fd_ignores_padding_frames():
    rng = np.random.default_rng(2)
    pred, gt = rng.normal(size=(3, 20, 4)), rng.normal(size=(2, 20, 4))
    lengths_pred, lengths_gt = np.array([20, 12, 15]), np.array([20, 9])
    garbage = pred.copy()
    garbage[1, 12:] = 1e6
    garbage[2, 15:] = -1e6
    assert metrics.fd_g(garbage, lengths_pred, gt, lengths_gt) == pytest.approx(
        metrics.fd_g(pred, lengths_pred, gt, lengths_gt), rel=1e-9)
    assert metrics.fd_k(garbage, lengths_pred, gt, lengths_gt) == pytest.approx(
        metrics.fd_k(pred, lengths_pred, gt, lengths_gt), rel=1e-9)


def test_velocities_stay_within_each_sequence():
    motion = np.array([[[0.0], [1.0], [3.0], [100.0]], [[10.0], [10.5], [50.0], [60.0]]])
    velocities = metrics.valid_velocities(motion, np.array([3, 2]))
    np.testing.assert_array_equal(velocities[:, 0], [1.0, 2.0, 0.5])


def test_fd_k_sees_speed_fd_g_does_not():
    # the same frames in slow and in shuffled order: equal FD_g, very different FD_k
    t = np.linspace(0, 2 * np.pi, 300)
    smooth = np.stack([np.sin(t), np.cos(t)], axis=1)[None]
    shuffled = smooth[:, np.random.default_rng(3).permutation(300)]
    lengths = np.array([300])
    assert abs(metrics.fd_g(shuffled, lengths, smooth, lengths)) < 1e-8
    assert metrics.fd_k(shuffled, lengths, smooth, lengths) > 100 * metrics.fd_k(smooth, lengths, smooth, lengths) + 0.5


def test_div_g_hand_computed_and_few_frames():
    # two frames: exactly one pair, never a frame with itself
    assert metrics.div_g(np.array([[[0.0, 0.0], [3.0, 4.0]]]), np.array([2])) == pytest.approx(5.0)
    # 7 valid frames (far fewer than 10 000): 3 disjoint pairs, each at distance 1 or 0
    motion = np.array([[[0.0], [1.0], [0.0], [1.0], [0.0], [1.0], [0.0], [9.0]]])
    value = metrics.div_g(motion, np.array([7]), seed=4)
    assert value in (0.0, 1 / 3, 2 / 3, 1.0)
    assert metrics.div_g(motion, np.array([7]), seed=4) == value
    with pytest.raises(ValueError, match="at least 2"):
        metrics.div_g(motion, np.array([1]))


def test_div_g_grows_with_spread():
    rng = np.random.default_rng(5)
    motion = rng.normal(size=(4, 50, 3))
    lengths = np.full(4, 50)
    assert metrics.div_g(3.0 * motion, lengths) == pytest.approx(3.0 * metrics.div_g(motion, lengths))
    assert metrics.div_g(np.ones((4, 50, 3)), lengths) == 0.0


def test_div_k_hand_computed():
    motion = np.array([[[0.0], [2.0], [100.0]], [[1.0], [1.0], [1.0]]])
    # sequence 0: frames {0, 2} (padding ignored): variance 1; sequence 1: constant: 0
    assert metrics.div_k(motion, np.array([2, 3])) == pytest.approx(0.5)
    assert metrics.div_k(np.full((3, 10, 4), 7.0), np.full(3, 10)) == 0.0


def test_div_sample_zero_for_identical_repetitions_positive_otherwise():
    rng = np.random.default_rng(6)
    one = rng.normal(size=(1, 2, 8, 3))
    lengths = np.array([8, 5])
    assert metrics.div_sample(np.repeat(one, 3, axis=0), lengths) == pytest.approx(0.0, abs=1e-20)
    # two repetitions at 0 and 2: variance 1 everywhere
    pair = np.stack([np.zeros((2, 8, 3)), np.full((2, 8, 3), 2.0)])
    assert metrics.div_sample(pair, lengths) == pytest.approx(1.0)
    noisy = np.concatenate([one, one + 0.1 * rng.normal(size=one.shape)])
    assert metrics.div_sample(noisy, lengths) > 0.0
    with pytest.raises(ValueError, match="2 repetitions"):
        metrics.div_sample(one, lengths)


def face_codes(frames, jaw_open):
    """(1, frames, 256) neutral face codes with the given jaw opening."""
    codes = np.zeros((1, frames, FACE_DIM))
    codes[..., FACE_INDEX["jaw_open"]] = jaw_open
    return codes


def test_lip_errors_zero_for_identical_codes():
    codes = face_codes(6, 0.4) + np.random.default_rng(7).normal(scale=0.05, size=(1, 6, FACE_DIM))
    errors = metrics.lip_errors(codes, codes, np.array([6]))
    assert set(errors) == {"lip_vertical", "lip_horizontal", "lip_mesh_l2", "lip_lve"}
    assert all(value == pytest.approx(0.0, abs=1e-12) for value in errors.values())


def test_lip_errors_grow_with_jaw_open_difference():
    gt = face_codes(4, 0.1)
    small = metrics.lip_errors(face_codes(4, 0.3), gt, np.array([4]))
    large = metrics.lip_errors(face_codes(4, 0.8), gt, np.array([4]))
    assert 0.0 < small["lip_vertical"] < large["lip_vertical"]
    assert 0.0 < small["lip_mesh_l2"] < large["lip_mesh_l2"]
    assert small["lip_mesh_l2"] <= small["lip_lve"] < large["lip_lve"]
    assert large["lip_vertical"] > large["lip_horizontal"]  # opening the jaw is a vertical movement


def test_lip_errors_see_crossed_lips():
    # the lips crossed by jaw_open -1 are 2 cm further from an open mouth than closed lips, not nearer
    gt = face_codes(3, 1.0)
    closed = metrics.lip_errors(face_codes(3, 0.0), gt, np.array([3]))["lip_vertical"]
    crossed = metrics.lip_errors(face_codes(3, -1.0), gt, np.array([3]))["lip_vertical"]
    assert closed == pytest.approx(2.05, abs=0.05) and crossed == pytest.approx(2 * closed, rel=1e-6)


def test_lip_errors_ignore_padding():
    gt = face_codes(5, 0.2)
    pred = face_codes(5, 0.2)
    pred[0, 3:] = face_codes(2, 1.0)
    assert metrics.lip_errors(pred, gt, np.array([3]))["lip_lve"] == pytest.approx(0.0, abs=1e-12)
    assert metrics.lip_errors(pred, gt, np.array([5]))["lip_lve"] > 0.0


def test_lip_sync_finds_the_mouths_lag():
    envelope = np.abs(np.random.default_rng(4).normal(size=300))  # independent from frame to frame
    late = np.concatenate([np.zeros(2), envelope[:-2]])  # the mouth 2 frames after the sound
    r, lag = metrics.lip_sync([late], [envelope])
    assert lag == 2 and r > 0.99
    assert metrics.lip_sync([-late], [envelope])[0] < 0.2  # a mouth closing on speech: no lag gives more than chance
    early = np.concatenate([envelope[3:], np.zeros(3)])  # ahead of the sound: no lag in 0..4 fits
    assert abs(metrics.lip_sync([early], [envelope])[0]) < 0.2
    assert np.isnan(metrics.lip_sync([np.ones(300)], [envelope])[0])
    halves = metrics.lip_sync([late[:150], late[150:]], [envelope[:150], envelope[150:]])  # pooled sequences
    assert halves[1] == 2 and halves[0] > 0.98


def test_beat_alignment_terms_hand_computed():
    terms = metrics.beat_alignment_terms(np.array([10, 13, 30]), np.array([10, 20]), sigma=3.0)
    np.testing.assert_allclose(terms, [1.0, np.exp(-9 / 18), np.exp(-100 / 18)])


def syllable_audio(frames):
    """(frames*1600, 2) float32: a voiced syllable every 8 frames on channel 0, every third one louder (the
    stressed ones); the partner is silent."""
    t = np.arange(frames * SAMPLES_PER_FRAME) / SAMPLE_RATE
    centers = np.arange(15, frames - 15, 8)
    levels = np.where(np.arange(len(centers)) % 3 == 0, 0.4, 0.08)
    envelope = (levels[:, None] * np.exp(-0.5 * ((t * 30 - centers[:, None] - 0.5) / 1.2) ** 2)).sum(axis=0)
    wave = envelope * np.sin(2 * np.pi * 220 * t) + 1e-4 * np.random.default_rng(8).standard_normal(len(t))
    return np.stack([wave, np.zeros_like(wave)], axis=1).astype(np.float32)


def poses_pausing_at(beats, frames):
    """(frames, 104) a head nodding at a speed proportional to the distance to the nearest beat."""
    speed = np.abs(np.arange(frames)[:, None] - beats[None, :]).min(axis=1)
    poses = np.zeros((frames, POSE_DIM))
    poses[:, POSE_INDEX["head_rx"]] = 0.01 * np.cumsum(speed)
    return poses


def test_beat_alignment_high_when_motion_pauses_on_onsets():
    frames = 300
    audio = syllable_audio(frames)
    onsets = stressed_syllables(audio[:, 0])
    assert len(onsets) >= 8
    poses = poses_pausing_at(onsets, frames)
    lengths = np.array([frames])
    aligned = metrics.beat_alignment(poses[None], audio[None], lengths)
    shifted = [metrics.beat_alignment(np.roll(poses, shift, axis=0)[None], audio[None], lengths)
               for shift in (4, 8)]
    assert aligned > 0.9
    assert aligned > shifted[0] > shifted[1]
    assert shifted[1] < 0.2


def test_beat_alignment_nan_without_beats():
    frames = 120
    still = np.zeros((1, frames, POSE_DIM))
    assert np.isnan(metrics.beat_alignment(still, syllable_audio(frames)[None], np.array([frames])))
    silent = np.zeros((1, frames * SAMPLES_PER_FRAME, 2), dtype=np.float32)
    moving = poses_pausing_at(np.array([30, 60, 90]), frames)[None]
    assert np.isnan(metrics.beat_alignment(moving, silent, np.array([frames])))


def test_hits_count_frames_with_a_target_in_their_window():
    frames, targets = np.array([10, 20, 31]), np.array([12, 30])
    assert metrics.hits(frames, targets, -2, 2) == 2  # 10 (12 - 2) and 31 (30 + 1); 20 has none
    assert metrics.hits(frames, targets, 0, 5) == 1  # only 31 follows a target by 0..5
    assert metrics.hits(frames, np.zeros(0, np.int64), -2, 2) == 0
    assert metrics.hits(np.zeros(0, np.int64), targets, -2, 2) == 0


def nodding_poses(frames, nod_frames, amplitude=0.08, width=12):
    """(frames, 104) poses whose head pitch rises by `amplitude` rad in a raised-cosine step of `width` frames
    for each nod, the downward velocity peaking at the nod frame (split over head and neck like a nod)."""
    t = np.arange(frames)[:, None]
    phase = np.clip((t - np.asarray(nod_frames)[None, :]) / width + 0.5, 0.0, 1.0)
    pitch = (amplitude * (0.5 - 0.5 * np.cos(np.pi * phase))).sum(axis=1)
    poses = np.zeros((frames, POSE_DIM))
    for name, share in (("head_rx", 0.6), ("neck2_rx", 0.25), ("neck1_rx", 0.15)):
        poses[:, POSE_INDEX[name]] = share * pitch
    return poses


def test_detect_nods_finds_the_velocity_peaks_of_downward_pitch_only():
    poses = nodding_poses(200, [30, 80, 150])
    np.testing.assert_array_equal(metrics.detect_nods(poses), [30, 80, 150])
    np.testing.assert_array_equal(metrics.detect_nods(-poses), [])  # looking up is no nod
    assert len(metrics.detect_nods(nodding_poses(200, [30, 80], amplitude=0.01))) == 0  # too slow


def test_nod_scores_hand_computed():
    frames = 200
    speaking = np.zeros(frames, bool)
    speaking[20:100] = True
    events = metrics.ChunkEvents(speaking, speaker_nods=np.array([30, 57, 90]), listener_nods=np.array([148]))
    # speaker's nods at 31 (hits 30) and 75 (hits nothing); the listener's nod at 150 is the annotated one at 148
    poses = nodding_poses(frames, [31, 75, 150])
    counts = metrics.nod_counts(metrics.detect_nods(poses), events)
    np.testing.assert_array_equal(counts, [1, 2, 1, 3, 1, 1, 1, 1])
    scores = metrics.nod_scores(poses[None], np.array([frames]), [events])
    assert scores["speaker_nod_precision"] == pytest.approx(0.5)
    assert scores["speaker_nod_recall"] == pytest.approx(1 / 3)
    assert scores["speaker_nod_f1"] == pytest.approx(2 * 0.5 / 3 / (0.5 + 1 / 3))
    assert scores["listener_nod_precision"] == 1.0 and scores["listener_nod_recall"] == 1.0
    perfect = metrics.nod_scores(nodding_poses(frames, [30, 57, 90, 146])[None], np.array([frames]), [events])
    assert perfect["speaker_nod_f1"] == 1.0 and perfect["listener_nod_recall"] == 1.0
    # moved by 40, 80, 120, 160 frames no nod lands on a speaker nod; 30 + 120 lands on the listener's at 148
    assert perfect["speaker_nod_f1_chance"] == 0.0 and perfect["listener_nod_recall_chance"] == 0.25
    with pytest.raises(ValueError, match="150 valid frames but events of 200"):
        metrics.nod_scores(poses[None], np.array([150]), [events])


def test_speed_ratio_compares_wrist_speed_speaking_and_listening():
    frames = 120
    poses = np.zeros((1, frames, POSE_DIM))
    poses[0, :60, POSE_INDEX["l_shoulder_rx"]] = np.sin(np.arange(60) / 3.0)  # the arm swings, then rests
    speaking = np.zeros((1, frames), bool)
    speaking[0, :60] = True
    assert metrics.speed_ratio(poses, np.array([frames]), speaking) > 10
    assert metrics.speed_ratio(poses, np.array([frames]), ~speaking) < 0.1
    assert np.isnan(metrics.speed_ratio(poses, np.array([frames]), np.ones((1, frames), bool)))


def test_jaw_envelope_correlation_finds_the_lag_of_a_mouth_that_follows_the_voice():
    frames = 300
    audio = syllable_audio(frames)
    envelope = speech_envelope(audio[:, 0])
    codes = face_codes(frames, 0.0)
    codes[0, 3:, FACE_INDEX["jaw_open"]] = envelope[:-3] / envelope.max()  # the mouth 3 frames behind
    jaw = metrics.jaw_envelope_correlation(codes, audio[None], np.array([frames]))
    assert jaw["jaw_env_lag"] == 3 and jaw["jaw_env_r"] > 0.95
    still = metrics.jaw_envelope_correlation(face_codes(frames, 0.2), audio[None], np.array([frames]))
    assert np.isnan(still["jaw_env_r"])
