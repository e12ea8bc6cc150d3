"""The original's state dicts <-> a2p's modules: the ONE place that knows the original's key names.

a2p runs the original's models with its own modules built in the original's conventions (rotary "index",
the vq-wav2vec front end, learned null sequences: model/denoiser.py, model/guide.py; model/original_lip.py;
model/wav2vec.py). This module maps their state dicts both ways and builds them from an original state dict:

    model = original_denoiser(state, heads)       FiLMTransformer (+ OriginalLipRegressor of a face model)
    model = original_guide(state, depth)          GuideTransformer
    model = original_vq(state)                    ResidualVQVAE
    lip   = original_lip(state)                   OriginalLipRegressor
    load_original_state(model, state, kind)       strict load of an original state dict into an a2p module
    original_state(model, kind)                   the a2p module's weights under the original's names

Kinds and what differs besides names (a2p name <-> original name):
    every kind    Attention to_q + to_kv (rows q | k, v) <-> nn.MultiheadAttention in_proj_{weight,bias}
                  (rows q | k | v), out <-> out_proj
    "denoiser"    decoder.i <-> seqTransDecoder.stack.i, cross_attn(2) <-> multihead_attn(2), ffn.0 / ffn.3 <->
                  linear1 / linear2, to_time_{cond,tokens} <-> .0, post_net.convs.j <-> post_pose_layers.j,
                  post_net.final_conv <-> final_conv, audio_encoder.model <-> audio_model (fairseq vq-wav2vec);
                  null sequences (N, d) <-> (1, N, d), null_cond_hidden (d,) <-> (1, d)
    "guide"       as the denoiser, and film_projection <-> non_attn_cond_projection
    "lip"         encoder.i / decoder.i <-> regression_model.transformer_{encoder,decoder}.i, self_attn /
                  cross_attn <-> the same name twice (the original wraps nn.MultiheadAttention), ffn <->
                  feedforward.ff, head <-> project_output, audio_encoder.model <-> audio_encoder.wav2vec_model
    "vq"          quantizer.levels.l <-> quantizer.layers.l._codebook, inited () bool <-> (1,) float
Derived tensors of the original's state dicts are not a2p weights but recomputed: rotary.freqs (at the top
and under every layer that shares the module), the torchaudio Resample kernel, the lip regressor's
positional encodings. Loading checks them against a2p's values and fails on a difference; they may be absent.
Keys the original never runs are dropped on loading: the fairseq parts listed in model/wav2vec.py
NEVER_RUN, the VQ decoder's project_mean_shape, and a pose checkpoint's transformer.* / tokenizer.* (its guide
and VQ, loaded from their own files). Saving back in the original's names cannot restore those.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from model.audio_encoder import AudioEncoderConfig
from model.denoiser import DenoiserConfig, FiLMTransformer, denoiser_preset
from model.guide import GuideConfig, GuideTransformer
from model.original_lip import VERTICES, OriginalLipRegressor
from model.vqvae import ResidualVQVAE, VQConfig
from model.wav2vec import NEVER_RUN, FEATURES

ATTENTION_RULES = [(r"\.to_q\.(weight|bias)$", r".in_proj_\1"), (r"\.to_kv\.(weight|bias)$", r".in_proj_\1"),
                   (r"_attn(2?)\.out\.", r"_attn\1.out_proj.")]
FILM_RULES = [(r"^decoder\.(\d+)\.", r"seqTransDecoder.stack.\1."), (r"\.cross_attn2\.", ".multihead_attn2."),
              (r"\.cross_attn\.", ".multihead_attn."), (r"\.ffn\.0\.", ".linear1."), (r"\.ffn\.3\.", ".linear2."),
              (r"^audio_encoder\.model\.", "audio_model."), (r"^to_time_(cond|tokens)\.", r"to_time_\1.0."),
              (r"^post_net\.convs\.", "post_pose_layers."), (r"^post_net\.final_conv\.", "final_conv."),
              (r"^film_projection\.", "non_attn_cond_projection.")]
RULES = {
    "denoiser": FILM_RULES + ATTENTION_RULES,
    "guide": FILM_RULES + ATTENTION_RULES,
    "lip": [(r"^encoder\.", "regression_model.transformer_encoder."),
            (r"^decoder\.", "regression_model.transformer_decoder."),
            (r"\.(self_attn|cross_attn)\.", r".\1.\1."), (r"\.ffn\.", ".feedforward.ff."),
            (r"^head\.", "project_output."), (r"^audio_encoder\.model\.", "audio_encoder.wav2vec_model.")]
    + ATTENTION_RULES,
    "vq": [(r"^quantizer\.levels\.(\d+)\.", r"quantizer.layers.\1._codebook.")],
}
VQ_WAV2VEC_NEVER_RUN = tuple("audio_model." + p for p in NEVER_RUN["vq_wav2vec"])
NEVER_RUN_PREFIXES = {"denoiser": VQ_WAV2VEC_NEVER_RUN + ("transformer.", "tokenizer."),
                      "guide": VQ_WAV2VEC_NEVER_RUN,
                      "lip": tuple("audio_encoder.wav2vec_model." + p for p in NEVER_RUN["wav2vec_large"]),
                      "vq": ("decoder.project_mean_shape.",)}
LEADING_ONE = ("null_cond_embed", "null_cond_hidden", "null_pose_embed")  # stored (1, ...) by the original
NULL_AUDIO_TOKENS, NULL_KEYFRAMES = 1998, 20  # the released models' null sequences (600 frames)


def released_configs() -> dict:
    """The a2p configs of the released models at the sizes of the original's README ({"face", "pose": (
    DenoiserConfig, AudioEncoderConfig), "guide": (GuideConfig, AudioEncoderConfig), "vq": VQConfig}): the
    face 8 layers x 8 heads, d 512, with the 2 + 4 layer lip regressor; the pose 6 x 8, d 256; the guide 6
    layers, dim 64, two 1024-wide audio conv blocks; the VQ-VAE 4 x 1024 codes of 64."""
    audio = AudioEncoderConfig(audio_encoder="vq_wav2vec")
    original = dict(rotary="index", null_audio_tokens=NULL_AUDIO_TOKENS)
    return {"face": (DenoiserConfig(**denoiser_preset("face", lip_dim=3 * VERTICES), **original), audio),
            "pose": (DenoiserConfig(**denoiser_preset("pose"), post_net_width=256, null_keyframes=NULL_KEYFRAMES,
                                    **original), audio),
            "guide": (GuideConfig(audio_layers=0, audio_convs=2, token_table="shared", **original), audio),
            "vq": VQConfig()}


def original_name(key: str, kind: str) -> str:
    """The original's name of a2p state-dict key `key` of a module of `kind`."""
    for pattern, replacement in RULES[kind]:
        key = re.sub(pattern, replacement, key)
    return key


