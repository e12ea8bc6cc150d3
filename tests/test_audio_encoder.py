import math

import numpy as np
import pytest
import torch

from model.audio_encoder import AudioEncoderConfig, build_audio_encoder
from model.mel import LogMel, mel_center_frequencies, mel_filter_bank


def reference_filter_bank(n_fft, n_mels, fmin, fmax, sample_rate=48000):
    """Slow, independent Slaney-scale triangles: one filter and one FFT bin at a time, in plain numpy."""
    def to_mel(f):
        return f * 3 / 200 if f < 1000 else 15 + 27 * math.log(f / 1000) / math.log(6.4)

    def to_hz(m):
        return m * 200 / 3 if m < 15 else 1000 * 6.4 ** ((m - 15) / 27)
    mels = np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2)
    edges = [to_hz(m) for m in mels]
    bank = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for k in range(n_fft // 2 + 1):
            f = k * sample_rate / n_fft
            if lo < f <= mid:
                bank[m, k] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[m, k] = (hi - f) / (hi - mid)
        bank[m] /= bank[m].sum()
    return bank


@pytest.mark.parametrize("n_fft,n_mels,fmin,fmax", [(2048, 80, 0.0, 8000.0), (1024, 40, 60.0, 16000.0)])
def test_filter_bank_matches_independent_reference(n_fft, n_mels, fmin, fmax):
    ours = mel_filter_bank(n_fft, n_mels, fmin, fmax).numpy()
    np.testing.assert_allclose(ours, reference_filter_bank(n_fft, n_mels, fmin, fmax), atol=1e-6)


def test_filter_bank_rejects_empty_filters():
    with pytest.raises(ValueError, match="cover no FFT bin"):
        mel_filter_bank(256, 128, 0.0, 8000.0)


@pytest.mark.parametrize("band", [3, 20, 45, 70])
def test_pure_tone_peaks_in_its_band(band):
    log_mel = LogMel()
    frequency = float(mel_center_frequencies(80, 0.0, 8000.0)[band])
    seconds = torch.arange(16000) / 48000
    tone = torch.sin(2 * math.pi * frequency * seconds)[None]
    spectrum = log_mel(tone)[0, 4:-4].mean(0)
    assert int(spectrum.argmax()) == band
    assert spectrum[band] - spectrum.median() > 2.0  # > 20 dB above the typical band


def test_white_noise_level_is_near_zero():
    torch.manual_seed(0)
    level = LogMel()(torch.randn(1, 48000)).mean()
    assert -0.4 < float(level) < 0.1


def test_mel_frame_count_for_any_length():
    log_mel = LogMel()
    for samples in (0, 399, 400, 1600, 1600 * 7 + 123):
        assert log_mel(torch.zeros(2, samples)).shape == (2, samples // 400, 80)


def tiny_config():
    return AudioEncoderConfig(n_mels=32, audio_hidden=32, audio_channel_dim=16)


@pytest.mark.parametrize("frames", [1, 7, 30, 61])
def test_output_has_one_feature_per_video_frame(frames):
    encoder = build_audio_encoder(tiny_config(), channels=2)
    assert encoder.out_dim == 32
    assert encoder(torch.randn(2, frames * 1600, 2)).shape == (2, frames, 32)
    mono = build_audio_encoder(tiny_config(), channels=1)
    assert mono(torch.randn(1, frames * 1600, 1)).shape == (1, frames, 16)
    assert mono(torch.randn(1, frames * 1600, 2)).shape == (1, frames, 16)  # the partner sets the level only


def test_bad_audio_shape_is_a_clear_error():
    encoder = build_audio_encoder(tiny_config(), channels=2)
    with pytest.raises(ValueError, match="whole 30 fps frames"):
        encoder(torch.randn(1, 1601, 2))
    with pytest.raises(ValueError, match="unknown"):
        build_audio_encoder(AudioEncoderConfig(audio_encoder="wav2vec"))


def test_features_are_time_local_and_per_channel():
    """Changing 10 frames of the person's channel changes the person's features there (receptive field +-3.25
    frames) and elsewhere only through the window's level (model.loudness), by far less."""
    torch.manual_seed(0)
    encoder = build_audio_encoder(tiny_config(), channels=2)
    audio = torch.randn(1, 100 * 1600, 2)
    changed = audio.clone()
    changed[:, 40 * 1600:50 * 1600, 0] = torch.randn(10 * 1600)
    with torch.no_grad():
        difference = (encoder(changed) - encoder(audio)).abs()
    person, partner = difference[0, :, :16].sum(-1), difference[0, :, 16:].sum(-1)
    assert partner.max() == 0
    assert person[40:50].min() > 0
    assert max(person[:36].max(), person[54:].max()) < 0.02 * person[40:50].mean()
