"""The synthetic data set: format, determinism, and the audio-motion relationships measured from the files."""
import filecmp
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import find_peaks

from avatar.parameters import FACE_INDEX, POSE_INDEX, POSE_PARAMETERS
from data_loaders.format import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, list_scenes, read_events, read_wav
from data_loaders.stats import load_stats
from data_loaders.synthetic import (JAW_LAG, LISTENER_NOD_LAG, SPEAKER_NOD_LAG, SyntheticConfig, formant_proxies,
                                    generate_dataset, listener_pauses, perform, person_style, speech_envelope,
                                    speech_events, speech_pauses, stressed_syllables, syllable_nuclei,
                                    voice_activity)
from data_loaders.synthetic import generate, speech
from data_loaders.synthetic.__main__ import main as synthetic_main
from data_loaders.synthetic.gestures import arm_indices
from data_loaders.synthetic.persons import SceneStyle, scene_voice
from data_loaders.validate import validate_folder
from test_train_loop import FillingDisk
from utils.cli import run_cli

PERSONS = ("SYN001", "SYN002")
NOD_VELOCITY = 0.004  # rad/frame: a head pitch velocity peak above this counts as a nod
SHIFTS = (-17, -11, 11, 17)  # frames: event times moved off their place give the chance level
ARMS = np.concatenate([arm_indices("l"), arm_indices("r")])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "dataset"
    generate_dataset(SyntheticConfig(preset="tiny", out=str(out), seed=3, workers=2, progress=False))
    return out


def scenes_of(dataset: Path, person: str):
    """(audio (N, 2), pose (T, 104), face (T, 256), missing (M,)) of every scene of a person, read from disk."""
    for scene in list_scenes(dataset / person):
        audio, _ = read_wav(scene.audio)
        yield audio, np.load(scene.pose), np.load(scene.face), np.load(scene.missing)


def events_of(dataset: Path):
    """(audio (N, 2), pose (T, 104), events dict) of every scene of both persons."""
    for person in PERSONS:
        for scene in list_scenes(dataset / person):
            yield read_wav(scene.audio)[0], np.load(scene.pose), read_events(scene)


def style(energy: float, attitude: str) -> SceneStyle:
    return SceneStyle(energy, attitude, "en", scene_voice(np.random.default_rng(0), "en", energy), 1.0)


def all_scenes(dataset: Path):
    for person in PERSONS:
        yield from scenes_of(dataset, person)


def test_folders_pass_the_format_checks(dataset):
    assert sorted(p.name for p in dataset.iterdir()) == list(PERSONS)
    for person in PERSONS:
        assert validate_folder(dataset / person) == []
        assert len(list_scenes(dataset / person)) == 8
        assert load_stats(dataset / person)["pose_mean"].shape == (104,)
        for scene in list_scenes(dataset / person):
            info = sf.info(str(scene.audio))
            pose, face, missing = np.load(scene.pose), np.load(scene.face), np.load(scene.missing)
            assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 2, "PCM_16")
            assert info.frames == SAMPLES_PER_FRAME * len(pose)
            assert 6 * FPS <= len(pose) <= 8 * FPS
            assert pose.shape == (len(pose), 104) and face.shape == (len(pose), 256)
            assert pose.dtype == face.dtype == np.float32 and np.isfinite(pose).all() and np.isfinite(face).all()
            assert missing.dtype == np.int64 and len(missing) > 0
            assert missing.min() >= 0 and missing.max() < len(pose)
            assert (face[missing] == 0).all() and np.abs(np.delete(face, missing, axis=0)).sum(axis=1).min() > 0


def test_a_pair_holds_the_same_scenes_from_both_sides(dataset):
    for (audio_a, pose_a, _, _), (audio_b, pose_b, _, _) in zip(scenes_of(dataset, "SYN001"),
                                                                scenes_of(dataset, "SYN002")):
        assert np.array_equal(audio_a, audio_b[:, ::-1])
        assert pose_a.shape == pose_b.shape and not np.allclose(pose_a, pose_b)


