"""The original's models on a2p's modules, against the golden fixtures the ORIGINAL code (and fairseq's own
code for the two wav2vec models) computed with random weights (../shared/fixtures/upstream/README.md).

Every fixture's state dict is loaded strictly through model/original_checkpoint.py (no missing or unexpected
key; only the keys the README lists as never run are dropped), and every output and listed intermediate is
reproduced from the fixture's raw inputs within the README's tolerances: atol = rtol = 1e-4 on module
outputs, atol 1e-3 on classifier-free guidance and sampling, VQ codes and the guide's seeded tokens exactly.
The face, pose and guide fixtures ran with the generator's stand-in for fairseq (tests/original_fixtures.py),
which the tests put inside a2p's encoders; the fairseq models themselves are checked on their own fixtures.
"""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from diffusion import GaussianDiffusion, guided_denoiser, make_schedule, sample
from model import audio_encoder
from model.denoiser import DenoiserConfig, FiLMTransformer
from model.guide import GuideTransformer
from model.original_checkpoint import (DERIVED_TOLERANCE, denoiser_configs, derived_tensors, guide_config,
                                       load_original_state, original_state, original_vq, released_configs,
                                       vq_config)
from model.original_lip import OriginalLipRegressor
from model.vqvae import ResidualVQVAE
from model.wav2vec import NEVER_RUN, VQWav2VecEncoder, Wav2VecLargeEncoder
from tests.original_fixtures import FIXTURES, StandInEncoder, StandInWav2Vec, load_fixture

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"golden fixtures not found at {FIXTURES}")
MODULE = dict(atol=1e-4, rtol=1e-4)
SAMPLING = dict(atol=1e-3, rtol=1e-4)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tolerance: dict = MODULE) -> None:
    torch.testing.assert_close(actual.float(), expected.float(), **tolerance)


def frames_last(x: torch.Tensor) -> torch.Tensor:
    """The original's (B, C, 1, T) -> a2p's (B, T, C)."""
    return x[:, :, 0].transpose(1, 2)


def recorder(*modules: torch.nn.Module) -> list:
    """The outputs of every call of each module, in call order (forward hooks)."""
    seen = []
    for module in modules:
        module.register_forward_hook(lambda _, inputs, output: seen.append(output))
    return seen


@pytest.fixture
def stand_in(monkeypatch):
    """Registers the fixture generator's vq-wav2vec stand-in of a width as audio encoder "stand_in"."""
    def register(width: int) -> audio_encoder.AudioEncoderConfig:
        monkeypatch.setitem(audio_encoder.AUDIO_ENCODERS, "stand_in",
                            lambda cfg, channels: StandInEncoder(channels, width))
        return audio_encoder.AudioEncoderConfig(audio_encoder="stand_in")
    return register


def fixture_lip() -> OriginalLipRegressor:
    """The lip regressor fixture (1 + 1 layers, wav2vec_large stand-in) loaded strictly."""
    lip = OriginalLipRegressor(encoder_layers=1, decoder_layers=1, aggregator_layers=1)
    lip.audio_encoder.model = StandInWav2Vec(512, aggregator=True)
    load_original_state(lip, load_fixture("lip_regressor")["state_dict"], "lip", "lip_regressor.pt")
    return lip.eval()


def fixture_denoiser(name: str, stand_in) -> tuple[dict, FiLMTransformer]:
    fixture = load_fixture(name)
    cfg, _ = denoiser_configs(fixture["state_dict"], fixture["config"]["num_heads"])
    model = FiLMTransformer(cfg, stand_in(512))
    load_original_state(model, fixture["state_dict"], "denoiser", f"{name}.pt")
    return fixture, model.eval()


