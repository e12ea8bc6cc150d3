"""Real speech: the shipped models (or --checkpoints DIR) at their recommended settings on the real recordings
of ../shared/real_speech/dev/, clean and degraded, measured against the Must-show thresholds of issues 10, 16
(lips) and 17 (body).

    python scripts/bench_real_speech.py [--checkpoints DIR] [--files jfk ami] [--variants clean noisy]
        [--seed 10] [--steps ddimN] [--max_seconds 30] [--out DIR] [--frames 3] [--synthetic PERSON_DIR]

Inputs:
- every audio file of --dev_dir, its first --max_seconds, at 48 kHz. A file named by the URI of an RTTM file
  there (speaker turns) is a two-person dialogue, made a two-channel conversation from its mono mix:
  channel 0 = the speaker who talks most in the cut (the person), channel 1 = every other speaker (the
  partner); each channel is the mix inside its speakers' turns (10 ms ramps) and the mix BLEED_DB = 30 dB
  down outside them, as a neighbour's voice leaks into a close-talk microphone; overlapping speech is in
  both. Other files are mono (the person alone, as sample.generate takes them).
- copies of each (VARIANTS): clean; minus20 / plus10: 20 dB down / 10 dB up, clipped at full scale as a
  recorder would; noisy: babble (the other dev files' voices summed), white noise and 50 Hz hum with
  harmonics, equal parts, NOISE_SNR_DB = 10 dB below the speech level (RMS over channel 0's speech frames);
  telephone: 300-3400 Hz band (4th-order Butterworth), down to 8 kHz and back.
- non-speech, for the calm-face check: --nonspeech_seconds (10) of white noise and of synthesised chords
  (music), both at -20 dBFS RMS, mono.
Every copy goes the way of a user's file: written as a WAV, read by sample.audio_input.load_conversation_audio.
The copies of one recording are sampled in one batch with the same noise seed (one repetition), so they
differ by their input alone. The face model runs on every input, the body model on the dialogues' clean
copies (for the wrist check).

Per row (one copy of one file):
- r, lag: lip sync (sample.metrics.lip_sync), the mouth opening against channel 0's speech envelope of the
  CLEAN copy, best lag 0-4 frames;
- speech, pause: mean mouth opening (cm; negative openings, overlapping lips, count as 0) over speech frames
  and over pause frames, and pause/speech their ratio. Voice activity (`speech_frames`) is energy-based, on
  the clean channel 0: a frame is speech when its loudness (speech-band RMS, dB) exceeds max(floor + 10 dB,
  level - 30 dB), floor and level the 5th and 95th percentiles of the file's loudness (relative, so it holds
  at any recording level); pauses are the other frames more than PAUSE_MARGIN = 3 frames from speech (the
  mouth follows the sound about 2 frames late);
- crossed: % of frames whose inner lips have passed each other (avatar.face.lips_crossed);
- max|z|, dim: the largest face code value in training stds, and outside: % of frames outside the avatar's
  plausible face ranges (sample/face_range.py); mouth: the same for the mouth dims alone (MOUTH_DIMS of
  sample/lip_constraint.py);
- wrist: mean wrist speed (both wrists, relative to the root) while the person speaks alone over that while
  the partner speaks alone, for dialogues (turns from the RTTM; synthetic scenes: each channel's voice
  activity, as the synthetic puppeteer sees it); for single-speaker files, over the speech frames of channel
  0 against its pause frames (as for the mouth);
- s/s: seconds of sampling per second of audio (a batch's time over the audio it holds).
Then the summary against the issues' thresholds (THRESHOLDS: the dev rows; "every file" covers every copy),
PASS / FAIL per line. --out DIR writes bench_real_speech.json (every number) and --frames PNG frames of the
worst row (lowest r): its frames of widest mouth, largest |z| and deepest lip crossing, as
visualize.avatar_view renders them (face codes clamped to the plausible ranges; the body rests unless the row
is a clean copy). --synthetic PERSON_DIR adds
the test scenes of a synthetic person folder, their ground truth measured the same way (no sampling): the
reference the models are held to.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import binary_dilation, uniform_filter1d  # noqa: E402
from scipy.signal import butter, resample_poly, sosfilt  # noqa: E402

from avatar.face import face_code_limits, inner_lip_gaps, lip_vertices, lips_crossed, mouth_opening  # noqa: E402
from avatar.parameters import FACE_INDEX  # noqa: E402
from data_loaders.format import (FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, list_scenes, read_wav,  # noqa: E402
                                 split_scenes, write_wav)
from data_loaders.stats import Normalizer  # noqa: E402
from data_loaders.synthetic.audio_features import loudness_db, speech_envelope  # noqa: E402
from data_loaders.synthetic.speech_events import voice_activity  # noqa: E402
from sample.audio_input import load_conversation_audio, to_48k  # noqa: E402
from sample.body import BodySampler  # noqa: E402
from sample.face import FaceSampler  # noqa: E402
from sample.face_range import dim_name, face_range_report  # noqa: E402
from sample.generate import audio_inputs, default_overlap  # noqa: E402
from sample.lip_constraint import MOUTH_DIMS  # noqa: E402
from sample.metrics import lip_sync, speed_of_poses  # noqa: E402
from sample.recommended import sampling_settings  # noqa: E402
from sample.windows import sample_long  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402
from utils.device import device_name, resolve_device  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("clean", "minus20", "plus10", "noisy", "telephone")
BLEED_DB = -30.0
NOISE_SNR_DB = 10.0
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_RATE = 8000
NONSPEECH_RMS = 0.1  # -20 dBFS
PAUSE_MARGIN = 3
WRISTS = ("l_wrist", "r_wrist")
THRESHOLDS = dict(median_r=0.8, min_r=0.7, level_spread=0.05, crossed_percent=1.0, pause_ratio=0.3,
                  wrist_pause_ratio=1.2, wrist_ratio=1.3)


@dataclass
class BenchConfig:
    """What to run and where to write."""
    checkpoints: str = arg(str(REPO / "checkpoints"), "folder holding the face, lip, pose, guide and vq "
                                                      "checkpoints (e.g. candidate models to compare)")
    dev_dir: str = arg(str(REPO.parent / "shared" / "real_speech" / "dev"), "folder of real recordings and "
                                                                            "their RTTM speaker turns")
    files: list[str] = arg([], "run only these dev files (names or stems; default: all)")
    variants: list[str] = arg(list(VARIANTS), f"copies to run, of {', '.join(VARIANTS)}")
    seed: int = arg(10, "seed of the sampling noise (one repetition) and of the added noise")
    steps: Optional[str] = arg(None, "denoising steps, e.g. ddim50 (default: each model folder's sampling.json)")
    lip_consistency: Optional[str] = arg(None, "on / off: the face's lip constraint (default: the face folder's "
                                               "sampling.json, else on)")
    max_seconds: float = arg(30.0, "use the first seconds of each file (0: whole files)")
    out: str = arg("", "folder for bench_real_speech.json and the PNG frames of the worst row")
    frames: int = arg(3, "PNG frames of the worst row rendered into --out (0: none)")
    nonspeech_seconds: float = arg(10.0, "seconds of white noise and of music for the calm-face check (0: none)")
    synthetic: str = arg("", "a synthetic person folder (python -m data_loaders.synthetic): also measure the "
                             "ground truth of its test scenes")
    device: str = arg("auto", "auto (CUDA when available), cpu, cuda or cuda:N", check=device_name)


@dataclass
class Recording:
    """One input: audio (N, C) float32 at 48 kHz (C = 1: the person alone, 2: a dialogue), turns (T, 2) bool
    (frames of channel 0's and channel 1's speakers; dialogues only) and whether it holds speech."""
    name: str
    audio: np.ndarray
    turns: Optional[np.ndarray] = None
    speech: bool = True


@dataclass
class Row:
    """The numbers of one row of the table (module docstring); NaN where they do not apply."""
    file: str
    variant: str
    kind: str  # "dev", "dialogue", "nonspeech" or "synthetic"
    seconds: float
    r: float
    lag: int
    speech_open: float
    pause_open: float
    pause_ratio: float
    open_p95: float
    crossed_percent: float
    max_z: float
    max_z_dim: str
    outside_percent: float
    mouth_outside_percent: float
    wrist_ratio: float
    seconds_per_second: float


# ---- inputs -----------------------------------------------------------------------------------------------
def read_rttm(path: Path) -> list[tuple[str, str, float, float]]:
    """(uri, speaker, start s, end s) of every SPEAKER line of an RTTM file."""
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start = float(fields[3])
            turns.append((fields[1], fields[7], start, start + float(fields[4])))
    return turns


def samples_in(segments: list[tuple[float, float]], samples: int) -> np.ndarray:
    """(samples,) bool: inside any of the [start, end) second ranges."""
    inside = np.zeros(samples, dtype=bool)
    for start, end in segments:
        inside[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)] = True
    return inside


def dialogue(name: str, mix: np.ndarray, segments: list[tuple[str, float, float]]) -> Recording:
    """A two-channel conversation from a mono mix (N,) and its (speaker, start, end) turns (module docstring)."""
    seconds = len(mix) / SAMPLE_RATE
    talk = {}
    for speaker, start, end in segments:
        talk[speaker] = talk.get(speaker, 0.0) + max(0.0, min(end, seconds) - start)
    person = max(talk, key=talk.get)
    masks = [samples_in([(s, e) for who, s, e in segments if (who == person) == (channel == 0)], len(mix))
             for channel in (0, 1)]
    bleed = 10 ** (BLEED_DB / 20)
    gains = [bleed + (1 - bleed) * uniform_filter1d(m.astype(np.float32), SAMPLE_RATE // 100) for m in masks]
    frames = len(mix) // SAMPLES_PER_FRAME
    turns = np.stack([m[:frames * SAMPLES_PER_FRAME].reshape(frames, -1).mean(1) > 0.5 for m in masks], 1)
    return Recording(name, np.stack([mix * g for g in gains], 1).astype(np.float32), turns)


def dev_recordings(dev_dir: Path, max_seconds: float) -> list[Recording]:
    """Every audio file of the dev folder (module docstring): mono, or a dialogue when an RTTM names it."""
    rttm = [turn for path in sorted(dev_dir.glob("*.rttm")) for turn in read_rttm(path)]
    recordings = []
    for path in sorted(p for p in dev_dir.iterdir() if p.suffix.lower() in (".wav", ".flac", ".ogg", ".opus", ".mp3")):
        audio, rate = read_wav(path)
        audio = to_48k(audio, rate)[:int(max_seconds * SAMPLE_RATE) or None]
        segments = sorted({(who, start, end) for uri, who, start, end in rttm if uri in path.stem})
        if segments:
            recordings.append(dialogue(path.name, audio.mean(axis=1), segments))
        else:
            recordings.append(Recording(path.name, audio[:, :1]))
    return recordings


def nonspeech_recordings(seconds: float, seed: int) -> list[Recording]:
    """White noise and chords (C, F, G, C major with three harmonics), `seconds` each, mono ([] for 0)."""
    samples = int(seconds * SAMPLE_RATE)
    if samples < SAMPLES_PER_FRAME:
        return []
    noise = np.random.default_rng(seed).standard_normal(samples)
    t = np.arange(samples) / SAMPLE_RATE
    chord_length = samples // 4
    music = np.zeros(samples)
    for k, root in enumerate((261.6, 349.2, 392.0, 261.6)):
        part = slice(k * chord_length, (k + 1) * chord_length)
        envelope = np.exp(-1.5 * (t[part] - t[part][0])) * np.minimum(1, (t[part] - t[part][0]) / 0.01)
        for ratio in (1.0, 1.26, 1.5):  # root, third, fifth
            for harmonic in (1, 2, 3):
                music[part] += envelope * np.sin(2 * np.pi * root * ratio * harmonic * t[part]) / harmonic
    as_input = lambda x: (NONSPEECH_RMS * x / np.sqrt(np.mean(x ** 2)))[:, None].astype(np.float32)  # noqa: E731
    return [Recording("white_noise", as_input(noise), speech=False),
            Recording("music_chords", as_input(music), speech=False)]


def speech_frames(channel: np.ndarray) -> np.ndarray:
    """(T,) bool energy voice activity of one channel (N,) at 48 kHz (module docstring)."""
    loudness = loudness_db(speech_envelope(channel))
    floor, level = np.percentile(loudness, [5, 95])
    return loudness > max(floor + 10.0, level - 30.0)


def noise_for(recording: Recording, pool: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(N,) babble + white + hum, equal parts, at NOISE_SNR_DB below channel 0's speech level."""
    samples = len(recording.audio)
    speech = np.repeat(speech_frames(recording.audio[:, 0]), SAMPLES_PER_FRAME)
    level = np.sqrt(np.mean(recording.audio[:len(speech), 0][speech] ** 2)) if speech.any() else NONSPEECH_RMS
    babble = sum(np.roll(np.resize(voice, samples), rng.integers(samples)) for voice in pool)
    t = np.arange(samples) / SAMPLE_RATE
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3, 4))
    parts = [babble, rng.standard_normal(samples), hum]
    noise = sum(part / np.sqrt(np.mean(part ** 2)) for part in parts) / np.sqrt(len(parts))
    return noise * level * 10 ** (-NOISE_SNR_DB / 20)


