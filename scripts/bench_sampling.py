"""Face and body sampling speed (and face quality) per sampler and step count:
`python scripts/bench_sampling.py [--model_path CKPT]`.

Body: the body path at the original's sizes with untrained weights (guide tokens + VQ decode + pose
diffusion), timed like the face; `pair x rt` is the real-time factor of face and body together.

Speed: seconds to sample --seconds (20) of audio (one repetition, guidance on: two rows per denoiser call,
batched) and the real-time factor (audio seconds per second of compute; > 1 = faster than real time),
including the one-off condition encoding (audio features, lip regressor). Without --model_path the model
is the original's face size (denoiser_preset("face"): 8 layers x 8 heads, d 512, with a default-size lip
regressor) with untrained weights: speed only. With --model_path (a trained face model), the audio is its
data set's test audio, and quality is measured too: on --num_samples test chunks, every setting's samples
(from the same starting noise) are scored against the ground truth with sample/metrics.py (lip errors in
cm, FD_g, FD_k) and compared with the ddim500 reference: `rel` = the largest relative difference of
those metrics from the reference, `l2_ref` = RMS difference of the normalised samples from the reference's.

The default of sample.generate (dpmpp2m with ddim20 steps) was picked with this table: on the 2-core
development CPU the original-size face model samples 20 s of audio in 9.8 s (2.0x real time; ddim500:
260 s). Its metrics: for the tiny model of the tests (d 64, 2 layers) within 1.7 % of ddim500's, below the
2.0 % they move by with another seed; for a small model (d 128, 4 layers, 800 training steps) 14 % off,
all in the direction of smoother samples (lower lip errors and FD_g), and ddim100 / dpmpp2m100 within
4-7 %. Check with your own model before relying on few steps. Time on an otherwise idle machine: with
other processes busy, two torch threads slow down by several times (OMP_NUM_THREADS=1 measures reliably).

--original times the ORIGINAL's architecture at its released sizes instead (model/original_checkpoint.py
released_configs, random weights): the face model with its 2 + 4 layer lip regressor and the frozen
vq-wav2vec / wav2vec_large front ends, the pose model with the guide (1024-wide audio convs) and the VQ-VAE:
what a user of the released models gets from a2p's samplers. Settings above --max_timed_steps are
ESTIMATED (marked *): timed at max_timed_steps and half as many, then extrapolated linearly per denoiser call
(every sampler makes one call per step). `orig code*` estimates the original code itself at that setting
(`original_code_seconds`): it re-ran its audio models (and the face's lip regressor) in every denoiser call,
twice per step with guidance, and the guide's for every token, so the measured one-off encodings are added
that many times (the rest of its per-step work is a2p's).
"""
from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.linalg import LinAlgWarning  # noqa: E402

from data_loaders.format import FPS, SAMPLES_PER_FRAME  # noqa: E402
from model.audio_encoder import AudioEncoderConfig  # noqa: E402
from model.denoiser import DenoiserConfig, FiLMTransformer, denoiser_preset  # noqa: E402
from model.lip_regressor import LipRegressor, LipRegressorConfig  # noqa: E402
from model.original_checkpoint import released_configs  # noqa: E402
from model.original_lip import OriginalLipRegressor  # noqa: E402
from sample import metrics  # noqa: E402
from model.guide import GuideConfig, GuideTransformer  # noqa: E402
from model.vqvae import ResidualVQVAE, VQConfig  # noqa: E402
from sample.body import BodySampler, keyframe_count  # noqa: E402
from sample.face import FaceSampler  # noqa: E402
from sample.lip_constraint import LipConstraint  # noqa: E402
from data_loaders.stats import Normalizer, load_stats  # noqa: E402
from train.train_guide import Guide  # noqa: E402
from sample.generate import chunk_inputs  # noqa: E402
from sample.windows import GUIDANCE_RANGE, SamplingConfig, plan_windows, sample_long  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402
from utils.device import device_name, resolve_device  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
REFERENCE = ("ddim", 500)
DEFAULT = ("dpmpp2m", 20)
METRICS = ("lip_mesh_l2", "lip_vertical", "fd_g", "fd_k", "l2_ref")


