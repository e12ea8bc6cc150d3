"""Evaluation metrics of generated motion: Frechet distances, diversities, lip errors, and the paired metrics
that score motion against its audio and events (beat alignment, nods, speed ratio, jaw-envelope correlation).

Motion everywhere is `motion` (N, T, C) float: N sequences of T frames at 30 fps of C-d vectors in raw
(un-normalised) units — body pose (C = 104, cm and radians, avatar/parameters.py) or face codes (C = 256) —
with `lengths` (N,) int: frames t < lengths[n] are valid, later ones are padding and ignored. Repetitions of
the same audio are stacked as (R, S, T, C) where a metric needs them. Formulas (x_t a frame's vector):

- FD_g = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)) between Gaussians (mean mu, covariance S) fitted
  to the generated and the ground-truth valid frames; FD_k the same on velocities v_t = x_{t+1} - x_t (pairs
  of valid frames within one sequence). Units: squared motion units (per frame for FD_k).
- Div_g = mean over P pairs of |x_a - x_b|, the pairs drawn from all generated valid frames without
  replacement (each frame in at most one pair, so a frame is never paired with itself),
  P = min(DIV_G_PAIRS, frames // 2), seeded. Motion units. (The original draws two independent sets of
  exactly 10 000 frames and fails with fewer.)
- Div_k = mean over sequences n and dims c of Var_t x_t[n, c] (population variance over the valid frames).
- Div_sample = mean over valid (sample, frame) and dims of Var_r x[r, s, t, c], the variance across the R
  repetitions of one audio (the original's "cross var"; 0 when every repetition is the same).
- lip errors (face codes), on the reference avatar's lip vertices (avatar/face.py, cm), per valid frame then
  averaged over frames: vertical and horizontal mouth opening error |o_pred - o_gt| (the mean absolute
  error, i.e. the per-frame L2 of a scalar; avatar.face.mouth_opening, whose vertical opening is negative
  when the lips overlap, so crossed lips count as far from open ones); lip mesh L2 = mean over lip vertices
  of |p_i - g_i|; lip vertex error LVE = max over lip vertices of |p_i - g_i| (as in MeshTalk / FaceFormer,
  with the Euclidean rather than the squared distance).
- beat alignment (body) = mean over motion beats m of exp(-d_m^2 / (2 BEAT_SIGMA^2)), d_m the distance in
  frames from m to the nearest audio beat of its sequence (Bailando's score). Audio beats: the stressed
  syllables of the person's channel (data_loaders/synthetic/speech_events.py, the events the synthetic
  puppeteer nods and gestures on). Motion beats: strict local minima of the speed of the head and hands
  (speed_of_poses: mean joint speed in cm per frame, through the avatar's forward kinematics) smoothed by a
  Gaussian of SPEED_SMOOTHING frames. All motion beats count, also those while the person listens, so
  chance is well above 0: the synthetic data set's ground truth scores 0.28 with its own audio and 0.19
  with another scene's (64 scenes of the tiny preset, seeds 0-3).

Paired metrics score motion against what was said when (the events of its own chunk of audio; `ChunkEvents`,
frames relative to the chunk's first frame, from the scene's events file, data_loaders/format.py):

- nods (body): a nod is a peak of the downward head pitch velocity w_t = d/dt (head_rx + neck1_rx + neck2_rx)
  (central differences, rad per frame, > 0 = down) above NOD_VELOCITY and NOD_PROMINENCE. The thresholds
  separate the synthetic puppeteer's nods (velocity peaks 0.012-0.04 rad/frame) from every other head
  motion (below 0.004 rad/frame; tiny preset, seed 3). A detected nod is the speaker's when the person
  speaks (their speech runs, each extended by NOD_TOLERANCE frames for the nods' lag), the listener's
  otherwise; recalls count every detected nod (a listener who takes the turn may nod as it starts).
- speaker-nod precision = share of the speaker's detected nods within NOD_TOLERANCE frames of an annotated
  speaker nod (`speaker_nods`: the velocity peak of the nod on a stressed syllable); recall = share of the
  annotated speaker nods with a detected nod within NOD_TOLERANCE frames; F1 = 2 P R / (P + R) (an
  undefined P, no speaker's nod detected, counts as 0).
- listener-nod recall = share of the annotated listener nods (`listener_nods`: the velocity peaks of the
  nods the puppeteer made after the partner's pauses while listening, as many as the listener's attitude
  asks for) with a detected nod within NOD_TOLERANCE frames; precision = share of the listener's detected
  nods within NOD_TOLERANCE frames of an annotated listener nod.
- chance levels (`*_chance`): the same score with the detected nods moved circularly (modulo the sequence's
  length L) by round(f L) frames for each fraction f of CHANCE_SHIFTS (48-192 frames for 240-frame chunks)
  against the unmoved events, averaged over the shifts: the score of motion that moves like this but
  ignores when things are said. Nod counts are pooled over all sequences before the ratios are taken; NaN
  where a ratio has no denominator.
- speed ratio (body) = mean speed of the wrists (cm per frame, relative to the root, forward kinematics)
  over the valid frames where the person speaks / the same over the frames where they do not. The speaking
  frames are the events' speech runs, or the voice activity of the person's channel where there are no events
  (data_loaders/synthetic/speech_events.voice_activity).
- lip sync, or jaw-envelope correlation (face) = max over lags l in 0..LIP_SYNC_MAX_LAG of the Pearson r of
  the pairs (o[t + l], e[t]) pooled over the valid frames of all sequences: o the vertical mouth opening of
  the decoded lip vertices (avatar/face.py mouth_opening), e the speech envelope of the person's channel (RMS
  of the speech band, data_loaders/synthetic/audio_features.speech_envelope, linear): the mouth follows the
  sound up to 133 ms later; the lag (frames) is reported with it. The synthetic data set's ground truth
  scores 0.82-0.88 per scene (tiny preset, seed 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import sqrtm
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelmin, find_peaks

from avatar.face import lip_vertices, mouth_opening
from avatar.parameters import POSE_INDEX
from avatar.skeleton import JOINT_INDEX, forward_kinematics
from data_loaders.format import SAMPLES_PER_FRAME
from data_loaders.synthetic.audio_features import speech_envelope
from data_loaders.synthetic.speech_events import stressed_syllables, voice_activity

FD_EPS = 1e-6  # added to the covariances' diagonals when sqrtm(S_1 S_2) is not finite
FD_MAX_IMAGINARY = 1e-3  # a larger imaginary part on the diagonal of sqrtm(S_1 S_2) is an error
DIV_G_PAIRS = 10_000
LIP_CHUNK = 4096  # frames decoded to lip vertices at a time (memory)
BEAT_SIGMA = 3.0  # frames (100 ms): tolerance of the beat alignment score
SPEED_SMOOTHING = 1.0  # frames: std of the Gaussian that smooths the speed before its minima are taken
BEAT_JOINTS = ("head_end", "l_middle1", "r_middle1")  # top of the head and the centre of each hand
NOD_PITCH = ("head_rx", "neck1_rx", "neck2_rx")  # pose parameters whose sum is the head's pitch (> 0 = down)
NOD_VELOCITY = 0.006  # rad/frame (10 deg/s): the least downward pitch velocity peak that counts as a nod
NOD_PROMINENCE = 0.003  # rad/frame: how far a nod's velocity peak must rise above its neighbouring valleys
NOD_TOLERANCE = 3  # frames (100 ms) between a detected and an annotated speaker nod
CHANCE_SHIFTS = (0.2, 0.4, 0.6, 0.8)  # fractions of a sequence's length by which nods move for the chance level
WRIST_JOINTS = ("l_wrist", "r_wrist")
LIP_SYNC_MAX_LAG = 4  # frames by which the mouth may trail the sound


def valid_mask(lengths: np.ndarray, frames: int) -> np.ndarray:
    """(N, T) bool: frame t of sequence n is valid (t < lengths[n])."""
    return np.arange(frames)[None, :] < np.asarray(lengths)[:, None]


def valid_frames(motion: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(F, C) the valid frames of every sequence, concatenated (F = sum of the lengths)."""
    return motion[valid_mask(lengths, motion.shape[1])]


