"""Evaluation metrics of generated motion: Frechet distances, diversities, lip errors and beat alignment.

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
- lip sync (face) = max over lags l in 0..LIP_SYNC_MAX_LAG of the Pearson correlation of the mouth opening
  o[t] (vertical, avatar.face.mouth_opening) with the person's speech envelope e[t - l] (RMS of the speech
  band, data_loaders/synthetic/audio_features.speech_envelope, linear): the mouth follows the sound up to
  133 ms later. The synthetic data set's ground truth scores 0.82-0.88 (tiny preset, seed 0).
- beat alignment (body) = mean over motion beats m of exp(-d_m^2 / (2 BEAT_SIGMA^2)), d_m the distance in
  frames from m to the nearest audio beat of its sequence (Bailando's score). Audio beats: the stressed
  syllables of the person's channel (data_loaders/synthetic/speech_events.py, the events the synthetic
  puppeteer nods and gestures on). Motion beats: strict local minima of the speed of the head and hands
  (speed_of_poses: mean joint speed in cm per frame, through the avatar's forward kinematics) smoothed by a
  Gaussian of SPEED_SMOOTHING frames. All motion beats count, also those while the person listens, so
  chance is well above 0: the synthetic data set's ground truth scores 0.28 with its own audio and 0.19
  with another scene's (64 scenes of the tiny preset, seeds 0-3).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import sqrtm
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelmin

from avatar.face import lip_vertices, mouth_opening
from avatar.skeleton import JOINT_INDEX, forward_kinematics
from data_loaders.format import SAMPLES_PER_FRAME
from data_loaders.synthetic.speech_events import stressed_syllables

FD_EPS = 1e-6  # added to the covariances' diagonals when sqrtm(S_1 S_2) is not finite
FD_MAX_IMAGINARY = 1e-3  # a larger imaginary part on the diagonal of sqrtm(S_1 S_2) is an error
DIV_G_PAIRS = 10_000
LIP_CHUNK = 4096  # frames decoded to lip vertices at a time (memory)
BEAT_SIGMA = 3.0  # frames (100 ms): tolerance of the beat alignment score
SPEED_SMOOTHING = 1.0  # frames: std of the Gaussian that smooths the speed before its minima are taken
BEAT_JOINTS = ("head_end", "l_middle1", "r_middle1")  # top of the head and the centre of each hand
LIP_SYNC_MAX_LAG = 4  # frames


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


def lip_sync(opening: np.ndarray, envelope: np.ndarray, max_lag: int = LIP_SYNC_MAX_LAG) -> tuple[float, int]:
    """(r, lag): the best correlation of the mouth opening (T,) with the speech envelope (T,) delayed by 0 to
    max_lag frames, and that lag (module docstring); r is NaN when either is constant."""
    best = (float("nan"), 0)
    for lag in range(min(max_lag, len(opening) - 2) + 1):
        o, e = opening[lag:], envelope[:len(envelope) - lag]
        if o.std() > 0 and e.std() > 0:
            r = float(np.corrcoef(o, e)[0, 1])
            if np.isnan(best[0]) or r > best[0]:
                best = (r, lag)
    return best


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
