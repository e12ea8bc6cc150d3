import torch

from model.layers import (EncoderLayer, FiLM, FiLMDecoderLayer, RotaryEmbedding, SinusoidalTimestepEmbedding,
                          causal_mask, frame_seconds)


def test_rotary_preserves_norms_and_is_relative():
    torch.manual_seed(0)
    rotary = RotaryEmbedding(16)
    q, k = torch.randn(16), torch.randn(16)
    seconds = torch.tensor([0.0, 0.5, 3.0, 100.0])
    rotated_q = rotary(q.expand(4, 16), seconds)
    assert torch.allclose(rotated_q.norm(dim=-1), q.norm().expand(4), atol=1e-4)
    assert not torch.allclose(rotated_q[0], rotated_q[1])

    def score(s_q, s_k):
        return (rotary(q[None], torch.tensor([s_q])) * rotary(k[None], torch.tensor([s_k]))).sum()
    assert torch.allclose(score(1.0, 0.2), score(11.0, 10.2), atol=1e-4)
    assert torch.allclose(score(0.3, 2.0), score(5.3, 7.0), atol=1e-4)
    assert not torch.allclose(score(1.0, 0.2), score(1.0, 0.9), atol=1e-3)


def test_rotary_phase_is_time_aligned_across_rates():
    rotary = RotaryEmbedding(8)
    x = torch.randn(8)
    motion = rotary(x.expand(61, 8), frame_seconds(61, rate=30))  # 30 fps frames 0..60
    keyframes = rotary(x.expand(3, 8), frame_seconds(3, rate=1))  # 1 fps keyframes 0, 1, 2 s
    assert torch.allclose(motion[::30], keyframes, atol=1e-4)


def test_causal_mask_blocks_the_future():
    torch.manual_seed(0)
    layer = FiLMDecoderLayer(16, 2, 32, dropout=0.0).eval()
    x, film, memory = torch.randn(1, 9, 16), torch.randn(1, 16), torch.randn(1, 4, 16)
    out = layer(x, film, memory, self_attn_mask=causal_mask(9))
    x_changed = x.clone()
    x_changed[:, 6:] += torch.randn(1, 3, 16)
    out_changed = layer(x_changed, film, memory, self_attn_mask=causal_mask(9))
    assert torch.allclose(out[:, :6], out_changed[:, :6], atol=1e-5)
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:], atol=1e-3)
    without_mask = layer(x_changed, film, memory)
    assert not torch.allclose(out[:, :6], without_mask[:, :6], atol=1e-3)


def test_key_padding_hides_padded_memory():
    torch.manual_seed(0)
    layer = FiLMDecoderLayer(16, 2, 32, dropout=0.0, extra_cross_attention=True).eval()
    x, film = torch.randn(2, 5, 16), torch.randn(2, 16)
    memory, guide = torch.randn(2, 7, 16), torch.randn(2, 3, 16)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[:, 4:] = True
    out = layer(x, film, memory, guide, memory_key_padding_mask=pad)
    memory_changed = memory.clone()
    memory_changed[:, 4:] = torch.randn(2, 3, 16)
    assert torch.allclose(out, layer(x, film, memory_changed, guide, memory_key_padding_mask=pad), atol=1e-5)
    assert not torch.allclose(out, layer(x, film, memory_changed, guide), atol=1e-3)
    all_padded = layer(x, film, memory, guide, memory2_key_padding_mask=torch.ones(2, 3, dtype=torch.bool))
    assert torch.isfinite(all_padded).all()


def test_film_decoder_layer_shapes_and_conditioning():
    torch.manual_seed(0)
    layer = FiLMDecoderLayer(24, 4, 48, dropout=0.1, extra_cross_attention=True).eval()
    x, film = torch.randn(3, 13, 24), torch.randn(3, 24)
    memory, guide = torch.randn(3, 13, 24), torch.randn(3, 2, 24)
    out = layer(x, film, memory, guide, memory2_pos=frame_seconds(2, rate=1))
    assert out.shape == (3, 13, 24)
    assert not torch.allclose(out, layer(x, torch.randn(3, 24), memory, guide), atol=1e-3)
    assert not torch.allclose(out, layer(x, film, memory, torch.randn(3, 2, 24)), atol=1e-3)
    per_sample_pos = frame_seconds(13).expand(3, 13)
    assert torch.allclose(out, layer(x, film, memory, guide, x_pos=per_sample_pos,
                                     memory2_pos=frame_seconds(2, rate=1)), atol=1e-5)


def test_encoder_layer_shapes_odd_length():
    layer = EncoderLayer(16, 4, 32)
    assert layer(torch.randn(2, 17, 16)).shape == (2, 17, 16)


def test_film_identity_at_zero_modulation():
    film = FiLM(8)
    torch.nn.init.zeros_(film.block[1].weight)
    torch.nn.init.zeros_(film.block[1].bias)
    h = torch.randn(2, 5, 8)
    assert torch.equal(film(h, torch.randn(2, 8)), h)


def test_timestep_embedding_distinguishes_steps():
    emb = SinusoidalTimestepEmbedding(32)(torch.tensor([0, 1, 500, 999]))
    assert emb.shape == (4, 32)
    assert torch.cdist(emb, emb).fill_diagonal_(1.0).min() > 0.1
