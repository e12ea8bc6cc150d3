"""The audio front end is loudness-invariant (model/loudness.py): the same words at any level, a partner who
is silent stays silent, microphone gains that differ are evened out."""
import numpy as np
import pytest
import torch

from data_loaders.format import read_wav
from model.audio_encoder import AudioEncoderConfig, build_audio_encoder
from model.loudness import CHANNEL_SPAN, gated_level, reference_levels
from model.mel import LogMel

EXAMPLE = "assets/example_conversation.wav"
SMALL = AudioEncoderConfig(n_mels=32, audio_hidden=16, audio_channel_dim=8)


@pytest.fixture(scope="module")
def conversation() -> torch.Tensor:
    """(1, 6 s * 48000, 2) the example conversation (two voices taking turns)."""
    audio, _ = read_wav(EXAMPLE)
    return torch.from_numpy(audio[:6 * 48000])[None]


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return build_audio_encoder(SMALL, channels=2).eval()


@pytest.mark.parametrize("gain_db", [-35.0, -20.0, -5.0, 12.0])
def test_features_do_not_depend_on_the_level(encoder, conversation, gain_db):
    with torch.no_grad():
        reference, louder = encoder(conversation), encoder(conversation * 10 ** (gain_db / 20))
    assert torch.allclose(reference, louder, atol=2e-3), float((reference - louder).abs().max())


def test_microphones_with_different_gains_are_evened_out(encoder, conversation):
    imbalanced = conversation * torch.tensor([10 ** (9 / 20), 10 ** (-4 / 20)])
    with torch.no_grad():
        assert torch.allclose(encoder(conversation), encoder(imbalanced), atol=2e-3)


def test_a_silent_partner_is_not_turned_up_to_speech_level():
    """Speech in channel 0, faint room noise (45 dB down) in channel 1: channel 1's reference is channel 0's
    level minus CHANNEL_SPAN, so its normalised level stays far below channel 0's."""
    torch.manual_seed(0)
    seconds = torch.arange(3 * 48000) / 48000
    syllables = torch.sin(2 * torch.pi * 4 * seconds).clamp_min(0)
    speech = syllables * torch.randn_like(seconds) * 0.1
    audio = torch.stack([speech, torch.randn_like(seconds) * 0.1 * 10 ** (-45 / 20)], dim=-1)[None]
    mel = LogMel(32)(audio.transpose(1, 2).flatten(0, 1)).unflatten(0, (1, 2))
    levels = gated_level((10.0 ** mel).mean(-1))
    reference = reference_levels(levels)
    assert float(reference[0, 1]) == pytest.approx(float(levels[0, 0]) - CHANNEL_SPAN, abs=1e-5)
    assert float(levels[0, 1] - reference[0, 1]) < -2.0  # partner noise stays > 20 dB below


def test_gating_measures_speech_not_pauses():
    """A burst of noise (speech stand-in) in 1 s of 5 s of near silence: the gated level is the burst's."""
    torch.manual_seed(0)
    audio = torch.randn(1, 5 * 48000) * 1e-4
    audio[:, 48000:96000] = torch.randn(1, 48000)
    mel = LogMel(32)(audio)[None]
    gated = float(gated_level((10.0 ** mel).mean(-1)))
    burst = float(gated_level((10.0 ** mel[:, :, 130:230]).mean(-1)))
    plain = float((10.0 ** mel).mean().log10())  # the mean power over the whole clip: 7 dB lower
    assert gated == pytest.approx(burst, abs=0.2) and gated > plain + 0.5


def test_padding_does_not_change_the_level(encoder, conversation):
    padded = torch.cat([conversation, torch.zeros(1, 2 * 48000, 2)], dim=1)
    with torch.no_grad():
        frames = conversation.shape[1] // 1600 - 3  # the last frames see the padding through the convolutions
        assert torch.allclose(encoder(conversation)[:, :frames], encoder(padded)[:, :frames], atol=2e-3)


def test_lip_style_encoder_reads_the_partner_for_its_reference(conversation):
    """A one-channel encoder given both channels takes the partner's level into account: the person's
    features change when the partner gets much louder (the person channel is then 'silent')."""
    torch.manual_seed(0)
    person_only = build_audio_encoder(SMALL, channels=1).eval()
    with torch.no_grad():
        alone = person_only(conversation[..., :1])
        beside = person_only(conversation * torch.tensor([1.0, 10 ** (30 / 20)]))
    assert alone.shape == beside.shape == (1, 120, 8)
    assert float((alone - beside).abs().max()) > 0.01
