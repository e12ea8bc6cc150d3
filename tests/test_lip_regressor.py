import math

import torch

from model.audio_encoder import AudioEncoderConfig
from model.lip_regressor import LipRegressor, LipRegressorConfig

AUDIO = AudioEncoderConfig(n_mels=24, audio_hidden=32, audio_channel_dim=32)
TINY = LipRegressorConfig(lip_vertices=5, lip_latent_dim=32, lip_heads=4, lip_encoder_layers=1,
                          lip_decoder_layers=2, lip_ff_size=64, lip_dropout=0.0)


def make():
    torch.manual_seed(0)
    return LipRegressor(TINY, AUDIO)


def speech_like_clip(frames, seed=0):
    """Audio whose loudness and pitch change from frame to frame, and lips that follow the loudness."""
    g = torch.Generator().manual_seed(seed)
    loudness = torch.rand(frames, generator=g)
    pitch = 200 + 600 * torch.rand(frames, generator=g)
    per_sample_loudness = loudness.repeat_interleave(1600)
    per_sample_pitch = pitch.repeat_interleave(1600)
    phase = torch.cumsum(2 * math.pi * per_sample_pitch / 48000, 0)
    voice = per_sample_loudness * torch.sin(phase)
    partner = 0.3 * torch.randn(frames * 1600, generator=g)
    audio = torch.stack((voice, partner), -1)[None]
    opening = torch.stack((loudness, (pitch - 500) / 300), -1)  # (T, 2)
    basis = torch.randn(2, 5, 3, generator=g)
    vertices = 10 + torch.einsum("tk,kvc->tvc", opening, basis)[None]  # (1, T, 5, 3), offset like a mesh
    return audio, vertices


def test_shapes_and_channel_zero_only():
    model = make().eval()
    audio, _ = speech_like_clip(17)
    with torch.no_grad():
        out = model(audio)
        partner_changed = audio.clone()
        partner_changed[..., 1] = torch.randn(17 * 1600)
        person_changed = audio.clone()
        person_changed[0, :8 * 1600, 0] = 0.0
        assert out.shape == (1, 17, 5, 3)
        assert torch.equal(model(partner_changed), out)
        assert not torch.allclose(model(person_changed), out, atol=1e-4)
        assert model(audio[..., :1]).shape == (1, 17, 5, 3)


def test_overfits_one_clip():
    model = make().train()
    audio, vertices = speech_like_clip(45)
    model.set_target_stats(vertices[0].mean(0), vertices.std())
    valid = torch.ones(1, 45, dtype=torch.bool)
    valid[:, 40:] = False
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(200):
        loss = model.loss(model(audio), vertices, valid)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    constant_prediction = model.loss(vertices[0, :40].mean(0).expand_as(vertices), vertices, valid).item()
    assert sum(losses[-5:]) / 5 < 0.1 * min(losses[0], constant_prediction), (constant_prediction, losses[::10])
    assert model.normalise(vertices).shape == (1, 45, 15)


def test_loss_ignores_invalid_frames_and_padding_is_hidden():
    model = make().eval()
    audio, vertices = speech_like_clip(20)
    audio[0, 15 * 1600:] = 0.0  # padding, as the data set and the windows pad
    valid = torch.ones(1, 20, dtype=torch.bool)
    valid[:, 12:] = False
    with torch.no_grad():
        pred = model(audio, mask=valid)
        spoiled = vertices.clone()
        spoiled[:, 12:] += 100.0
        assert torch.equal(model.loss(pred, vertices, valid), model.loss(pred, spoiled, valid))
        changed = audio.clone()  # faint noise beyond the audio receptive field of frame 11 (+3.25 frames), too
        changed[0, 15 * 1600:, 0] = 1e-4 * torch.randn(5 * 1600)  # quiet to change the level (model.loudness)
        assert torch.allclose(model(changed, mask=valid)[:, :12], pred[:, :12], atol=1e-5)
