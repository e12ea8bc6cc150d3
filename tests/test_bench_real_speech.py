"""scripts/bench_real_speech.py: dialogues from RTTM turns, the degraded copies, the relative voice activity,
and a short end-to-end run with the shipped checkpoints on a tiny dev folder."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_real_speech", REPO / "scripts" / "bench_real_speech.py")
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # dataclasses look their module up there
spec.loader.exec_module(bench)


def syllables(seconds: float, frequency: float, seed: int, level: float = 0.3) -> np.ndarray:
    """(N,) at 48 kHz: a tone switched on and off in random ~0.2 s syllables (a stand-in for a voice)."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * SAMPLE_RATE)
    on = np.repeat(rng.uniform(size=samples // 9600 + 1) > 0.4, 9600)[:samples]
    return (level * on * np.sin(2 * np.pi * frequency * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_a_dialogue_puts_each_speakers_turns_in_its_channel():
    a, b = syllables(6.0, 200.0, seed=0), syllables(6.0, 700.0, seed=1)
    first, second = slice(0, 4 * SAMPLE_RATE), slice(4 * SAMPLE_RATE, None)
    mix = np.concatenate([a[first], b[second]])  # A talks 0-4 s, B 4-6 s
    recording = bench.dialogue("talk.wav", mix, [("B", 4.0, 6.0), ("A", 0.0, 4.0)])
    person, partner = recording.audio.T
    assert rms_db(person[:int(3.9 * SAMPLE_RATE)]) == pytest.approx(rms_db(a[:int(3.9 * SAMPLE_RATE)]), abs=0.1)
    assert rms_db(person[int(4.1 * SAMPLE_RATE):]) == pytest.approx(rms_db(b[int(4.1 * SAMPLE_RATE):]) - 30, abs=0.2)
    assert rms_db(partner[:int(3.9 * SAMPLE_RATE)]) == pytest.approx(rms_db(a[:int(3.9 * SAMPLE_RATE)]) - 30, abs=0.2)
    assert recording.turns.shape == (180, 2) and recording.turns[:119, 0].all() and not recording.turns[121:, 0].any()
    assert recording.turns[121:, 1].all() and not recording.turns[:119, 1].any()


def test_copies_shift_level_clip_add_noise_and_cut_the_band():
    voice = syllables(4.013, 1000.0, seed=2, level=0.5)  # not whole frames
    rumble = 0.2 * np.sin(2 * np.pi * 100.0 * np.arange(len(voice)) / SAMPLE_RATE)
    recording = bench.Recording("voice.wav", (voice + rumble)[:, None].astype(np.float32))
    pool = [syllables(3.0, 300.0, seed=3)]
    copy = {name: bench.copy_of(recording, name, pool, seed=0)[:, 0] for name in bench.VARIANTS}
    np.testing.assert_allclose(copy["minus20"], recording.audio[:, 0] * 0.1, atol=1e-7)
    assert np.abs(copy["plus10"]).max() == 1.0 and (np.abs(copy["plus10"]) == 1.0).mean() > 0.05  # clipped
    noise = copy["noisy"] - recording.audio[:, 0]
    speech = np.repeat(bench.speech_frames(recording.audio[:, 0]), SAMPLES_PER_FRAME)
    snr = rms_db(recording.audio[:len(speech), 0][speech]) - rms_db(noise)
    assert snr == pytest.approx(bench.NOISE_SNR_DB, abs=0.5)
    spectrum = lambda x: np.abs(np.fft.rfft(x))  # noqa: E731
    freqs = np.fft.rfftfreq(len(voice), 1 / SAMPLE_RATE)
    kept = spectrum(copy["telephone"]) / (spectrum(recording.audio[:, 0]) + 1e-9)
    assert kept[np.argmin(np.abs(freqs - 1000))] > 0.8 and kept[np.argmin(np.abs(freqs - 100))] < 0.05


def test_voice_activity_finds_the_syllables_at_any_level():
    voice = syllables(6.0, 300.0, seed=4)
    truth = np.abs(voice).reshape(180, SAMPLES_PER_FRAME).max(axis=1) > 0  # frames holding some of a syllable
    # (the analysis window, 67 ms, blurs each edge by a frame)
    voice = voice + 1e-3 * np.random.default_rng(5).standard_normal(len(voice))  # a noise floor 50 dB down
    loud, quiet = bench.speech_frames(voice), bench.speech_frames(voice * 10 ** (-30 / 20))
    assert 0.3 < truth.mean() < 0.8 and (loud == truth).mean() > 0.9 and (loud == quiet).mean() > 0.98


@pytest.mark.slow  # samples with the shipped checkpoints
def test_a_short_run_prints_checks_and_writes_numbers_and_frames(tmp_path, capsys):
    dev = tmp_path / "dev"
    dev.mkdir()
    sf.write(dev / "solo.wav", syllables(2.0, 220.0, seed=6)[::3], 16_000)
    mix = np.concatenate([syllables(1.5, 200.0, seed=7), syllables(1.5, 600.0, seed=8)])
    sf.write(dev / "meeting_m01.wav", mix, SAMPLE_RATE)
    (dev / "meeting.rttm").write_text("SPEAKER m01 1 0.0 1.5 <NA> <NA> ann <NA> <NA>\n"
                                      "SPEAKER m01 1 1.5 1.5 <NA> <NA> bob <NA> <NA>\n")
    checks = bench.main(["--dev_dir", str(dev), "--variants", "clean", "minus20", "plus10", "--steps", "ddim2",
                         "--nonspeech_seconds", "1", "--out", str(tmp_path / "out"), "--frames", "1"])
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "bench_real_speech.json").read_text())
    rows = {(r["file"], r["variant"]): r for r in report["rows"]}
    assert set(rows) == {(f, v) for f in ("solo.wav", "meeting_m01.wav") for v in ("clean", "minus20", "plus10")} | {
        ("white_noise", "clean"), ("music_chords", "clean")}
    assert rows["meeting_m01.wav", "clean"]["kind"] == "dialogue" and rows["solo.wav", "clean"]["kind"] == "dev"
    assert np.isfinite(rows["meeting_m01.wav", "clean"]["wrist_ratio"]) and -1 <= rows["solo.wav", "clean"]["r"] <= 1
    assert all(r["mouth_outside_percent"] == 0 for r in report["rows"])  # the lip constraint keeps the ranges
    assert {c["check"].split(":")[0] for c in checks} >= {"median lip-sync r of the dev files", "white_noise",
                                                          "largest r spread of a file's -20/0/+10 dB copies"}
    assert all(("PASS" if c["passed"] else "FAIL") + "  " + c["check"] in printed for c in checks)
    assert len(list((tmp_path / "out").glob("worst_*.png"))) == 1
