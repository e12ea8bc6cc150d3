"""The lip constraint of face sampling (sample/lip_constraint.py): the projection itself, and sampling with it
through every sampler and the stitched windows of long audio, with the shipped small face model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.face import face_code_limits, lip_vertices, lips_crossed
from avatar.parameters import FACE_INDEX
from data_loaders.stats import Normalizer, load_stats
from model.audio_encoder import AudioEncoderConfig
from model.denoiser import DenoiserConfig, FiLMTransformer
from sample import generate
from sample.face import FaceSampler
from sample.generate import audio_file_inputs
from sample.lip_constraint import MOUTH_DIMS, LipConstraint
from sample.results import load_results
from sample.windows import SamplingConfig, row_seeds, sample_long
from train.train_diffusion import DiffusionModel
from utils.config import from_dict

REPO = Path(__file__).resolve().parents[1]
SHIPPED_FACE = REPO / "checkpoints" / "face"
EXAMPLE = REPO / "assets" / "example_conversation.wav"
MOUTH = [FACE_INDEX[name] for name in MOUTH_DIMS]


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(load_stats(SHIPPED_FACE))


@pytest.fixture(scope="module")
def sampler() -> FaceSampler:
    return FaceSampler.load(SHIPPED_FACE)


def plausible_codes(normalizer: Normalizer, frames: int, seed: int) -> torch.Tensor:
    """(1, frames, 256) normalised codes with every dim well inside the avatar's ranges."""
    lower, upper = face_code_limits()
    rng = np.random.default_rng(seed)
    codes = lower + (upper - lower) * rng.uniform(0.2, 0.5, (frames, len(lower)))
    return normalizer.normalize(torch.from_numpy(codes)[None], "face").float()


def test_projection_recovers_the_lips_and_keeps_every_other_dim(normalizer):
    constraint = LipConstraint(normalizer)
    truth = plausible_codes(normalizer, 40, seed=0)
    target = lip_vertices(normalizer.denormalize(truth.double(), "face")).float()
    start = truth.clone()
    start[..., [FACE_INDEX["jaw_open"], FACE_INDEX["lip_round"], FACE_INDEX["lip_press"]]] += torch.randn(1, 40, 3)
    projected = constraint.project(start, target)
    error = (lip_vertices(normalizer.denormalize(projected.double(), "face")).float() - target).norm(dim=-1)
    before = (lip_vertices(normalizer.denormalize(start.double(), "face")).float() - target).norm(dim=-1)
    assert before.mean() > 0.2 and error.max() < 0.02  # cm
    others = [d for d in range(256) if d not in MOUTH]
    assert torch.equal(projected[..., others], start[..., others])


def test_projection_never_leaves_the_plausible_ranges(normalizer):
    constraint = LipConstraint(normalizer)
    codes = torch.zeros(1, 10, 256, dtype=torch.float64)
    codes[..., FACE_INDEX["jaw_open"]] = torch.linspace(-1.0, 4.0, 10)  # a jaw far outside [-0.08, 1.5]
    target = lip_vertices(codes).float()
    projected = normalizer.denormalize(constraint.project(normalizer.normalize(torch.zeros_like(codes), "face"),
                                                          target).double(), "face")
    lower, upper = face_code_limits()
    mouth = projected[0][:, MOUTH].numpy()
    assert (mouth >= lower[MOUTH] - 1e-5).all() and (mouth <= upper[MOUTH] + 1e-5).all()
    jaw = projected[0, :, FACE_INDEX["jaw_open"]].numpy()
    assert jaw[-1] == pytest.approx(upper[FACE_INDEX["jaw_open"]], abs=1e-4)  # as far as the range allows
    assert np.all(np.diff(jaw) >= -1e-6)  # and monotone with the asked opening


def lip_error(sampler: FaceSampler, audio: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """(R*B, T) distance (cm) of the sampled codes' lips to the regressor's, per frame (max over vertices)."""
    codes = sampler.normalizer.denormalize(motion.double(), "face")
    _, lips = sampler.encode(audio)
    target = torch.cat([lips] * (len(motion) // len(lips)))
    return (lip_vertices(codes).float() - target).norm(dim=-1).amax(-1)


@pytest.mark.parametrize("name", ["dpmpp2m", "ddim", "ddpm"])
def test_every_sampler_holds_the_mouth_to_the_regressor(sampler, name):
    audio = audio_file_inputs(str(EXAMPLE), sampler.normalizer).audio[:, :120 * 1600]
    settings = dict(num_repetitions=2, sampler=name, timestep_respacing="ddim10")
    on = sampler.sample(audio, SamplingConfig(**settings), seeds=row_seeds(1, [0], 2)).motion
    off = sampler.sample(audio, SamplingConfig(**settings, lip_consistency="off"), seeds=row_seeds(1, [0], 2)).motion
    assert lip_error(sampler, audio, on).max() < 0.25 < lip_error(sampler, audio, off).max()
    assert lip_error(sampler, audio, on).mean() < lip_error(sampler, audio, off).mean() / 3
    codes = sampler.normalizer.denormalize(on.double(), "face")
    assert not lips_crossed(lip_vertices(codes)).any()
    others = [d for d in range(12) if d not in MOUTH]  # eyes, brows, blinks, gaze still vary between samples
    assert (on[0, :, others] - on[1, :, others]).abs().mean() > 0.05


def test_stitched_windows_of_long_audio_follow_the_regressor_everywhere(sampler):
    audio = audio_file_inputs(str(EXAMPLE), sampler.normalizer).audio[:, :300 * 1600]
    out = sample_long(sampler, audio, SamplingConfig(num_repetitions=1, timestep_respacing="ddim10"),
                      sample_ids=[0], overlap=30, window=120)
    errors = [lip_error(sampler, audio[:, start * 1600:(start + 120) * 1600], out.motion[:, start:start + 120])
              for start in (0, 90, 180)]
    assert max(float(e.mean()) for e in errors) < 0.1


def test_generate_records_the_setting_and_says_when_a_model_has_no_constraint(tmp_path, capsys):
    path = generate.main(["--model_path", str(SHIPPED_FACE), "--audio", str(EXAMPLE), "--num_repetitions", "1",
                          "--output_dir", str(tmp_path / "on"), "--timestep_respacing", "ddim5"])
    assert load_results(path).sampling["lip_consistency"] == "on"
    path = generate.main(["--model_path", str(SHIPPED_FACE), "--audio", str(EXAMPLE), "--num_repetitions", "1",
                          "--output_dir", str(tmp_path / "off"), "--timestep_respacing", "ddim5",
                          "--lip_consistency", "off"])
    assert load_results(path).sampling["lip_consistency"] == "off"
    assert "without the lip constraint" not in capsys.readouterr().out


def test_a_face_model_without_lip_regressor_samples_unconstrained_and_says_so(sampler):
    config = dict(sampler.config, lip_dim=0)
    model = FiLMTransformer(from_dict(DenoiserConfig, config), from_dict(AudioEncoderConfig, config))
    loaded = DiffusionModel(model.eval(), config, sampler.normalizer, SHIPPED_FACE / "model_audio_only.pt")
    audio_only = FaceSampler.from_model(loaded, "cpu")
    assert audio_only.lip_constraint is None and "no lip regressor" in audio_only.lip_constraint_unavailable
    assert generate.sampling_record(audio_only, SamplingConfig())["lip_consistency"] == "unavailable"
    assert generate.sampling_record(sampler, SamplingConfig())["lip_consistency"] == "on"