@pytest.mark.parametrize("activation, outputs", [("gelu", "feature_extractor"), ("relu", "feature_extractor_if_relu")])
def test_vq_wav2vec_feature_extractor_is_fairseqs(activation, outputs):
    fixture = load_fixture("vq_wav2vec")
    encoder = VQWav2VecEncoder(activation=activation)
    used = {k: v for k, v in fixture["state_dict"].items() if not k.startswith(NEVER_RUN["vq_wav2vec"])}
    encoder.model.load_state_dict(used, strict=True)
    assert sorted(set(fixture["state_dict"]) - set(used)) == sorted(fixture["state_dict_unused_keys"])
    with torch.no_grad():
        for name, expected in fixture["outputs"][outputs].items():
            assert_close(encoder.model.feature_extractor(fixture["inputs"][name][:, None]), expected)
        if activation == "gelu":
            x = fixture["inputs"]["wave_odd"][:, None]
            for layer, expected in zip(encoder.model.feature_extractor.conv_layers,
                                       fixture["intermediates"]["feature_extractor_blocks_wave_odd"], strict=True):
                x = layer(x)
                assert_close(x[..., :64], expected)
            audio = fixture["inputs"]["a2p_audio"]
            assert_close(encoder.resampler(audio.transpose(1, 2)).transpose(1, 2),
                         fixture["intermediates"]["a2p_resampled"])
            assert_close(encoder(audio), fixture["outputs"]["a2p_encode_audio"])


def test_a_fairseq_checkpoint_gives_the_front_end_its_weights_and_activation(tmp_path):
    """A legacy fairseq checkpoint ({'args': argparse.Namespace, 'model': ...}, like the public vq-wav2vec.pt)
    is read with weights_only=True; its args decide the activation (here relu, against the gelu default)."""
    fixture = load_fixture("vq_wav2vec")
    args = argparse.Namespace(**{**fixture["config"]["fairseq_args"], "activation": "relu"})
    torch.save({"args": args, "model": fixture["state_dict"]}, tmp_path / "vq-wav2vec.pt")
    encoder = audio_encoder.build_audio_encoder(audio_encoder.AudioEncoderConfig(
        audio_encoder="vq_wav2vec", wav2vec_path=str(tmp_path / "vq-wav2vec.pt")))
    assert not any(p.requires_grad for p in encoder.parameters())  # frozen, as the original's
    with torch.no_grad():
        features = encoder.model.feature_extractor(fixture["inputs"]["wave_odd"][:, None])
    assert_close(features, fixture["outputs"]["feature_extractor_if_relu"]["wave_odd"])


def test_relu_and_gelu_readings_of_vq_wav2vec_differ():
    """The activation flag matters: the two readings give clearly different features."""
    outputs = load_fixture("vq_wav2vec")["outputs"]
    gap = (outputs["feature_extractor"]["wave_odd"] - outputs["feature_extractor_if_relu"]["wave_odd"]).abs().max()
    assert gap > 0.1


def test_wav2vec_large_is_fairseqs_and_the_lip_encoder_is_the_originals():
    fixture = load_fixture("wav2vec_large")
    encoder = Wav2VecLargeEncoder(aggregator_layers=3)
    used = {k: v for k, v in fixture["state_dict"].items() if not k.startswith(NEVER_RUN["wav2vec_large"])}
    encoder.model.load_state_dict(used, strict=True)
    assert sorted(set(fixture["state_dict"]) - set(used)) == sorted(fixture["state_dict_unused_keys"])
    model = encoder.model
    with torch.no_grad():
        for name in ("wave", "wave_odd"):
            features = model.feature_extractor(fixture["inputs"][name][:, None])
            assert_close(features, fixture["outputs"]["feature_extractor"][name])
            assert_close(model.feature_aggregator(features), fixture["outputs"]["feature_aggregator"][name])
        x = fixture["inputs"]["wave_odd"][:, None]
        blocks = fixture["intermediates"]["feature_extractor_blocks_wave_odd"]
        for layer, expected in zip(model.feature_extractor.conv_layers, blocks, strict=True):
            x = layer(x)
            assert_close(x[..., :64], expected)  # the last one before log compression
        x = torch.log(x.abs() + 1)
        for layer, expected in zip(model.feature_aggregator.conv_layers,
                                   fixture["intermediates"]["aggregator_blocks_wave_odd"], strict=True):
            block = layer(x)
            assert_close(block[..., :64], expected)
            x = (x + block) * 0.5 ** 0.5
        frames = fixture["inputs"]["a2p_frames"]
        assert_close(encoder.resampler(frames.flatten(1)), fixture["intermediates"]["a2p_resampled"])
        assert_close(encoder(frames.flatten(1)[..., None]), fixture["outputs"]["a2p_wav2vec_encoder"])


