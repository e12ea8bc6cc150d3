"""Audio files as model input: rates, channels, lengths, limits from the header, block-by-block reading equal
to whole-file resampling, and clear errors (sample/audio_input.py), crafted headers refused before anything
is allocated (data_loaders/audio_header.py)."""
import math
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from data_loaders.augment import speech_level
from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME, read_wav
from sample import audio_input
from sample.audio_input import PARTNER_NOISE_DB, AudioInputError, audio_file_info, load_conversation_audio, same_channels
from tests.crafted_audio import header_bombs, speech_wav, with_flac_length, with_wav_rate

REPO = Path(__file__).resolve().parents[1]


def quiet_partner(loaded: np.ndarray) -> bool:
    """Channel 1 is noise PARTNER_NOISE_DB below the person's speech level."""
    return loaded[:, 1].std() == pytest.approx(speech_level(loaded[:, :1]) * 10 ** (-PARTNER_NOISE_DB / 20),
                                               rel=0.05)


def tone(frequency, seconds, rate, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(signal, rate):
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)]


def test_stereo_48k_is_kept_and_padded_to_whole_frames(tmp_path):
    samples = 3 * SAMPLES_PER_FRAME + 100
    audio = np.stack([tone(300, 1, SAMPLE_RATE)[:samples], tone(700, 1, SAMPLE_RATE)[:samples]], axis=1)
    path = tmp_path / "talk.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    loaded, info = load_conversation_audio(path)
    assert loaded.dtype == np.float32 and loaded.shape == (4 * SAMPLES_PER_FRAME, 2)
    assert np.array_equal(loaded[:samples], audio) and not loaded[samples:].any()
    assert (info.frames, info.padded_samples, info.channels, info.sample_rate) == (4, SAMPLES_PER_FRAME - 100, 2,
                                                                                   SAMPLE_RATE)
    assert info.seconds == pytest.approx(samples / SAMPLE_RATE)


def test_mono_16k_is_resampled_and_gets_a_quiet_partner(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, tone(440, 2.0, 16_000), 16_000, subtype="PCM_16")
    loaded, info = load_conversation_audio(path)
    assert loaded.shape == (60 * SAMPLES_PER_FRAME, 2) and info.frames == 60 and info.channels == 1
    assert dominant_frequency(loaded[:, 0], SAMPLE_RATE) == pytest.approx(440, abs=1)
    assert np.abs(loaded[:, 0]).max() == pytest.approx(0.5, abs=0.01)  # amplitude kept
    assert quiet_partner(loaded)
    assert np.array_equal(load_conversation_audio(path)[0], loaded)  # the partner noise is seeded
    sf.write(path, tone(440, 2.0, 16_000) * 0.01, 16_000, subtype="FLOAT")  # 40 dB quieter: so is the partner
    quieter, _ = load_conversation_audio(path)
    assert quieter[:, 1].std() == pytest.approx(0.01 * loaded[:, 1].std(), rel=0.01)


def test_44k1_length_follows_the_rate_ratio(tmp_path):
    path = tmp_path / "cd.flac"
    sf.write(path, np.stack([tone(1000, 1.5, 44_100), tone(1500, 1.5, 44_100)], axis=1), 44_100)
    loaded, info = load_conversation_audio(path)
    assert info.frames == 45 and dominant_frequency(loaded[:, 1], SAMPLE_RATE) == pytest.approx(1500, abs=1)


