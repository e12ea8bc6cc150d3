"""`python -m sample.generate --model_path CKPT ...`: sample motion for the test split or any audio file, and
write results.npy (sample/results.py) like the original (UPSTREAM 5).

Inputs, one of:
- the test split (default): the person folder's test scenes (the checkpoint's data_root, or --data_root)
  cut into fixed chunks of --max_seq_length frames (a scene shorter than that is one padded chunk), in a
  seeded random order; the first --num_samples chunks are sampled, with their ground truth;
- --audio FILE: any rate, mono or stereo, any length (sample/audio_input.py); one sample, no ground truth.
  Audio longer than a window is sampled in overlapping windows stitched without seams (sample/windows.py).

Each sample gets --num_repetitions independent draws. The modality comes from the checkpoint's
data_format: a `MotionSampler` class in SAMPLER_TYPES, built with `from_model(loaded, device, options)`
(options = every parsed flag, flat). Output: results.npy in --output_dir, by default the original's folder
`<model folder>/samples_<name>_<niter>_seed<seed>_<suffix>` (<name> the model folder's name, <niter> the
model file's step, <suffix> the sampler's `output_suffix`: empty for the face, `guide_iter-0100000.pt` for the
original's guide), plus the audio file's name with --audio. Whatever
can fail is checked before the sampling: the flags, the given results files, the checkpoints (their
weights must be finite: train.checkpoint.load_weights) and that the output folder takes a file.
Face codes that leave the training range or the avatar's plausible ranges are reported in one line
(sample/face_range.py). With --both the conversation partner (channel 1) is sampled too, from the same audio
with the channels swapped, by its own model (--partner_model_path) or the same one, into partner_results.npy
beside results.npy (sample/partner.py); --plot then renders the two facing each other.

Flags are grouped by concern, one dataclass each (CONFIG_TYPES): GenerateConfig (model, inputs, output,
batching), SamplingConfig (steps, sampler, guidance, repetitions, seed), BodyConfig (the body's guide
transformer --resume_trans and its nucleus mass --top_p), OriginalModelConfig (the original's released
models, which --model_path and --resume_trans take as they are: train/original_layout.py), PartnerConfig
(--both: the conversation partner) and OriginalFlagsConfig (the original's own --flip_person,
--curr_seq_length and --cuda, and the DDIM its lines sample with: sample/original_flags.py); other concerns
add theirs. Guidance, sampler and steps not given as flags are the checkpoint folder's recommendation, its
sampling.json (sample/recommended.py).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import torch
from tqdm import tqdm

from data_loaders.dataset import SocialDataset, collate
from data_loaders.format import FPS, KEYFRAME_STEP, SAMPLES_PER_FRAME
from data_loaders.stats import Normalizer
from sample.audio_input import AudioOnDisk, open_conversation_audio
from sample.body import BodyConfig, BodySampler
from sample.face import FaceSampler
from sample.face_range import face_range_report
from sample.original_flags import (OriginalFlagsConfig, original_sampler_default, paired_folder,
                                   sampler_note, window_length)
from sample.partner import PARTNER_SEED_OFFSET, PartnerConfig, partner_inputs, partner_path
from sample.recommended import SAMPLING_FILE, checkpoint_folder, recommended_sampling
from sample.results import Results, load_results, motion_rows, save_results
from sample.windows import MotionSampler, NormalizedAudio, SamplingConfig, sample_long
from train.original_layout import OriginalModelConfig, original_kind
from train.train_diffusion import load_diffusion_model
from utils.cli import run_cli
from utils.config import arg, merged_dict, parse_config
from utils.device import device_name, device_of, resolve_device, seed_everything
from utils.files import writable_output_folder
from visualize.video import VIEW_SIZE_RANGE

SAMPLER_TYPES = {"face": FaceSampler, "pose": BodySampler}  # data_format -> MotionSampler class


@dataclass
class GenerateConfig:
    """Model, inputs, output folder and batching."""
    model_path: str = arg("", "model*.pt of a train.train_diffusion run (or its save_dir: the newest model "
                              "file); args.json must be beside it; the original's released face and pose runs "
                              "work as they are (README) (required)")
    output_dir: str = arg("", "folder for results.npy (default: <model folder>/samples_<name>_<niter>_seed"
                              "<seed>_[<guide>][_<audio file name>], the original's name)")
    audio: Optional[str] = arg(None, "sample this audio file instead of the test split: any sample rate, mono "
                                     "(= the person; the partner is taken as silent) or stereo (channel 0 = "
                                     "person, 1 = partner), any length (sampled in overlapping windows)")
    data_root: Optional[str] = arg(None, "person folder whose test split is sampled (default: the checkpoint's "
                                         "training data_root)")
    num_samples: int = arg(10, "test chunks to sample (the first of a seeded shuffle of all chunks); with "
                               "--audio the file is the one sample")
    max_seq_length: Optional[int] = arg(None, "frames per test chunk and per window of long audio (default: the "
                                              "model's training max_seq_length; 600 = 20 s; at least 2 keyframes)",
                                        at_least=2 * KEYFRAME_STEP)
    overlap: Optional[int] = arg(None, "frames shared by consecutive windows of long audio, inpainted from the "
                                       "previous window, then cross-faded (default: 15 percent of the window, 90 "
                                       "frames for 600; rounded so windows start on whole seconds)")
    batch_size: int = arg(64, "sequences (samples x repetitions) sampled together; guidance doubles the rows "
                              "of each denoiser call")
    device: str = arg("auto", "auto (CUDA when available), cpu, cuda or cuda:N", check=device_name)
    progress: bool = arg(True, "show progress bars")


@dataclass
class PlotConfig:
    """Videos of the results (visualize/render_results.py), like the original's --plot."""
    plot: bool = arg(False, "render sampleNN_repMM_pred.mp4 videos with sound into the results folder")
    face_codes: str = arg("", "a face results.npy to render with this body model's results (same --seed, "
                              "--num_samples, --num_repetitions and inputs); with a face model: render this "
                              "file instead of sampling")
    pose_codes: str = arg("", "a body results.npy to render with this face model's results; with a body "
                              "model: render this file instead of sampling")
    render_gt: bool = arg(False, "render the ground truth (sampleNN_rep00_gt.mp4) instead of the predictions")
    grid: bool = arg(False, "with --plot, also write sampleNN_grid.mp4 with all repetitions of a sample")
    render_size: int = arg(512, "pixels per view of the videos: frames are size x 2*size (body | face)",
                           **VIEW_SIZE_RANGE)


