import dataclasses

import pytest
import torch

from model.audio_encoder import AudioEncoderConfig
from model.denoiser import CausalPostNet, DenoiserConfig, FiLMTransformer, denoiser_preset
from utils.config import from_dict

AUDIO = AudioEncoderConfig(n_mels=16, audio_hidden=16, audio_channel_dim=8)
FACE = DenoiserConfig(nfeats=6, latent_dim=32, layers=2, heads=4, ff_size=64, lip_dim=9, num_cond_layers=1)
POSE = DenoiserConfig(nfeats=5, latent_dim=32, layers=2, heads=4, ff_size=64, use_guide=True,
                      num_cond_layers=0, post_net=True)


def make(cfg, seed=0):
    torch.manual_seed(seed)
    return FiLMTransformer(cfg, AUDIO).eval()


def inputs(cfg, frames, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, frames * 1600, 2, generator=g)
    lips = torch.randn(batch, frames, cfg.lip_dim, generator=g) if cfg.lip_dim else None
    keyframes = torch.randn(batch, frames // 30, cfg.nfeats, generator=g) if cfg.use_guide else None
    x_t = torch.randn(batch, frames, cfg.nfeats, generator=g)
    return audio, lips, keyframes, x_t


@pytest.mark.parametrize("cfg,frames", [(FACE, 13), (POSE, 61), (POSE, 7)])
def test_shapes_for_odd_lengths(cfg, frames):
    model = make(cfg)
    audio, lips, keyframes, x_t = inputs(cfg, frames)
    cond = model.encode_condition(audio, lips, keyframes)
    assert cond["memory"].shape == (2, frames, 32) and cond["pooled"].shape == (2, 32)
    assert model(x_t, torch.tensor([0, 999]), cond).shape == x_t.shape


def test_output_depends_on_audio_and_time():
    model = make(FACE)
    audio, lips, _, x_t = inputs(FACE, 20)
    t = torch.tensor([10, 10])
    with torch.no_grad():
        out = model(x_t, t, model.encode_condition(audio, lips))
        tone = torch.sin(torch.arange(audio.shape[1]) * 0.05)[None, :, None].expand_as(audio)
        other_audio = model(x_t, t, model.encode_condition(tone, lips))
        other_lips = model(x_t, t, model.encode_condition(audio, torch.randn_like(lips)))
        other_t = model(x_t, torch.tensor([500, 500]), model.encode_condition(audio, lips))
    for other in (other_audio, other_lips, other_t):
        assert (out - other).abs().mean() > 1e-3 * out.abs().mean()


def test_null_condition_and_condition_dropout():
    model = make(POSE)
    model.cfg.cond_drop_prob = 0.5
    audio, _, keyframes, x_t = inputs(POSE, 60, batch=64)
    with torch.no_grad():
        cond = model.encode_condition(audio, keyframes=keyframes)
        null = model.null_condition(cond)
        for key in ("memory", "pooled", "guide"):
            assert null[key].shape == cond[key].shape
            assert not torch.isclose(null[key], cond[key]).any()
        t = torch.full((64,), 3)
        assert not torch.allclose(model(x_t, t, null), model(x_t, t, cond), atol=1e-4)

        seeds = torch.arange(64) * 17 + 5
        dropped = model.drop_condition(cond, seeds)
        again = model.drop_condition(cond, seeds)
        audio_dropped = (dropped["pooled"] == null["pooled"]).all(-1)
        guide_dropped = (dropped["guide"] == null["guide"]).all(-1).all(-1)
        assert (dropped["memory"] == null["memory"]).all(-1).all(-1).equal(audio_dropped)
        assert 16 < int(audio_dropped.sum()) < 48 and 16 < int(guide_dropped.sum()) < 48
        assert (audio_dropped != guide_dropped).any()  # drawn independently
        for key in ("memory", "pooled", "guide"):
            assert torch.equal(dropped[key], again[key])

        model.cfg.cond_drop_prob = 1.0
        all_dropped = model.drop_condition(cond, seeds)
        model.cfg.cond_drop_prob = 0.0
        none_dropped = model.drop_condition(cond, seeds)
    for key in ("memory", "pooled", "guide"):
        assert torch.equal(all_dropped[key], null[key])
        assert torch.equal(none_dropped[key], cond[key])


def test_guide_keyframes_change_the_output():
    model = make(POSE)
    audio, _, keyframes, x_t = inputs(POSE, 60)
    t = torch.tensor([7, 7])
    with torch.no_grad():
        out = model(x_t, t, model.encode_condition(audio, keyframes=keyframes))
        other = model(x_t, t, model.encode_condition(audio, keyframes=torch.randn_like(keyframes)))
    assert (out - other).abs().mean() > 1e-3 * out.abs().mean()
    with pytest.raises(ValueError, match="keyframes"):
        model.encode_condition(audio)


def test_padding_is_invisible_to_real_frames():
    model = make(POSE)
    audio, _, keyframes, x_t = inputs(POSE, 90)
    mask = torch.ones(2, 90, dtype=torch.bool)
    mask[1, 50:] = False
    t = torch.tensor([4, 4])
    changed_audio, changed_x, changed_keys = audio.clone(), x_t.clone(), keyframes.clone()
    changed_audio[1, 53 * 1600:] = torch.randn(37 * 1600, 2)  # beyond the audio receptive field of frame 49
    changed_x[1, 50:] = torch.randn(40, 5)
    changed_keys[1, 2] = torch.randn(5)  # keyframe at frame 60 >= length 50
    with torch.no_grad():
        out = model(x_t, t, model.encode_condition(audio, keyframes=keyframes, mask=mask))
        out_changed = model(changed_x, t, model.encode_condition(changed_audio, keyframes=changed_keys, mask=mask))
        unmasked = model(changed_x, t, model.encode_condition(changed_audio, keyframes=changed_keys))
    assert torch.allclose(out[:, :50], out_changed[:, :50], atol=1e-5)
    assert not torch.allclose(out[1, :50], unmasked[1, :50], atol=1e-3)


def test_any_length_beyond_the_original_limit():
    model = make(POSE)
    audio, _, keyframes, x_t = inputs(POSE, 700, batch=1)
    with torch.no_grad():
        cond = model.encode_condition(audio, keyframes=keyframes)
        both = {k: torch.cat((v, model.null_condition(cond)[k])) for k, v in cond.items()}
        out = model(torch.cat((x_t, x_t)), torch.tensor([1, 1]), both)
    assert out.shape == (2, 700, 5) and torch.isfinite(out).all()


def test_post_net_is_causal_and_dropout_follows_training_flag():
    torch.manual_seed(0)
    net = CausalPostNet(5, 16).eval()
    x = torch.randn(1, 60, 5)
    changed = x.clone()
    changed[:, 40:] += 1.0
    out, out_changed = net(x), net(changed)
    assert torch.allclose(out[:, :40], out_changed[:, :40], atol=1e-6)
    assert not torch.allclose(out[:, 40:], out_changed[:, 40:], atol=1e-4)
    early = x.clone()
    early[:, :15] += 1.0  # frame 40 sees frames 16..40 only (receptive field 25)
    assert torch.allclose(net(early)[:, 40:], out[:, 40:], atol=1e-6)
    assert torch.equal(net(x), out)
    net.train()
    assert not torch.equal(net(x), net(x))


def test_training_on_a_fixed_batch_lowers_the_loss():
    model = make(FACE).train()
    audio, lips, _, _ = inputs(FACE, 30, batch=4)
    x0 = (torch.sin(torch.linspace(0, 6, 30))[:, None] * torch.arange(1, 7) / 3).expand(4, 30, 6)
    mask = torch.ones(4, 30, dtype=torch.bool)
    mask[2:, 24:] = False
    noise = torch.randn_like(x0)
    t = torch.tensor([100, 300, 500, 700])
    alpha = torch.cos(t / 1000 * torch.pi / 2)[:, None, None]
    x_t = alpha * x0 + (1 - alpha ** 2).sqrt() * noise
    seeds = torch.arange(4)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(50):
        cond = model.drop_condition(model.encode_condition(audio, lips, mask=mask), seeds)
        error = (model(x_t, t, cond) - x0).square().mean(-1)
        loss = (error * mask).sum() / mask.sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.2 * sum(losses[:5]) / 5, losses


def test_presets_build_the_original_sizes():
    face, pose = (from_dict(DenoiserConfig, denoiser_preset(f)) for f in ("face", "pose"))
    assert (face.nfeats, face.latent_dim, face.layers, face.use_guide) == (256, 512, 8, False)
    assert (pose.nfeats, pose.latent_dim, pose.layers, pose.use_guide, pose.post_net) == (104, 256, 6, True, True)
    with pytest.raises(ValueError, match="face or pose"):
        denoiser_preset("hands")


def test_frame_audio_brings_each_frames_audio_to_its_motion_token():
    """--frame_audio: a frame's audio token is added to its motion token; the null condition drops it too."""
    with_audio = dataclasses.replace(POSE, frame_audio=True)
    torch.manual_seed(0)
    model = FiLMTransformer(with_audio, AUDIO).eval()
    audio, _, keyframes, x_t = inputs(with_audio, 60)
    with torch.no_grad():
        cond = model.encode_condition(audio, keyframes=keyframes)
        tokens = model.input_projection(x_t)
        fed = tokens + model.frame_audio_projection(cond["memory"])
        null = model.null_condition(cond)
        assert not torch.allclose(model.frame_audio_projection(null["memory"]),
                                  model.frame_audio_projection(cond["memory"]))
        out, out_null = model(x_t, torch.tensor([5, 5]), cond), model(x_t, torch.tensor([5, 5]), null)
    assert (fed - tokens).abs().mean() > 0.1 and (out - out_null).abs().mean() > 1e-3
    assert not hasattr(make(POSE), "frame_audio_projection")  # off: the original's architecture, its weights
    with pytest.raises(ValueError, match="--frame_audio needs one audio token per frame"):
        FiLMTransformer(with_audio, AudioEncoderConfig(audio_encoder="vq_wav2vec"))
