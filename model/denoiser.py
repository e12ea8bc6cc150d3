"""The FiLM transformer denoiser of the face and body diffusion models (UPSTREAM 2.3): given noisy motion
x_t, the diffusion step t and a condition, it predicts the clean motion x0 (normalised, (B, T, C)).

Conditions are encoded ONCE per sample (`encode_condition`), not inside every denoising step as in the
original, and are dicts of batch-first tensors, so guidance can torch.cat a condition and its
`null_condition` along the batch and run one forward pass:

    "memory"        (B, T, d)  audio tokens, one per motion frame (face: + lip vertices), after the
                               condition encoder layers (face); (B, L, d) at 100 Hz with vq_wav2vec
    "pooled"        (B, d)     MLP(masked mean of the audio tokens): the audio part of the FiLM vector
    "guide"         (B, K, d)  pose only: LayerNorm(Linear(keyframes)), keyframe k at k seconds
    "frame_padding" (B, T)     only when a mask was given: True = padded frame (blocked as attention key)
    "guide_padding" (B, K)     pose, only when a mask was given: True = padded keyframe

Forward (UPSTREAM 2.3 steps 2-9): motion tokens Linear(C -> d) (with --frame_audio, plus
Linear(LayerNorm(audio token)) of the same frame: the memory, so the null condition drops it too); t_hidden = Mish(Linear(sinusoid(t)));
film_vec = Linear(t_hidden) + pooled; two time tokens Linear(t_hidden) appended to the audio tokens and the
whole memory LayerNorm-ed; `layers` FiLM decoder layers (pose: second cross-attention to the guide tokens);
Linear(d -> C); pose: the causal dilated post-net. Rotary positions are times in seconds, so motion frame i,
audio token i and keyframe i/30 share their phase (`model.layers`); the two time tokens sit at 0 s.

Differences from the original, all deliberate: any T (null embeddings are learned vectors broadcast over
tokens, no 1998-token limit); one audio token per frame from the owned `model.audio_encoder`; padded frames
are blocked with key padding masks; the post-net dropout follows `self.training`.

The original's own convention, to run its released checkpoints (model/original_checkpoint.py), is a variant
selected by config fields: --rotary index (the original's rotary phases on plain token indices of each
stream, layers.py; no attention masks: keyframes beyond the mask are zeroed instead, as the original does),
--audio_encoder vq_wav2vec (memory tokens at 100 Hz instead of one per frame; lip vertices are resized to that
rate, nearest-exact), --null_audio_tokens 1998 / --null_keyframes 20 (null conditions are learned sequences
truncated to the token count, so a window holds at most 600 frames) and --post_net_width 256.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from data_loaders.format import FACE_DIM, FPS, KEYFRAME_STEP, POSE_DIM
from model.audio_encoder import AudioEncoderConfig, build_audio_encoder
from model.layers import (EncoderLayer, FiLMDecoderLayer, SinusoidalTimestepEmbedding, check_null_length,
                          frame_seconds, null_like, xavier_init)
from utils.config import arg
from utils.rng import per_sample_uniform

AUDIO_DROP_SALT = 1001  # utils.rng streams of the condition dropout (independent of other per-sample draws)
GUIDE_DROP_SALT = 1002


@dataclass
class DenoiserConfig:
    """FiLM transformer denoiser (defaults: the face model; `denoiser_preset("pose")` for the body)."""
    nfeats: int = arg(FACE_DIM, "motion features per frame (256 face codes, 104 pose parameters)")
    latent_dim: int = arg(512, "transformer width d (original: 512 face, 256 pose)")
    layers: int = arg(8, "FiLM decoder layers (original: 8 face, 6 pose)")
    heads: int = arg(8, "attention heads")
    ff_size: int = arg(1024, "feed-forward width")
    dropout: float = arg(0.1, "dropout in attention and feed-forward blocks")
    cond_drop_prob: float = arg(0.2, "training probability of replacing a sample's audio (and, independently, "
                                     "its guide poses) by the learned null condition (alias: the original's "
                                     "--cond_mask_prob, which its training ignored)", aliases=("--cond_mask_prob",))
    lip_dim: int = arg(0, "face: L*3 lip vertex coordinates per frame fed with the audio (0 = no lip input)")
    use_guide: bool = arg(False, "pose: cross-attend to guide poses (keyframes at 1 fps)")
    num_cond_layers: int = arg(2, "transformer encoder layers over the audio tokens (original: 2 face, 0 pose)")
    post_net: bool = arg(False, "pose: causal dilated conv post-net after the transformer")
    post_net_width: int = arg(0, "hidden width of the post-net (0 = latent_dim; the original: 256)")
    rotary: Literal["time", "index"] = arg("time", "position convention: time = rotary per head on seconds, all "
                                                   "streams aligned in time; index = the original's (rotary on "
                                                   "the layer input, plain token indices, no attention masks)")
    null_audio_tokens: int = arg(0, "0 = the null audio condition is a learned vector for any length; N = a "
                                    "learned sequence of N tokens truncated to the audio's (the original: 1998)")
    null_keyframes: int = arg(0, "pose: 0 = learned null guide vector; K = learned sequence of K keyframes (the "
                                 "original: 20)")
    frame_audio: bool = arg(False, "add each frame's audio token (the condition memory, LayerNorm-ed and "
                                   "projected) to its motion token, so the audio of frame i reaches frame i "
                                   "directly and not only through cross-attention (a2p's body default; "
                                   "needs one audio token per frame, --audio_encoder mel_conv)")


def denoiser_preset(data_format: str, lip_dim: int = 0) -> dict:
    """The original's sizes as a flat dict (for parse_config(defaults=...) / from_dict): face or pose."""
    if data_format == "face":
        return dict(nfeats=FACE_DIM, latent_dim=512, layers=8, heads=8, lip_dim=lip_dim, use_guide=False,
                    num_cond_layers=2, post_net=False)
    if data_format == "pose":
        return dict(nfeats=POSE_DIM, latent_dim=256, layers=6, heads=8, lip_dim=0, use_guide=True,
                    num_cond_layers=0, post_net=True)
    raise ValueError(f"--data_format {data_format!r}: choose face or pose")


