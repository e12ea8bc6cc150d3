"""Body sampling (sample/body.py) with tiny models trained on the tiny synthetic data set: nucleus-sampled
guide tokens depend on the seed alone, generated poses follow the guide poses they are given, gestures
follow speech, long audio is stitched, and sample.generate writes face and body results of one audio file
with matching lengths."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.parameters import DEG
from data_loaders.dataset import SocialDataset, collate
from data_loaders.format import SAMPLE_RATE, SAMPLES_PER_FRAME, write_wav
from data_loaders.synthetic import voice_activity
from data_loaders.synthetic.gestures import arm_indices
from data_loaders.synthetic.puppeteer import speaking_state
from diffusion import GaussianDiffusion
from sample import generate
from sample.body import BodySampler, keyframe_count
from sample.results import load_results
from sample.windows import SamplingConfig, row_seeds, sample_long
from test_train_body import TINY_AUDIO, WINDOW, synthetic_person, trained_guide, trained_vq
from train.train_diffusion import DiffusionLoss, main as train_diffusion
from train.train_vq import load_vq

ARMS = np.concatenate([arm_indices("l"), arm_indices("r")])
FAST = SamplingConfig(num_repetitions=1, timestep_respacing="ddim10", sampler="dpmpp2m", guidance_param=2.0, seed=0)
pytestmark = pytest.mark.slow  # every test uses the tiny models trained below
TINY_DENOISER = ["--latent_dim", "64", "--layers", "2", "--heads", "4", "--ff_size", "128",
                 *[f"--{key}={value}" for key, value in TINY_AUDIO.items()]]


def train_tiny_diffusion(base: Path, data_format: str, steps: int) -> Path:
    save_dir = base / f"diffusion_{data_format}"
    train_diffusion(["--data_format", data_format, "--data_root", str(synthetic_person(base)), "--save_dir",
                     str(save_dir), "--max_seq_length", str(WINDOW), "--min_seq_length", "60", *TINY_DENOISER,
                     "--batch_size", "8", "--num_steps", str(steps), "--lr", "1e-3", "--warm_up_iter", "20",
                     "--device", "cpu", "--num_workers", "0", "--log_interval", "50", "--save_interval", "10000",
                     "--eval_interval", "0", "--no-augment"])  # clean audio, as tests/test_train_face.py's TINY_LOOP
    return save_dir


@functools.cache
def trained_pose(base: Path) -> Path:
    return train_tiny_diffusion(base, "pose", 150)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


@pytest.fixture(scope="module")
def held_out(base) -> dict:
    """The fixed windows of the val and test scenes, as one batch."""
    items = []
    for split in ("val", "test"):
        dataset = SocialDataset(synthetic_person(base), split, "pose", WINDOW, WINDOW, random_windows=False)
        items += [dataset[i] for i in range(len(dataset))]
    return collate(items)


@pytest.fixture(scope="module")
def train_keyframes(base, held_out) -> torch.Tensor:
    """Keyframes (B, K, C) of random train windows, one per held-out window: guide poses the model knows."""
    dataset = SocialDataset(synthetic_person(base), "train", "pose", WINDOW, WINDOW, random_lengths=False)
    return collate([dataset[seed] for seed in range(len(held_out["audio"]))])["keyframes"]


def keyframe_error(motion: torch.Tensor, keyframes: torch.Tensor) -> float:
    """Mean squared distance (normalised units) between the motion at frames 0, 30, ... and keyframes."""
    return float((motion[:, ::30][:, :keyframes.shape[1]] - keyframes).pow(2).mean())


def test_guide_tokens_are_nucleus_sampled_per_seed_and_repetition(base):
    sampler = BodySampler.load(trained_pose(base), resume_trans=trained_guide(base).save_dir, top_p=0.9)
    audio = SocialDataset(synthetic_person(base), "test", "pose", WINDOW, WINDOW, random_windows=False)[0]["audio"]
    audio = audio[None]
    twice = SamplingConfig(num_repetitions=2, timestep_respacing="ddim5", sampler="ddim", guidance_param=2.0)
    first = sampler.sample(audio, twice, seeds=row_seeds(1, [0], 2))
    again = sampler.sample(audio, twice, seeds=row_seeds(1, [0], 2))
    other = sampler.sample(audio, twice, seeds=row_seeds(2, [0], 2))
    assert first.keyframes.shape == (2, keyframe_count(WINDOW), 104) and first.motion.shape == (2, WINDOW, 104)
    assert torch.equal(first.keyframes, again.keyframes) and torch.equal(first.motion, again.motion)
    assert not torch.equal(first.keyframes, other.keyframes)
    assert not torch.equal(first.keyframes[0], first.keyframes[1])  # each repetition draws its own tokens
    greedy = BodySampler.load(trained_pose(base), resume_trans=trained_guide(base).save_dir, top_p=1e-6)
    one, two = (greedy.guide_poses(audio, row_seeds(seed, [0], 1)) for seed in (1, 2))
    assert torch.equal(one, two)  # a vanishing nucleus is argmax: the seed no longer matters


def test_sampled_poses_follow_the_guide_poses_they_are_given(base, held_out, train_keyframes):
    sampler = BodySampler.load(trained_pose(base))
    seeds = row_seeds(0, range(len(held_out["audio"])), 1)
    with pytest.warns(UserWarning, match="GIVEN keyframes"):
        given = sampler.sample(held_out["audio"], FAST, seeds=seeds, keyframes=train_keyframes).motion
        given_others = sampler.sample(held_out["audio"], FAST, seeds=seeds,
                                      keyframes=train_keyframes.roll(1, dims=0)).motion
    unguided = sampler.sample(held_out["audio"], FAST, seeds=seeds, drop_guide=True).motion
    own, other, null = (keyframe_error(motion, train_keyframes) for motion in (given, given_others, unguided))
    print(f"distance to the guide poses at keyframes: given them {own:.3f}, given other keyframes {other:.3f}, "
          f"guide dropped {null:.3f} (normalised units)")
    assert own < 0.6 * other and own < 0.6 * null  # (with --frame_audio the audio shares the say: 0.52 x other)

    with_guide = BodySampler.load(trained_pose(base), resume_trans=trained_guide(base).save_dir)
    drawn = with_guide.sample(held_out["audio"], FAST, seeds=seeds)
    follows, ignores = keyframe_error(drawn.motion, drawn.keyframes), keyframe_error(unguided, drawn.keyframes)
    print(f"distance to the guide transformer's poses: sampled with them {follows:.3f}, guide dropped {ignores:.3f}")
    assert follows < 0.8 * ignores


def arm_speed_speaking_and_listening(sampler: BodySampler, audio: torch.Tensor,
                                     motion: torch.Tensor) -> tuple[float, float]:
    """Mean arm/hand joint-angle speed (deg/s) over the frames where channel 0 speaks and where it is silent;
    speaking = the synthetic puppeteer's smoothed voice activity of channel 0 above one half."""
    raw_audio = sampler.normalizer.denormalize(audio.double(), "audio").numpy()
    poses = sampler.normalizer.denormalize(motion.double(), "pose").numpy()
    speaking, listening = [], []
    for waveform, pose in zip(raw_audio, poses):
        talking = speaking_state(voice_activity(waveform[:, 0]))[1:] > 0.5
        speed = np.abs(np.diff(pose[:, ARMS], axis=0)).mean(axis=1) * 30 / DEG
        speaking.append(speed[talking])
        listening.append(speed[~talking])
    return float(np.concatenate(speaking).mean()), float(np.concatenate(listening).mean())


