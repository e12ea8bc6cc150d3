"""Transformer building blocks shared by the denoisers, the guide transformer and the lip regressor.

Conventions (every module here):
- Sequences are batch-first, (B, T, d).
- Positions are times in SECONDS, (T,) shared by the batch or (B, T) per sample. The original fed plain
  token indices to its rotary embedding, so motion (30 Hz), audio (100 Hz) and guide poses (1 Hz) had
  unrelated phases (UPSTREAM 9.23). Here every stream gives the time of its tokens, and the rotary phase is
  `seconds * steps_per_second * frequency`, so a motion frame and the audio or keyframe at the same instant
  share a phase and attention sees true time differences. With the default steps_per_second = FPS = 30 a
  motion frame index is exactly its phase step, i.e. the original's behaviour for the motion stream.
- Masks are boolean with True = BLOCKED, as in torch.nn.MultiheadAttention: `self_attn_mask` (T, T) blocks
  query i from key j (see `causal_mask`), `*_key_padding_mask` (B, S) marks padded keys. A query row whose
  keys are all blocked attends to all keys instead (no NaN); its output belongs to padding anyway.
- Rotary phases are applied per head after the q/k projections (standard RoPE), so attention scores depend
  only on time differences. The original rotated the d-wide layer input before the projection, which is
  not relative; this is a deliberate improvement.

The original's conventions are variants of the same layers (`rotary=`, `activation=`), so its released
checkpoints run on this code (model/original_checkpoint.py translates their key names):
    "time"   a2p: rotary per head after the projections; positions are seconds (above).
    "index"  the original: ONE rotary of width d (lucidrains' rotary-embedding-torch, frequencies
             1 / theta^(2i/d), adjacent pairs) rotates the query and key INPUTS before the in-projection
             (values come from the unrotated input), and positions are plain token indices of each stream
             (motion 0..T-1 at 30 Hz, audio 0..L-1 at 100 Hz, keyframes 0..K-1 at 1 Hz).
    "none"   no rotary (the original lip regressor adds sinusoidal positions to its inputs instead).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from data_loaders.format import FPS


def frame_seconds(length: int, rate: float = FPS, device=None) -> torch.Tensor:
    """(length,) times in seconds of tokens 0..length-1 of a stream sampled at `rate` Hz."""
    return torch.arange(length, device=device, dtype=torch.float32) / rate


ROTARY = ("time", "index", "none")  # the rotary conventions of Attention (module docstring)


def causal_mask(length: int, device=None) -> torch.Tensor:
    """(length, length) bool self-attention mask, True above the diagonal: position i sees only j <= i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE): rotates adjacent pairs (x[2i], x[2i+1]) by angle
    phase * theta^(-2i/dim), phase = seconds * steps_per_second.

    A rotation preserves norms, and <rotate(q, s), rotate(k, r)> depends only on s - r: attention becomes
    relative in time. `dim` must be even; here it is the per-head width. steps_per_second None: positions
    are plain token indices (phase = position), with the frequencies computed as 1 / theta^(2i/dim), bit for
    bit the original's (lucidrains' rotary-embedding-torch).
    """

    def __init__(self, dim: int, theta: float = 10000.0, steps_per_second: float | None = FPS):
        super().__init__()
        if dim % 2:
            raise ValueError(f"RotaryEmbedding: dim must be even, got {dim}")
        exponents = torch.arange(0, dim, 2, dtype=torch.float32) / dim
        self.steps_per_second = 1.0 if steps_per_second is None else steps_per_second
        inv_freq = 1.0 / theta ** exponents if steps_per_second is None else theta ** -exponents
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        """x (..., dim) rotated by the times `seconds` (broadcastable to x.shape[:-1]); same shape and dtype."""
        angles = (seconds.float() * self.steps_per_second)[..., None] * self.inv_freq  # (..., dim/2)
        pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)).contiguous())  # x[2i] + j x[2i+1]
        rotated = pairs * torch.polar(torch.ones_like(angles), angles)
        return torch.view_as_real(rotated).flatten(-2).to(x.dtype)


def _allowed_mask(batch: int, queries: int, keys: int, attn_mask: torch.Tensor | None,
                  key_padding_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(B, 1, Tq, Tk) bool mask for scaled_dot_product_attention (True = may attend), or None."""
    if attn_mask is None and key_padding_mask is None:
        return None
    device = (attn_mask if attn_mask is not None else key_padding_mask).device
    blocked = torch.zeros(batch, 1, queries, keys, dtype=torch.bool, device=device)
    if attn_mask is not None:
        blocked = blocked | attn_mask
    if key_padding_mask is not None:
        blocked = blocked | key_padding_mask[:, None, None, :]
    blocked = blocked & ~blocked.all(-1, keepdim=True)
    return ~blocked