def _parts(model: nn.Module, kind: str) -> dict[str, list[str]]:
    """Original key -> the a2p keys whose tensors it holds, concatenated along dim 0 in this order."""
    parts: dict[str, list[str]] = {}
    for key in model.state_dict():
        parts.setdefault(original_name(key, kind), []).append(key)
    return parts


def _to_original_layout(key: str, value: torch.Tensor) -> torch.Tensor:
    """An a2p tensor in the shape and dtype the original stores under `key` (module docstring)."""
    if key.endswith(LEADING_ONE):
        return value[None] if value.dim() == 2 else value.reshape(1, -1)
    return value.float().reshape(1) if key.endswith(".inited") else value


def derived_tensors(model: nn.Module, kind: str) -> dict[str, torch.Tensor]:
    """The original's derived state-dict entries (module docstring) as a2p computes them for `model`."""
    derived = {}
    if kind in ("denoiser", "guide"):
        layers = [(f"seqTransDecoder.stack.{i}.", layer) for i, layer in enumerate(model.decoder)]
        layers += [(f"cond_encoder.{i}.", layer) for i, layer in enumerate(getattr(model, "cond_encoder", []))]
        for prefix, layer in [("", model.decoder[0])] + layers:
            derived[prefix + "rotary.freqs"] = layer.self_attn.rotary.inv_freq
        if hasattr(model.audio_encoder, "resampler"):
            derived["audio_resampler.kernel"] = model.audio_encoder.resampler.kernel
    if kind == "lip":
        derived["audio_encoder.resampler.kernel"] = model.audio_encoder.resampler.kernel
        for stream in ("cond", "target"):
            derived[f"regression_model.{stream}_positional_encoding.pe"] = model.positions
    return derived