def test_pose_stays_in_limits_and_moves_smoothly(dataset):
    lower = np.array([p.lower for p in POSE_PARAMETERS])
    upper = np.array([p.upper for p in POSE_PARAMETERS])
    poses = [pose for _, pose, _, _ in all_scenes(dataset)]
    for pose in poses:
        assert ((pose >= lower) & (pose <= upper)).all()
        step = np.abs(np.diff(pose, axis=0)).max(axis=0)
        assert step[:3].max() < 1.0  # cm per frame
        assert step[3:].max() < 0.25  # rad per frame (14 deg: fast finger moves, no jumps)
    assert np.concatenate(poses).std(axis=0).min() > 1e-3  # every parameter moves


def test_jaw_follows_own_speech_envelope_with_the_documented_lag(dataset):
    jaw, own, partner = [], [], []
    for audio, _, face, missing in all_scenes(dataset):
        valid = np.ones(len(face), bool)
        valid[missing] = False
        jaw.append(np.where(valid, face[:, FACE_INDEX["jaw_open"]], np.nan))
        own.append(speech_envelope(audio[:, 0]))
        partner.append(speech_envelope(audio[:, 1]))

    def correlation(envelopes, lag):
        pairs = np.concatenate([np.stack([j[lag:], e[:len(e) - lag]], 1) for j, e in zip(jaw, envelopes)])
        pairs = pairs[np.isfinite(pairs[:, 0])]
        return np.corrcoef(pairs.T)[0, 1]

    by_lag = [correlation(own, lag) for lag in range(7)]
    print(f"jaw vs own envelope by lag 0..6: {np.round(by_lag, 3)}; vs partner: {correlation(partner, JAW_LAG):.3f}")
    assert int(np.argmax(by_lag)) == JAW_LAG
    assert by_lag[JAW_LAG] > 0.9
    assert correlation(partner, JAW_LAG) < 0.2


def test_lip_shape_depends_on_the_vowel(dataset):
    spread, rounded, f1, f2 = [], [], [], []
    for audio, _, face, _ in all_scenes(dataset):
        loud = speech_events(audio[:, 0]).loudness[:len(face) - JAW_LAG] > -30.0
        formants = formant_proxies(audio[:, 0])[:len(face) - JAW_LAG][loud]
        f1.append(formants[:, 0])
        f2.append(formants[:, 1])
        spread.append(face[JAW_LAG:, FACE_INDEX["lip_spread"]][loud])
        rounded.append(face[JAW_LAG:, FACE_INDEX["lip_round"]][loud])
    f1, f2, spread, rounded = map(np.concatenate, (f1, f2, spread, rounded))
    front, back = f2 > 2400, (f2 < 1700) & (f1 < 550)  # i/e-like vs o/u-like frames
    print(f"lip_spread front/back {spread[front].mean():.2f}/{spread[back].mean():.2f}, "
          f"lip_round front/back {rounded[front].mean():.2f}/{rounded[back].mean():.2f} "
          f"({front.sum()}/{back.sum()} frames)")
    assert front.sum() > 20 and back.sum() > 20
    assert spread[front].mean() > spread[back].mean() + 0.3
    assert rounded[back].mean() > rounded[front].mean() + 0.3


def nod_hit_rates(dataset, cues, lag: int) -> tuple[float, float, int]:
    """(share of the cues (audio, events) -> frames followed by a head pitch velocity peak at cue + lag (+-2
    frames), the same share for cues shifted by SHIFTS, number of cues), over all scenes of both persons."""
    hits, chance = [], []
    for audio, pose, events in events_of(dataset):
        velocity = np.diff(pose[:, POSE_INDEX["head_rx"]])
        peaks = find_peaks(velocity, height=NOD_VELOCITY)[0] + 0.5  # velocity between frames t and t + 1
        frames = len(pose)

        def hit(frame):
            return bool(np.any(np.abs(peaks - frame) <= 2))

        for event in cues(audio, events):
            if event + lag + 3 < frames:
                hits.append(hit(event + lag))
                chance += [hit(event + shift + lag) for shift in SHIFTS if 3 <= event + shift + lag < frames - 3]
    return float(np.mean(hits)), float(np.mean(chance)), len(hits)


