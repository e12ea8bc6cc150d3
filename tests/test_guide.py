"""Guide transformer: nucleus sampling, determinism, causality, audio conditioning (encoded once), and
learning a tiny task whose tokens are the pitch of each second of audio, heard at any level."""
import pytest
import torch

from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME
from model.audio_encoder import AudioEncoderConfig
from model.guide import GuideConfig, GuideTransformer, top_p_sample

PITCHES = torch.tensor([220.0, 660.0, 1980.0, 5940.0])  # tone frequency (Hz) of each class


def tiny_guide(**overrides) -> GuideTransformer:
    values = dict(layers=2, dim=32, heads=2, ff_size=64, audio_layers=1, codebook_size=4, depth=2, dropout=0.0,
                  cond_drop_prob=0.1)
    values.update(overrides)
    return GuideTransformer(GuideConfig(**values), AudioEncoderConfig(n_mels=16, audio_hidden=32, audio_channel_dim=16))


def pitch_task(batch: int, seconds: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """audio (B, seconds * 48000, 2) of tones whose pitch class changes every second, each channel of each
    item at a random level (-40..0 dBFS: the front end is level-invariant, so only the pitch can tell the
    class), and tokens (B, seconds * 2): per keyframe [class of channel 0, class of channel 1] in that second."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(4, (batch, seconds, 2), generator=g)
    frequency = PITCHES[classes].repeat_interleave(SAMPLE_RATE, dim=1)
    phase = 2 * torch.pi * torch.cumsum(frequency / SAMPLE_RATE, dim=1)
    level = 10 ** (-2 * torch.rand(batch, 1, 2, generator=g))
    return level * torch.sin(phase), classes.reshape(batch, -1)


def test_top_p_tiny_is_argmax_and_zero_temperature_is_greedy():
    logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    assert torch.equal(top_p_sample(logits, 1e-6, 1.0, g), logits.argmax(-1))
    assert torch.equal(top_p_sample(logits, 0.9, 0.0, g), logits.argmax(-1))


def test_top_p_never_draws_outside_the_nucleus_and_renormalises():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().expand(20000, 4)
    draws = top_p_sample(logits, 0.7, 1.0, torch.Generator().manual_seed(0))  # nucleus: {0, 1} (0.5 < 0.7 <= 0.8)
    counts = torch.bincount(draws, minlength=4).float()
    assert counts[2] == 0 and counts[3] == 0
    assert abs(counts[0] / counts.sum() - 0.5 / 0.8) < 0.02
    draws = top_p_sample(logits, 0.81, 1.0, torch.Generator().manual_seed(0))  # reaching 0.81 needs 3 tokens
    assert torch.bincount(draws, minlength=4)[2] > 0 and torch.bincount(draws, minlength=4)[3] == 0


def test_temperature_sharpens_the_distribution():
    logits = torch.tensor([1.0, 0.0, -1.0]).expand(5000, 3)
    hot = top_p_sample(logits, 1.0, 2.0, torch.Generator().manual_seed(0))
    cold = top_p_sample(logits, 1.0, 0.3, torch.Generator().manual_seed(0))
    assert (cold == 0).float().mean() > (hot == 0).float().mean() + 0.3


def test_generate_length_range_determinism_and_single_audio_encoding():
    torch.manual_seed(0)
    model = tiny_guide().eval()
    audio, _ = pitch_task(2, 3, seed=0)
    calls = []
    model.audio_encoder.register_forward_hook(lambda *args: calls.append(1))
    tokens = model.generate(audio, 3, generator=torch.Generator().manual_seed(5))
    assert len(calls) == 1, "audio is encoded once per generate call, not per token"
    assert tokens.shape == (2, 6) and tokens.dtype == torch.int64
    assert tokens.min() >= 0 and tokens.max() < 4
    again = model.generate(audio, 3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(tokens, again)
    others = [model.generate(audio, 3, top_p=1.0, generator=torch.Generator().manual_seed(s)) for s in range(6, 10)]
    assert any(not torch.equal(tokens, other) for other in others)
    with pytest.raises(ValueError, match="keyframes need at least"):
        model.generate(audio, 4)


def test_greedy_generation_agrees_with_teacher_forced_logits():
    torch.manual_seed(0)
    model = tiny_guide().eval()
    audio, _ = pitch_task(2, 3, seed=1)
    tokens = model.generate(audio, 3, temperature=0.0)
    logits = model(tokens, model.encode_audio(audio))
    assert torch.equal(logits.argmax(-1), tokens)


@pytest.mark.parametrize("padded", [False, True])
def test_cached_generation_steps_give_the_teacher_forced_logits(padded):
    torch.manual_seed(0)
    model = tiny_guide(layers=3).eval()
    audio, _ = pitch_task(2, 4, seed=3)
    frame_mask = None
    if padded:  # the second row's last 50 frames are padding
        frame_mask = torch.ones(2, audio.shape[1] // SAMPLES_PER_FRAME, dtype=torch.bool)
        frame_mask[1, -50:] = False
    step_logits = []
    model.final_layer.register_forward_hook(lambda module, args, out: step_logits.append(out[:, -1]))
    tokens = model.generate(audio, 4, top_p=1.0, generator=torch.Generator().manual_seed(1), frame_mask=frame_mask)
    generated = torch.stack(step_logits, dim=1)  # (B, L, codebook): one row per decoding step
    teacher_forced = model(tokens, model.encode_audio(audio, frame_mask))
    torch.testing.assert_close(generated, teacher_forced, rtol=1e-5, atol=1e-5)


def test_causal_mask_future_tokens_do_not_change_past_logits():
    torch.manual_seed(0)
    model = tiny_guide().eval()
    audio, tokens = pitch_task(2, 3, seed=2)
    cond = model.encode_audio(audio)
    changed = tokens.clone()
    changed[:, 3] = (changed[:, 3] + 1) % 4
    logits, logits_changed = model(tokens, cond), model(changed, cond)
    assert torch.equal(logits[:, :4], logits_changed[:, :4])
    assert not torch.allclose(logits[:, 4:], logits_changed[:, 4:])


def test_audio_changes_logits_and_condition_dropout_follows_seeds():
    torch.manual_seed(0)
    model = tiny_guide(cond_drop_prob=0.5).eval()
    (audio, tokens), (other_audio, _) = pitch_task(1, 2, seed=3), pitch_task(1, 2, seed=4)
    logits = model(tokens, model.encode_audio(audio))
    assert not torch.allclose(logits, model(tokens, model.encode_audio(other_audio)), atol=1e-4)
    cond = model.encode_audio(audio.expand(32, -1, -1))
    seeds = torch.arange(32)
    dropped = model.drop_condition(cond, seeds)
    null = model.null_cond_embed.expand_as(cond["memory"][0])
    is_null = torch.tensor([torch.equal(m, null) for m in dropped["memory"]])
    assert 4 < is_null.sum() < 28
    again = model.drop_condition(cond, seeds)
    assert torch.equal(again["memory"], dropped["memory"]) and torch.equal(again["film"], dropped["film"])
    assert torch.equal(dropped["film"][is_null], model.null_cond_hidden.expand(int(is_null.sum()), -1))


def test_loss_falls_and_tokens_follow_the_audio():
    torch.manual_seed(0)
    model = tiny_guide()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    held_audio, held_tokens = pitch_task(32, 2, seed=10_000)
    model.eval()
    with torch.no_grad():
        first = model.loss(held_tokens, held_audio, torch.arange(32))[1]
    model.train()
    for step in range(150):
        audio, tokens = pitch_task(8, 2, seed=step)
        loss, metrics = model.loss(tokens, audio, torch.arange(8) + 8 * step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        last = model.loss(held_tokens, held_audio, torch.arange(32), token_mask=torch.ones_like(held_tokens, dtype=torch.bool))[1]
        sampled = model.generate(held_audio, 2, top_p=0.5, generator=torch.Generator().manual_seed(0))
    sampled_accuracy = (sampled == held_tokens).float().mean().item()
    print(f"held-out CE {first['ce']:.3f} -> {last['ce']:.3f} (chance {torch.log(torch.tensor(4.0)):.3f}); "
          f"accuracy {first['accuracy']:.2f} -> {last['accuracy']:.2f}; nucleus-sampled accuracy {sampled_accuracy:.2f}")
    assert last["ce"] < 0.5 * first["ce"]
    assert last["accuracy"] > 0.8 and sampled_accuracy > 0.8  # chance is 0.25: the tokens come from the audio


def test_token_mask_excludes_padding_from_the_loss():
    torch.manual_seed(0)
    model = tiny_guide().eval()
    audio, tokens = pitch_task(2, 3, seed=5)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[1, 4:] = False
    other = tokens.clone()
    other[1, 4:] = (other[1, 4:] + 1) % 4
    seeds = torch.tensor([0, 1])
    assert model.loss(tokens, audio, seeds, mask)[0] == model.loss(other, audio, seeds, mask)[0]
    assert model.loss(tokens, audio, seeds)[0] != model.loss(other, audio, seeds)[0]
    frames = audio.shape[1] // SAMPLES_PER_FRAME
    assert model.encode_audio(audio, torch.ones(2, frames, dtype=torch.bool))["frame_padding"].shape == (2, frames)