def test_gestures_are_driven_by_the_persons_speech(base, held_out):
    """Audio-only samples (guide dropped) gesture faster while the person speaks than while the partner does.
    Measured cause of the old failure: with the audio reaching the motion only through cross-attention and the
    pooled FiLM vector, this tiny model ignored it (flipping the channels moved its motion by 0.02 normalised
    units of 0.77; speed ratio 0.66 after 400 steps); with each frame's audio token added to its motion token
    (--frame_audio, the body default) flipping moves it by 1.2 units and the ratio is 1.6 after 150 steps."""
    sampler = BodySampler.load(trained_pose(base))
    assert sampler.model.cfg.frame_audio
    audio = torch.cat([held_out["audio"], held_out["audio"].flip(-1)])  # as is, and with the partner's voice
    conditional = SamplingConfig(num_repetitions=2, timestep_respacing="ddim20", guidance_param=1.0)
    motion = sampler.sample(audio, conditional, seeds=row_seeds(0, range(len(audio)), 2), drop_guide=True).motion
    count = len(held_out["audio"])
    flipped = float((motion[:count] - motion[count:2 * count]).abs().mean())
    speak, listen = arm_speed_speaking_and_listening(sampler, torch.cat([audio, audio]), motion)
    truth = arm_speed_speaking_and_listening(sampler, held_out["audio"], held_out["motion"])
    print(f"arm speed of audio-only samples: speaking {speak:.2f} deg/s, listening {listen:.2f} deg/s "
          f"(x{speak / listen:.2f}); ground truth {truth[0]:.2f} vs {truth[1]:.2f} deg/s; flipping the channels "
          f"moves the motion by {flipped:.2f} normalised units")
    assert flipped > 0.5
    assert speak > 1.3 * listen