def test_head_nods_land_on_stressed_syllables(dataset):
    hit, chance, count = nod_hit_rates(dataset, lambda audio, events: stressed_syllables(audio[:, 0]),
                                       SPEAKER_NOD_LAG)
    print(f"speaker nods: {hit:.2f} of {count} stressed syllables vs {chance:.2f} shifted")
    assert count >= 30 and hit > 0.8 and hit > 3 * chance


def test_events_file_lists_what_the_puppeteer_heard_and_did(dataset):
    for audio, _, events in events_of(dataset):
        assert events["person"]["stressed"] == stressed_syllables(audio[:, 0]).tolist()
        assert events["listening_pauses"] == listener_pauses(audio).tolist()
        nodded = {frame - LISTENER_NOD_LAG for frame in events["listener_nods"]}
        assert nodded <= set(events["listening_pauses"])
        assert {"energy", "attitude", "language", "voice"} <= set(events["style"])
    hit, chance, count = nod_hit_rates(dataset, lambda audio, events: np.array(events["listener_nods"]) -
                                       LISTENER_NOD_LAG, LISTENER_NOD_LAG)
    print(f"listener nods: {hit:.2f} of {count} annotated listener nods vs {chance:.2f} shifted")
    assert hit > 0.8 and hit > 3 * chance


def test_listener_attitude_sets_nods_and_folded_arms(dataset):
    """The same scenes performed by an engaged and a reserved listener: the engaged one nods at more of the
    partner's pauses, and the reserved one holds the elbows bent (arms folded) while listening."""
    nods, elbows = {"engaged": 0, "reserved": 0}, {"engaged": [], "reserved": []}
    for audio, _, _, _ in scenes_of(dataset, "SYN001"):
        listening = ~voice_activity(audio[:, 0])
        for attitude in nods:
            for seed in range(8):
                performance = perform(audio, person_style(0, seed=3), style(0.5, attitude),
                                      np.random.default_rng(seed))
                nods[attitude] += len(performance.events["listener_nods"])
            elbows[attitude].append(performance.pose[listening][:, POSE_INDEX["l_elbow_rx"]])
    print(f"listener nods {nods}")
    assert nods["engaged"] > nods["reserved"]
    assert np.concatenate(elbows["reserved"]).mean() > np.concatenate(elbows["engaged"]).mean() + 0.5


def test_speaking_energy_is_heard_in_the_voice():
    rng = np.random.default_rng(0)
    calm = [scene_voice(rng, "en", 0.0) for _ in range(200)]
    lively = [scene_voice(rng, "en", 1.0) for _ in range(200)]
    assert np.mean([v.speed for v in lively]) > 1.3 * np.mean([v.speed for v in calm])
    assert np.mean([v.pitch for v in lively]) > np.mean([v.pitch for v in calm]) + 10
    ranges = ("x-low", "low", "medium", "high", "x-high")
    spans = [np.mean([ranges.index(v.pitch_range) for v in voices]) for voices in (calm, lively)]
    assert spans[1] > spans[0] + 2


def test_same_audio_with_another_seed_changes_gestures_not_lips(dataset):
    person = person_style(0, seed=3)
    arm_change, arm_spread = [], []
    for audio, _, _, _ in scenes_of(dataset, "SYN001"):
        first, second = (perform(audio, person, style(1.0, "engaged"), np.random.default_rng(seed))
                         for seed in (10, 11))
        jaw = first.face[:, FACE_INDEX["jaw_open"]], second.face[:, FACE_INDEX["jaw_open"]]
        if jaw[0].std() > 0:  # the person speaks in this scene
            assert np.corrcoef(jaw)[0, 1] > 0.99
            arm_change.append(np.abs(first.pose[:, ARMS] - second.pose[:, ARMS]).mean())
            arm_spread.append(first.pose[:, ARMS].std(axis=0).mean())
            assert ([(g.gesture.name, g.sides, g.amplitude) for g in first.gestures]
                    != [(g.gesture.name, g.sides, g.amplitude) for g in second.gestures])
    print(f"arm change between seeds {np.mean(arm_change):.3f} rad vs arm std {np.mean(arm_spread):.3f} rad")
    assert arm_change and np.mean(arm_change) > 0.5 * np.mean(arm_spread)