@dataclass
class BenchConfig:
    """What to benchmark."""
    model_path: Optional[str] = arg(None, "a trained face model*.pt (speed + metrics); none = untrained model of "
                                          "the original's face size (speed only)")
    seconds: float = arg(20.0, "audio seconds sampled per speed measurement")
    samplers: list[str] = arg(["ddim", "dpmpp2m"], "samplers to time (ddim, ddpm, dpmpp2m)")
    steps: list[int] = arg([500, 100, 50, 20, 10], "step counts (ddimN respacing) to time")
    guidance_param: float = arg(2.5, "classifier-free guidance scale", **GUIDANCE_RANGE)
    num_samples: int = arg(12, "test chunks scored for the metrics (with --model_path)")
    device: str = arg("cpu", "cpu, cuda, or auto", check=device_name)
    seed: int = arg(0, "seed of the starting noise (the same for every setting)")
    original: bool = arg(False, "time the original's architecture at its released sizes (module docstring)")
    max_timed_steps: int = arg(0, "settings with more steps are estimated from timings at this many steps and "
                                  "half as many (0 = time every setting)")
    lip_consistency: Literal["on", "off"] = arg("on", "face: hold the mouth to the lip regressor in every step "
                                                      "(sample/lip_constraint.py; the untrained model takes the "
                                                      "shipped face statistics for it); the original's models "
                                                      "have no constraint")
    clock: Literal["wall", "cpu"] = arg("wall", "wall: elapsed seconds (on an idle machine); cpu: this process's CPU "
                                                "seconds, steady on a busy shared machine (with OMP_NUM_THREADS=1: "
                                                "the seconds of one core)")


def untrained_face_sampler(device: torch.device) -> FaceSampler:
    """The original's face model size with random weights (and a default lip regressor)."""
    torch.manual_seed(0)
    lip = LipRegressor(LipRegressorConfig(), AudioEncoderConfig()).eval()
    model_cfg = DenoiserConfig(**denoiser_preset("face", lip_dim=lip.num_vertices * 3))
    model = FiLMTransformer(model_cfg, AudioEncoderConfig()).eval()
    config = {"max_seq_length": 600, "noise_schedule": "cosine", "diffusion_steps": 1000}
    constraint = LipConstraint(Normalizer(load_stats(REPO / "checkpoints" / "face")), device)
    return FaceSampler(model.to(device), lip.to(device), None, config, device, lip_constraint=constraint)


def untrained_body_sampler(device: torch.device) -> BodySampler:
    """The original's body path sizes with random weights: pose denoiser (6 layers, d 256, guide keyframes,
    post-net), guide transformer (6 layers, d 64) and residual VQ-VAE (4 x 1024 x 64)."""
    torch.manual_seed(0)
    model = FiLMTransformer(DenoiserConfig(**denoiser_preset("pose")), AudioEncoderConfig()).eval()
    guide = Guide(GuideTransformer(GuideConfig(), AudioEncoderConfig()).eval().to(device),
                  ResidualVQVAE(VQConfig()).eval().to(device), {}, Path("untrained") / "guide.pt")
    config = {"max_seq_length": 600, "noise_schedule": "cosine", "diffusion_steps": 1000}
    return BodySampler(model.to(device), guide, None, config, device)


def original_samplers(device: torch.device) -> tuple[FaceSampler, BodySampler]:
    """The original's face and body models at the released sizes with random weights (module docstring)."""
    torch.manual_seed(0)
    released = released_configs()
    config = {"max_seq_length": 600, "noise_schedule": "cosine", "diffusion_steps": 1000}
    face = FaceSampler(FiLMTransformer(*released["face"]).eval().to(device), OriginalLipRegressor().eval().to(device),
                       None, config, device)
    guide = Guide(GuideTransformer(*released["guide"]).eval().to(device),
                  ResidualVQVAE(released["vq"]).eval().to(device), {}, Path("untrained") / "guide.pt")
    body = BodySampler(FiLMTransformer(*released["pose"]).eval().to(device), guide, None, config, device)
    return face, body