def test_lip_regressor_reproduces_the_original():
    fixture = load_fixture("lip_regressor")
    lip = fixture_lip()
    features = recorder(lip.audio_encoder)
    regressed = recorder(lip.decoder[-1])
    with torch.no_grad():
        for window in ("window60", "window12"):
            audio = fixture["inputs"][window]["audio"]
            vertices = lip(audio.flatten(1)[..., None])
            assert_close(features[-1], fixture["intermediates"][window]["wav2vec_features"])
            assert_close(regressed[-1], fixture["intermediates"][window]["regression_output"])
            assert_close(vertices, fixture["outputs"][window])


def check_denoiser_outputs(model: FiLMTransformer, fixture: dict, cond: dict, seen: dict) -> None:
    """The fixture's cond / uncond / cfg outputs from the encoded condition, and the intermediates the forward
    hooks `seen` recorded during the conditional call."""
    y, x, t = fixture["inputs"]["y"], frames_last(fixture["inputs"]["x"]), fixture["inputs"]["times"]
    assert_close(model(x, t, cond), fixture["outputs"]["cond"])
    for name, outputs in seen.items():
        assert_close(outputs[0], fixture["intermediates"][name])
    null = model.null_condition(cond)
    assert_close(model(x, t, null), fixture["outputs"]["uncond"])
    assert_close(guided_denoiser(model, cond, null, y["scale"])(x, t), fixture["outputs"]["cfg"], SAMPLING)


def test_face_denoiser_reproduces_the_original(stand_in):
    fixture, model = fixture_denoiser("face_denoiser", stand_in)
    lip = fixture_lip()
    y = fixture["inputs"]["y"]
    seen = {name: recorder(module) for name, module in
            [("audio_features", model.audio_encoder), ("cond_encoder_output", model.cond_encoder[-1]),
             ("cross_attention_memory", model.norm_cond), ("decoder_layer_0_output", model.decoder[0]),
             ("decoder_last_layer_output", model.decoder[-1]), ("final_layer_output", model.final_layer)]}
    with torch.no_grad():
        vertices = lip(y["audio"])  # in 120-frame windows: 120 + 12
        assert_close(vertices, fixture["intermediates"]["lip_vertices"])
        cond = model.encode_condition(y["audio"], lip.normalise(vertices))
        check_denoiser_outputs(model, fixture, cond, seen)


def test_pose_denoiser_reproduces_the_original(stand_in):
    fixture, model = fixture_denoiser("pose_denoiser", stand_in)
    y = fixture["inputs"]["y"]
    keyframes = y["keyframes"].clone()
    seen = {name: recorder(module) for name, module in
            [("audio_features", model.audio_encoder), ("cross_attention_memory", model.norm_cond),
             ("decoder_layer_0_output", model.decoder[0]), ("decoder_last_layer_output", model.decoder[-1]),
             ("final_layer_output", model.final_layer)]}
    masked = []
    model.frame_cond_projection.register_forward_hook(lambda _, inputs, output: masked.append(inputs[0]))
    with torch.no_grad():
        cond = model.encode_condition(y["audio"], keyframes=keyframes, mask=y["mask"][:, 0, 0])
        assert torch.equal(keyframes, y["keyframes"])  # the original zeroed them in the caller's dict
        assert_close(masked[0], fixture["intermediates"]["keyframes_after_masking"])
        assert_close(cond["guide"], fixture["intermediates"]["pose_tokens"])
        check_denoiser_outputs(model, fixture, cond, seen)