def test_moves_more_while_speaking_than_while_listening(dataset):
    speaking, listening = [], []
    for audio, pose, _, _ in all_scenes(dataset):
        active = voice_activity(audio[:, 0])[1:]
        speed = np.abs(np.diff(pose[:, ARMS], axis=0)).sum(axis=1)
        speaking.append(speed[active])
        listening.append(speed[~active])
    ratio = np.concatenate(speaking).mean() / np.concatenate(listening).mean()
    print(f"arm speed speaking / listening = {ratio:.2f}")
    assert ratio > 1.5


def test_same_seed_gives_identical_bytes_with_or_without_a_pool(dataset, tmp_path):
    again = tmp_path / "again"
    generate_dataset(SyntheticConfig(preset="tiny", out=str(again), seed=3, workers=1, progress=False))
    files = sorted(f.relative_to(dataset) for f in dataset.rglob("*") if f.is_file())
    assert files == sorted(f.relative_to(again) for f in again.rglob("*") if f.is_file())
    assert all(filecmp.cmp(dataset / f, again / f, shallow=False) for f in files)


def test_another_seed_gives_another_scene(dataset, tmp_path):
    folders = (tmp_path / "a", tmp_path / "b")
    styles = (person_style(0, seed=4), person_style(1, seed=4))
    generate.make_scene(generate.SceneTask(4, 0, 0, "scene01", (6.0, 8.0), styles, folders))
    scene = list_scenes(folders[0])[0]
    original = list_scenes(dataset / "SYN001")[0]
    assert not np.array_equal(read_wav(scene.audio)[0][:SAMPLE_RATE], read_wav(original.audio)[0][:SAMPLE_RATE])


def test_existing_output_is_not_overwritten_without_the_flag(dataset):
    with pytest.raises(FileExistsError, match="SYN001.*--overwrite"):
        generate_dataset(SyntheticConfig(preset="tiny", out=str(dataset), seed=3, progress=False))


def test_missing_espeak_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(speech.EspeakMissingError, match="apt-get install espeak-ng"):
        generate_dataset(SyntheticConfig(preset="tiny", out=str(tmp_path / "out"), progress=False))
    assert not (tmp_path / "out").exists()


def test_detectors_find_known_syllables_stresses_and_pauses():
    """Bursts of band-limited noise every 8 frames (every third one 8 dB louder), then a 1 s pause."""
    rng = np.random.default_rng(0)
    frames = 120
    channel = 1e-3 * rng.standard_normal(frames * SAMPLES_PER_FRAME)
    centres = np.arange(4, 68, 8)
    for k, centre in enumerate(centres):
        start = centre * SAMPLES_PER_FRAME
        burst = np.hanning(3 * SAMPLES_PER_FRAME) * rng.standard_normal(3 * SAMPLES_PER_FRAME)
        channel[start - SAMPLES_PER_FRAME:start + 2 * SAMPLES_PER_FRAME] += (0.25 if k % 3 == 1 else 0.1) * burst
    nuclei = syllable_nuclei(channel)
    assert len(nuclei) == len(centres) and np.abs(nuclei - centres).max() <= 1
    assert np.array_equal(stressed_syllables(channel), nuclei[1::3])
    pauses = speech_pauses(channel)
    assert len(pauses) == 1 and abs(pauses[0] - (centres[-1] + 3)) <= 2
    partner = np.stack([1e-3 * rng.standard_normal(len(channel)), channel], axis=1)
    assert np.array_equal(listener_pauses(partner), pauses)
    assert len(listener_pauses(np.stack([channel, channel], axis=1))) == 0  # talking until then is not listening


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_person_folder(tmp_path, monkeypatch, capsys):
    """Scene files fail like a full disk after 300 KB: the generator used to die with a LibsndfileError and
    leave a partial person folder that the next run refused without --overwrite."""
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    monkeypatch.setattr("data_loaders.format.open", FillingDisk(room=300_000), raising=False)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        run_cli(synthetic_main, ["--preset", "tiny", "--out", str(out), "--workers", "1", "--no-progress"])
    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert re.fullmatch(rf"\S+: error: {re.escape(str(out))}/SYN00\d/scene\d\d_\w+\.(wav|npy): could not write it: no "
                        rf"space left on the device of .*\n", error), error
    assert not list(out.glob("SYN*"))