CONFIG_TYPES = [GenerateConfig, SamplingConfig, BodyConfig, PlotConfig, OriginalModelConfig, PartnerConfig,
                OriginalFlagsConfig]


class Inputs(NamedTuple):
    """What is sampled: audio (S, T*1600, 2) normalised: a tensor, or for an audio file a NormalizedAudio of
    raw_audio (normalised window by window, never as a whole); raw_audio (S, T*1600, 2) un-normalised float32,
    stored once in results.npy: an array, or for an audio file an AudioOnDisk (long audio costs no memory);
    lengths (S,) int64; gt (S, T, C) normalised ground truth or None; mask (S, T) bool True = real frame, or
    None (no padding); scenes (S,) str and starts (S,) int64: where each test chunk came from
    (sample/results.py), or None."""
    audio: torch.Tensor | NormalizedAudio
    raw_audio: np.ndarray | AudioOnDisk
    lengths: np.ndarray
    gt: torch.Tensor | None
    mask: torch.Tensor | None
    scenes: np.ndarray | None = None
    starts: np.ndarray | None = None


def audio_inputs(raw: np.ndarray, normalizer: Normalizer) -> Inputs:
    """One sample from a conversation waveform raw (T*1600, 2) float32, 48 kHz, un-normalised (what
    sample.audio_input.load_conversation_audio returns)."""
    audio = normalizer.normalize(torch.from_numpy(raw), "audio")[None]
    return Inputs(audio, raw[None], np.array([len(raw) // SAMPLES_PER_FRAME], np.int64), None, None)


def audio_file_inputs(path: str, normalizer: Normalizer, max_seconds: float | None = None) -> Inputs:
    """One sample from an audio file (at most max_seconds long, checked from its header)."""
    raw, info = open_conversation_audio(path, max_seconds)
    kind = "stereo" if info.channels == 2 and not info.as_mono else "mono: partner channel = quiet noise"
    if info.as_mono:
        kind = f"stereo with two identical channels, taken as {kind}"
    tqdm.write(f"[generate] {path}: {info.seconds:.1f} s at {info.sample_rate} Hz, {kind}, {info.frames} frames")
    return Inputs(NormalizedAudio(raw, normalizer), raw, np.array([info.frames], np.int64), None, None)


def test_split_folder(gen: GenerateConfig, config: dict, model_file: Path) -> str:
    """The person folder whose test split is sampled: --data_root, else the model's training data_root; a
    clear error when there is none or it is not a folder here."""
    data_root = gen.data_root or config.get("data_root") or ""
    source = "--data_root" if gen.data_root else f"{model_file.name}'s training data_root"
    if not data_root:
        raise SystemExit(f"{model_file}: its args.json names no training data_root, so there is no test split to "
                         f"sample; pass --data_root <person folder>, or --audio <file> to animate an audio file")
    if not Path(data_root).is_dir():
        raise FileNotFoundError(f"{data_root} ({source}): folder not found; pass --data_root <person folder>, or "
                                f"--audio <file> to animate an audio file")
    return data_root


def chunk_inputs(data_root: str, data_format: str, window: int, num_samples: int, seed: int,
                 normalizer: Normalizer | None = None) -> Inputs:
    """The first `num_samples` of the test split's fixed chunks in a seeded random order, normalised with the
    folder's own statistics or `normalizer` (the model's, for another person's folder: --flip_person)."""
    dataset = SocialDataset(data_root, "test", data_format, max_seq_length=window, min_seq_length=1,
                            random_windows=False)
    order = np.random.default_rng(seed).permutation(len(dataset))
    if num_samples > len(dataset):
        tqdm.write(f"[generate] {data_root}: the test split has {len(dataset)} chunks of {window} frames; "
                   f"sampling all of them instead of --num_samples {num_samples}")
    batch = collate([dataset[int(i)] for i in order[:num_samples]])
    audio, motion = batch["audio"], batch["motion"]
    if normalizer is not None:
        audio = normalizer.normalize(dataset.normalizer.denormalize(audio, "audio"), "audio")
        motion = normalizer.normalize(dataset.normalizer.denormalize(motion, data_format), data_format)
    raw = dataset.normalizer.denormalize(batch["audio"], "audio").numpy().astype(np.float32)
    mask = None if bool(batch["mask"].all()) else batch["mask"]
    scenes = np.array([str(dataset.root.resolve() / name) for name in batch["scene"]])
    return Inputs(audio, raw, batch["lengths"].numpy(), motion, mask, scenes, np.array(batch["start"], dtype=np.int64))


def flipped_inputs(inputs: Inputs, normalizer: Normalizer) -> Inputs:
    """--flip_person: the inputs with the audio channels swapped, ground truth and scenes kept
    (sample/original_flags.py)."""
    return partner_inputs(inputs, normalizer)._replace(gt=inputs.gt, scenes=inputs.scenes, starts=inputs.starts)


def default_overlap(window: int) -> int:
    """Frames shared by consecutive windows of long audio when --overlap is not given: 15 % of the window."""
    return window * 3 // 20


def sample_inputs(sampler: MotionSampler, inputs: Inputs, settings: SamplingConfig, gen: GenerateConfig,
                  window: int) -> Results:
    """Sample every input in groups of batch_size // num_repetitions samples, as results.npy: rows rep-major,
    motion un-normalised and written into place as the windows finish, the audio once per sample."""
    kind, samples, reps = sampler.data_format, len(inputs.audio), settings.num_repetitions
    frames = inputs.raw_audio.shape[1] // SAMPLES_PER_FRAME
    overlap = default_overlap(window) if gen.overlap is None else gen.overlap
    group = max(1, gen.batch_size // reps)
    denormalize = lambda x: sampler.normalizer.denormalize(x.cpu().double(), kind).numpy()  # noqa: E731
    motions = np.empty((reps, samples, sampler.nfeats, 1, frames))  # the stored layout, rows (rep, sample)
    keyframes = []
    for first in tqdm(range(0, samples, group), desc="sample groups", disable=not gen.progress or samples <= group):
        rows = slice(first, min(first + group, samples))

        def write(start: int, motion: torch.Tensor, rows: slice = rows) -> None:  # (R*B, L, C) normalised
            raw = denormalize(motion).reshape(reps, rows.stop - rows.start, *motion.shape[1:])
            motions[:, rows, :, 0, start:start + raw.shape[2]] = raw.transpose(0, 1, 3, 2)

        out = sample_long(sampler, inputs.audio[rows], settings, sample_ids=range(rows.start, rows.stop),
                          overlap=overlap, window=window, mask=None if inputs.mask is None else inputs.mask[rows],
                          progress=gen.progress, write=write)
        if out.keyframes is not None:
            keyframes.append(out.keyframes.cpu().unflatten(0, (reps, rows.stop - rows.start)))
    gt = None if inputs.gt is None else np.tile(denormalize(inputs.gt), (reps, 1, 1))
    if keyframes:
        stored_keyframes = denormalize(torch.cat(keyframes, dim=1).flatten(0, 1))
    else:
        stored_keyframes = gt if kind == "face" else None  # the original stores the face ground truth here
    return Results(motions=motions.reshape(reps * samples, sampler.nfeats, 1, frames),
                   gt=None if gt is None else motion_rows(gt), audio=inputs.raw_audio,
                   lengths=np.tile(inputs.lengths, reps), keyframes=stored_keyframes, scenes=inputs.scenes,
                   starts=inputs.starts, num_samples=samples,
                   num_repetitions=reps, data_format=kind, fps=FPS, sampling=sampling_record(sampler, settings),
                   avatar=getattr(sampler, "avatar", "reference"), reference_face=reference_face(sampler, inputs, reps))


def reference_face(sampler: MotionSampler, inputs: Inputs, reps: int) -> np.ndarray | None:
    """(S*R, 256, 1, T) reference face codes showing the lips of an original face model's lip regressor, the
    same for every repetition (sample/original_lips.py); None for other models."""
    lips = getattr(sampler, "reference_lips", None)
    if lips is None:
        return None
    codes = np.concatenate([lips.codes(inputs.audio[row:row + 1]) for row in range(len(inputs.audio))])
    return np.tile(motion_rows(codes), (reps, 1, 1, 1))


def sampling_record(sampler: MotionSampler, settings: SamplingConfig) -> dict:
    """The settings results.npy records under 'sampling': lip_consistency for face models only, and
    "unavailable" where the model has no lip constraint (sample/face.py)."""
    record = dataclasses.asdict(settings)
    if sampler.data_format != "face":
        del record["lip_consistency"]
    elif getattr(sampler, "lip_constraint", None) is None:
        record["lip_consistency"] = "unavailable"
    return record


def report_face_range(results: Results, normalizer: Normalizer) -> None:
    """One line when generated face codes leave the training range or the avatar's plausible ranges
    (sample/face_range.py); nothing when they stay inside."""
    codes = results.motions[:, :, 0].transpose(0, 2, 1)
    line = face_range_report(codes, results.lengths, normalizer).describe(normalizer)
    if line:
        tqdm.write(f"[generate] {line}")


def default_output_dir(model_file: Path, seed: int, suffix: str = "", audio: str | None = None) -> Path:
    """<model folder>/samples_<name>_<niter>_seed<seed>_<suffix>[_<audio name>], the original's name (the
    underscore after the seed stays when the suffix is empty: `samples_c1_face_000155000_seed10_`); the audio
    file's name takes the suffix's place when that is empty (module docstring)."""
    niter = model_file.stem.removeprefix("model")
    tail = "_".join(part for part in (suffix, Path(audio).stem if audio else "") if part)
    return model_file.parent / f"samples_{model_file.parent.name}_{niter}_seed{seed}_{tail}"


def check_config(gen: GenerateConfig, settings: SamplingConfig, plot: PlotConfig, partner: PartnerConfig) -> None:
    """Clear errors for flags that cannot work (before anything is loaded or sampled)."""
    for flag, given in (("--partner_model_path", partner.partner_model_path),
                        ("--partner_resume_trans", partner.partner_resume_trans)):
        if given and not partner.both:
            raise SystemExit(f"{flag} is for the conversation partner: add --both")
    if partner.both and plot.render_gt:
        raise SystemExit("--both has no ground truth of the partner to render: leave out --render_gt")
    if partner.both and plot.grid:
        raise SystemExit("--grid shows one person's repetitions: leave it out with --both (one video per repetition)")
    if not gen.model_path:
        raise SystemExit("--model_path is required: a model*.pt of a train.train_diffusion run (or its save_dir)")
    for name, value in (("num_samples", gen.num_samples), ("batch_size", gen.batch_size),
                        ("num_repetitions", settings.num_repetitions)):
        if value < 1:
            raise SystemExit(f"--{name} must be >= 1, got {value}")
    for flag, given in (("--face_codes", plot.face_codes), ("--pose_codes", plot.pose_codes)):
        if given and not Path(given).is_file():
            raise FileNotFoundError(f"{given}: results file not found ({flag}); sample.generate writes results.npy "
                                    f"into its output folder")
        if given and partner.both and not partner_path(given).is_file():
            raise FileNotFoundError(f"{partner_path(given)}: the partner's results beside {flag} {given} are missing; "
                                    f"make them with sample.generate --both")


def render(plot: PlotConfig, data_format: str, results_path: Path, progress: bool, both: bool = False,
           person: tuple[Path, Path] | None = None) -> list[Path]:
    """The videos of --plot / --render_gt, written beside results.npy; the other part from --face/pose_codes;
    with both, the two persons facing each other (each one's partner_results.npy beside its results); person:
    (ca_body folder, render_defaults file) of the photoreal avatar, drawn when its files are present. The
    renderer (OpenGL through moderngl) is imported here, so sampling alone runs where it is missing."""
    from visualize.render_results import render_results
    body = results_path if data_format == "pose" else (plot.pose_codes or None)
    face = results_path if data_format == "face" else (plot.face_codes or None)
    partners = {}
    if both:
        partners = dict(partner_body_results=body and partner_path(body),
                        partner_face_results=face and partner_path(face))
    return render_results(body_results=body, face_results=face, out_dir=results_path.parent,
                          render_gt=plot.render_gt, grid=plot.grid and not plot.render_gt,
                          size=plot.render_size, progress=progress, ca_body=person[0] if person else None,
                          render_defaults=person[1] if person else None, **partners)


def parse_flags(argv: list[str] | None = None) -> tuple:
    """The CONFIG_TYPES instances of argv; sampling settings not given as flags come from the checkpoint
    folder's sampling.json (sample/recommended.py) when it has one."""
    description = ("Sample face codes or body poses from a trained diffusion model for the test split or any audio "
                   "file, write results.npy (the original's layout, see sample/results.py) and, with --plot, mp4 "
                   "videos. Guidance, sampler and steps default to the checkpoint folder's sampling.json.")
    argv = list(sys.argv[1:] if argv is None else argv)
    configs = parse_config(CONFIG_TYPES, argv, description=description)
    model_path = configs[0].model_path
    recommended = recommended_sampling(model_path) if model_path else {}
    if recommended:
        tqdm.write(f"[generate] {checkpoint_folder(model_path) / SAMPLING_FILE} recommends "
                   f"{', '.join(f'--{key} {value}' for key, value in recommended.items())} (flags given win)")
    if model_path and original_kind(model_path) == "diffusion":
        recommended.update(original_sampler_default(argv))
    if recommended:
        configs = parse_config(CONFIG_TYPES, argv, description=description, defaults=recommended)
    if model_path and original_kind(model_path) == "diffusion":
        tqdm.write(f"[generate] {sampler_note(argv, configs[1])}")
    return configs


def main(argv: list[str] | None = None) -> Path:
    """Parse the flags, sample (or take --face_codes/--pose_codes), write results.npy, render with --plot;
    returns the path of results.npy."""
    configs = parse_flags(argv)
    gen, settings, plot, partner = configs[0], configs[1], configs[3], configs[5]
    check_config(gen, settings, plot, partner)
    path, data_root = sample_to_file(gen, settings, configs)
    if plot.plot or plot.render_gt:
        from visualize.ca_body.photoreal import person_paths
        data_format = load_results(path).data_format
        person = person_paths(gen.model_path, data_root) if data_root else None
        for video in render(plot, data_format, path, gen.progress, partner.both, person):
            tqdm.write(f"[generate] video -> {video}")
    return path


def load_sampler(model_path: str, device: torch.device, options: dict,
                 settings: SamplingConfig) -> tuple[object, MotionSampler, SamplingConfig]:
    """(loaded model, its MotionSampler, the settings it samples with: guidance off for a model trained without
    condition dropout)."""
    loaded = load_diffusion_model(model_path, device, options)
    if loaded.model.cfg.cond_drop_prob == 0 and settings.guidance_param != 1:
        tqdm.write(f"[generate] {loaded.model_file} was trained without condition dropout (cond_drop_prob 0): "
                   f"its null condition is untrained, so guidance is off (--guidance_param 1), as the original")
        settings = dataclasses.replace(settings, guidance_param=1.0)
    sampler = SAMPLER_TYPES[loaded.config["data_format"]].from_model(loaded, device, options)
    unavailable = getattr(sampler, "lip_constraint_unavailable", None)  # face models only
    if unavailable and settings.lip_consistency == "on":
        tqdm.write(f"[generate] {unavailable}")
    return loaded, sampler, settings


def sample_and_save(sampler: MotionSampler, inputs: Inputs, settings: SamplingConfig, gen: GenerateConfig,
                    window: int, path: Path) -> Path:
    """Sample `inputs`, report the face range, write results.npy to `path` and say how fast it went."""
    started = time.perf_counter()
    results = sample_inputs(sampler, inputs, settings, gen, window)
    seconds = time.perf_counter() - started
    if sampler.data_format == "face":
        report_face_range(results, sampler.normalizer)
    path = save_results(path, results)
    audio_seconds = inputs.raw_audio.shape[1] / SAMPLES_PER_FRAME / FPS * len(inputs.audio) * settings.num_repetitions
    tqdm.write(f"[generate] {len(inputs.audio)} samples x {settings.num_repetitions} repetitions "
               f"({settings.sampler}, {settings.timestep_respacing or 'all steps'}, guidance "
               f"{settings.guidance_param}) in {seconds:.1f} s ({audio_seconds / max(seconds, 1e-9):.2f} x real "
               f"time) -> {path}")
    return path


def load_partner(person: MotionSampler, settings: SamplingConfig, gen: GenerateConfig, configs: tuple,
                 device: torch.device) -> tuple[MotionSampler, SamplingConfig]:
    """--both: the partner's sampler (its own model, or the person's) and settings (seed + PARTNER_SEED_OFFSET),
    loaded before anything is sampled (sample/partner.py)."""
    partner, options, sampler = configs[5], merged_dict(*configs), person
    if partner.partner_model_path or partner.partner_resume_trans:
        options.update(model_path=partner.partner_model_path or gen.model_path,
                       resume_trans=partner.partner_resume_trans or options["resume_trans"])
        _, sampler, settings = load_sampler(options["model_path"], device, options, settings)
        if sampler.data_format != person.data_format:
            raise SystemExit(f"--partner_model_path {partner.partner_model_path} is a {sampler.data_format} model, "
                             f"but --model_path {gen.model_path} is a {person.data_format} model: give the same kind")
    settings = dataclasses.replace(settings, seed=settings.seed + PARTNER_SEED_OFFSET)
    tqdm.write(f"[generate] the partner (channels swapped, seed {settings.seed}): "
               f"{options['model_path'] if sampler is not person else 'the same model'}")
    return sampler, settings


def sample_to_file(gen: GenerateConfig, settings: SamplingConfig, configs: tuple) -> tuple[Path, str]:
    """Load the model and sample (or reuse the model's own --face_codes/--pose_codes file): (results.npy path,
    the data root of the person). With --both the partner's results go beside it."""
    plot, original = configs[3], configs[6]
    device = resolve_device(device_of(gen.device, original.cuda))
    seed_everything(settings.seed)
    loaded, sampler, settings = load_sampler(gen.model_path, device, merged_dict(*configs), settings)
    given = plot.pose_codes if loaded.config["data_format"] == "pose" else plot.face_codes
    if given:
        tqdm.write(f"[generate] rendering {given} instead of sampling (given for this model's data_format)")
        return Path(given), gen.data_root or loaded.config["data_root"]
    partner = load_partner(sampler, settings, gen, configs, device) if configs[5].both else None
    window = window_length(gen.max_seq_length, original.curr_seq_length) or sampler.window
    folder = Path(gen.output_dir) if gen.output_dir else default_output_dir(
        loaded.model_file, settings.seed, sampler.output_suffix, gen.audio)
    with writable_output_folder(folder) as folder:  # checked before the long work; not left empty on failure
        if gen.audio:
            inputs = audio_file_inputs(gen.audio, sampler.normalizer)
        else:
            data_root = test_split_folder(gen, loaded.config, loaded.model_file)
            if original.flip_person:
                inputs = chunk_inputs(paired_folder(data_root), sampler.data_format, window, gen.num_samples,
                                      settings.seed, sampler.normalizer)
            else:
                inputs = chunk_inputs(data_root, sampler.data_format, window, gen.num_samples, settings.seed)
        if original.flip_person:
            inputs = flipped_inputs(inputs, sampler.normalizer)
        path = sample_and_save(sampler, inputs, settings, gen, window, folder / "results.npy")
        if partner is not None:
            partner_sampler, partner_settings = partner
            sample_and_save(partner_sampler, partner_inputs(inputs, partner_sampler.normalizer), partner_settings,
                            gen, window, partner_path(path))
    return path, gen.data_root or loaded.config["data_root"]


if __name__ == "__main__":
    run_cli(main)
