"""Sampling a motion model over audio of any length, shared by every modality (face, body).

A modality plugs in as a `MotionSampler` (sample/face.py; the body sampler likewise): it encodes the
conditions of ONE window of audio once and draws `num_repetitions` samples of it with `sample_window`.
`sample_long` cuts longer audio into overlapping windows and stitches the results without seams:

1. Windows (`plan_windows`): length `window` (the model's training length), starting at multiples of
   `align` (30 frames, so 1 fps keyframes of all windows fall on one grid), each new window overlapping the
   previous one by at least `overlap` frames; the last window ends exactly at the end of the audio (and
   may overlap more). Audio no longer than a window is one window.
2. Windows are sampled left to right. Every window after the first is conditioned on the previous result
   in the frames they share, by inpainting ("replacement", as in RePaint / outpainting with diffusion):
   `InpaintingDenoiser` blends the known frames into the model's x0 prediction at EVERY denoising step,
   x0 <- w * known + (1 - w) * x0_hat, before the sampler uses it. With x0-predicting samplers (ddim, ddpm,
   dpmpp2m) the next x_t is built from that prediction, so the overlap of x_t follows the known motion down
   the noise levels and the model generates the rest of the window consistent with it.
3. The weights w fall over the overlap from ~1 to ~0 (raised cosine), so the final prediction IS the
   cross-fade from the previous result to the new window's own motion. A hard mask (w = 1 on the whole
   overlap, then 0) leaves a visible jump where it ends with few-step samplers: the free frames do not
   fully catch up with the imposed ones. With the ramp, velocities at the seams are those elsewhere
   (tests/test_generate.py); without any conditioning (overlap 0) they are 2.5 times larger.

Random numbers: the starting noise of every (sample, repetition, window) row is drawn from its own seed
(`row_seeds`, from --seed and the sample's index), so ddim / dpmpp2m results do not depend on how samples
are grouped into batches; ddpm's per-step noise comes from one generator per call.

Memory does not grow with the audio beyond the audio itself and the output: the audio may be a
`NormalizedAudio` (the raw waveform, normalised one window at a time), the conditions are encoded per
window, and with `write` the finished frames of each window are handed over as soon as the next window
has been placed (only the previous window's motion is kept, for its overlap).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, NamedTuple, Protocol, Sequence

import numpy as np
import torch
from tqdm import tqdm

from data_loaders.format import KEYFRAME_STEP, SAMPLES_PER_FRAME
from data_loaders.stats import Normalizer
from diffusion import guided_denoiser, sample
from utils.config import arg
from utils.device import autocast
from utils.rng import per_sample_normal

GUIDANCE_RANGE = {"at_least": 0.0, "at_most": 100.0}  # of every guidance flag: beyond, samples overflow


@dataclass
class SamplingConfig:
    """How to sample: steps, sampler, guidance (defaults: the model folder's sampling.json), repetitions, seed.

    A model folder's sampling.json replaces the defaults below of steps, sampler and guidance
    (sample/recommended.py)."""
    num_repetitions: int = arg(3, "independent samples drawn for each audio (results index = rep * "
                                  "num_samples + sample, as the original)")
    timestep_respacing: str = arg("ddim20", "denoising steps: ddimN keeps N of the 1000 training steps "
                                            "(original: ddim100 default, ddim500 in its README); '' = all 1000. "
                                            "The default (with dpmpp2m) samples the original-size face model "
                                            "2x faster than real time on 2 CPU cores; its samples are a little "
                                            "smoother than ddim500's (scripts/bench_sampling.py)")
    sampler: Literal["dpmpp2m", "ddim", "ddpm"] = arg("dpmpp2m", "dpmpp2m: DPM-Solver++(2M), 2nd order, best "
                                                                 "at 10-25 steps; ddim: the original's "
                                                                 "(eta 0); ddpm: ancestral, stochastic")
    guidance_param: float = arg(2.5, "classifier-free guidance scale s on the x0 prediction: 0 = "
                                     "unconditional, 1 = conditional without guidance, > 1 stronger audio "
                                     "following (original: 2.5 default, 10 face / 2 body in its README)",
                                **GUIDANCE_RANGE)
    seed: int = arg(10, "seed of the starting noise (and of the test chunks' order)")
    lip_consistency: Literal["on", "off"] = arg("on", "face: hold the mouth of every denoising step's clean "
                                                      "estimate to the lip regressor's vertices (a least-squares "
                                                      "fit of the mouth dims within their plausible ranges, "
                                                      "sample/lip_constraint.py); the rest of the face stays the "
                                                      "model's. Only for a2p's face models with a lip regressor")


class NormalizedAudio:
    """Raw audio (B, N, 2) float32 (un-normalised: a numpy array or a sample.audio_input.AudioOnDisk) seen as
    normalised audio of the same shape, without a normalised copy of the whole: `audio[rows]` (a slice of rows)
    is the NormalizedAudio of those rows (a view), `audio[rows, start:end]` is that part normalised, a float32
    tensor (B', end - start, 2)."""

    def __init__(self, raw: np.ndarray, normalizer: Normalizer):
        self.raw, self.normalizer = raw, normalizer

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index) -> "NormalizedAudio | torch.Tensor":
        if isinstance(index, slice):
            return NormalizedAudio(self.raw[index], self.normalizer)
        part = np.ascontiguousarray(self.raw[index], dtype=np.float32)
        return self.normalizer.normalize(torch.from_numpy(part), "audio")


class WindowSample(NamedTuple):
    """Normalised output of a sampler: motion (R*B, T, C), rows repetition-major (row = rep * B + b), and
    keyframes (R*B, K, C) at 1 fps (body: the guide poses used) or None. (sample_long with `write`: motion
    None, it went to `write`.)"""
    motion: torch.Tensor
    keyframes: torch.Tensor | None = None


class MotionSampler(Protocol):
    """What `sample_long` and sample.generate need from a modality (face: sample/face.py).

    data_format    "face" | "pose" (the checkpoint's --data_format; sample.generate.SAMPLER_TYPES key)
    nfeats         C, features per frame
    window         frames the model was trained on (max_seq_length): the window length for long audio
    normalizer     the person's data_loaders.stats.Normalizer (audio in, motion out)
    output_suffix  ends the default output folder's name ("" for face; the original's guide_iter-0100000.pt)
    avatar         optional: "original" for the original's released models (results.npy's avatar), else absent
                   or "reference"
    from_model(loaded, device, options)   classmethod: build from train.train_diffusion.load_diffusion_model's
        result; options = every flag sample.generate parsed, flat (e.g. a guide checkpoint for the body)
    sample(audio, settings, *, seeds, mask, known, known_mask, progress) -> WindowSample
        audio (B, T*1600, 2) normalised; seeds (R*B,) int64 (row_seeds); mask (B, T) bool True = real frame
        or None; known (R*B, T, C) normalised motion imposed with weights known_mask (R*B, T) in [0, 1]
        (bool or float; InpaintingDenoiser) or both None. Encodes the conditions ONCE and draws
        R = settings.num_repetitions samples.
    """
    data_format: str
    nfeats: int
    window: int
    normalizer: Normalizer
    output_suffix: str

    def sample(self, audio: torch.Tensor, settings: SamplingConfig, *, seeds: torch.Tensor,
               mask: torch.Tensor | None = None, known: torch.Tensor | None = None,
               known_mask: torch.Tensor | None = None, progress: bool = False) -> WindowSample: ...


def row_seeds(seed: int, sample_ids: Sequence[int], num_repetitions: int, window_index: int = 0) -> torch.Tensor:
    """(R*B,) int64 noise seeds of the rows (rep-major) of samples `sample_ids` in window `window_index`."""
    seeds = [np.random.SeedSequence([seed, int(s), rep, window_index]).generate_state(1, np.uint64)[0] >> 2
             for rep in range(num_repetitions) for s in sample_ids]
    return torch.tensor(np.array(seeds, dtype=np.int64))


def repeat_rows(cond: dict, repetitions: int) -> dict:
    """A condition dict of B rows -> R*B rows, repetition-major (None values stay None)."""
    return {key: None if value is None else torch.cat([value] * repetitions) for key, value in cond.items()}


class ProjectedDenoiser:
    """denoise_fn wrapper mapping every x0 prediction (B,T,C) through `project(x0_hat) -> x0_hat` (a constraint
    such as sample.lip_constraint's; every sampler consumes x0_hat alone, so it works with each)."""

    def __init__(self, denoise_fn, project):
        self.denoise_fn, self.project = denoise_fn, project

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.project(self.denoise_fn(x_t, t).float())


class InpaintingDenoiser:
    """denoise_fn wrapper imposing known frames on every x0 prediction (module docstring, step 2):
    x0_hat (B,T,C) -> w * known + (1 - w) * x0_hat, with known (B,T,C) normalised motion and known_mask w
    (B,T): bool (True = known) or float weights in [0, 1]."""

    def __init__(self, denoise_fn, known: torch.Tensor, known_mask: torch.Tensor):
        self.denoise_fn, self.known, self.weight = denoise_fn, known, known_mask[..., None]

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x0_hat = self.denoise_fn(x_t, t).float()
        weight = self.weight.float()
        return weight * self.known.float() + (1 - weight) * x0_hat


def sample_window(model, cond: dict, settings: SamplingConfig, seeds: torch.Tensor, frames: int, *,
                  known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None, project=None,
                  noise_schedule: str = "cosine", diffusion_steps: int = 1000, progress: bool = False) -> torch.Tensor:
    """(R*B, T, C) final x0 prediction of a denoiser `model(x_t, t, cond)` for an already repeated (R*B rows)
    condition. CFG with settings.guidance_param in one batched pass (0: the null condition alone); `project`
    (x0 (R*B, T, C) -> x0), when given, constrains every x0 prediction (ProjectedDenoiser); then, with
    `known` and `known_mask` (R*B, T) bool or float weights, the known frames are inpainted. The denoiser
    runs under utils.device.autocast (bf16 on CUDA); the sampler's arithmetic stays float32."""
    rows, nfeats = len(seeds), model.cfg.nfeats
    device = cond["memory"].device
    if settings.guidance_param == 0:
        null = model.null_condition(cond)
        denoise = lambda x_t, t: model(x_t, t, null)  # noqa: E731 (the unconditional model alone)
    else:
        denoise = guided_denoiser(model, cond, model.null_condition(cond), settings.guidance_param)
    if project is not None:
        denoise = ProjectedDenoiser(denoise, project)
    if known is not None:
        denoise = InpaintingDenoiser(denoise, known.to(device), known_mask.to(device))
    noise = per_sample_normal(seeds, (frames, nfeats), device=device)
    generator = torch.Generator().manual_seed(int(seeds[0]))
    with autocast(device):
        return sample(denoise, (rows, frames, nfeats), timestep_respacing=settings.timestep_respacing,
                      sampler=settings.sampler, noise=noise, generator=generator, schedule=noise_schedule,
                      num_steps=diffusion_steps, device=device, progress=progress)


class Window(NamedTuple):
    """Frames [start, end) of the long sequence; the first `known` of them were produced by earlier windows."""
    start: int
    end: int
    known: int


def plan_windows(frames: int, window: int, overlap: int, align: int = KEYFRAME_STEP) -> list[Window]:
    """Windows covering `frames` frames (module docstring, step 1)."""
    if frames <= window:
        return [Window(0, frames, 0)]
    stride = (window - overlap) // align * align
    if overlap < 0 or stride < align:
        raise ValueError(f"overlap {overlap} leaves no room for a window of {window} frames to advance by a "
                         f"multiple of {align} frames; use an overlap in [0, {window - align}]")
    windows = [Window(0, window, 0)]
    while windows[-1].end < frames:
        start = windows[-1].start + stride
        if start + window >= frames:
            start = min(start, math.ceil((frames - window) / align) * align)
        end = min(start + window, frames)
        windows.append(Window(start, end, windows[-1].end - start))
    return windows


def overlap_weights(length: int, device=None) -> torch.Tensor:
    """(length,) weights of the known frames of an overlap: a raised cosine falling from ~1 to ~0."""
    position = (torch.arange(length, device=device, dtype=torch.float32) + 0.5) / max(length, 1)
    return 0.5 + 0.5 * torch.cos(math.pi * position)


def _stitch_keyframes(slots: list, window: Window, keyframes: torch.Tensor) -> None:
    """Append the window's 1 fps keyframes (R*B, K, C) of the slots no earlier window filled: earlier windows
    keep theirs, since the new window's motion follows theirs in the overlap."""
    first = window.start // KEYFRAME_STEP
    if first > len(slots):
        raise ValueError(f"window at frame {window.start}: keyframe slots {len(slots)}..{first - 1} were never "
                         f"filled; a sampler must return the keyframes of its whole window")
    slots.extend(keyframes[:, k] for k in range(len(slots) - first, keyframes.shape[1]))


def sample_long(sampler: MotionSampler, audio: torch.Tensor | NormalizedAudio, settings: SamplingConfig, *,
                sample_ids: Sequence[int], overlap: int, window: int | None = None,
                mask: torch.Tensor | None = None, progress: bool = False,
                write: Callable[[int, torch.Tensor], None] | None = None) -> WindowSample:
    """Sample audio (B, T*1600, 2) normalised (a tensor or a NormalizedAudio) of any length T in windows and
    stitch them (module docstring).

    sample_ids: (B,) global indices of the samples (noise seeds); window: frames per window (default:
    sampler.window); mask (B, T) bool True = real frame, for padded batches; write(start, motion): receives
    the final frames [start, start + L) as motion (R*B, L, C), in order, as the windows finish. Returns the
    WindowSample: motion (R*B, T, C) rep-major (None with `write`), keyframes stitched."""
    frames = audio.shape[1] // SAMPLES_PER_FRAME
    plan = plan_windows(frames, window or sampler.window, overlap)
    pieces = []
    write = write or (lambda start, motion: pieces.append(motion))
    previous, slots = None, []  # (window, its motion) of the last window sampled
    for index, win in enumerate(tqdm(plan, desc="windows", unit="window", disable=not progress or len(plan) == 1)):
        seeds = row_seeds(settings.seed, sample_ids, settings.num_repetitions, index)
        window_audio = audio[:, win.start * SAMPLES_PER_FRAME:win.end * SAMPLES_PER_FRAME]
        window_mask = None if mask is None else mask[:, win.start:win.end]
        known = known_mask = None
        if win.known:
            before, motion = previous
            known = torch.zeros(len(seeds), win.end - win.start, sampler.nfeats, device=motion.device)
            known[:, :win.known] = motion[:, win.start - before.start:]
            known_mask = torch.zeros(known.shape[:2], device=motion.device)
            known_mask[:, :win.known] = overlap_weights(win.known, device=motion.device)
        out = sampler.sample(window_audio, settings, seeds=seeds, mask=window_mask, known=known,
                             known_mask=known_mask, progress=progress and len(plan) == 1)
        if previous is not None:
            before, motion = previous
            write(before.start, motion[:, :win.start - before.start])  # the rest is the new window's
        previous = (win, out.motion)
        if out.keyframes is not None:
            _stitch_keyframes(slots, win, out.keyframes.to(out.motion.device))
    write(previous[0].start, previous[1])
    return WindowSample(torch.cat(pieces, dim=1) if pieces else None, torch.stack(slots, dim=1) if slots else None)
