"""Score a results.npy (written by sample.generate, a baseline, or the original code) with every metric that applies.

    python -m sample.evaluate --results RESULTS.npy [--gt_results OTHER.npy] [--out metrics.json]

results.npy (UPSTREAM.md §5.3) is a pickled dict of N = num_samples x num_repetitions sequences ordered
repetition-major (index = rep * num_samples + sample):
- "motions" (N, C, 1, T) generated motion, raw units ("motion", the key the original's eval reads, too);
- "gt" (N or num_samples, C, 1, T) ground truth, the same for every repetition (the first copy is read and
  paired with every repetition, as the original does);
- "audio" (N or num_samples, T*1600, 2) the chunks' waveforms (required for body, optional for face);
- "lengths" (N,) valid frames per sequence (default: all T);
- "num_samples", "num_repetitions" ints (default: the repeat period of "gt", as the original writes neither);
- "scenes", "starts" (num_samples,) where each chunk came from (optional, sample/results.py): the paired
  metrics that need annotations read the events file of each chunk's scene (data_loaders/format.py).
C = 256 is face codes: FD_g, FD_k, Div_g, Div_k, Div_sample, the lip errors and, with audio, the jaw-envelope
correlation (jaw_env_r at its best lag jaw_env_lag); C = 104 is body pose: the FD and Div metrics, beat
alignment (beat_align), the wrist speed ratio speaking / listening (speed_ratio; speaking from the events'
speech runs, else from the voice activity of the person's channel) and, when every chunk's scene has an events
file, the nod scores (speaker_nod_precision / _recall / _f1 with speaker_nod_f1_chance, listener_nod_precision
/ _recall with listener_nod_recall_chance); without events a one-line notice says they are skipped. Any other
C gets the FD and Div metrics only, and so do the original's models' results (avatar "original": their
codes and poses are not the reference avatar's, whose face and skeleton the other metrics decode; one line
says so, sample/original_avatar.py). Formulas are in sample/metrics.py. The ground-truth column (Div_g, Div_k
and the paired metrics of the ground truth itself) gives the scale the generated values should reach; the
chance values give the floor of motion that ignores the audio. Any T and any number of repetitions work.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from data_loaders.format import FACE_DIM, POSE_DIM, SAMPLES_PER_FRAME, Scene, read_events
from sample import metrics
from sample.metrics import ChunkEvents
from sample.original_avatar import ORIGINAL_METRICS_REFUSED
from sample.results import ResultsError, stored_array, stored_count
from sample.results import read_results_dict as load_results
from utils.cli import run_cli
from utils.config import arg, parse_config
from utils.files import atomic_write


@dataclass
class EvaluateConfig:
    """What to score and where to write the scores."""
    results: str = arg("", "results.npy to score (written by sample.generate or the original code)")
    gt_results: Optional[str] = arg(None, "take the ground truth ('gt') from this results.npy instead "
                                          "(for a results file without it; sequences must correspond)")
    out: Optional[str] = arg(None, "JSON file for the scores (default: RESULTS_metrics.json beside RESULTS)")
    seed: int = arg(0, "seed of Div_g's random frame pairs")


@dataclass
class Sequences:
    """A results dict unpacked: kind "face", "body" or "motion"; motion (R, S, T, C) generated; gt (S, T, C);
    audio (S, T*1600, 2) or None; lengths (S,) int64; events: S ChunkEvents (sample/metrics.py) or None;
    speaking (S, T) bool, the person's speaking frames (body only, else None)."""
    kind: str
    motion: np.ndarray
    gt: np.ndarray
    audio: Optional[np.ndarray]
    lengths: np.ndarray
    events: Optional[list[ChunkEvents]] = None
    speaking: Optional[np.ndarray] = None


def _array(results: dict, key: str, source: str) -> np.ndarray:
    """results[key], an array of numbers; ResultsError naming `source` when it is missing or holds others."""
    array = stored_array(results, key, source)
    if array is None:
        raise ResultsError(f"{source}: missing key {key!r} or None (keys: {sorted(results)}); see sample/evaluate.py")
    return array


def _generated(results: dict, source: str) -> np.ndarray:
    key = "motion" if "motion" in results and "motions" not in results else "motions"
    motion = _array(results, key, source)
    if motion.ndim != 4 or motion.shape[2] != 1:
        raise ResultsError(f"{source}: {key!r} has shape {motion.shape}, expected (N, C, 1, T)")
    return motion[:, :, 0].transpose(0, 2, 1).astype(np.float64)


