"""Channel effects on training audio (data_loaders/augment.py) and their use by the dataset."""
import numpy as np
import pytest
import torch

import data_loaders.augment as augment_module
from data_loaders.augment import augment, speech_level
from data_loaders.dataset import SocialDataset
from data_loaders.format import SAMPLE_RATE, read_wav
from tests.data_fixtures import make_person_folder


@pytest.fixture(scope="module")
def window() -> np.ndarray:
    audio, _ = read_wav("assets/example_conversation.wav")
    return audio[:3 * SAMPLE_RATE]


def test_effects_are_reproducible_from_the_seed(window):
    first = augment(window, np.random.default_rng(7))
    assert np.array_equal(first, augment(window, np.random.default_rng(7)))
    assert not np.array_equal(first, augment(window, np.random.default_rng(8)))


def test_outputs_are_recordings(window):
    for seed in range(12):
        out = augment(window, np.random.default_rng(seed), babble=lambda rng, n: window[:n, 0])
        assert out.shape == window.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


class AlwaysLow:
    """A generator stand-in whose random() is 0: the telephone branch of the band limit."""
    def random(self):
        return 0.0


def test_telephone_band_removes_the_high_band():
    wide = np.random.default_rng(0).standard_normal((SAMPLE_RATE, 2)) * 0.1
    narrow = augment_module._band_limit(wide, AlwaysLow())
    spectrum = np.abs(np.fft.rfft(narrow[:, 0])) ** 2
    freqs = np.fft.rfftfreq(len(narrow), 1 / SAMPLE_RATE)
    assert spectrum[freqs > 4500].sum() < 1e-3 * spectrum[(freqs > 300) & (freqs < 3400)].sum()


@pytest.mark.parametrize("make", [augment_module._coloured_noise, augment_module._hum, augment_module._music])
def test_noise_sources_have_unit_rms(make):
    noise = make(np.random.default_rng(3), 2 * SAMPLE_RATE)
    assert np.sqrt(np.mean(noise ** 2)) == pytest.approx(1.0, rel=1e-3)


def test_noise_is_added_at_the_drawn_snr_below_the_speech(window):
    rng = np.random.default_rng(5)
    noisy = augment_module._noise(window.astype(np.float64), rng, None)
    added = noisy - window
    snr = 20 * np.log10(speech_level(window) / np.sqrt(np.mean(added ** 2)))
    assert 0.0 - 3.5 <= snr <= 30.0 + 3.5


def test_dataset_augments_the_audio_of_train_windows_only(tmp_path):
    folder = make_person_folder(tmp_path / "P", frames=120)
    plain = SocialDataset(folder, "train", "face", max_seq_length=60, min_seq_length=30)
    effects = SocialDataset(folder, "train", "face", max_seq_length=60, min_seq_length=30, augment=True)
    item, changed = plain[11], effects[11]
    assert torch.equal(item["motion"], changed["motion"]) and int(item["lengths"]) == int(changed["lengths"])
    assert not torch.equal(item["audio"], changed["audio"])
    assert torch.equal(changed["audio"], effects[11]["audio"])  # the same seed, the same recording
    test = SocialDataset(folder, "test", "face", max_seq_length=60, min_seq_length=30, augment=True)
    reference = SocialDataset(folder, "test", "face", max_seq_length=60, min_seq_length=30)
    assert torch.equal(test[0]["audio"], reference[0]["audio"])