def copy_of(recording: Recording, variant: str, pool: list[np.ndarray], seed: int) -> np.ndarray:
    """(N, C) float32: the recording as the variant, one of VARIANTS (module docstring)."""
    audio = recording.audio.astype(np.float64)
    if variant == "minus20":
        audio = audio * 10 ** (-20 / 20)
    elif variant == "plus10":
        audio = np.clip(audio * 10 ** (10 / 20), -1.0, 1.0)
    elif variant == "noisy":
        rng = np.random.default_rng([seed, zlib.crc32(recording.name.encode())])
        audio = audio + noise_for(recording, pool, rng)[:, None]
    elif variant == "telephone":
        band = sosfilt(butter(4, TELEPHONE_BAND_HZ, "bandpass", fs=SAMPLE_RATE, output="sos"), audio, axis=0)
        ratio = SAMPLE_RATE // TELEPHONE_RATE
        audio = resample_poly(resample_poly(band, 1, ratio, axis=0), ratio, 1, axis=0)[:len(audio)]
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def as_user_file(audio: np.ndarray, folder: Path) -> np.ndarray:
    """(T*1600, 2) model input of audio (N, C) at 48 kHz, through a 16-bit WAV file as a user's file goes."""
    path = folder / "copy.wav"
    write_wav(path, audio)
    return load_conversation_audio(path)[0]