def test_guide_transformer_reproduces_the_original(stand_in):
    fixture = load_fixture("guide_transformer")
    state = fixture["state_dict"]
    width = state["audio_model.feature_extractor.conv.weight"].shape[0]
    model = GuideTransformer(guide_config(state, depth=4), stand_in(width))
    load_original_state(model, state, "guide", "guide_transformer.pt")
    model.eval()
    seen = {name: recorder(module) for name, module in
            [("audio_features", model.audio_encoder), ("pre_audio_output", model.pre_audio),
             ("decoder_layer_0_output", model.decoder[0])]}
    audio, targets = fixture["inputs"]["condition"], fixture["inputs"]["targets"]
    with torch.no_grad():
        cond = model.encode_audio(audio)
        assert_close(cond["memory"], fixture["intermediates"]["cross_attention_memory"])
        assert torch.equal(model._input_ids(targets[:, :-1]), fixture["inputs"]["tokens"])
        assert_close(model(targets, cond), fixture["outputs"]["cond"])
        for name, outputs in seen.items():
            assert_close(outputs[0], fixture["intermediates"][name])
        assert_close(model(targets, model.null_condition(cond)), fixture["outputs"]["uncond"])
        torch.manual_seed(fixture["inputs"]["generate_seed"])  # the original draws from torch's global RNG
        kwargs = fixture["inputs"]["generate_kwargs"]
        tokens = model.generate(audio, kwargs["sequence_length"], top_p=kwargs["top_p"])
    assert torch.equal(tokens, fixture["outputs"]["generate"])


def test_vqvae_reproduces_the_original_codes_exactly():
    fixture = load_fixture("vqvae")
    model = original_vq(fixture["state_dict"], "vqvae.pt")
    verts = fixture["inputs"]["verts"]
    with torch.no_grad():
        assert torch.equal(model.encode(verts), fixture["outputs"]["encode"])
        assert_close(model.encoder(verts), fixture["intermediates"]["encoder_output"])
        assert_close(model.decode(fixture["inputs"]["codes"]), fixture["outputs"]["decode"])
        recon, out = model(verts)
    assert_close(recon, fixture["outputs"]["forward_verts"])
    assert_close(out["perplexity"][-1], fixture["outputs"]["forward_perplexity"])  # the original's: last level
    assert float(fixture["outputs"]["forward_loss"]) == 0  # its commitment loss exists in training mode only


def test_ddim_with_guidance_follows_the_original_trajectory(stand_in):
    """--sampler ddim --timestep_respacing ddimN with per-sample guidance scales is the original's DDIM: the
    same respaced schedules, every step's x0 prediction and sample, and the FINAL x0 prediction returned."""
    fixture = load_fixture("face_diffusion_ddim10_cfg")
    for name, schedule in fixture["schedules"].items():
        plan = make_schedule("cosine", 1000, "" if name == "none" else name)
        assert torch.equal(plan.timesteps, schedule["timestep_map"])
        torch.testing.assert_close(plan.betas, schedule["betas"], atol=1e-12, rtol=1e-9)
        torch.testing.assert_close(plan.alphas_cumprod, schedule["alphas_cumprod"], atol=1e-12, rtol=1e-9)
        posterior = plan.betas * (1 - plan.alphas_cumprod_prev) / (1 - plan.alphas_cumprod)
        torch.testing.assert_close(posterior, schedule["posterior_variance"], atol=1e-12, rtol=1e-9)
    _, model = fixture_denoiser("face_denoiser", stand_in)
    lip = fixture_lip()
    audio, scale = load_fixture("face_denoiser")["inputs"]["y"]["audio"], fixture["inputs"]["y"]["scale"]
    calls = []
    with torch.no_grad():
        cond = model.encode_condition(audio, lip.normalise(lip(audio)))
        guided = guided_denoiser(model, cond, model.null_condition(cond), scale)

        def denoise(x_t, t):
            calls.append((x_t.clone(), guided(x_t, t)))
            return calls[-1][1]
        noise = frames_last(fixture["inputs"]["noise"])
        final = sample(denoise, noise.shape, timestep_respacing="ddim10", sampler="ddim", noise=noise)
        first_cond = model(noise, torch.full((2,), 900), cond)
        first_uncond = model(noise, torch.full((2,), 900), model.null_condition(cond))
    assert_close(first_cond, fixture["outputs"]["first_step_cond"])
    assert_close(first_uncond, fixture["outputs"]["first_step_uncond"])
    steps = fixture["outputs"]["steps"]
    assert len(calls) == len(steps) == 10
    for i, step in enumerate(steps):
        assert_close(calls[i][1], frames_last(step["pred_xstart"]), SAMPLING)
        if i + 1 < len(steps):
            assert_close(calls[i + 1][0], frames_last(step["sample"]), SAMPLING)
    assert_close(final, frames_last(fixture["outputs"]["ddim_sample_loop"]), SAMPLING)