class Attention(nn.Module):
    """Multi-head attention with rotary positions on queries and keys (values are not rotated); `rotary` is
    the convention of the module docstring: "time" (per head, positions in seconds), "index" (the original:
    d-wide rotation of the inputs before the projections, positions are token indices) or "none"."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, rotary: str = "time"):
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"Attention: d_model {d_model} is not divisible by nhead {nhead}")
        if rotary not in ROTARY:
            raise ValueError(f"Attention: rotary must be one of {ROTARY}, got {rotary!r}")
        self.nhead, self.dropout, self.convention = nhead, dropout, rotary
        self.to_q = nn.Linear(d_model, d_model)
        self.to_kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rotary = {"time": lambda: RotaryEmbedding(d_model // nhead), "none": lambda: None,
                       "index": lambda: RotaryEmbedding(d_model, steps_per_second=None)}[rotary]()

    def default_positions(self, length: int, device=None) -> torch.Tensor:
        """(length,) positions of a stream starting at 0: frames at FPS in seconds, or token indices ("index")."""
        return torch.arange(length, device=device, dtype=torch.float32) if self.convention == "index" \
            else frame_seconds(length, device=device)

    def forward(self, x: torch.Tensor, context: torch.Tensor, x_pos: torch.Tensor, context_pos: torch.Tensor,
                attn_mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d) attends to context (B, S, d); positions (T,)/(B, T) and (S,)/(B, S) (seconds, or token
        indices with "index"); attn_mask (T, S) and key_padding_mask (B, S) bool, True = blocked. Returns (B, T, d)."""
        return self.attend(x, x_pos, *self.keys_values(context, context_pos), attn_mask, key_padding_mask)

    def keys_values(self, context: torch.Tensor, context_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values (B, H, S, d/H) of context (B, S, d) at positions (S,)/(B, S), keys rotated."""
        if self.convention == "index":
            weight_k, weight_v = self.to_kv.weight.chunk(2)
            bias_k, bias_v = self.to_kv.bias.chunk(2)
            k = F.linear(self.rotary(context, context_pos), weight_k, bias_k).unflatten(-1, (self.nhead, -1))
            v = F.linear(context, weight_v, bias_v).unflatten(-1, (self.nhead, -1))
        else:
            k, v = self.to_kv(context).unflatten(-1, (2, self.nhead, -1)).unbind(2)
            if self.rotary is not None:
                k = self.rotary(k, context_pos[..., None])
        return k.transpose(1, 2), v.transpose(1, 2)

    def queries(self, x: torch.Tensor, x_pos: torch.Tensor) -> torch.Tensor:
        """Rotated queries (B, H, T, d/H) of x (B, T, d) at positions (T,)/(B, T)."""
        if self.convention == "index":
            return self.to_q(self.rotary(x, x_pos)).unflatten(-1, (self.nhead, -1)).transpose(1, 2)
        q = self.to_q(x).unflatten(-1, (self.nhead, -1))
        return (q if self.rotary is None else self.rotary(q, x_pos[..., None])).transpose(1, 2)

    def attend(self, x: torch.Tensor, x_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               attn_mask: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d) attends to the keys and values (B, H, S, d/H) of `keys_values`; masks as in forward."""
        q = self.queries(x, x_pos)
        mask = _allowed_mask(x.shape[0], x.shape[1], k.shape[2], attn_mask, key_padding_mask)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(h.transpose(1, 2).flatten(-2))


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class FeedForward(nn.Sequential):
    """Linear(d -> ff) -> GELU (or ReLU) -> dropout -> Linear(ff -> d) -> dropout, on (B, T, d)."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float, activation: str = "gelu"):
        super().__init__(nn.Linear(d_model, dim_feedforward), ACTIVATIONS[activation](), nn.Dropout(dropout),
                         nn.Linear(dim_feedforward, d_model), nn.Dropout(dropout))


class FiLM(nn.Module):
    """Feature-wise modulation: (scale, shift) = Linear(Mish(film_vec)); h -> (1 + scale) * h + shift."""

    def __init__(self, d_model: int):
        super().__init__()
        self.block = nn.Sequential(nn.Mish(), nn.Linear(d_model, 2 * d_model))

    def forward(self, h: torch.Tensor, film_vec: torch.Tensor) -> torch.Tensor:
        """h (B, T, d), film_vec (B, d) -> (B, T, d)."""
        scale, shift = self.block(film_vec)[:, None].chunk(2, dim=-1)
        return (1 + scale) * h + shift


def xavier_init(module: nn.Module) -> None:
    """Xavier-normal weights and zero biases for every matrix/conv of `module` (the original's init)."""
    for name, p in module.named_parameters():
        if p.dim() > 1:
            nn.init.xavier_normal_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer with rotary self-attention:
    x += Dropout(SelfAttn(LN1 x)); x += FFN(LN2 x). rotary / activation: the conventions of the module
    docstring and FeedForward."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 1024, dropout: float = 0.1,
                 rotary: str = "time", activation: str = "gelu"):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attn = Attention(d_model, nhead, dropout, rotary)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation)
        self.drop = nn.Dropout(dropout)
        xavier_init(self)

    def forward(self, x: torch.Tensor, x_pos: torch.Tensor | None = None,
                self_attn_mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d); x_pos (T,)/(B, T) positions (default: the stream from 0, `Attention.default_positions`).
        Returns (B, T, d)."""
        x_pos = self.self_attn.default_positions(x.shape[1], x.device) if x_pos is None else x_pos
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h, x_pos, x_pos, self_attn_mask, key_padding_mask))
        return x + self.ffn(self.norm2(x))


class DecoderLayer(nn.Module):
    """Pre-norm transformer decoder layer with rotary attention (no FiLM):
    x += SelfAttn(LN1 x); x += CrossAttn(LN2 x, memory); x += FFN(LN3 x). rotary / activation as EncoderLayer."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 1024, dropout: float = 0.1,
                 rotary: str = "time", activation: str = "gelu"):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = Attention(d_model, nhead, dropout, rotary)
        self.cross_attn = Attention(d_model, nhead, dropout, rotary)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout, activation)
        self.drop = nn.Dropout(dropout)
        xavier_init(self)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, x_pos: torch.Tensor | None = None,
                memory_pos: torch.Tensor | None = None, self_attn_mask: torch.Tensor | None = None,
                x_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d), memory (B, S, d); positions as EncoderLayer (default: each stream from 0). Returns (B, T, d)."""
        x_pos = self.self_attn.default_positions(x.shape[1], x.device) if x_pos is None else x_pos
        memory_pos = self.self_attn.default_positions(memory.shape[1], x.device) if memory_pos is None else memory_pos
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h, x_pos, x_pos, self_attn_mask, x_key_padding_mask))
        h = self.norm2(x)
        x = x + self.drop(self.cross_attn(h, memory, x_pos, memory_pos, None, memory_key_padding_mask))
        return x + self.ffn(self.norm3(x))


class FiLMDecoderLayer(nn.Module):
    """The FiLM transformer decoder layer of the denoisers and the guide (UPSTREAM 2.3 step 7), pre-norm:

        x += FiLM1(SelfAttn(LN1 x))
        x += FiLM2(CrossAttn(LN2 x, memory))
        x += FiLM2a(CrossAttn2(LN2a x, memory2))     only with extra_cross_attention (pose: guide tokens)
        x += FiLM3(FFN(LN3 x))

    rotary: the convention of every attention of the layer (module docstring).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 1024, dropout: float = 0.1,
                 extra_cross_attention: bool = False, rotary: str = "time"):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = Attention(d_model, nhead, dropout, rotary)
        self.cross_attn = Attention(d_model, nhead, dropout, rotary)
        self.ffn = FeedForward(d_model, dim_feedforward, dropout)
        self.film1, self.film2, self.film3 = FiLM(d_model), FiLM(d_model), FiLM(d_model)
        self.drop = nn.Dropout(dropout)
        self.extra_cross_attention = extra_cross_attention
        if extra_cross_attention:
            self.norm2a = nn.LayerNorm(d_model)
            self.cross_attn2 = Attention(d_model, nhead, dropout, rotary)
            self.film2a = FiLM(d_model)
        xavier_init(self)

    def forward(self, x: torch.Tensor, film_vec: torch.Tensor, memory: torch.Tensor,
                memory2: torch.Tensor | None = None, x_pos: torch.Tensor | None = None,
                memory_pos: torch.Tensor | None = None, memory2_pos: torch.Tensor | None = None,
                self_attn_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None,
                x_key_padding_mask: torch.Tensor | None = None,
                memory2_key_padding_mask: torch.Tensor | None = None, cache: dict | None = None) -> torch.Tensor:
        """x (B, T, d); film_vec (B, d); memory (B, S, d); memory2 (B, K, d), required iff the layer was
        built with extra_cross_attention. Positions (len,) or (B, len) in the rotary's unit; None means the
        stream from 0 (`Attention.default_positions`). Masks: True = blocked (module docstring). Returns (B, T, d).

        cache (token-by-token decoding, no extra cross-attention): a dict, empty before the first call, that
        keeps the self-attention keys and values of the rows seen so far and the memory's; each call then
        passes only the new rows x (their x_pos), which attend to every cached row and to each other
        through self_attn_mask (T_new, T_cached + T_new)."""
        if self.extra_cross_attention != (memory2 is not None):
            raise ValueError("FiLMDecoderLayer: pass memory2 exactly when built with extra_cross_attention=True")
        positions = self.self_attn.default_positions
        x_pos = positions(x.shape[1], x.device) if x_pos is None else x_pos
        memory_pos = positions(memory.shape[1], x.device) if memory_pos is None else memory_pos
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h, x_pos)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat((cache["k"], k), dim=2), torch.cat((cache["v"], v), dim=2)
            cache["k"], cache["v"] = k, v
        h = self.self_attn.attend(h, x_pos, k, v, self_attn_mask, x_key_padding_mask)
        x = x + self.film1(self.drop(h), film_vec)
        memory_kv = cache.get("memory") if cache is not None else None
        if memory_kv is None:
            memory_kv = self.cross_attn.keys_values(memory, memory_pos)
            if cache is not None:
                cache["memory"] = memory_kv
        h = self.cross_attn.attend(self.norm2(x), x_pos, *memory_kv, None, memory_key_padding_mask)
        x = x + self.film2(self.drop(h), film_vec)
        if self.extra_cross_attention:
            memory2_pos = positions(memory2.shape[1], x.device) if memory2_pos is None else memory2_pos
            h = self.cross_attn2(self.norm2a(x), memory2, x_pos, memory2_pos, None, memory2_key_padding_mask)
            x = x + self.film2a(self.drop(h), film_vec)
        return x + self.film3(self.ffn(self.norm3(x)), film_vec)


