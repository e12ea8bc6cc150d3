"""The voice warp (model/voice_warp.py): a tone moves by the warp's interval, and only training sees it."""
import numpy as np
import pytest
import torch

from model.audio_encoder import AudioEncoderConfig, build_audio_encoder
from model.mel import LogMel
from model.voice_warp import random_warp_factors, warp_log_mel

RATE, N_MELS, FMAX = 48000, 64, 8000.0


def tone_log_mel(hz: float) -> torch.Tensor:
    """(1, 1, F, N_MELS) log-mel of one second of a pure tone."""
    t = torch.arange(RATE, dtype=torch.float64) / RATE
    return LogMel(N_MELS, 0.0, FMAX)(torch.sin(2 * np.pi * hz * t).float()[None])[None]


def peak_band(log_mel: torch.Tensor) -> int:
    """Index of the band holding the most power on average."""
    return int(log_mel[0, 0].mean(0).argmax())


@pytest.mark.parametrize("semitones", [-6.0, 4.0, 6.0])
def test_a_warped_tone_peaks_where_the_shifted_tone_does(semitones):
    factor = 2 ** (semitones / 12)
    warped = warp_log_mel(tone_log_mel(700.0), torch.tensor([[factor]]), 0.0, FMAX)
    assert abs(peak_band(warped) - peak_band(tone_log_mel(700.0 * factor))) <= 1
    assert abs(peak_band(warped) - peak_band(tone_log_mel(700.0))) >= 3  # it moved


def test_factor_one_is_the_identity_and_each_channel_has_its_own_factor():
    mel = torch.cat([tone_log_mel(500.0), tone_log_mel(1500.0)], dim=1)  # (1, 2, F, M)
    torch.testing.assert_close(warp_log_mel(mel, torch.ones(1, 2), 0.0, FMAX), mel, atol=1e-5, rtol=0)
    warped = warp_log_mel(mel, torch.tensor([[1.0, 2 ** (5 / 12)]]), 0.0, FMAX)
    torch.testing.assert_close(warped[:, 0], mel[:, 0], atol=1e-5, rtol=0)
    assert (warped[:, 1] - mel[:, 1]).abs().max() > 1.0


def test_factors_stay_within_the_range_and_use_it():
    factors = random_warp_factors(4000, 2, 6.0, generator=torch.Generator().manual_seed(0))
    semitones = 12 * torch.log2(factors)
    assert semitones.abs().max() <= 6.0 + 1e-4
    assert semitones.min() < -5.5 and semitones.max() > 5.5


def test_the_encoder_warps_in_training_only():
    torch.manual_seed(0)
    config = AudioEncoderConfig(n_mels=N_MELS, audio_hidden=16, audio_channel_dim=8, voice_warp=6.0)
    encoder = build_audio_encoder(config, channels=2)
    audio = torch.randn(2, 30 * 1600, 2) * 0.1
    encoder.eval()
    first, second = encoder(audio), encoder(audio)
    torch.testing.assert_close(first, second)  # sampling never warps
    plain = build_audio_encoder(AudioEncoderConfig(n_mels=N_MELS, audio_hidden=16, audio_channel_dim=8), channels=2)
    plain.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(plain.eval()(audio), first)  # the warp adds no weights
    encoder.train()
    assert (encoder(audio) - first).abs().max() > 1e-3