def test_training_loss_terms_are_the_originals(stand_in):
    """rot_mse = loss (lambda_vel 0) with the mask times the face validity, and the logged vb term, each
    with the keep masks the original drew for its two forward passes."""
    fixture = load_fixture("face_diffusion_ddim10_cfg")
    training, expected = fixture["inputs"]["training"], fixture["outputs"]["training_losses"]
    _, model = fixture_denoiser("face_denoiser", stand_in)
    lip = fixture_lip()
    audio = load_fixture("face_denoiser")["inputs"]["y"]["audio"]
    x0, noise, t = frames_last(training["x_start"]), frames_last(training["noise"]), training["t"]
    weight = training["mask"][:, 0, 0] & (training["missing"][..., 0] > 0)
    diffusion = GaussianDiffusion()
    with torch.no_grad():
        cond = model.encode_condition(audio, lip.normalise(lip(audio)))
        null = model.null_condition(cond)

        def denoiser(keep: torch.Tensor):
            mixed = {k: torch.where(keep.view(-1, *[1] * (v.dim() - 1)), v, null[k]) for k, v in cond.items()}
            return lambda x_t, steps: model(x_t, steps, mixed)
        terms = diffusion.terms(denoiser(training["keep_masks_drawn"][0]), x0, t, noise, weight)
        x_t = diffusion.q_sample(x0, t, noise)
        vb = diffusion.variational_bound(x0, x_t, t, denoiser(training["keep_masks_drawn"][1])(x_t, t))
    assert_close(terms["rec"], expected["rot_mse"], SAMPLING)
    assert_close(terms["loss"], expected["loss"], SAMPLING)
    assert_close(vb, expected["vb"], SAMPLING)


def test_original_names_round_trip(stand_in):
    """a2p -> original names gives back the fixture's state dict, derived tensors included (both ways)."""
    for name in ("face_denoiser", "pose_denoiser"):
        fixture, model = fixture_denoiser(name, stand_in)
        expected = fixture["state_dict"]
        exported = original_state(model, "denoiser")
        assert sorted(exported) == sorted(expected)
        for key, value in expected.items():
            assert torch.equal(exported[key].float(), value.float()), key
    lip_state = load_fixture("lip_regressor")["state_dict"]
    exported = original_state(fixture_lip(), "lip")
    assert sorted(exported) == sorted(lip_state)
    derived = derived_tensors(fixture_lip(), "lip")  # sinusoid tables: float32 sin differs by 3e-5 across CPUs
    assert all(torch.equal(exported[k].float(), v.float()) for k, v in lip_state.items() if k not in derived)
    assert all(torch.allclose(exported[k], lip_state[k].float(), atol=DERIVED_TOLERANCE) for k in derived)