# ---- sampling ---------------------------------------------------------------------------------------------
class Models:
    """The face and body samplers of a checkpoint folder with their recommended settings (one repetition)."""

    def __init__(self, folder: Path, config: BenchConfig):
        device = resolve_device(config.device)
        self.face = FaceSampler.load(folder / "face", device)
        self.body = BodySampler.load(folder / "pose", device, resume_trans=folder / "guide")
        given = dict(timestep_respacing=config.steps, seed=config.seed, num_repetitions=1,
                     lip_consistency=config.lip_consistency)
        self.face_settings = sampling_settings(folder / "face", **given)
        self.body_settings = sampling_settings(folder / "pose", **given)

    def describe(self) -> str:
        return "; ".join(f"{name}: {s.sampler} {s.timestep_respacing} guidance {s.guidance_param:g}{lips}"
                         for name, s, lips in (("face", self.face_settings, f", lip constraint "
                                                f"{self.face_settings.lip_consistency}"), ("body", self.body_settings, "")))


def sample(sampler, settings, raws: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """(raw motion (S, T, C), seconds of compute per second of audio) for the S equally long inputs raws
    (T*1600, 2), one batch, every row from the same noise seed."""
    audio = torch.cat([audio_inputs(raw, sampler.normalizer).audio for raw in raws])
    started = time.perf_counter()
    out = sample_long(sampler, audio, settings, sample_ids=[0] * len(raws), overlap=default_overlap(sampler.window))
    elapsed = time.perf_counter() - started
    motion = sampler.normalizer.denormalize(out.motion.double().cpu(), sampler.data_format).numpy()
    return motion, elapsed / (len(raws) * len(raws[0]) / SAMPLE_RATE)


# ---- metrics ----------------------------------------------------------------------------------------------
def wrist_ratio(poses: np.ndarray, turns: np.ndarray) -> float:
    """Mean wrist speed of poses (T, 104) while only channel 0 speaks over that while only channel 1 does."""
    return speed_ratio(poses, turns[:, 0] & ~turns[:, 1], turns[:, 1] & ~turns[:, 0])


def speed_ratio(poses: np.ndarray, fast: np.ndarray, slow: np.ndarray) -> float:
    """Mean wrist speed of poses (T, 104) over the frames `fast` (T,) bool over that over the frames `slow`."""
    speed = speed_of_poses(poses, WRISTS)
    fast, slow = fast[:len(speed)], slow[:len(speed)]
    if not fast.any() or not slow.any():
        return float("nan")
    return float(speed[fast].mean() / speed[slow].mean())


def pause_frames(talking: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames more than PAUSE_MARGIN frames from any speech frame of talking (T,) bool."""
    return ~binary_dilation(talking, iterations=PAUSE_MARGIN)


def measure(codes: np.ndarray, clean: np.ndarray, normalizer: Normalizer, speech: bool) -> tuple[dict, np.ndarray]:
    """The face numbers of one row, and the mouth openings (cm) of its speech frames (all frames without
    speech). codes (T, 256) raw; clean (T*1600, 2) the clean copy's model input."""
    lips = lip_vertices(torch.from_numpy(codes))
    opening = mouth_opening(lips)[0].numpy()
    report = face_range_report(codes[None], np.array([len(codes)]), normalizer)
    lower, upper = face_code_limits()
    mouth = [FACE_INDEX[name] for name in MOUTH_DIMS]
    mouth_outside = ((codes[:, mouth] < lower[mouth]) | (codes[:, mouth] > upper[mouth])).any(axis=1)
    numbers = dict(crossed_percent=100 * float(lips_crossed(lips).double().mean()), max_z=report.largest_z.amount,
                   max_z_dim=dim_name(report.largest_z.dim),
                   outside_percent=100 * report.outside_avatar / report.frames,
                   mouth_outside_percent=100 * float(mouth_outside.mean()))
    if not speech:
        return dict(numbers, open_p95=float(np.percentile(opening, 95))), opening
    talking = speech_frames(clean[:, 0])[:len(codes)]
    pauses = pause_frames(talking)
    open_ = np.maximum(opening, 0.0)
    mean_over = lambda frames: float(open_[frames].mean()) if frames.any() else float("nan")  # noqa: E731
    r, lag = lip_sync([opening], [speech_envelope(clean[:, 0])[:len(codes)]])
    speech_open, pause_open = mean_over(talking), mean_over(pauses)
    numbers.update(r=0.0 if np.isnan(r) else r, lag=-1 if np.isnan(lag) else int(lag),  # a still mouth: no sync
                   speech_open=speech_open, pause_open=pause_open,
                   pause_ratio=pause_open / speech_open if speech_open > 0 else float("nan"),
                   open_p95=float(np.percentile(opening[talking], 95)) if talking.any() else float("nan"))
    return numbers, opening[talking]


def row(file: str, variant: str, kind: str, frames: int, numbers: dict, wrist=float("nan"), rate=float("nan")) -> Row:
    defaults = dict(r=float("nan"), lag=-1, speech_open=float("nan"), pause_open=float("nan"),
                    pause_ratio=float("nan"))
    return Row(file=file, variant=variant, kind=kind, seconds=frames / FPS, wrist_ratio=wrist,
               seconds_per_second=rate, **{**defaults, **numbers})


def bench_recording(recording: Recording, variants: list[str], models: Models, pool: list[np.ndarray],
                    seed: int, folder: Path) -> tuple[list[Row], dict]:
    """The rows of every copy of one recording, and what the summary and the rendering need: {"codes":
    {variant: codes (T, 256)}, "poses": (T, 104) of the clean copy or None, "speech_openings": (F,) cm}."""
    names = variants if recording.speech else ["clean"]
    raws = [as_user_file(copy_of(recording, name, pool, seed), folder) for name in names]
    codes, rate = sample(models.face, models.face_settings, raws)
    clean = as_user_file(recording.audio, folder)
    poses, wrist = None, float("nan")
    if recording.speech:
        poses = sample(models.body, models.body_settings, [clean])[0][0]
        if recording.turns is not None:
            wrist = wrist_ratio(poses, recording.turns[:len(poses)])
        else:
            talking = speech_frames(clean[:, 0])
            wrist = speed_ratio(poses, talking, pause_frames(talking))
    kind = "nonspeech" if not recording.speech else "dev" if recording.turns is None else "dialogue"
    rows, speech_openings = [], np.zeros(0)
    for k, name in enumerate(names):
        numbers, openings = measure(codes[k], clean, models.face.normalizer, recording.speech)
        rows.append(row(recording.name, name, kind, len(codes[k]), numbers, wrist if name == "clean" else float("nan"),
                        rate))
        speech_openings = openings if name == "clean" else speech_openings
    return rows, dict(codes=dict(zip(names, codes)), poses=poses, speech_openings=speech_openings)


def synthetic_rows(person: Path, normalizer: Normalizer) -> list[Row]:
    """Rows of the ground truth of a synthetic person folder's test scenes (no sampling)."""
    rows = []
    for scene in split_scenes(list_scenes(person), "test"):
        audio = read_wav(scene.audio)[0]
        codes = np.load(scene.face).astype(np.float64)
        poses = np.load(scene.pose).astype(np.float64)
        turns = np.stack([voice_activity(audio[:, c]) for c in (0, 1)], 1)[:len(poses)]
        rows.append(row(f"{person.name}/{scene.name}", "truth", "synthetic", len(codes),
                        measure(codes, audio, normalizer, True)[0], wrist_ratio(poses, turns)))
    return rows


# ---- report -----------------------------------------------------------------------------------------------
COLUMNS = (("file", "file", 38, "s"), ("copy", "variant", 9, "s"), ("s", "seconds", 5, ".1f"), ("r", "r", 6, ".2f"),
           ("lag", "lag", 4, "d"), ("speech", "speech_open", 7, ".2f"), ("pause", "pause_open", 6, ".2f"),
           ("p/s", "pause_ratio", 5, ".2f"), ("p95", "open_p95", 5, ".2f"), ("crossed%", "crossed_percent", 9, ".1f"),
           ("max|z|", "max_z", 7, ".1f"), ("dim", "max_z_dim", 11, "s"), ("outside%", "outside_percent", 9, ".1f"),
           ("mouth%", "mouth_outside_percent", 7, ".1f"), ("wrist", "wrist_ratio", 6, ".2f"), ("s/s", "seconds_per_second", 5, ".2f"))


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width table (NaN shown as -)."""
    def cell(value, width, fmt):
        nan = isinstance(value, float) and np.isnan(value) or (fmt == "d" and value < 0)
        return f"{'-':>{width}}" if nan else f"{value:>{width}{fmt}}"
    lines = [" ".join(f"{title:>{width}}" if k else f"{title:<{width}}"
                      for k, (title, _, width, _) in enumerate(COLUMNS))]
    for r in rows:
        values = asdict(r)
        lines.append(" ".join(f"{values[key]:<{width}}" if k == 0 else cell(values[key], width, fmt)
                              for k, (_, key, width, fmt) in enumerate(COLUMNS)))
    return "\n".join(lines)


def _extreme(rows: list[Row], key: str, largest: bool) -> tuple[float, str] | None:
    """(value, "file copy") of the rows' largest (or smallest) value of `key`, NaN values left out."""
    found = [(getattr(r, key), f"{r.file} {r.variant}") for r in rows if not np.isnan(getattr(r, key))]
    return (max(found) if largest else min(found)) if found else None


def summary(rows: list[Row], speech_p95: float) -> list[dict]:
    """Issue 10's Must-show checks on the dev rows, [{check, value, threshold, where, passed}]; speech_p95:
    the 95th percentile of the mouth opening over the speech frames of the clean dev files."""
    t = THRESHOLDS
    speech = [r for r in rows if r.kind in ("dev", "dialogue")]
    clean = [r for r in speech if r.variant == "clean"]
    real = [r for r in rows if r.kind != "synthetic"]
    levels = {file: [r.r for r in speech if r.file == file and r.variant in ("minus20", "clean", "plus10")]
              for file in {r.file for r in speech}}
    spreads = [(float(np.ptp(rs)), file) for file, rs in levels.items() if len(rs) == 3]
    dialogues = [r for r in clean if r.kind == "dialogue"]
    singles = [r for r in clean if r.kind == "dev"]
    candidates = [
        ("median lip-sync r of the dev files", t["median_r"], ">=",
         (statistics.median([r.r for r in clean]), f"{len(clean)} clean files") if clean else None),
        ("lowest r of a clean single-speaker file", t["min_r"], ">=", _extreme(singles, "r", largest=False)),
        ("lowest r, every file and copy", t["min_r"], ">=", _extreme(speech, "r", largest=False)),
        ("largest r spread of a file's -20/0/+10 dB copies", t["level_spread"], "<=", max(spreads, default=None)),
        ("most frames with crossed lips, %", t["crossed_percent"], "<", _extreme(real, "crossed_percent", True)),
        ("largest mouth opening in pauses / in speech", t["pause_ratio"], "<=", _extreme(speech, "pause_ratio", True)),
        ("most frames with a mouth dim outside the avatar's face ranges, %", 0.0, "<=",
         _extreme(real, "mouth_outside_percent", True)),
        ("most frames with any dim outside the avatar's face ranges, %", 0.0, "<=",
         _extreme(real, "outside_percent", True)),
        ("lowest single-speaker wrist speed ratio, speech / pauses", t["wrist_pause_ratio"], ">=",
         _extreme(singles, "wrist_ratio", largest=False)),
        ("lowest dialogue wrist speed ratio, speaking / listening", t["wrist_ratio"], ">=",
         _extreme(dialogues, "wrist_ratio", largest=False)),
    ]
    candidates += [(f"{r.file}: mouth opening p95 (cm) below the dev speech p95", speech_p95, "<",
                    (r.open_p95, r.file)) for r in rows if r.kind == "nonspeech" and not np.isnan(speech_p95)]
    passes = {">=": np.greater_equal, "<=": np.less_equal, "<": np.less, ">": np.greater}
    return [dict(check=name, value=float(found[0]), threshold=threshold, where=found[1],
                 passed=bool(passes[relation](found[0], threshold)), relation=relation)
            for name, threshold, relation, found in candidates if found is not None]


def print_summary(checks: list[dict]) -> None:
    print("\nMust show (issues 10, 16, 17):")
    for c in checks:
        print(f"  {'PASS' if c['passed'] else 'FAIL'}  {c['check']}: {c['value']:.3g} "
              f"(needs {c['relation']} {c['threshold']:.3g}; {c['where']})")


# ---- the worst row, rendered ------------------------------------------------------------------------------
def render_worst(rows: list[Row], extras: dict, count: int, out: Path) -> list[Path]:
    """PNG frames of the speech row of lowest r (module docstring); their paths."""
    from PIL import Image

    from visualize.avatar_view import AvatarView
    worst = min((r for r in rows if r.kind in ("dev", "dialogue")), key=lambda r: r.r)
    codes = extras[worst.file]["codes"][worst.variant]
    poses = extras[worst.file]["poses"]
    poses = np.zeros((len(codes), 104)) if poses is None or worst.variant != "clean" else poses
    lips = lip_vertices(torch.from_numpy(codes))
    z = np.abs(extras[worst.file]["normalizer"].normalize(codes, "face")).max(axis=1)
    picks = [int(np.argmax(mouth_opening(lips)[0].numpy())), int(np.argmax(z)),
             int(np.argmin(inner_lip_gaps(lips).amin(dim=-1).numpy()))]
    picks = list(dict.fromkeys(picks + np.linspace(0, len(codes) - 1, count).astype(int).tolist()))[:count]
    view = AvatarView(size=384)
    try:
        images = view.render(poses[picks], codes[picks])
    finally:
        view.close()
    paths = []
    for frame, image in zip(picks, images):
        paths.append(out / f"worst_{Path(worst.file).stem}_{worst.variant}_frame{frame:05d}.png")
        Image.fromarray(image).save(paths[-1])
    return paths


# ---- main -------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> list[dict]:
    config, = parse_config([BenchConfig], argv, description=__doc__.split("\n")[0])
    dev_dir, folder = Path(config.dev_dir), Path(config.checkpoints)
    unknown = sorted(set(config.variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    if not dev_dir.is_dir():
        raise SystemExit(f"{dev_dir}: no such folder; pass --dev_dir, the folder of real recordings")
    everything = dev_recordings(dev_dir, config.max_seconds)
    chosen = [r for r in everything if not config.files or r.name in config.files or Path(r.name).stem in config.files]
    if config.files and not chosen:
        raise SystemExit(f"--files {config.files}: none of {', '.join(r.name for r in everything)}")
    models = Models(folder, config)
    print(f"[bench] {folder}: {models.describe()}; {len(chosen)} files x {len(config.variants)} copies, the "
          f"first {config.max_seconds:g} s of each")
    rows, extras = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for recording in chosen + nonspeech_recordings(config.nonspeech_seconds, config.seed):
            pool = [r.audio.mean(axis=1) for r in everything if r.name != recording.name]
            found, extra = bench_recording(recording, config.variants, models, pool, config.seed, Path(scratch))
            rows += found
            extras[recording.name] = dict(extra, normalizer=models.face.normalizer)
            print(table(found).split("\n", 1)[1], flush=True)
    if config.synthetic:
        rows += synthetic_rows(Path(config.synthetic), models.face.normalizer)
    clean_speech = [extras[r.file]["speech_openings"] for r in rows if r.kind in ("dev", "dialogue")
                    and r.variant == "clean"]
    speech_p95 = float(np.percentile(np.concatenate(clean_speech), 95)) if clean_speech else float("nan")
    print("\n" + table(rows))
    checks = summary(rows, speech_p95)
    print_summary(checks)
    if config.out:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        report = dict(checkpoints=str(folder), settings=models.describe(), config=asdict(config),
                      speech_p95=speech_p95, rows=[asdict(r) for r in rows], checks=checks)
        (out / "bench_real_speech.json").write_text(json.dumps(report, indent=2))
        print(f"[bench] numbers -> {out / 'bench_real_speech.json'}")
        if config.frames > 0 and any(r.kind in ("dev", "dialogue") for r in rows):
            for path in render_worst(rows, extras, config.frames, out):
                print(f"[bench] frame of the worst row -> {path}")
    return checks


if __name__ == "__main__":
    run_cli(main)