def encoding_seconds(encode, sampler: FaceSampler | BodySampler, audio: torch.Tensor,
                     clock=time.perf_counter) -> float:
    """Seconds of `encode(window audio)` over every window of `audio`: a condition encoding that a2p runs
    once per window and the original's code ran in every denoiser call (or, the guide's, for every token)."""
    frames = audio.shape[1] // SAMPLES_PER_FRAME
    started = clock()
    with torch.no_grad():
        for window in plan_windows(frames, sampler.window, sampler.window * 3 // 20):
            encode(audio[:, window.start * SAMPLES_PER_FRAME:window.end * SAMPLES_PER_FRAME].to(sampler.device))
    return clock() - started


def original_code_seconds(face_seconds: float, body_seconds: float, steps: int, encode: dict,
                          tokens: int) -> tuple[float, float]:
    """Estimated seconds of the original's code at a setting that takes a2p face_seconds / body_seconds: it
    re-ran the face's audio models and lip regressor and the pose model's audio model in every denoiser
    call (2 per step with guidance) and the guide's audio encoding for every one of its `tokens` tokens."""
    return (face_seconds + 2 * steps * encode["face"],
            body_seconds + 2 * steps * encode["pose"] + (tokens - 1) * encode["guide"])


def speech_like_audio(seconds: float, seed: int) -> torch.Tensor:
    """(1, N, 2) normalised noise with a 4 Hz syllable envelope, N a whole number of frames (speed runs)."""
    samples = int(seconds * FPS) * SAMPLES_PER_FRAME
    g = torch.Generator().manual_seed(seed)
    envelope = torch.sin(torch.arange(samples) * (2 * torch.pi * 4 / 48_000)).clamp_min(0)
    return (torch.randn(1, samples, 2, generator=g) * envelope[None, :, None]).float()


def settings_grid(cfg: BenchConfig) -> list[tuple[str, int]]:
    return [(name, steps) for name in cfg.samplers for steps in cfg.steps]


def time_setting(sampler: FaceSampler | BodySampler, audio: torch.Tensor, settings: SamplingConfig,
                 clock=time.perf_counter) -> float:
    """Seconds to sample `audio` (1, N, 2) in windows with `settings`."""
    started = clock()
    sample_long(sampler, audio, settings, sample_ids=[0], overlap=sampler.window * 3 // 20)
    return clock() - started


def timed_or_estimated(sampler, audio: torch.Tensor, settings: SamplingConfig, cfg: BenchConfig,
                       timings: dict) -> tuple[float, bool]:
    """(seconds, estimated) of a setting: timed, or above cfg.max_timed_steps extrapolated linearly from the
    timings at max_timed_steps and half as many (module docstring). `timings` keeps every timed setting, so
    each is timed once."""
    def timed(steps: int) -> float:
        key = (settings.sampler, steps)
        if key not in timings:
            at_steps = dataclasses.replace(settings, timestep_respacing=f"ddim{steps}")
            timings[key] = time_setting(sampler, audio, at_steps, CLOCKS[cfg.clock])
        return timings[key]
    steps = int(settings.timestep_respacing.removeprefix("ddim"))
    many = cfg.max_timed_steps
    if not many or steps <= many:
        return timed(steps), False
    few = many // 2
    return timed(many) + (steps - many) * (timed(many) - timed(few)) / (many - few), True


def score(sampler: FaceSampler, inputs, gt: np.ndarray, settings: SamplingConfig) -> tuple[dict, torch.Tensor]:
    """(metrics vs the ground truth, normalised samples (S, T, C)) of one setting on the test chunks."""
    out = sample_long(sampler, inputs.audio, settings, sample_ids=range(len(inputs.audio)), overlap=0,
                      mask=inputs.mask).motion
    codes = sampler.normalizer.denormalize(out.double(), "face").numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)  # few frames for 256-d covariances: FD_g is approximate
        return {**metrics.lip_errors(codes, gt, inputs.lengths),
                "fd_g": metrics.fd_g(codes, inputs.lengths, gt, inputs.lengths),
                "fd_k": metrics.fd_k(codes, inputs.lengths, gt, inputs.lengths)}, out


def quality(sampler: FaceSampler, cfg: BenchConfig, grid: list[tuple[str, int]]) -> dict:
    """{(sampler, steps): metrics} on test chunks, all from the same starting noise, with "l2_ref" (RMS
    distance of the normalised samples from the reference's); key "noise floor" = the reference setting
    with another seed (how much the metrics move with the random draw alone)."""
    inputs = chunk_inputs(sampler.config["data_root"], "face", sampler.window, cfg.num_samples, cfg.seed)
    gt = sampler.normalizer.denormalize(inputs.gt.double(), "face").numpy()
    make = lambda name, steps, seed: SamplingConfig(1, f"ddim{steps}", name, cfg.guidance_param, seed)  # noqa: E731
    scores, reference = {}, None
    for name, steps in [REFERENCE] + [s for s in grid if s != REFERENCE]:
        scores[name, steps], out = score(sampler, inputs, gt, make(name, steps, cfg.seed))
        reference = out if reference is None else reference
        scores[name, steps]["l2_ref"] = float((out - reference).square().mean().sqrt())
    scores["noise floor"], out = score(sampler, inputs, gt, make(*REFERENCE, cfg.seed + 1))
    scores["noise floor"]["l2_ref"] = float((out - reference).square().mean().sqrt())
    return scores


def quality_columns(score: dict, reference: dict) -> str:
    """The metric columns of one row, and `rel`: the largest relative difference of the metrics (not
    l2_ref) from the reference's."""
    rel = max(abs(score[k] / reference[k] - 1) for k in METRICS if k != "l2_ref")
    return "".join(f" {score[k]:12.4f}" for k in METRICS) + f" {100 * rel:5.1f}%"


def main(argv: list[str] | None = None) -> None:
    cfg, = parse_config([BenchConfig], argv, description=__doc__.split("\n")[0])
    device = resolve_device(cfg.device)
    if cfg.original:
        sampler, body = original_samplers(device)
    else:
        sampler = FaceSampler.load(cfg.model_path, device) if cfg.model_path else untrained_face_sampler(device)
        body = untrained_body_sampler(device)
    audio = speech_like_audio(cfg.seconds, cfg.seed)
    grid = settings_grid(cfg)
    scores = quality(sampler, cfg, grid) if cfg.model_path and not cfg.original else {}
    model = (f"{cfg.model_path} (trained)" if cfg.model_path else "untrained face model, original size") \
        if not cfg.original else "the original's face architecture, released size, random weights"
    print(f"face sampling, {model}: {sum(p.numel() for p in sampler.model.parameters()) / 1e6:.1f} M parameters, "
          f"window {sampler.window} frames, {cfg.seconds:g} s of audio, guidance {cfg.guidance_param}, lip "
          f"constraint {cfg.lip_consistency if sampler.lip_constraint is not None else 'unavailable'}, "
          f"{device}, {torch.get_num_threads()} threads, {cfg.clock} clock")
    print(f"body path, untrained, {'the original architecture at ' if cfg.original else ''}original sizes: pose "
          f"denoiser {sum(p.numel() for p in body.model.parameters()) / 1e6:.1f} M + guide "
          f"{sum(p.numel() for p in body.guide.model.parameters()) / 1e6:.1f} M parameters (top_p {body.top_p})")
    clock = CLOCKS[cfg.clock]
    encode = {}
    if cfg.original:
        encode = {"face": encoding_seconds(sampler.encode, sampler, audio, clock),
                  "pose": encoding_seconds(body.model.audio_encoder, body, audio, clock),
                  "guide": encoding_seconds(body.guide.model.encode_audio, body, audio, clock)}
        print("one-off condition encodings of the audio: " + ", ".join(f"{k} {v:.2f} s" for k, v in encode.items()))
    frames = audio.shape[1] // SAMPLES_PER_FRAME
    tokens = sum(keyframe_count(w.end - w.start) * body.guide.model.cfg.depth
                 for w in plan_windows(frames, body.window, body.window * 3 // 20))
    print(f"{'sampler':8} {'steps':>6} {'face s/20s':>10} {'x realtime':>10} {'body s/20s':>10} {'x realtime':>10} "
          f"{'pair x rt':>9}" + (f" {'orig code* face/body s':>23}" if encode else "")
          + ("".join(f" {name:>12}" for name in METRICS) + f" {'rel':>6}" if scores else ""))
    pair, face_timings, body_timings = {}, {}, {}
    for name, steps in grid:
        settings = SamplingConfig(1, f"ddim{steps}", name, cfg.guidance_param, cfg.seed,
                                  lip_consistency=cfg.lip_consistency)
        face_seconds, estimated = timed_or_estimated(sampler, audio, settings, cfg, face_timings)
        body_seconds, _ = timed_or_estimated(body, audio, settings, cfg, body_timings)
        row = (f"{name:8} {steps:5d}{'*' if estimated else ' '} {face_seconds * 20 / cfg.seconds:10.2f} "
               f"{cfg.seconds / face_seconds:10.2f} {body_seconds * 20 / cfg.seconds:10.2f} "
               f"{cfg.seconds / body_seconds:10.2f} {cfg.seconds / (face_seconds + body_seconds):9.2f}")
        if encode:
            original_face, original_body = original_code_seconds(face_seconds, body_seconds, steps, encode, tokens)
            row += f" {original_face * 20 / cfg.seconds:11.0f}/{original_body * 20 / cfg.seconds:<11.0f}"
        pair[name, steps] = face_seconds + body_seconds
        print(row + (quality_columns(scores[name, steps], scores[REFERENCE]) if scores else ""), flush=True)
    if {REFERENCE, DEFAULT} <= set(pair):
        print(f"{REFERENCE[0]}{REFERENCE[1]} (the original's setting) / {DEFAULT[0]} {DEFAULT[1]} steps (a2p's "
              f"default), face + body: {pair[REFERENCE] / pair[DEFAULT]:.1f}x")
    if scores:
        label = f"noise floor ({REFERENCE[0]}{REFERENCE[1]}, seed + 1)"
        print(f"{label:35}" + quality_columns(scores["noise floor"], scores[REFERENCE]))


if __name__ == "__main__":
    run_cli(main)
