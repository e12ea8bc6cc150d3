"""Audio files as model input: rates, channels, lengths and clear errors (sample/audio_input.py)."""
import numpy as np
import pytest
import soundfile as sf

from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME
from sample.audio_input import PARTNER_NOISE_STD, AudioInputError, load_conversation_audio


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
    assert loaded[:, 1].std() == pytest.approx(PARTNER_NOISE_STD, rel=0.05)
    assert np.array_equal(load_conversation_audio(path)[0], loaded)  # the partner noise is seeded


def test_44k1_length_follows_the_rate_ratio(tmp_path):
    path = tmp_path / "cd.flac"
    sf.write(path, np.stack([tone(1000, 1.5, 44_100)] * 2, axis=1), 44_100)
    loaded, info = load_conversation_audio(path)
    assert info.frames == 45 and dominant_frequency(loaded[:, 1], SAMPLE_RATE) == pytest.approx(1000, abs=1)


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
