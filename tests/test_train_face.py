"""The face path end to end on the tiny synthetic data set: lip regressor and face diffusion training
(train/train_lip.py, train/train_diffusion.py) and face sampling (sample/face.py).

`face_run` (session scope, also used by tests/test_generate.py; shared by pytest-xdist workers) generates
the data once, trains a tiny lip regressor (300 steps) and a tiny lip-conditioned face model on it (400
steps, 60-frame windows).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from filelock import FileLock

from avatar.parameters import FACE_INDEX
from data_loaders.dataset import SocialDataset
from data_loaders.feature_bank import FeatureBankConfig
from data_loaders.format import SAMPLES_PER_FRAME
from data_loaders.synthetic.audio_features import loudness_db, speech_envelope
from data_loaders.synthetic.face import JAW_FLOOR_DB, JAW_LAG, JAW_RANGE_DB
from data_loaders.synthetic.generate import SyntheticConfig, generate_dataset
from diffusion import GaussianDiffusion
from model.audio_encoder import AudioEncoderConfig
from model.denoiser import DenoiserConfig
from model.lip_regressor import LipRegressorConfig
from sample.face import FaceSampler
from sample.generate import chunk_inputs
from sample.windows import SamplingConfig, sample_long
from train import train_diffusion, train_lip
from train.train_diffusion import DiffusionLoss, load_diffusion_model, validation
from train.loop import TrainConfig
from train.train_lip import load_lip_regressor, target_statistics
from utils.config import build_parser

TINY_AUDIO = ["--n_mels", "32", "--audio_hidden", "64", "--audio_channel_dim", "64"]
# Clean audio: a few hundred steps on two training scenes teach the mapping, not yet its invariance to recording
# conditions (tests/test_augment.py and tests/test_loudness.py test those)
TINY_LOOP = ["--batch_size", "8", "--warm_up_iter", "30", "--lr", "2e-3", "--num_workers", "0", "--log_interval",
             "50", "--eval_interval", "0", "--max_seq_length", "60", "--min_seq_length", "45", "--no-augment"]
TINY_FACE = ["--latent_dim", "64", "--layers", "2", "--heads", "4", "--ff_size", "128", "--num_cond_layers", "1",
             "--dropout", "0"]
FACE_STEPS = 400


class FaceRun(NamedTuple):
    person: Path
    lip_dir: Path
    face_dir: Path
    lip_summary: dict
    face_summary: dict


def shared_root(tmp_path_factory, worker_id: str) -> Path:
    """A folder all pytest-xdist workers of this session share (the session's own folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def synthetic_person(tmp_path_factory, worker_id) -> Path:
    out = shared_root(tmp_path_factory, worker_id) / "synthetic_face"
    with FileLock(str(out) + ".lock"):
        if not (out / "SYN001" / "data_stats.pth").is_file():
            generate_dataset(SyntheticConfig(preset="tiny", out=str(out), seed=0, workers=1, progress=False,
                                             overwrite=True))
    return out / "SYN001"


def train_face_run(person: Path, root: Path) -> tuple[dict, dict]:
    """Train the tiny lip regressor and face model into root/lip and root/face; their run summaries."""
    lip_summary = train_lip.main(["--data_root", str(person), "--save_dir", str(root / "lip"), "--num_steps", "300",
                                  "--lip_latent_dim", "64", "--lip_heads", "4", "--lip_encoder_layers", "1",
                                  "--lip_decoder_layers", "1", "--lip_ff_size", "128", "--lip_dropout", "0",
                                  *TINY_AUDIO, *TINY_LOOP])
    face_summary = train_diffusion.main(["--data_format", "face", "--data_root", str(person), "--save_dir",
                                         str(root / "face"), "--lip_model_path", str(root / "lip"), "--num_steps",
                                         str(FACE_STEPS), "--save_interval", "200", *TINY_FACE, *TINY_AUDIO,
                                         *TINY_LOOP])
    return lip_summary, face_summary


@pytest.fixture(scope="session")
def face_run(synthetic_person, tmp_path_factory, worker_id) -> FaceRun:
    """Trained once per test session, also when pytest-xdist workers share it (a file lock)."""
    root = shared_root(tmp_path_factory, worker_id) / "face_run"
    summaries = root / "summaries.json"
    with FileLock(str(root) + ".lock"):
        if not summaries.is_file():
            root.mkdir(exist_ok=True)
            summaries.write_text(json.dumps(train_face_run(synthetic_person, root)))
    lip_summary, face_summary = json.loads(summaries.read_text())
    return FaceRun(synthetic_person, root / "lip", root / "face", lip_summary, face_summary)


def envelope(channel: np.ndarray) -> np.ndarray:
    """(T,) loudness of the person's voice in the speech range (dB, clipped), delayed by the face's lag."""
    loudness = np.clip(loudness_db(speech_envelope(channel)), JAW_FLOOR_DB, JAW_FLOOR_DB + JAW_RANGE_DB)
    return np.concatenate([np.repeat(loudness[:1], JAW_LAG), loudness[:-JAW_LAG]])


def jaw_correlations(sampler: FaceSampler, guidance: float, lip_consistency: str = "off") -> np.ndarray:
    """Correlation of the sampled jaw opening (un-normalised) with the audio envelope, per test chunk; the face
    model's own by default (the lip constraint, sample/lip_constraint.py, off)."""
    inputs = chunk_inputs(str(sampler.config["data_root"]), "face", 180, 4, seed=0)
    settings = SamplingConfig(1, "ddim20", "dpmpp2m", guidance, seed=0, lip_consistency=lip_consistency)
    motion = sample_long(sampler, inputs.audio, settings, sample_ids=range(len(inputs.audio)), overlap=9,
                         mask=inputs.mask).motion
    jaw = sampler.normalizer.denormalize(motion.double(), "face")[..., FACE_INDEX["jaw_open"]].numpy()
    return np.array([np.corrcoef(envelope(audio[:length * SAMPLES_PER_FRAME, 0]), jaw[i, :length])[0, 1]
                     for i, (audio, length) in enumerate(zip(inputs.raw_audio, inputs.lengths))])


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_lip_regressor_learns_lip_vertices(face_run):
    train_set = SocialDataset(face_run.person, "train", "face", 60, 45)
    val_set = SocialDataset(face_run.person, "val", "face", 60, 45, random_windows=False)
    mean_shape, _ = target_statistics(train_set)
    frames = torch.cat([torch.from_numpy(scene.motion[scene.valid]) for scene in val_set.scenes])
    baseline = float((train_lip.lip_targets(val_set.normalizer, frames) - mean_shape).norm(dim=-1).mean())
    error = face_run.lip_summary["eval"]["lip_l2_cm"]
    print(f"lip vertex error {error:.3f} cm vs {baseline:.3f} cm for the mean lip shape")
    assert error < 0.6 * baseline
    args = json.loads((face_run.lip_dir / "args.json").read_text())
    assert args["lip_vertices"] == load_lip_regressor(face_run.lip_dir).num_vertices > 0


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_face_loss_falls(face_run):
    losses = np.array(face_run.face_summary["losses"])
    first, last = losses[:25].mean(), losses[-50:].mean()
    print(f"face loss {first:.3f} (first 25 steps) -> {last:.3f} (last 50 of {len(losses)})")
    assert len(losses) == FACE_STEPS and last < 0.3 * first


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_jaw_follows_the_audio_envelope(face_run):
    sampler = FaceSampler.load(face_run.face_dir)
    conditional, unconditional = jaw_correlations(sampler, 2.5), jaw_correlations(sampler, 0.0)
    held = jaw_correlations(sampler, 0.0, lip_consistency="on")
    print(f"jaw/envelope correlation: guided {conditional.round(2)}, unconditional {unconditional.round(2)}, "
          f"unconditional held to the lip regressor {held.round(2)}")
    assert conditional.mean() > 0.6 and conditional.mean() > unconditional.mean() + 0.4  # the model's own
    assert held.mean() > unconditional.mean() + 0.4  # the constraint gives even the null condition the lips


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_guidance_changes_samples_and_sampling_is_seeded(face_run):
    sampler = FaceSampler.load(face_run.face_dir)
    inputs = chunk_inputs(str(face_run.person), "face", 60, 2, seed=1)

    def draw(guidance, seed=3):
        settings = SamplingConfig(2, "ddim10", "dpmpp2m", guidance, seed)
        seeds = torch.arange(4) + 100 * seed
        return sampler.sample(inputs.audio, settings, seeds=seeds, mask=inputs.mask).motion

    guided, plain, unguided = draw(2.5), draw(1.0), draw(0.0)
    assert guided.shape == (4, 60, 256)
    assert torch.equal(draw(2.5), guided)
    assert not torch.allclose(draw(2.5, seed=4), guided, atol=1e-3)
    for other in (plain, unguided):
        assert (guided - other).abs().mean() > 0.05


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_checkpoint_and_args_json_rebuild_the_trained_model(face_run):
    """The reloaded EMA model gives exactly the validation loss the trainer measured in memory."""
    args = json.loads((face_run.face_dir / "args.json").read_text())
    for key, value in {"data_format": "face", "latent_dim": 64, "layers": 2, "n_mels": 32, "nfeats": 256,
                       "lip_dim": 3 * load_lip_regressor(face_run.lip_dir).num_vertices,
                       "lip_model_path": str(face_run.lip_dir.resolve()), "data_root": str(face_run.person.resolve()),
                       "noise_schedule": "cosine", "diffusion_steps": 1000}.items():
        assert args[key] == value, key
    assert (face_run.face_dir / "data_stats.pth").is_file()
    loaded = load_diffusion_model(face_run.face_dir)
    assert loaded.model_file.name == f"model{FACE_STEPS:09d}.pt"
    loss = DiffusionLoss(GaussianDiffusion(args["diffusion_steps"], args["noise_schedule"]), args["lambda_vel"],
                         load_lip_regressor(args["lip_model_path"]))
    val_set = SocialDataset(args["data_root"], "val", "face", args["max_seq_length"], args["min_seq_length"],
                            random_windows=False)
    with torch.no_grad():
        reloaded = validation(loss, val_set)(loaded.model, FACE_STEPS)
    assert reloaded["loss"] == pytest.approx(face_run.face_summary["eval"]["loss"], rel=1e-5)


@pytest.mark.slow  # trains a tiny pose model
def test_pose_model_trains_with_guide_keyframes(synthetic_person, tmp_path):
    save_dir = tmp_path / "pose"
    summary = train_diffusion.main(["--data_format", "pose", "--data_root", str(synthetic_person), "--save_dir",
                                    str(save_dir), "--num_steps", "6", "--latent_dim", "32", "--layers", "1",
                                    "--ff_size", "64", "--lambda_vel", "2.0", "--timestep_respacing", "ddim100",
                                    *TINY_AUDIO, *TINY_LOOP])
    args = json.loads((save_dir / "args.json").read_text())
    assert np.isfinite(summary["losses"]).all() and summary["metrics"]["vel"] > 0
    expected = dict(nfeats=104, use_guide=True, post_net=True, heads=8, lip_dim=0, timestep_respacing="ddim100")
    assert {key: args[key] for key in expected} == expected
    with pytest.raises(SystemExit, match="lip_model_path"):
        train_diffusion.main(["--data_format", "pose", "--data_root", str(synthetic_person), "--save_dir",
                              str(tmp_path / "other"), "--lip_model_path", str(save_dir)])


def test_every_trainer_flag_is_explained():
    for configs in ([TrainConfig, train_diffusion.DiffusionDataConfig, DenoiserConfig, AudioEncoderConfig,
                     FeatureBankConfig],
                    [TrainConfig, train_lip.LipDataConfig, LipRegressorConfig, AudioEncoderConfig, FeatureBankConfig]):
        for action in build_parser(configs)._actions:
            assert action.help and len(action.help) > 15, action.dest


def test_model_size_defaults_follow_the_data_format():
    face = train_diffusion.parse_args(["--data_format", "face"])[2]
    pose = train_diffusion.parse_args(["--data_format", "pose", "--layers", "3"])[2]  # a flag beats the preset
    assert (face.latent_dim, face.layers, face.num_cond_layers, face.use_guide) == (512, 8, 2, False)
    assert (pose.latent_dim, pose.layers, pose.num_cond_layers) == (256, 3, 0) and pose.use_guide and pose.post_net


def test_the_original_readme_training_command_lines_parse():
    common = ["--data_root", "dataset/PXB184", "--batch_size", "4", "--heads", "8", "--timestep_respacing", "",
              "--max_seq_length", "600"]
    _, data, face, _, _ = train_diffusion.parse_args(common + ["--dataset", "social", "--data_format", "face",
                                                           "--layers", "8"])
    _, pose_data, pose, _, _ = train_diffusion.parse_args(common + ["--lambda_vel", "2.0", "--add_frame_cond", "1",
                                                                "--data_format", "pose", "--layers", "6",
                                                                "--cond_mask_prob", "0.3"])
    assert data.data_format == "face" and face.layers == 8 and not face.use_guide and face.cond_drop_prob == 0.2
    assert pose_data.add_frame_cond == 1 and pose.use_guide and pose.layers == 6 and pose.cond_drop_prob == 0.3


@pytest.mark.parametrize("flags", [["--data_format", "pose", "--add_frame_cond", "2"],
                                   ["--data_format", "face", "--add_frame_cond", "1"],
                                   ["--data_format", "pose", "--no-use_guide", "--add_frame_cond", "1"]])
def test_add_frame_cond_other_than_the_original_body_setting_is_refused(flags, tmp_path):
    with pytest.raises(SystemExit, match="--add_frame_cond"):
        train_diffusion.main(["--data_root", str(tmp_path), "--save_dir", str(tmp_path / "run"), *flags])