def at_token_rate(per_frame: torch.Tensor, tokens: int) -> torch.Tensor:
    """(B, T, F) per-frame features resized in time to (B, tokens, F) with nearest-exact interpolation (the
    original's lip vertices at the 100 Hz audio token rate); unchanged when tokens == T."""
    if per_frame.shape[1] == tokens:
        return per_frame
    return F.interpolate(per_frame.transpose(1, 2), size=tokens, mode="nearest-exact").transpose(1, 2)


class CausalPostNet(nn.Module):
    """Pose post-net (UPSTREAM 2.3 step 9): left-pad 24 frames, six Conv1d(k=3) with dilations 1,2,3,1,2,3
    and widths C -> hidden -> C -> C -> C -> C -> C, each followed by LeakyReLU(0.2) and Dropout(0.2); where
    widths match, the output is the mean of the cropped input and the conv output; then a 1x1 conv.
    Causal, receptive field 25 frames. (B, T, C) -> (B, T, C)."""

    DILATIONS = (1, 2, 3, 1, 2, 3)

    def __init__(self, nfeats: int, hidden: int, dropout: float = 0.2):
        super().__init__()
        widths = (nfeats, hidden) + (nfeats,) * 5
        self.convs = nn.ModuleList(nn.Conv1d(widths[i], widths[i + 1], 3, dilation=dilation)
                                   for i, dilation in enumerate(self.DILATIONS))
        self.act, self.drop = nn.LeakyReLU(0.2), nn.Dropout(dropout)
        self.final_conv = nn.Conv1d(nfeats, nfeats, 1)
        self.left_pad = 2 * sum(self.DILATIONS)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.pad(x.transpose(1, 2), (self.left_pad, 0))
        for conv in self.convs:
            out = self.drop(self.act(conv(h)))
            h = (h[..., -out.shape[-1]:] + out) / 2 if out.shape[1] == h.shape[1] else out
        return self.final_conv(h).transpose(1, 2)


