"""Guide transformer: audio -> VQ tokens of the 1 fps guide poses, autoregressively (UPSTREAM 2.6).

Tokens follow the layout of `model.vqvae.tokens_from_indices`: (B, L = K * depth), keyframe-major then
level, ids in [0, codebook_size). Position i predicts token i (keyframe k = i // depth, level i % depth)
from the audio and the tokens before it (teacher forcing: inputs are [SOS] + tokens[:-1], causal
self-attention mask).

Audio is encoded ONCE per sample (`encode_audio`) into a condition dict of batch-first tensors:

    "memory"        (B, T, dim)  LayerNorm(audio tokens), one per 30 fps frame, the cross-attention memory
    "film"          (B, dim)     MLP(masked mean of the audio tokens): the FiLM vector (no timestep here)
    "frame_padding" (B, T)       only when a frame mask was given: True = padded frame (blocked key)

Audio tokens = `audio_layers` rotary transformer encoder layers over Linear(AudioEncoder features);
the original ran two blocks of 1024-wide dilated convolutions over vq-wav2vec features instead.
`generate` reuses the dict for every token (the original re-encoded the audio for each of its 80 steps).

Time alignment: rotary positions are seconds (`model.layers`). Audio token j sits at j / 30 s; every
token of keyframe k (all its levels) sits at k s, the time of motion frame 30 k, so a query attends to the
audio around its own keyframe with true time differences. Tokens of one keyframe share their time; the
input embedding tells them apart: it has one table per level (code 5 of level 0 and code 5 of level 1 are
different rows) plus a start row, so the input at position i (the token of level (i - 1) % depth, or the
start row) also tells the model which level it predicts. The original used one table of
codebook_size + 1 rows for all levels (SOS id = codebook_size) and plain token indices as positions.

Condition dropout (training): per sample, with probability cond_drop_prob, memory and FiLM vector are
replaced by learned null vectors (broadcast over time, so any audio length works), drawn from the item
seed through utils.rng. Generation always keeps the audio (no guidance, as in the original).

The original's guide, to run its released checkpoints (model/original_checkpoint.py), is a variant selected
by config fields: --rotary index (plain token indices as rotary positions, layers.py; no attention masks),
--audio_encoder vq_wav2vec (100 Hz audio tokens), --audio_convs 2 instead of --audio_layers (its `pre_audio`:
blocks of six unpadded dilated Conv1d(k=3, dilations 1,2,3,1,2,3) + LeakyReLU(0.2) + Dropout(0.2) over the
audio features, then a 1x1 conv; each block shortens the sequence by 24 tokens), --token_table shared (one
table of codebook_size + 1 rows for every level, SOS = codebook_size) and --null_audio_tokens 1998.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from data_loaders.format import FPS, KEYFRAME_STEP, SAMPLES_PER_FRAME
from model.audio_encoder import AudioEncoderConfig, build_audio_encoder
from model.layers import EncoderLayer, FiLMDecoderLayer, causal_mask, frame_seconds, null_like, xavier_init
from utils.config import arg
from utils.rng import per_sample_uniform

GUIDE_AUDIO_DROP_SALT = 1003  # utils.rng stream of the guide's condition dropout


@dataclass
class GuideConfig:
    """Guide transformer (audio -> 1 fps pose tokens); defaults: the original's released --layers 6 --dim 64."""
    layers: int = arg(6, "FiLM decoder layers")
    dim: int = arg(64, "transformer width")
    heads: int = arg(4, "attention heads (dim / heads must be even: rotary pairs)")
    ff_size: int = arg(1024, "feed-forward width (the original uses 1024 even for dim 64)")
    dropout: float = arg(0.1, "dropout in attention and feed-forward blocks")
    audio_layers: int = arg(2, "rotary transformer encoder layers over the projected audio features")
    cond_drop_prob: float = arg(0.2, "training probability of replacing a sample's audio by the learned null")
    label_smoothing: float = arg(0.1, "label smoothing of the token cross-entropy")
    codebook_size: int = arg(1024, "VQ codebook size = token classes (must match the VQ; train_guide sets it)")
    depth: int = arg(4, "VQ residual levels = tokens per keyframe (must match the VQ; train_guide sets it)")
    rotary: Literal["time", "index"] = arg("time", "position convention (model/layers.py): time = rotary per head "
                                                   "on seconds; index = the original's")
    audio_convs: int = arg(0, "blocks of six dilated convs over the audio features before the projection (the "
                              "original's pre_audio: 2)")
    token_table: Literal["per_level", "shared"] = arg("per_level", "token embedding: one table per VQ level, or "
                                                                   "the original's one shared table")
    null_audio_tokens: int = arg(0, "0 = learned null audio vector for any length; N = the original's learned "
                                    "null sequence of N tokens (1998)")