def test_without_guide_or_keyframes_the_body_sampler_fails_clearly(base, held_out):
    sampler = BodySampler.load(trained_pose(base))
    with pytest.raises(ValueError, match="--resume_trans"):
        sampler.sample(held_out["audio"][:1], FAST, seeds=row_seeds(0, [0], 1))


def test_long_audio_is_sampled_in_windows_with_keyframes_for_every_second(base):
    sampler = BodySampler.load(trained_pose(base), resume_trans=trained_guide(base).save_dir)
    scene = SocialDataset(synthetic_person(base), "test", "pose", 200, 200, random_windows=False)[0]
    frames = int(scene["lengths"])
    audio = scene["audio"][None, :frames * SAMPLES_PER_FRAME]
    out = sample_long(sampler, audio, FAST, sample_ids=[0], overlap=30)
    assert out.motion.shape == (1, frames, 104) and torch.isfinite(out.motion).all()
    assert out.keyframes.shape == (1, keyframe_count(frames), 104)


def test_generate_writes_face_and_body_of_one_audio_file_with_matching_lengths(base, tmp_path):
    face_dir = train_tiny_diffusion(base, "face", 2)
    voice = 0.2 * np.sin(2 * np.pi * 220 * np.arange(int(3.5 * 16_000)) / 16_000)[:, None]
    write_wav(tmp_path / "hello.wav", voice.astype(np.float32), rate=16_000)
    common = ["--audio", str(tmp_path / "hello.wav"), "--timestep_respacing", "ddim5", "--num_repetitions", "2",
              "--device", "cpu", "--no-progress"]
    face = load_results(generate.main(["--model_path", str(face_dir), "--output_dir", str(tmp_path / "face"),
                                       *common]))
    body = load_results(generate.main(["--model_path", str(trained_pose(base)), "--resume_trans",
                                       str(trained_guide(base).save_dir), "--top_p", "0.9", "--output_dir",
                                       str(tmp_path / "body"), *common]))
    frames = int(np.ceil(3.5 * SAMPLE_RATE / SAMPLES_PER_FRAME))
    assert face.motions.shape == (2, 256, 1, frames) and body.motions.shape == (2, 104, 1, frames)
    assert np.array_equal(face.audio, body.audio) and np.array_equal(face.lengths, body.lengths)
    assert body.keyframes.shape == (2, keyframe_count(frames), 104) and body.data_format == "pose"


def test_pose_model_trained_on_vq_keyframes_records_its_vq_and_sees_decoded_keyframes(base, held_out):
    vq_dir = trained_vq(base).save_dir
    save_dir = base / "diffusion_pose_vq"
    train_diffusion(["--data_format", "pose", "--data_root", str(synthetic_person(base)), "--save_dir", str(save_dir),
                     "--max_seq_length", str(WINDOW), "--min_seq_length", "60", *TINY_DENOISER, "--batch_size", "4",
                     "--num_steps", "3", "--device", "cpu", "--num_workers", "0", "--eval_interval", "0",
                     "--guide_vq_path", str(vq_dir)])
    recorded = json.loads((save_dir / "args.json").read_text())["guide_vq_path"]
    assert Path(recorded).is_absolute() and Path(recorded).parent == vq_dir.resolve()
    vq = load_vq(recorded)[0]
    loss = DiffusionLoss(GaussianDiffusion(1000), 0.0, None, vq)
    keyframes = held_out["keyframes"]
    seen = loss.guide_input(keyframes)
    assert torch.equal(seen, vq.decode(vq.encode(keyframes)))
    assert (seen - keyframes).abs().mean() > 0.01  # the tokens lose detail: the model learns to add it back
    assert torch.equal(DiffusionLoss(GaussianDiffusion(1000), 0.0, None).guide_input(keyframes), keyframes)


def test_guide_vq_path_is_refused_for_the_face_model(base):
    with pytest.raises(SystemExit, match="--guide_vq_path shapes the guide poses of the body model"):
        train_diffusion(["--data_format", "face", "--data_root", str(synthetic_person(base)), "--save_dir",
                         str(base / "never"), "--guide_vq_path", str(trained_vq(base).save_dir)])