def valid_velocities(motion: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(F', C) velocities x_{t+1} - x_t (units per frame) of every pair of consecutive valid frames."""
    return (motion[:, 1:] - motion[:, :-1])[valid_mask(np.asarray(lengths) - 1, motion.shape[1] - 1)]


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = FD_EPS) -> float:
    """Frechet distance between Gaussians fitted to the rows of a (N, D) and b (M, D), N, M >= 2."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"the Frechet distance needs at least 2 vectors per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():
        offset = eps * np.eye(len(cov_a))
        root = sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(root):
        imaginary = np.abs(np.diagonal(root).imag).max()
        if imaginary > FD_MAX_IMAGINARY:
            raise ValueError(f"sqrtm(S_1 S_2) has an imaginary component of {imaginary:.3g}: the covariances "
                             f"are too ill-conditioned (too few frames for {a.shape[1]} dims?)")
        root = root.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def fd_g(pred: np.ndarray, pred_lengths: np.ndarray, gt: np.ndarray, gt_lengths: np.ndarray) -> float:
    """FD_g: Frechet distance of the valid frames of pred (N, T, C) and gt (M, T', C)."""
    return frechet_distance(valid_frames(pred, pred_lengths), valid_frames(gt, gt_lengths))


def fd_k(pred: np.ndarray, pred_lengths: np.ndarray, gt: np.ndarray, gt_lengths: np.ndarray) -> float:
    """FD_k: Frechet distance of the per-frame velocities of pred (N, T, C) and gt (M, T', C)."""
    return frechet_distance(valid_velocities(pred, pred_lengths), valid_velocities(gt, gt_lengths))


def div_g(motion: np.ndarray, lengths: np.ndarray, pairs: int = DIV_G_PAIRS, seed: int = 0) -> float:
    """Div_g: mean distance between min(pairs, F // 2) disjoint random pairs of the F valid frames."""
    frames = valid_frames(motion, lengths)
    count = min(pairs, len(frames) // 2)
    if count == 0:
        raise ValueError(f"Div_g needs at least 2 valid frames, got {len(frames)}")
    chosen = np.random.default_rng(seed).permutation(len(frames))[:2 * count]
    return float(np.linalg.norm(frames[chosen[:count]] - frames[chosen[count:]], axis=1).mean())


def div_k(motion: np.ndarray, lengths: np.ndarray) -> float:
    """Div_k: variance over the valid frames of each (sequence, dim) trajectory, averaged."""
    mask = valid_mask(lengths, motion.shape[1])[..., None]
    count = np.asarray(lengths, dtype=np.float64)[:, None]
    mean = (motion * mask).sum(axis=1) / count
    variance = (((motion - mean[:, None]) * mask) ** 2).sum(axis=1) / count
    return float(variance.mean())


def div_sample(motion: np.ndarray, lengths: np.ndarray) -> float:
    """Div_sample: variance across repetitions of motion (R, S, T, C), averaged over the valid frames of the
    S samples (lengths (S,)) and the dims. Needs R >= 2."""
    if motion.shape[0] < 2:
        raise ValueError(f"Div_sample needs at least 2 repetitions, got {motion.shape[0]}")
    return float(valid_frames(motion.var(axis=0), lengths).mean())


def lip_errors(pred: np.ndarray, gt: np.ndarray, lengths: np.ndarray) -> dict[str, float]:
    """Lip errors (cm) between face codes pred (N, T, 256) and gt (N, T, 256), pairwise, over valid frames:
    {"lip_vertical", "lip_horizontal", "lip_mesh_l2", "lip_lve"} (formulas in the module docstring)."""
    pred_frames = torch.as_tensor(valid_frames(pred, lengths), dtype=torch.float64)
    gt_frames = torch.as_tensor(valid_frames(gt, lengths), dtype=torch.float64)
    sums = torch.zeros(4, dtype=torch.float64)
    for start in range(0, len(pred_frames), LIP_CHUNK):
        pred_lips = lip_vertices(pred_frames[start:start + LIP_CHUNK])
        gt_lips = lip_vertices(gt_frames[start:start + LIP_CHUNK])
        openings = (torch.stack(mouth_opening(pred_lips)) - torch.stack(mouth_opening(gt_lips))).abs()
        distances = torch.linalg.vector_norm(pred_lips - gt_lips, dim=-1)
        sums += torch.stack([openings[0].sum(), openings[1].sum(), distances.mean(dim=1).sum(),
                             distances.amax(dim=1).sum()])
    return dict(zip(("lip_vertical", "lip_horizontal", "lip_mesh_l2", "lip_lve"), (sums / len(pred_frames)).tolist()))


def speed_of_poses(poses: np.ndarray, joints: tuple[str, ...] = BEAT_JOINTS) -> np.ndarray:
    """(T,) speed (cm per frame) of joints (default: the head and hands) of poses (T, 104), T >= 2: the mean
    over the joints of |dp/dt|, p the joint's position relative to the root (forward kinematics of
    avatar/skeleton.py), by central differences."""
    _, positions = forward_kinematics(torch.as_tensor(poses, dtype=torch.float64))
    positions = positions.numpy()
    relative = positions[:, [JOINT_INDEX[name] for name in joints]] - positions[:, None, JOINT_INDEX["root"]]
    return np.linalg.norm(np.gradient(relative, axis=0), axis=-1).mean(axis=1)


def motion_beats(speed: np.ndarray) -> np.ndarray:
    """Frame indices of the strict local minima of a speed curve (T,) after Gaussian smoothing."""
    return argrelmin(gaussian_filter1d(speed, SPEED_SMOOTHING, mode="nearest"))[0]


def beat_alignment_terms(motion_beat_frames: np.ndarray, audio_beat_frames: np.ndarray,
                         sigma: float = BEAT_SIGMA) -> np.ndarray:
    """(B,) exp(-d^2 / (2 sigma^2)) for each of the B motion beats, d its distance to the nearest audio beat."""
    distance = np.abs(np.asarray(motion_beat_frames)[:, None] - np.asarray(audio_beat_frames)[None, :]).min(axis=1)
    return np.exp(-distance.astype(np.float64) ** 2 / (2.0 * sigma ** 2))


def beat_alignment(poses: np.ndarray, audio: np.ndarray, lengths: np.ndarray, sigma: float = BEAT_SIGMA) -> float:
    """Beat alignment of body poses (N, T, 104) with audio (N, T*1600, 2), over the valid frames: the mean of
    the per-beat terms over all motion beats of the sequences whose person speaks (has audio beats); NaN when
    there is no such beat."""
    terms = []
    for n, length in enumerate(np.asarray(lengths)):
        audio_beats = stressed_syllables(audio[n, :length * SAMPLES_PER_FRAME, 0])
        beats = motion_beats(speed_of_poses(poses[n, :length])) if length >= 2 else np.zeros(0, np.int64)
        if len(audio_beats) and len(beats):
            terms.append(beat_alignment_terms(beats, audio_beats, sigma))
    return float(np.concatenate(terms).mean()) if terms else float("nan")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def speaking_frames(audio: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, T) bool: the voice activity of the person's channel of audio (N, T*1600, 2) over the valid frames."""
    speaking = np.zeros((len(audio), audio.shape[1] // SAMPLES_PER_FRAME), bool)
    for n, length in enumerate(np.asarray(lengths)):
        speaking[n, :length] = voice_activity(audio[n, :length * SAMPLES_PER_FRAME, 0])
    return speaking


def speed_ratio(poses: np.ndarray, lengths: np.ndarray, speaking: np.ndarray) -> float:
    """Mean wrist speed while speaking / while not, of poses (N, T, 104) over the valid frames, speaking (N, T)
    bool (the events' speech runs, or `speaking_frames`); NaN when either set of frames is empty."""
    talking, quiet = [], []
    for n, length in enumerate(np.asarray(lengths)):
        if length >= 2:
            speed, mask = speed_of_poses(poses[n, :length], WRIST_JOINTS), speaking[n, :length]
            talking.append(speed[mask])
            quiet.append(speed[~mask])
    talking, quiet = np.concatenate(talking or [np.zeros(0)]), np.concatenate(quiet or [np.zeros(0)])
    return _ratio(talking.mean(), quiet.mean()) if len(talking) and len(quiet) else float("nan")


@dataclass(frozen=True)
class ChunkEvents:
    """The annotated events of one sequence of `length` frames, frames relative to its first one, in
    [0, length): speaking (length,) bool (the person's speech runs), speaker_nods (K,) and listener_nods (L,)
    int64 (data_loaders/format.py)."""
    speaking: np.ndarray
    speaker_nods: np.ndarray
    listener_nods: np.ndarray


def chunk_events(events: dict, start: int, length: int) -> ChunkEvents:
    """The ChunkEvents of frames [start, start + length) of a scene from its events file's dict."""
    speaking = np.zeros(length, bool)
    for run_start, run_end in events["person"]["speech"]:
        speaking[max(run_start - start, 0):max(run_end - start, 0)] = True

    def inside(frames: list[int]) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.int64) - start
        return frames[(frames >= 0) & (frames < length)]

    return ChunkEvents(speaking, inside(events["speaker_nods"]), inside(events["listener_nods"]))


def head_pitch_velocity(poses: np.ndarray) -> np.ndarray:
    """(T,) downward velocity (rad per frame) of the head's pitch (the sum of NOD_PITCH) of poses (T, 104),
    T >= 2, by central differences."""
    return np.gradient(poses[:, [POSE_INDEX[name] for name in NOD_PITCH]].sum(axis=1))


def detect_nods(poses: np.ndarray) -> np.ndarray:
    """Frames (int64) of the nods of poses (T, 104): the peaks of head_pitch_velocity of at least NOD_VELOCITY
    and NOD_PROMINENCE."""
    if len(poses) < 2:
        return np.zeros(0, np.int64)
    peaks, _ = find_peaks(head_pitch_velocity(poses), height=NOD_VELOCITY, prominence=NOD_PROMINENCE)
    return peaks.astype(np.int64)


def hits(frames: np.ndarray, targets: np.ndarray, low: int, high: int) -> int:
    """How many of `frames` (A,) have a target t in targets (B,) with low <= frame - t <= high."""
    offset = np.asarray(frames)[:, None] - np.asarray(targets)[None, :]
    return int(((offset >= low) & (offset <= high)).any(axis=1).sum())


def _extended(mask: np.ndarray, frames: int) -> np.ndarray:
    """(T,) bool: each run of True of mask (T,) extended by `frames` frames after its end."""
    extended = mask.copy()
    for step in range(1, min(frames, len(mask) - 1) + 1):
        extended[step:] |= mask[:-step]
    return extended


def nod_counts(nods: np.ndarray, events: ChunkEvents, shift: float = 0.0) -> np.ndarray:
    """(8,) int counts of one sequence, its detected nods (K,) moved circularly by `shift` of its length:
    speaker's nods near an annotated speaker nod, speaker's nods, annotated speaker nods near a detected nod,
    annotated speaker nods, then the same four for the listener's nods and the annotated listener nods."""
    length = len(events.speaking)
    nods = (nods + round(shift * length)) % length
    speaking = _extended(events.speaking, NOD_TOLERANCE)[nods]
    counts = []
    for detected, annotated in ((nods[speaking], events.speaker_nods), (nods[~speaking], events.listener_nods)):
        counts += [hits(detected, annotated, -NOD_TOLERANCE, NOD_TOLERANCE), len(detected),
                   hits(annotated, nods, -NOD_TOLERANCE, NOD_TOLERANCE), len(annotated)]
    return np.array(counts)


def nod_rates(counts: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of the speaker's nods, precision and recall of the listener's nods from
    pooled `nod_counts` (8,) (module docstring)."""
    precision, recall = _ratio(counts[0], counts[1]), _ratio(counts[2], counts[3])
    known = 0.0 if np.isnan(precision) else precision
    f1 = recall if np.isnan(recall) or known + recall == 0 else 2 * known * recall / (known + recall)
    return {"speaker_nod_precision": precision, "speaker_nod_recall": recall, "speaker_nod_f1": f1,
            "listener_nod_precision": _ratio(counts[4], counts[5]), "listener_nod_recall": _ratio(counts[6], counts[7])}


def nod_scores(poses: np.ndarray, lengths: np.ndarray, events: list[ChunkEvents]) -> dict[str, float]:
    """The nod scores of poses (N, T, 104) against the events of each sequence (N ChunkEvents of lengths[n]
    frames): `nod_rates` of the pooled counts, and speaker_nod_f1_chance, listener_nod_recall_chance (the
    same with the nods moved by each of CHANCE_SHIFTS, averaged)."""
    for n, (length, chunk) in enumerate(zip(np.asarray(lengths), events)):
        if len(chunk.speaking) != length:
            raise ValueError(f"sequence {n}: {length} valid frames but events of {len(chunk.speaking)} frames")
    nods = [detect_nods(poses[n, :length]) for n, length in enumerate(np.asarray(lengths))]

    def rates(shift: float) -> dict[str, float]:
        return nod_rates(sum(nod_counts(found, chunk, shift) for found, chunk in zip(nods, events)))

    scores, shifted = rates(0.0), [rates(shift) for shift in CHANCE_SHIFTS]
    for name in ("speaker_nod_f1", "listener_nod_recall"):
        scores[f"{name}_chance"] = float(np.mean([rate[name] for rate in shifted]))
    return scores


def mouth_openings(codes: np.ndarray) -> np.ndarray:
    """(F,) vertical mouth opening (cm; avatar/face.py mouth_opening) of face codes (F, 256)."""
    frames = torch.as_tensor(codes, dtype=torch.float64)
    return torch.cat([mouth_opening(lip_vertices(frames[start:start + LIP_CHUNK]))[0]
                      for start in range(0, len(frames), LIP_CHUNK)]).numpy()


def _pearson(pairs: np.ndarray) -> float:
    """Pearson r of pairs (P, 2); NaN when either column is constant (up to rounding)."""
    if len(pairs) < 2 or (pairs.std(axis=0) <= 1e-9 * np.abs(pairs).max(axis=0)).any():
        return float("nan")
    return float(np.corrcoef(pairs.T)[0, 1])


def lip_sync(openings: list[np.ndarray], envelopes: list[np.ndarray],
             max_lag: int = LIP_SYNC_MAX_LAG) -> tuple[float, float]:
    """(r, lag): the best Pearson r over lags 0..max_lag of mouth openings against speech envelopes delayed by
    the lag, the pairs (o[t + lag], e[t]) pooled over the sequences (lists of (T_n,) arrays), and that lag
    (module docstring); both NaN when no lag gives a defined r."""
    by_lag = [_pearson(np.concatenate([np.stack([o[lag:], e[:len(e) - lag]], axis=1)
                                       for o, e in zip(openings, envelopes)])) for lag in range(max_lag + 1)]
    if np.isnan(by_lag).all():
        return float("nan"), float("nan")
    best = int(np.nanargmax(by_lag))
    return by_lag[best], float(best)


def jaw_envelope_correlation(codes: np.ndarray, audio: np.ndarray, lengths: np.ndarray) -> dict[str, float]:
    """{"jaw_env_r", "jaw_env_lag"} of face codes (N, T, 256) with audio (N, T*1600, 2) over the valid frames:
    the `lip_sync` of the mouth openings against the person's speech envelopes (module docstring)."""
    openings, envelopes = [], []
    for n, length in enumerate(np.asarray(lengths)):
        openings.append(mouth_openings(codes[n, :length]))
        envelopes.append(speech_envelope(audio[n, :length * SAMPLES_PER_FRAME, 0]))
    r, lag = lip_sync(openings, envelopes)
    return {"jaw_env_r": r, "jaw_env_lag": lag}
