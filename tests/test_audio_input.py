"""Audio files as model input: rates, channels, lengths, limits from the header, block-by-block reading equal
to whole-file resampling, and clear errors (sample/audio_input.py)."""
import math

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from data_loaders.augment import speech_level
from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME
from sample import audio_input
from sample.audio_input import PARTNER_NOISE_DB, AudioInputError, audio_file_info, load_conversation_audio, same_channels


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
        with pytest.raises(AudioInputError, match=message) as error:
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