def test_bad_files_get_errors_naming_the_file(tmp_path):
    four = tmp_path / "surround.wav"
    sf.write(four, np.zeros((1600, 4), np.float32), SAMPLE_RATE)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), SAMPLE_RATE)
    broken = tmp_path / "nan.wav"
    sf.write(broken, np.full((1600, 2), np.nan, np.float32), SAMPLE_RATE, subtype="FLOAT")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    zero_bytes = tmp_path / "zero.wav"
    zero_bytes.write_bytes(b"")
    expected = {four: "pan=stereo", empty: "no audio samples", broken: "NaN", text: "not a readable audio file",
                zero_bytes: "not a readable audio file", tmp_path / "missing.wav": "not found"}
    for path, message in expected.items():
        with pytest.raises(ValueError, match=message) as error:  # AudioInputError or AudioHeaderError
            load_conversation_audio(path)
        assert str(path) in str(error.value)


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000, 96_000])
def test_block_by_block_equals_resampling_the_whole_file(tmp_path, monkeypatch, rate):
    monkeypatch.setattr(audio_input, "BLOCK_SECONDS", 1)  # 3.3 s: several blocks and a partial one
    audio = np.random.default_rng(rate).uniform(-0.9, 0.9, (int(3.3 * rate), 2)).astype(np.float32)
    path = tmp_path / "talk.wav"
    sf.write(path, audio, rate, subtype="FLOAT")
    loaded, info = load_conversation_audio(path)
    common = math.gcd(SAMPLE_RATE, rate)
    whole = resample_poly(audio, SAMPLE_RATE // common, rate // common, axis=0).astype(np.float32)
    assert loaded.shape == (info.frames * SAMPLES_PER_FRAME, 2) and len(whole) <= len(loaded)
    np.testing.assert_allclose(loaded[:len(whole)], whole, atol=1e-6)
    assert not loaded[len(whole):].any()


def test_limits_are_checked_from_the_header_and_loud_floats_refused(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros((16_000 * 5, 1), np.float32), 16_000)
    assert audio_file_info(path).seconds == 5.0
    with pytest.raises(AudioInputError, match=r"long.wav: the audio lasts 5.0 s; at most 2 s are taken here"):
        load_conversation_audio(path, max_seconds=2)
    loud = tmp_path / "loud.wav"
    sf.write(loud, np.full((1600, 2), 41.6, np.float32), SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioInputError, match=r"loud.wav: the audio peaks at 41.6, far above the \[-1, 1\]"):
        load_conversation_audio(loud)


def speechlike(seconds, rate, seed):
    """(N,) float32 noise with a random ~4 Hz syllable envelope (a stand-in for one voice)."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * rate)
    syllables = np.repeat(rng.uniform(0, 1, samples // (rate // 4) + 1) > 0.4, rate // 4)[:samples]
    return (0.2 * syllables * rng.standard_normal(samples)).astype(np.float32)


def test_stereo_with_identical_channels_is_taken_as_mono(tmp_path):
    voice = speechlike(2.0, 16_000, seed=1)
    codec = 0.003 * np.random.default_rng(2).standard_normal(len(voice)).astype(np.float32)  # MP3-like residue
    for name, audio in (("duplicated", np.stack([voice, voice], axis=1)),
                        ("decoded", np.stack([voice + codec, 0.95 * voice - codec], axis=1))):
        sf.write(tmp_path / f"{name}.wav", audio, 16_000, subtype="FLOAT")
        loaded, info = load_conversation_audio(tmp_path / f"{name}.wav")
        assert info.as_mono and info.channels == 2, name
        assert quiet_partner(loaded)  # the partner is silent
        assert np.corrcoef(loaded[:len(loaded) // 2, 0], loaded[:len(loaded) // 2, 1])[0, 1] < 0.1


def test_a_two_person_stereo_recording_stays_stereo(tmp_path):
    person, partner = speechlike(2.0, 16_000, seed=3), speechlike(2.0, 16_000, seed=4)
    cases = {"bleed": np.stack([person + 0.3 * partner, partner + 0.3 * person], axis=1),  # each mic hears both
             "panned": np.stack([person, 0.7 * person], axis=1)}  # the same voice 3 dB apart: kept as given
    for name, audio in cases.items():
        sf.write(tmp_path / f"{name}.wav", audio, 16_000, subtype="FLOAT")
        loaded, info = load_conversation_audio(tmp_path / f"{name}.wav")
        assert not info.as_mono, name
        assert loaded[:, 1].std() > 0.1 * loaded[:, 0].std()
    assert same_channels(np.zeros((100, 2))) and not same_channels(np.stack([np.zeros(100), np.ones(100)], axis=1))


def peak_allocation_mb(function, *args) -> float:
    """Peak MB that Python and numpy allocate while function(*args) runs (tracemalloc); its error is ignored."""
    tracemalloc.start()
    try:
        function(*args)
    except ValueError:
        pass
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return peak


def test_header_bombs_are_refused_in_one_line_before_any_allocation(tmp_path):
    """A 160 KB WAV saying 4,000,037 Hz took 4.2 GB, one saying 3 Hz lasted 26,667 s, a FLAC declaring 10^10
    samples, a WAV cut in half: every reader refuses them from the header, naming the file, in little memory."""
    for path, message in header_bombs(tmp_path).items():
        for reader in (load_conversation_audio, read_wav):
            with pytest.raises(ValueError, match=message) as error:
                reader(path)
            assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)
        peak = peak_allocation_mb(load_conversation_audio, path)
        print(f"{path.name}: refused, peak allocation {peak:.2f} MB")
        assert peak < 300


def test_an_uncommon_rate_resamples_in_little_memory_and_a_folder_is_named(tmp_path):
    """383,999 Hz is a possible rate; its exact ratio 48000 / 383999 would need a filter of gigabytes."""
    path = tmp_path / "odd.wav"
    rate = 383_999
    t = np.arange(rate) / rate
    sf.write(path, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="PCM_16")
    assert peak_allocation_mb(load_conversation_audio, path) < 300
    loaded, info = load_conversation_audio(path)
    assert info.frames == 30 and dominant_frequency(loaded[:, 0], SAMPLE_RATE) == pytest.approx(440, abs=1)
    with pytest.raises(ValueError, match=f"{tmp_path}: a folder, not an audio file"):
        load_conversation_audio(tmp_path)


def test_a_file_ending_well_before_its_declared_length_is_refused(tmp_path):
    """A FLAC whose header declares twice its samples (within what the size allows), an MP3 cut in half."""
    mp3 = tmp_path / "tone.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=300:r=16000", "-t", "20", str(mp3)],
                   check=True)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(mp3.read_bytes()[:mp3.stat().st_size // 2])
    with pytest.raises(AudioInputError, match=r"cut.mp3: the file ends after \d+.\d s of the 20.0 s its header "
                                              r"declares \(a truncated download or copy\?\)"):
        load_conversation_audio(cut)
    wav = speech_wav(tmp_path / "speech.wav")
    flac = tmp_path / "speech.flac"
    sf.write(flac, sf.read(wav)[0], 16_000, format="FLAC")
    doubled = with_flac_length(flac, tmp_path / "doubled.flac", 2 * 5 * 16_000)
    with pytest.raises(AudioInputError, match=r"doubled.flac: decoding failed after 0.0 s of the 10.0 s its header "
                                              r"declares \(.*: a truncated or damaged file\?\)"):
        load_conversation_audio(doubled)


def test_a_header_bomb_through_the_command_line_is_one_line(tmp_path):
    bomb = with_wav_rate(speech_wav(tmp_path / "speech.wav"), tmp_path / "fast.wav", 4_000_037)
    env = {key: value for key, value in os.environ.items() if key != "A2P_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "sample.generate", "--model_path", str(REPO / "checkpoints" / "face"),
                           "--audio", str(bomb), "--output_dir", str(tmp_path / "out"), "--device", "cpu"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1].startswith(f"sample.generate: error: {bomb}: its header says 4000037 samples")
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()  # no empty output folder left