def _repeat_period(gt: np.ndarray) -> int:
    """The smallest S dividing N such that gt (N, ...) repeats every S rows (N when it never repeats)."""
    n, flat = len(gt), gt.reshape(len(gt), -1)
    return next(s for s in range(1, n + 1) if n % s == 0 and (flat.reshape(n // s, s, -1) == flat[:s]).all())


def _counts(results: dict, gt: np.ndarray, n: int, source: str) -> tuple[int, int]:
    if results.get("num_samples") is not None:
        samples = stored_count(results, "num_samples", source)
    elif results.get("num_repetitions") is not None:
        samples = n // max(stored_count(results, "num_repetitions", source), 1)
    else:
        samples = _repeat_period(gt) if len(gt) == n else len(gt)
    if samples < 1 or n % samples:
        raise ResultsError(f"{source}: {n} sequences are not a whole number of repetitions of {samples} samples")
    repetitions = n // samples
    if (stored_count(results, "num_repetitions", source) or repetitions) != repetitions:
        raise ResultsError(f"{source}: num_samples {samples} x num_repetitions {results['num_repetitions']} != {n}")
    return samples, repetitions


def _first_copy(array: np.ndarray, n: int, samples: int, key: str, source: str) -> np.ndarray:
    if len(array) not in (n, samples):
        raise ResultsError(f"{source}: {key!r} has {len(array)} rows, expected {n} or {samples}")
    return array[:samples]


def unpack(results: dict, source: str = "results") -> Sequences:
    """Check a results dict (errors name `source`) and return its Sequences."""
    motion = _generated(results, source)
    n, frames, channels = motion.shape
    gt_raw = _array(results, "gt", source)
    if gt_raw.ndim != 4 or gt_raw.shape[1:] != (channels, 1, frames):
        raise ResultsError(f"{source}: 'gt' has shape {gt_raw.shape}, expected (N, {channels}, 1, {frames}) "
                           f"like the generated motion")
    samples, repetitions = _counts(results, gt_raw, n, source)
    gt = _first_copy(gt_raw[:, :, 0].transpose(0, 2, 1).astype(np.float64), n, samples, "gt", source)
    stored_lengths = stored_array(results, "lengths", source, kinds="iu")
    lengths = (np.full(n, frames) if stored_lengths is None else stored_lengths).astype(np.int64).reshape(-1)
    if len(lengths) != n or lengths.min() < 1 or lengths.max() > frames:
        raise ResultsError(f"{source}: 'lengths' must hold {n} values in [1, {frames}], got {lengths}")
    if (lengths.reshape(repetitions, samples) != lengths[:samples]).any():
        raise ResultsError(f"{source}: 'lengths' differ between repetitions of the same sample")
    kind = {FACE_DIM: "face", POSE_DIM: "body"}.get(channels, "motion")
    if results.get("avatar") == "original" and kind != "motion":
        print(f"[evaluate] {source}: {ORIGINAL_METRICS_REFUSED[kind]}")
        kind = "motion"
    audio = None
    if kind == "body" or (kind == "face" and results.get("audio") is not None):
        audio = _array(results, "audio", source)
        if audio.ndim != 3 or audio.shape[1:] != (frames * SAMPLES_PER_FRAME, 2):
            raise ResultsError(f"{source}: 'audio' has shape {audio.shape}, expected "
                               f"(N, {frames * SAMPLES_PER_FRAME}, 2) for {frames} frames")
        audio = _first_copy(audio, n, samples, "audio", source)
    seqs = Sequences(kind, motion.reshape(repetitions, samples, frames, channels), gt, audio, lengths[:samples])
    if kind == "body":
        seqs.events = _chunk_events(results, lengths[:samples], source)
        if seqs.events is None:
            print(f"[evaluate] no events for {source}; paired metrics that need annotations are skipped")
        seqs.speaking = _speaking(seqs)
    return seqs


def _chunk_events(results: dict, lengths: np.ndarray, source: str) -> Optional[list[ChunkEvents]]:
    """The ChunkEvents of each sample (lengths (S,)) from the results' "scenes" and "starts" and the events
    files of those scenes; None when the results do not name the scenes or a scene has no events file."""
    if results.get("scenes") is None or results.get("starts") is None:
        return None
    scenes, starts = np.asarray(results["scenes"]).reshape(-1), np.asarray(results["starts"]).reshape(-1)
    if len(scenes) != len(lengths) or len(starts) != len(lengths):
        raise ResultsError(f"{source}: 'scenes' and 'starts' must hold one entry per sample ({len(lengths)}), "
                           f"got {len(scenes)} and {len(starts)}")
    events: dict[str, Optional[dict]] = {}
    chunks = []
    for scene, start, length in zip(scenes.tolist(), starts.tolist(), lengths.tolist()):
        if scene not in events:
            events[scene] = read_events(Scene(Path(scene).parent, Path(scene).name))
        if events[scene] is None:
            return None
        chunks.append(metrics.chunk_events(events[scene], int(start), int(length)))
    return chunks


def _speaking(seqs: Sequences) -> np.ndarray:
    """(S, T) bool speaking frames of body Sequences: the events' speech runs, else the audio's voice activity."""
    if seqs.events is None:
        return metrics.speaking_frames(seqs.audio, seqs.lengths)
    speaking = np.zeros(seqs.gt.shape[:2], bool)
    for n, chunk in enumerate(seqs.events):
        speaking[n, :len(chunk.speaking)] = chunk.speaking
    return speaking


def paired_scores(seqs: Sequences, motion: np.ndarray) -> dict[str, float]:
    """The metrics of motion (R*S, T, C) (rows repetition-major, like seqs.motion flattened; or the ground
    truth, R = 1) that pair it with its audio and events: jaw_env_r, jaw_env_lag (face with audio);
    beat_align, speed_ratio and, with events, the nod scores (body); see the module docstring."""
    repetitions = len(motion) // len(seqs.lengths)
    lengths = np.tile(seqs.lengths, repetitions)
    scores: dict[str, float] = {}
    if seqs.kind == "face" and seqs.audio is not None:
        scores.update(metrics.jaw_envelope_correlation(motion, np.tile(seqs.audio, (repetitions, 1, 1)), lengths))
    if seqs.kind == "body":
        scores["beat_align"] = metrics.beat_alignment(motion, np.tile(seqs.audio, (repetitions, 1, 1)), lengths)
        scores["speed_ratio"] = metrics.speed_ratio(motion, lengths, np.tile(seqs.speaking, (repetitions, 1)))
        if seqs.events is not None:
            scores.update(metrics.nod_scores(motion, lengths, seqs.events * repetitions))
    return scores


def score(seqs: Sequences, seed: int = 0) -> dict[str, float | None]:
    """Metrics of the generated motion: fd_g, fd_k, div_g, div_k, div_sample (None for one repetition), then
    lip_vertical, lip_horizontal, lip_mesh_l2, lip_lve (face), then the `paired_scores` (NaN where undefined)."""
    repetitions, samples, frames, channels = seqs.motion.shape
    flat = seqs.motion.reshape(-1, frames, channels)
    flat_gt = np.tile(seqs.gt, (repetitions, 1, 1))  # paired with each repetition, as in the original
    flat_lengths = np.tile(seqs.lengths, repetitions)
    scores: dict[str, float | None] = {
        "fd_g": metrics.fd_g(flat, flat_lengths, flat_gt, flat_lengths),
        "fd_k": metrics.fd_k(flat, flat_lengths, flat_gt, flat_lengths),
        "div_g": metrics.div_g(flat, flat_lengths, seed=seed),
        "div_k": metrics.div_k(flat, flat_lengths),
        "div_sample": metrics.div_sample(seqs.motion, seqs.lengths) if repetitions > 1 else None,
    }
    if seqs.kind == "face":
        scores.update(metrics.lip_errors(flat, flat_gt, flat_lengths))
    scores.update(paired_scores(seqs, flat))
    return scores


def score_ground_truth(seqs: Sequences, seed: int = 0) -> dict[str, float | None]:
    """The ground truth scored against itself: div_g, div_k and its `paired_scores`."""
    return {"div_g": metrics.div_g(seqs.gt, seqs.lengths, seed=seed), "div_k": metrics.div_k(seqs.gt, seqs.lengths),
            **paired_scores(seqs, seqs.gt)}


def evaluate(results: dict, seed: int = 0) -> dict[str, float | None]:
    """`score` of a results dict (the baselines' entry point)."""
    return score(unpack(results), seed)


def ground_truth_metrics(results: dict, seed: int = 0) -> dict[str, float | None]:
    """`score_ground_truth` of a results dict: the ground-truth rows of a table."""
    return score_ground_truth(unpack(results), seed)


def _json_value(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def format_table(generated: dict, ground_truth: dict) -> str:
    """The scores as a two-column text table (generated, ground truth); '-' where a value does not apply."""
    def cell(value):
        return "-" if value is None else f"{value:.5g}"
    width = max(map(len, ["metric", *generated])) + 2
    lines = [f"{'metric':<{width}}{'generated':>14}{'ground truth':>16}"]
    lines += [f"{name:<{width}}{cell(value):>14}{cell(ground_truth.get(name)):>16}"
              for name, value in generated.items()]
    return "\n".join(lines)


def main(argv=None) -> dict:
    config, = parse_config([EvaluateConfig], argv, description=__doc__.split("\n")[0])
    if not config.results:
        raise SystemExit("--results is required: the results.npy to score")
    results = load_results(config.results)
    if config.gt_results:
        results = {**results, "gt": _array(load_results(config.gt_results), "gt", config.gt_results)}
    seqs = unpack(results, source=config.results)
    generated = {k: _json_value(v) for k, v in score(seqs, config.seed).items()}
    ground_truth = {k: _json_value(v) for k, v in score_ground_truth(seqs, config.seed).items()}
    repetitions, samples, frames, channels = seqs.motion.shape
    report = {"results": str(config.results), "kind": seqs.kind, "num_samples": samples,
              "num_repetitions": repetitions, "frames": frames, "channels": channels,
              "events": seqs.events is not None, "generated": generated, "ground_truth": ground_truth}
    results_path = Path(config.results)
    out = Path(config.out) if config.out else results_path.with_name(results_path.stem + "_metrics.json")
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(f"{seqs.kind}: {samples} samples x {repetitions} repetitions x {frames} frames, {config.results}")
    print(format_table(generated, ground_truth))
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    run_cli(main)