def original_state(model: nn.Module, kind: str, state: dict[str, torch.Tensor] | None = None
                   ) -> dict[str, torch.Tensor]:
    """The weights of an a2p module built in the original's conventions (or `state`, a state dict of that
    module, e.g. its EMA weights), under the original's names and shapes, derived tensors included (keys the
    original never runs are not there)."""
    state = model.state_dict() if state is None else state
    out = {name: _to_original_layout(name, torch.cat([state[k] for k in keys]) if len(keys) > 1 else state[keys[0]])
           for name, keys in _parts(model, kind).items()}
    return {**out, **{name: value.detach().clone() for name, value in derived_tensors(model, kind).items()}}


DERIVED_TOLERANCE = 1e-4  # float32 sin / cos of positions up to 1023 differ by 3e-5 between CPUs' torch kernels


def load_original_state(model: nn.Module, state: dict[str, torch.Tensor], kind: str,
                        source: str = "state dict") -> None:
    """Load an original state dict into `model` strictly: every weight of the model must be there and every
    key of `state` used, except derived tensors (checked) and keys the original never runs (dropped).
    ValueError naming `source` and the keys otherwise."""
    expected = _parts(model, kind)
    derived = derived_tensors(model, kind)
    unexpected = [k for k in state
                  if k not in expected and k not in derived and not k.startswith(NEVER_RUN_PREFIXES[kind])]
    missing = [k for k in expected if k not in state]
    if unexpected or missing:
        raise ValueError(f"{source}: not the original's {kind} layout for these sizes (missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]})")
    for name, value in derived.items():
        stored = state.get(name)
        if stored is not None and (stored.shape != value.shape
                                   or not torch.allclose(stored.float(), value, atol=DERIVED_TOLERANCE)):
            raise ValueError(f"{source}: {name} differs from what a2p computes; this checkpoint was made with "
                             f"other settings than the original's")
    own = model.state_dict()
    converted = {}
    for name, keys in expected.items():
        sizes = [own[k].shape[0] if own[k].dim() else 1 for k in keys]
        pieces = state[name].split(sizes) if len(keys) > 1 else [state[name]]
        for key, piece in zip(keys, pieces):
            if piece.numel() != own[key].numel():
                raise ValueError(f"{source}: {name} has shape {tuple(state[name].shape)}, the model expects "
                                 f"{tuple(own[key].shape)} at {key}")
            converted[key] = piece.reshape(own[key].shape).to(own[key].dtype)
    model.load_state_dict(converted)


def _count(state: dict, pattern: str) -> int:
    """How many distinct integers fill the group of `pattern` among the keys of `state`."""
    return len({m.group(1) for key in state if (m := re.match(pattern, key))})


def sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of `state` under `prefix`, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def original_lip(state: dict[str, torch.Tensor], source: str = "lip regressor") -> OriginalLipRegressor:
    """The original lip regressor (frozen, eval) from its state dict (assets/iter-0200000.pt's model_state_dict,
    or a face checkpoint's lip_model.*)."""
    lip = OriginalLipRegressor(
        encoder_layers=_count(state, r"regression_model\.transformer_encoder\.(\d+)\."),
        decoder_layers=_count(state, r"regression_model\.transformer_decoder\.(\d+)\."),
        aggregator_layers=_count(state, r"audio_encoder\.wav2vec_model\.feature_aggregator\.conv_layers\.(\d+)\."),
        vertices=state["project_output.weight"].shape[0] // 3)
    load_original_state(lip, state, "lip", source)
    return lip.eval()


def denoiser_configs(state: dict[str, torch.Tensor], heads: int,
                     activation: str = "gelu") -> tuple[DenoiserConfig, AudioEncoderConfig]:
    """The a2p configs of an original face / pose denoiser: sizes from the state dict's shapes, `heads` from
    its args.json (not visible in the shapes)."""
    latent, nfeats = state["input_projection.weight"].shape
    use_guide = "null_pose_embed" in state
    cfg = DenoiserConfig(
        nfeats=nfeats, latent_dim=latent, layers=_count(state, r"seqTransDecoder\.stack\.(\d+)\."), heads=heads,
        ff_size=state["seqTransDecoder.stack.0.linear1.weight"].shape[0],
        lip_dim=state["cond_projection.weight"].shape[1] - 2 * FEATURES, use_guide=use_guide,
        num_cond_layers=_count(state, r"cond_encoder\.(\d+)\."), post_net="final_conv.weight" in state,
        post_net_width=state["post_pose_layers.0.weight"].shape[0] if "final_conv.weight" in state else 0,
        rotary="index", null_audio_tokens=state["null_cond_embed"].shape[1],
        null_keyframes=state["null_pose_embed"].shape[1] if use_guide else 0)
    return cfg, AudioEncoderConfig(audio_encoder="vq_wav2vec", wav2vec_activation=activation)


def original_denoiser(state: dict[str, torch.Tensor], heads: int, activation: str = "gelu",
                      source: str = "denoiser") -> tuple[FiLMTransformer, OriginalLipRegressor | None]:
    """(denoiser in eval mode, its lip regressor from lip_model.* or None) of an original state dict."""
    model = FiLMTransformer(*denoiser_configs(state, heads, activation))
    own = {k: v for k, v in state.items() if not k.startswith("lip_model.")}
    load_original_state(model, own, "denoiser", source)
    lip_state = sub_state(state, "lip_model.")
    return model.eval(), original_lip(lip_state, f"{source} (lip_model.*)") if lip_state else None


def guide_config(state: dict[str, torch.Tensor], depth: int, heads: int = 4) -> GuideConfig:
    """The a2p config of an original guide transformer (4 heads, hard-coded by the original) whose VQ has
    `depth` levels."""
    return GuideConfig(
        layers=_count(state, r"seqTransDecoder\.stack\.(\d+)\."), dim=state["token_embedding.weight"].shape[1],
        heads=heads, ff_size=state["seqTransDecoder.stack.0.linear1.weight"].shape[0], audio_layers=0,
        codebook_size=state["final_layer.weight"].shape[0], depth=depth, rotary="index",
        audio_convs=len([k for k in state if re.match(r"pre_audio\.\d+\.weight", k)]) // 6,
        token_table="shared", null_audio_tokens=state["null_cond_embed"].shape[1])


def original_guide(state: dict[str, torch.Tensor], depth: int, activation: str = "gelu",
                   source: str = "guide") -> GuideTransformer:
    """The guide transformer (eval mode) of an original state dict whose VQ has `depth` levels."""
    model = GuideTransformer(guide_config(state, depth),
                             AudioEncoderConfig(audio_encoder="vq_wav2vec", wav2vec_activation=activation))
    load_original_state(model, state, "guide", source)
    return model.eval()


def vq_config(state: dict[str, torch.Tensor]) -> VQConfig:
    """The a2p config of an original VQ-VAE (TemporalVertexCodec) from its state dict's shapes."""
    size, width = state["quantizer.layers.0._codebook.embed"].shape
    return VQConfig(nfeats=state["encoder.enc.0.weight"].shape[1], codebook_size=size, emb_width=width,
                    depth=_count(state, r"quantizer\.layers\.(\d+)\."))


def original_vq(state: dict[str, torch.Tensor], source: str = "VQ-VAE") -> ResidualVQVAE:
    """The residual VQ-VAE (eval mode) of an original state dict (the 'net' entry of net_iter*.pth)."""
    model = ResidualVQVAE(vq_config(state))
    load_original_state(model, state, "vq", source)
    return model.eval()