def top_p_sample(logits: torch.Tensor, top_p: float, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Nucleus sampling: (B, V) logits -> (B,) int64 token ids.

    probs = softmax(logits / temperature); the nucleus is the smallest prefix of the probabilities sorted
    in decreasing order whose mass reaches top_p (always at least the most likely token); it is
    renormalised and sampled with `generator` (which must live on the logits' device). temperature <= 0
    means greedy (argmax).
    """
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    keep = mass_before < top_p
    keep[:, 0] = True
    nucleus = sorted_probs * keep
    choice = torch.multinomial(nucleus / nucleus.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(-1, choice).squeeze(-1)


def dilated_audio_convs(channels: int, blocks: int) -> nn.Sequential:
    """The original guide's pre_audio (module docstring): (B, C, L) -> (B, C, L - 24 * blocks)."""
    layers: list[nn.Module] = []
    for _ in range(blocks):
        for dilation in (1, 2, 3, 1, 2, 3):
            layers += [nn.Conv1d(channels, channels, 3, dilation=dilation), nn.LeakyReLU(0.2), nn.Dropout(0.2)]
    return nn.Sequential(*layers, nn.Conv1d(channels, channels, 1))


class GuideTransformer(nn.Module):
    """Autoregressive token model over the VQ token layout, conditioned on audio (module docstring)."""

    def __init__(self, cfg: GuideConfig, audio_cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.audio_encoder = build_audio_encoder(audio_cfg, channels=2)
        self.pre_audio = dilated_audio_convs(self.audio_encoder.out_dim, cfg.audio_convs) if cfg.audio_convs else None
        self.cond_projection = nn.Linear(self.audio_encoder.out_dim, d)
        self.audio_layers = nn.ModuleList(EncoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout, cfg.rotary)
                                          for _ in range(cfg.audio_layers))
        self.film_projection = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.norm_cond = nn.LayerNorm(d)
        self.null_cond_embed = nn.Parameter(torch.randn(cfg.null_audio_tokens, d) if cfg.null_audio_tokens
                                            else torch.randn(d))
        self.null_cond_hidden = nn.Parameter(torch.randn(d))
        self.shared_table = cfg.token_table == "shared"
        self.sos_id = cfg.codebook_size * (1 if self.shared_table else cfg.depth)
        self.token_embedding = nn.Embedding(self.sos_id + 1, d)
        self.decoder = nn.ModuleList(FiLMDecoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout, rotary=cfg.rotary)
                                     for _ in range(cfg.layers))
        self.final_layer = nn.Linear(d, cfg.codebook_size)
        xavier_init(self.final_layer)

    def encode_audio(self, audio: torch.Tensor, frame_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """audio (B, T * 1600, 2) normalised 48 kHz waveform; frame_mask (B, T) bool True = real frame
        (None: all real; ignored with rotary "index", the original's) -> condition dict (module docstring)."""
        features = self.audio_encoder(audio)
        if self.pre_audio is not None:
            features = self.pre_audio(features.transpose(1, 2)).transpose(1, 2)
        tokens = self.cond_projection(features)
        frame_padding = None if frame_mask is None or self.cfg.rotary == "index" else ~frame_mask.bool()
        for layer in self.audio_layers:
            tokens = layer(tokens, key_padding_mask=frame_padding)
        weights = torch.ones_like(tokens[..., :1]) if frame_padding is None else frame_mask[..., None].to(tokens.dtype)
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp_min(1)
        cond = {"memory": self.norm_cond(tokens), "film": self.film_projection(pooled)}
        if frame_padding is not None:
            cond["frame_padding"] = frame_padding
        return cond

    def null_condition(self, cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The same dict with memory and FiLM vector replaced by the learned null vectors."""
        null = dict(cond)
        memory = null_like(self.null_cond_embed, cond["memory"], "audio tokens")
        # the original's null sequence stands for the audio tokens, before the memory's LayerNorm
        null["memory"] = self.norm_cond(memory) if self.cfg.null_audio_tokens else memory
        null["film"] = self.null_cond_hidden.to(cond["film"].dtype).expand_as(cond["film"])
        return null

    def drop_condition(self, cond: dict[str, torch.Tensor], seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per sample, the null condition with probability cond_drop_prob, decided by the item seed (B,)."""
        null = self.null_condition(cond)
        drop = per_sample_uniform(seeds, GUIDE_AUDIO_DROP_SALT, cond["memory"].device) < self.cfg.cond_drop_prob
        dropped = dict(cond)
        dropped["memory"] = torch.where(drop[:, None, None], null["memory"], cond["memory"])
        dropped["film"] = torch.where(drop[:, None], null["film"], cond["film"])
        return dropped

    def token_positions(self, length: int, device=None) -> torch.Tensor:
        """(length,) rotary positions of token positions 0..length-1: the second of keyframe i // depth, or
        the plain index i (rotary "index")."""
        if self.cfg.rotary == "index":
            return torch.arange(length, device=device, dtype=torch.float32)
        return torch.div(torch.arange(length, device=device), self.cfg.depth, rounding_mode="floor").float() \
            * (KEYFRAME_STEP / FPS)

    def memory_positions(self, cond: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Rotary positions of the memory: its frames in seconds, or None (token indices, rotary "index")."""
        memory = cond["memory"]
        return None if self.cfg.rotary == "index" else frame_seconds(memory.shape[1], device=memory.device)

    def _input_ids(self, prefix: torch.Tensor) -> torch.Tensor:
        """(B, n) tokens -> (B, n + 1) embedding rows: start row, then code + level * codebook_size (the shared
        table: the code itself)."""
        levels = torch.arange(prefix.shape[1], device=prefix.device) % self.cfg.depth
        start = torch.full((prefix.shape[0], 1), self.sos_id, dtype=prefix.dtype, device=prefix.device)
        offsets = 0 if self.shared_table else levels * self.cfg.codebook_size
        return torch.cat((start, prefix + offsets), dim=1)

    def logits_after(self, prefix: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (B, n + 1, codebook_size) of positions 0..n given the first n tokens prefix (B, n)."""
        h = self.token_embedding(self._input_ids(prefix))
        positions = h.shape[1]
        x_pos = self.token_positions(positions, device=h.device)
        mask = causal_mask(positions, device=h.device)
        for layer in self.decoder:
            h = layer(h, cond["film"], cond["memory"], x_pos=x_pos, memory_pos=self.memory_positions(cond),
                      self_attn_mask=mask,
                      memory_key_padding_mask=cond.get("frame_padding"))
        return self.final_layer(h)

    def forward(self, tokens: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits (B, L, codebook_size): position i sees only tokens[:, :i] (B, L)."""
        return self.logits_after(tokens[:, :-1], cond)

    def loss(self, tokens: torch.Tensor, audio: torch.Tensor, seeds: torch.Tensor,
             token_mask: torch.Tensor | None = None,
             frame_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss: label-smoothed cross-entropy of tokens (B, L) given audio (B, T * 1600, 2), with
        condition dropout drawn from seeds (B,). token_mask (B, L) bool marks real tokens (None: all);
        frame_mask (B, T) marks real audio frames (None: all). Metrics (detached): ce (without smoothing;
        exp(ce) is the perplexity) and accuracy (argmax), both over real tokens."""
        cond = self.drop_condition(self.encode_audio(audio, frame_mask), seeds)
        logits = self(tokens, cond).float()
        weights = torch.ones_like(tokens, dtype=torch.float32) if token_mask is None else token_mask.float()
        total = weights.sum().clamp_min(1)

        def masked_mean(values: torch.Tensor) -> torch.Tensor:
            return (values * weights).sum() / total

        flat_logits, flat_tokens = logits.flatten(0, 1), tokens.flatten()
        smoothed = F.cross_entropy(flat_logits, flat_tokens, reduction="none", label_smoothing=self.cfg.label_smoothing)
        loss = masked_mean(smoothed.view_as(weights))
        with torch.no_grad():
            ce = masked_mean(F.cross_entropy(flat_logits, flat_tokens, reduction="none").view_as(weights))
            accuracy = masked_mean((logits.argmax(-1) == tokens).float())
        return loss, {"ce": ce, "accuracy": accuracy}

    @torch.no_grad()
    def generate(self, audio: torch.Tensor, num_keyframes: int, temperature: float = 1.0, top_p: float = 0.94,
                 generator: torch.Generator | None = None, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sample tokens (B, num_keyframes * depth) for audio (B, T * 1600, 2), one token at a time with
        nucleus sampling (`top_p_sample`). The audio is encoded once; each step runs only the new token through
        the decoder, against the cached keys and values of the tokens before it (the logits of `logits_after`).
        Deterministic for a given generator (on the model's device). Call model.eval() first (dropout).
        Keyframe k covers frame 30 k, so num_keyframes may be at most ceil(T / 30)."""
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        if num_keyframes > -(-frames // KEYFRAME_STEP):
            raise ValueError(f"generate: {num_keyframes} keyframes need at least {(num_keyframes - 1) * KEYFRAME_STEP + 1}"
                             f" frames of audio ({SAMPLES_PER_FRAME} samples each), got {frames}")
        cond = self.encode_audio(audio, frame_mask)
        length = num_keyframes * self.cfg.depth
        positions = self.token_positions(length, device=audio.device)
        memory_pos = self.memory_positions(cond)
        caches = [{} for _ in self.decoder]  # per layer: keys and values of the tokens so far (FiLMDecoderLayer)
        tokens = torch.zeros(audio.shape[0], 0, dtype=torch.long, device=audio.device)
        for position in range(length):
            h = self.token_embedding(self._input_ids(tokens)[:, -1:])
            for layer, cache in zip(self.decoder, caches):
                h = layer(h, cond["film"], cond["memory"], x_pos=positions[position:position + 1],
                          memory_pos=memory_pos, memory_key_padding_mask=cond.get("frame_padding"), cache=cache)
            next_token = top_p_sample(self.final_layer(h)[:, -1], top_p, temperature, generator)
            tokens = torch.cat((tokens, next_token[:, None]), dim=1)
        return tokens