def test_a_changed_derived_tensor_or_a_foreign_key_is_refused(stand_in):
    fixture = load_fixture("pose_denoiser")
    cfg, _ = denoiser_configs(fixture["state_dict"], 8)
    model = FiLMTransformer(cfg, stand_in(512))
    changed = dict(fixture["state_dict"], **{"rotary.freqs": fixture["state_dict"]["rotary.freqs"] * 2})
    with pytest.raises(ValueError, match="rotary.freqs differs"):
        load_original_state(model, changed, "denoiser", "changed.pt")
    foreign = dict(fixture["state_dict"], **{"unknown.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"foreign.pt: .*unexpected \['unknown.weight'\]"):
        load_original_state(model, foreign, "denoiser", "foreign.pt")


def meta_state(listing: dict) -> dict[str, torch.Tensor]:
    """A key -> shape listing as a state dict of meta tensors (shapes only)."""
    return {key: torch.empty(shape, device="meta") for key, shape in listing.items()}


def test_released_sizes_have_the_originals_keys_and_shapes():
    """Built at the released sizes (on the meta device), every module's state dict under the original's
    names equals the original's key -> shape listing, with the fairseq models at their real layout minus the
    keys the original never runs (and the VQ decoder's unused project_mean_shape)."""
    listings = json.loads((FIXTURES / "full_size_state_dict_keys.json").read_text())
    fairseq = json.loads((FIXTURES / "wav2vec_full_size_keys.json").read_text())
    real_fairseq = {"audio_model.": "vq-wav2vec", "lip_model.audio_encoder.wav2vec_model.": "wav2vec_large",
                    "audio_encoder.wav2vec_model.": "wav2vec_large"}
    released = released_configs()  # the sizes read from each listing's shapes are the released configs
    assert denoiser_configs(meta_state(listings["face_denoiser"]["keys"]), heads=8) == released["face"]
    assert denoiser_configs(meta_state(listings["pose_denoiser"]["keys"]), heads=8) == released["pose"]
    assert guide_config(meta_state(listings["guide_transformer"]["keys"]), depth=4) == released["guide"][0]
    assert vq_config(meta_state(listings["vqvae"]["keys"])) == released["vq"]
    with torch.device("meta"):
        modules = {"face_denoiser": ("denoiser", FiLMTransformer(*released["face"])),
                   "pose_denoiser": ("denoiser", FiLMTransformer(*released["pose"])),
                   "guide_transformer": ("guide", GuideTransformer(*released["guide"])),
                   "vqvae": ("vq", ResidualVQVAE(released["vq"])), "lip_regressor": ("lip", OriginalLipRegressor())}
        lip_of_face = original_state(OriginalLipRegressor(), "lip")
    for name, (kind, model) in modules.items():
        listing = listings[name]
        stubs = listing.get("stub_keys", [])
        expected = {k: v for k, v in listing["keys"].items()
                    if k not in stubs and not k.startswith("decoder.project_mean_shape.")}
        for prefix, fairseq_name in real_fairseq.items():
            if any(k.startswith(prefix) for k in stubs):
                real = fairseq[fairseq_name]
                expected.update({prefix + k: v for k, v in real["keys"].items()
                                 if k not in real["keys_not_run_by_a2p"]})
        exported = {k: list(v.shape) for k, v in original_state(model, kind).items()}
        if name == "face_denoiser":
            exported.update({"lip_model." + k: list(v.shape) for k, v in lip_of_face.items()})
        assert exported == expected, name
    for name in ("face_denoiser", "pose_denoiser", "guide_transformer"):  # the frozen audio models excluded
        trainable = sum(p.numel() for p in modules[name][1].parameters() if p.requires_grad)
        assert trainable == listings[name]["trainable_parameters"], name


def test_a_window_longer_than_the_null_sequences_is_refused_with_the_reason():
    """The original's null conditions are learned sequences (1998 audio tokens = 600 frames): a longer
    window cannot be guided, and is refused before any sampling."""
    cfg = DenoiserConfig(latent_dim=16, layers=1, heads=2, ff_size=16, num_cond_layers=0, rotary="index",
                         null_audio_tokens=8)
    model = FiLMTransformer(cfg, audio_encoder.AudioEncoderConfig(n_mels=8, audio_hidden=8, audio_channel_dim=4))
    model.encode_condition(torch.zeros(1, 8 * 1600, 2))
    with pytest.raises(ValueError, match=r"9 audio tokens exceed the 8 .* --max_seq_length 600 or less"):
        model.encode_condition(torch.zeros(1, 9 * 1600, 2))