def null_like(null: torch.Tensor, like: torch.Tensor, what: str) -> torch.Tensor:
    """A learned null condition shaped like `like` (B, L, d): a vector (d,) broadcast over any L, or a learned
    sequence (N, d) truncated to its first L rows (the original's, which limits L to N)."""
    if null.dim() == 2:
        check_null_length(null, like.shape[1], what)
        null = null[:like.shape[1]]
    return null.to(like.dtype).expand_as(like)


def check_null_length(null: torch.Tensor, length: int, what: str) -> None:
    """ValueError when a learned null sequence (N, d) is shorter than `length` tokens of a condition."""
    if null.dim() == 2 and length > null.shape[0]:
        raise ValueError(f"{length} {what} exceed the {null.shape[0]} of the model's learned null sequence (the "
                         f"original's models take windows of at most 600 frames = 20 s); sample with "
                         f"--max_seq_length 600 or less")


class SinusoidalTimestepEmbedding(nn.Module):
    """(B,) diffusion step indices (integers, not rescaled) -> (B, dim) [sin | cos] features with
    frequencies exp(-ln(10000) * i / (dim/2 - 1)), as the original's time MLP input."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half) / (half - 1)),
                             persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.freqs
        return torch.cat((angles.sin(), angles.cos()), dim=-1)