class FiLMTransformer(nn.Module):
    """x0-predicting denoiser; owns its audio encoder (module docstring)."""

    def __init__(self, cfg: DenoiserConfig, audio_cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.latent_dim
        self.audio_encoder = build_audio_encoder(audio_cfg, channels=2)
        self.cond_projection = nn.Linear(self.audio_encoder.out_dim + cfg.lip_dim, d)
        self.cond_encoder = nn.ModuleList(EncoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout, cfg.rotary)
                                          for _ in range(cfg.num_cond_layers))
        self.non_attn_cond_projection = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.null_cond_embed = nn.Parameter(torch.randn(cfg.null_audio_tokens, d) if cfg.null_audio_tokens
                                            else torch.randn(d))
        self.null_cond_hidden = nn.Parameter(torch.randn(d))
        self.time_mlp = nn.Sequential(SinusoidalTimestepEmbedding(d), nn.Linear(d, 4 * d), nn.Mish())
        self.to_time_cond = nn.Linear(4 * d, d)
        self.to_time_tokens = nn.Linear(4 * d, 2 * d)
        self.norm_cond = nn.LayerNorm(d)
        if cfg.use_guide:
            self.frame_cond_projection = nn.Linear(cfg.nfeats, d)
            self.frame_norm_cond = nn.LayerNorm(d)
            self.null_pose_embed = nn.Parameter(torch.randn(cfg.null_keyframes, d) if cfg.null_keyframes
                                                else torch.randn(d))
        self.input_projection = nn.Linear(cfg.nfeats, d)
        if cfg.frame_audio:
            if audio_cfg.audio_encoder != "mel_conv":
                raise ValueError(f"--frame_audio needs one audio token per frame (--audio_encoder mel_conv), not "
                                 f"{audio_cfg.audio_encoder}")
            self.frame_audio_projection = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d))
        self.decoder = nn.ModuleList(
            FiLMDecoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout, extra_cross_attention=cfg.use_guide,
                             rotary=cfg.rotary)
            for _ in range(cfg.layers))
        self.final_layer = nn.Linear(d, cfg.nfeats)
        xavier_init(self.final_layer)
        self.post_net = CausalPostNet(cfg.nfeats, cfg.post_net_width or d) if cfg.post_net else None

    def encode_condition(self, audio: torch.Tensor, lip_vertices: torch.Tensor | None = None,
                         keyframes: torch.Tensor | None = None, keyframe_mask: torch.Tensor | None = None,
                         mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """audio (B, T*1600, 2); lip_vertices (B, T, lip_dim) iff lip_dim > 0; keyframes (B, K, nfeats) iff
        use_guide; mask (B, T) bool True = real frame (padding is blocked in attention); keyframe_mask (B, K)
        True = real keyframe (default: mask[:, ::30]). Returns the condition dict (module docstring).
        With rotary "index" (the original's) nothing is blocked: keyframes outside the masks become zeros."""
        features = self.audio_encoder(audio)
        if (lip_vertices is not None) != (self.cfg.lip_dim > 0):
            raise ValueError(f"FiLMTransformer: lip_vertices must be given exactly when lip_dim > 0 "
                             f"(lip_dim = {self.cfg.lip_dim})")
        if lip_vertices is not None:
            features = torch.cat((features, at_token_rate(lip_vertices.to(features.dtype), features.shape[1])), dim=-1)
        check_null_length(self.null_cond_embed, features.shape[1], "audio tokens")
        tokens = self.cond_projection(features)
        blocks = self.cfg.rotary != "index"
        frame_padding = None if mask is None or not blocks else ~mask.bool()
        for layer in self.cond_encoder:
            tokens = layer(tokens, key_padding_mask=frame_padding)
        weights = torch.ones_like(tokens[..., :1]) if frame_padding is None else mask[..., None].to(tokens.dtype)
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp_min(1)
        cond = {"memory": tokens, "pooled": self.non_attn_cond_projection(pooled)}
        if frame_padding is not None:
            cond["frame_padding"] = frame_padding
        if self.cfg.use_guide != (keyframes is not None):
            raise ValueError(f"FiLMTransformer: keyframes must be given exactly when use_guide "
                             f"(use_guide = {self.cfg.use_guide})")
        if keyframes is not None:
            if keyframe_mask is None and mask is not None:
                keyframe_mask = mask[:, ::KEYFRAME_STEP][:, :keyframes.shape[1]]
            if keyframe_mask is not None and not blocks:
                keyframes = keyframes * keyframe_mask[..., None].to(keyframes.dtype)
            cond["guide"] = self.frame_norm_cond(self.frame_cond_projection(keyframes))
            if keyframe_mask is not None and blocks:
                cond["guide_padding"] = ~keyframe_mask.bool()
        return cond

    def null_condition(self, cond: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The same dict with audio tokens, pooled audio and guide tokens replaced by the learned null
        embeddings (padding masks kept): the 'unconditional' branch of classifier-free guidance."""
        null = dict(cond)
        null["memory"] = null_like(self.null_cond_embed, cond["memory"], "audio tokens")
        null["pooled"] = self.null_cond_hidden.to(cond["pooled"].dtype).expand_as(cond["pooled"])
        if "guide" in cond:
            null["guide"] = null_like(self.null_pose_embed, cond["guide"], "keyframes")
        return null

    def drop_condition(self, cond: dict[str, torch.Tensor], seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training-time condition dropout: per sample, the audio (memory + pooled) is replaced by its null
        with probability cond_drop_prob, and independently, as in the original, so are the guide tokens.
        The draws come from utils.rng with the item seeds (B,), so they depend on the seed alone."""
        null = self.null_condition(cond)
        device = cond["memory"].device
        drop_audio = per_sample_uniform(seeds, AUDIO_DROP_SALT, device) < self.cfg.cond_drop_prob
        dropped = dict(cond)
        dropped["memory"] = torch.where(drop_audio[:, None, None], null["memory"], cond["memory"])
        dropped["pooled"] = torch.where(drop_audio[:, None], null["pooled"], cond["pooled"])
        if "guide" in cond:
            drop_guide = per_sample_uniform(seeds, GUIDE_DROP_SALT, device) < self.cfg.cond_drop_prob
            dropped["guide"] = torch.where(drop_guide[:, None, None], null["guide"], cond["guide"])
        return dropped

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict[str, torch.Tensor]) -> torch.Tensor:
        """x_t (B, T, nfeats) noisy motion, t (B,) int64 diffusion step (original index), cond from
        encode_condition / null_condition / drop_condition -> x0_hat (B, T, nfeats)."""
        batch, frames, _ = x_t.shape
        index = self.cfg.rotary == "index"  # the original's convention: memory at its own rate, index positions
        if cond["memory"].shape[0] != batch or (cond["memory"].shape[1] != frames and not index):
            raise ValueError(f"FiLMTransformer: condition has {tuple(cond['memory'].shape[:2])} (batch, frames) "
                             f"but x_t has {(batch, frames)}; audio must hold {frames} * 1600 samples")
        t_hidden = self.time_mlp(t)
        film_vec = self.to_time_cond(t_hidden) + cond["pooled"]
        time_tokens = self.to_time_tokens(t_hidden).view(batch, 2, -1)
        memory = self.norm_cond(torch.cat((cond["memory"], time_tokens.to(cond["memory"].dtype)), dim=1))
        x_pos = None if index else frame_seconds(frames, device=x_t.device)
        memory_pos = None if index else torch.cat((x_pos, x_pos.new_zeros(2)))
        frame_padding = cond.get("frame_padding")
        memory_padding = None if frame_padding is None else F.pad(frame_padding, (0, 2), value=False)
        guide = cond.get("guide")
        guide_pos = None if guide is None or index else frame_seconds(guide.shape[1], rate=FPS / KEYFRAME_STEP,
                                                                      device=x_t.device)
        h = self.input_projection(x_t)
        if self.cfg.frame_audio:
            h = h + self.frame_audio_projection(cond["memory"].to(h.dtype))
        for layer in self.decoder:
            h = layer(h, film_vec, memory, guide, x_pos=x_pos, memory_pos=memory_pos, memory2_pos=guide_pos,
                      memory_key_padding_mask=memory_padding, x_key_padding_mask=frame_padding,
                      memory2_key_padding_mask=cond.get("guide_padding"))
        out = self.final_layer(h)
        return out if self.post_net is None else self.post_net(out)
