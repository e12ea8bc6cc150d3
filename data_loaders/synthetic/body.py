"""The puppeteer's body: the (T, 104) pose of one person from speech events and a random state.

Deterministic, from the audio (what a model must learn):
- speaker nods: on every stressed syllable s of this person the head pitches down (head/neck rx > 0) and back;
  the downward pitch velocity peaks at s + SPEAKER_NOD_LAG frames (a raised-cosine pulse of NOD_WIDTH frames);
- listener nods: at every pause p of the partner while this person listens (`listening_pauses`) the head
  nods with its downward velocity peak at p + LISTENER_NOD_LAG frames (pulse of LISTENER_NOD_WIDTH frames);
- gesture strokes land on this person's stressed syllables (the arm reaches the stroke pose exactly there).
Random (a distribution to learn): which gesture, which hand, its amplitude (`gestures.choose_gesture`); nod
amplitudes; idle sway of root, spine and legs; breathing; small arm and finger drift; head turns that
follow the gaze. Sway and drift are larger while speaking (motion energy is higher than while listening).
The scene's style (`persons.SceneStyle`) scales what the person does: speaking energy e makes speaker nods
deeper (x 0.7-1.3), sway larger (x 0.7-1.3) and the spine lean forward while speaking (4 e degrees); an
engaged listener leans in (3 degrees) and nods fully, a reserved one leans back (1.5 degrees), nods at 60 %
of the amplitude and folds the arms (`gestures.FOLDED`) once listening for a while (`listening_state`).

Nod amplitude is split over the head (60 %), neck2 (25 %) and neck1 (15 %) pitch. Angles follow the
conventions of `avatar.skeleton` (head rx > 0 nods down, head ry > 0 turns to the person's own left; a
positive gaze_yaw, looking to the person's right, turns the head right). Root translation is the
person's constant offset (cm) plus sway; every value is kept inside the parameter limits of
`avatar.parameters` by a smooth limiter (`soft_limits`). Arm moves respect a top speed (ARM_SPEED: 300 deg/s
for the arm, 600 deg/s for the fingers).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from avatar.parameters import DEG, POSE_INDEX, POSE_PARAMETERS
from data_loaders.format import FPS, POSE_DIM
from data_loaders.synthetic.gestures import ARM_PARAMETERS, FOLDED, SIDES, GestureEvent, arm_indices, arm_vector
from data_loaders.synthetic.persons import PersonStyle, SceneStyle
from data_loaders.synthetic.trajectories import min_jerk_path, pulses, smooth_noise

SPEAKER_NOD_LAG = 2
LISTENER_NOD_LAG = 6
NOD_WIDTH = 12
LISTENER_NOD_WIDTH = 15
POSTURE_JITTER = 0.3 * DEG  # slow micro-motion of every joint angle (no parameter is ever constant)
HEAD_FOLLOW = 5.0  # frames (Gaussian sigma) by which head turns trail gaze shifts
NOD_SHARES = {"head_rx": 0.6, "neck2_rx": 0.25, "neck1_rx": 0.15}
ARM_SPEED = np.where(np.arange(len(ARM_PARAMETERS)) < 11, 300.0, 600.0) * DEG / FPS  # rad/frame: arm, hand
LOWER = np.array([p.lower for p in POSE_PARAMETERS])
UPPER = np.array([p.upper for p in POSE_PARAMETERS])
SOFT_MARGIN = np.minimum(0.1 * (UPPER - LOWER), 10.0 * DEG)
LISTENING_SMOOTHING = 20.0  # frames (Gaussian sigma) of the listening state that folds a reserved listener's arms
LISTENER_LEAN = {"engaged": 3.0, "reserved": -1.5}  # degrees of spine pitch while listening (> 0 = forward)
LISTENER_NOD_SCALE = {"engaged": 1.0, "reserved": 0.6}


def soft_limits(pose: np.ndarray) -> np.ndarray:
    """pose (T, 104) kept strictly inside the parameter limits: values within SOFT_MARGIN of a limit are
    compressed smoothly (tanh), so trajectories stay smooth where a hard clip would make corners."""
    high, low = UPPER - SOFT_MARGIN, LOWER + SOFT_MARGIN
    pose = np.where(pose > high, high + SOFT_MARGIN * np.tanh((pose - high) / SOFT_MARGIN), pose)
    return np.where(pose < low, low - SOFT_MARGIN * np.tanh((low - pose) / SOFT_MARGIN), pose)


def _segment_frames(start: np.ndarray, end: np.ndarray) -> float:
    """The fewest frames a minimum-jerk move between two (32,) arm poses needs within ARM_SPEED (its peak
    speed is 1.875 x the mean speed)."""
    return 1.875 * float(np.max(np.abs(end - start) / ARM_SPEED))


def _arm_keyframes(events: list[GestureEvent], rest: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    """Keyframe times (frames) and (32,) arm poses for the gestures of one arm, sorted by stroke frame.

    A gesture whose stroke cannot be reached in time within ARM_SPEED is skipped (the arm carries on with
    the previous one); its preparation is skipped when there is no time for it; the arm goes back to rest
    between gestures only when there is time to come back before the next preparation."""
    rest_vector = arm_vector({})
    times, poses = [0.0], [rest]

    def reachable(time: float, pose: np.ndarray, min_gap: float = 1.0) -> bool:
        return time - times[-1] >= max(min_gap, _segment_frames(poses[-1], pose))

    for k, event in enumerate(events):
        gesture, stroke = event.gesture, float(event.frame)
        prep, target = (rest + event.amplitude * (arm_vector(pose) - rest_vector)
                        for pose in (gesture.prep, gesture.stroke))
        if not reachable(stroke, target):
            continue
        prep_time = stroke - gesture.prep_time * FPS
        if reachable(prep_time, prep, 2.0) and stroke - prep_time >= _segment_frames(prep, target):
            times.append(prep_time)
            poses.append(prep)
        times.append(stroke)
        poses.append(target)
        following = events[k + 1] if k + 1 < len(events) else None
        next_stroke = float(following.frame) if following else np.inf
        hold_end = min(stroke + gesture.hold * FPS, stroke + 0.4 * (next_stroke - stroke))
        if hold_end - stroke >= 1.0:
            times.append(hold_end)
            poses.append(target)
        retracted = hold_end + max(gesture.retract * FPS, _segment_frames(target, rest))
        next_prep = next_stroke - following.gesture.prep_time * FPS if following else np.inf
        if retracted + 2.0 <= next_prep:
            times.append(retracted)
            poses.append(rest)
    return times, poses


def listening_state(speaking: np.ndarray) -> np.ndarray:
    """(T,) in [0, 1]: 1 once the person has been silent for a while (about a second), 0 while speaking."""
    silent = gaussian_filter1d(1.0 - speaking, LISTENING_SMOOTHING, mode="nearest")
    return np.clip((silent - 0.6) / 0.35, 0.0, 1.0)


def _arms(pose: np.ndarray, gestures: list[GestureEvent], style: PersonStyle, energy: np.ndarray, fold: np.ndarray,
          rng: np.random.Generator) -> None:
    """Write both arms (gesture paths + folding by `fold` (T,) in [0, 1] + drift) into pose (T, 104) in place."""
    frames = len(pose)
    rest = arm_vector({}) + style.arm_shift
    folded = arm_vector(FOLDED) + style.arm_shift
    for side in SIDES:
        times, poses = _arm_keyframes([g for g in gestures if side in g.sides], rest)
        drift = smooth_noise(rng, frames, len(rest), 20.0) * energy[:, None]
        drift[:, :11] *= 1.0 * DEG
        drift[:, 11:] *= 1.5 * DEG
        path = min_jerk_path(np.array(times), np.stack(poses), frames)
        pose[:, arm_indices(side)] = path + fold[:, None] * (folded - rest) + drift


def _nods(frames: int, stressed: np.ndarray, listening: np.ndarray, style: PersonStyle, scene: SceneStyle,
          rng: np.random.Generator) -> np.ndarray:
    """(T,) head pitch of all nods in radians (> 0 = down)."""
    speaker = pulses(frames, stressed + SPEAKER_NOD_LAG + NOD_WIDTH / 4,
                     rng.uniform(3.0, 6.0, len(stressed)) * style.nod_scale * (0.7 + 0.6 * scene.energy) * DEG,
                     NOD_WIDTH)
    listener = pulses(frames, listening + LISTENER_NOD_LAG + LISTENER_NOD_WIDTH / 4,
                      rng.uniform(4.0, 7.0, len(listening)) * style.nod_scale * LISTENER_NOD_SCALE[scene.attitude]
                      * DEG, LISTENER_NOD_WIDTH)
    return speaker + listener


def _breathing(frames: int, style: PersonStyle, rng: np.random.Generator) -> np.ndarray:
    """(T,) breathing cycle in [-1, 1] at the person's rate, its frequency wandering by about 10 %."""
    rate = style.breath_rate * (1.0 + 0.1 * smooth_noise(rng, frames, 1, 60.0)[:, 0])
    return np.sin(2 * np.pi * np.cumsum(rate) / FPS + rng.uniform(0, 2 * np.pi))


def animate_body(stressed: np.ndarray, listening: np.ndarray, speaking: np.ndarray, gaze: np.ndarray,
                 gestures: list[GestureEvent], style: PersonStyle, scene: SceneStyle,
                 rng: np.random.Generator) -> np.ndarray:
    """(T, 104) float64 pose.

    stressed: frames of this person's stressed syllables; listening: frames of the partner's pauses at which
    this person, listening, nods; speaking (T,) in [0, 1]; gaze (T, 2) yaw, pitch in [-1, 1]; gestures: the
    gesture events; scene: the person's style in this scene.
    """
    frames = len(speaking)
    pose = np.zeros((frames, POSE_DIM))
    index = POSE_INDEX
    energy = (0.6 + 0.8 * speaking) * style.sway_scale * (0.7 + 0.6 * scene.energy)
    lean = (4.0 * scene.energy * speaking + LISTENER_LEAN[scene.attitude] * (1.0 - speaking)) * DEG
    sway = smooth_noise(rng, frames, 8, 40.0) * energy[:, None]
    breath = _breathing(frames, style, rng)

    pose[:, [index["root_tx"], index["root_ty"], index["root_tz"]]] = style.root_offset
    pose[:, index["root_tx"]] += 1.5 * sway[:, 0]
    pose[:, index["root_tz"]] += 0.8 * sway[:, 1]
    pose[:, index["root_ty"]] += 0.3 * breath
    pose[:, index["root_ry"]] = 2.0 * DEG * sway[:, 2]
    for joint in ("spine1", "spine2", "spine3"):
        pose[:, index[f"{joint}_rx"]] = (0.6 * breath + 2.0 * speaking + 0.8 * sway[:, 3]) * DEG + lean / 3
        pose[:, index[f"{joint}_ry"]] = 0.8 * DEG * sway[:, 4]
        pose[:, index[f"{joint}_rz"]] = 0.6 * DEG * sway[:, 5]
    for side, outward in (("l", -1.0), ("r", 1.0)):  # the pelvis shifting to +x (own left) over planted feet
        pose[:, index[f"{side}_hip_rz"]] = outward * 0.95 * DEG * sway[:, 0]
        pose[:, index[f"{side}_hip_rx"]] = 3.0 * DEG + 0.5 * DEG * sway[:, 6]  # soft knees, soles level:
        pose[:, index[f"{side}_knee_rx"]] = 5.0 * DEG + 1.0 * DEG * sway[:, 6]  # ankle = knee - hip
        pose[:, index[f"{side}_ankle_rx"]] = 2.0 * DEG + 0.5 * DEG * sway[:, 6]
    fold = listening_state(speaking) if scene.attitude == "reserved" else np.zeros(frames)
    _arms(pose, gestures, style, energy, fold, rng)
    for side in SIDES:  # breathing lifts the shoulders on top of the gestures
        pose[:, index[f"{side}_clavicle_rz"]] += 1.0 * DEG * breath

    pose[:, 3:] += POSTURE_JITTER * smooth_noise(rng, frames, POSE_DIM - 3, 30.0) * energy[:, None]
    nods = _nods(frames, stressed, listening, style, scene, rng)
    for name, share in NOD_SHARES.items():
        pose[:, index[name]] += share * nods
    head_noise = smooth_noise(rng, frames, 3, 15.0) * energy[:, None]
    gaze = gaussian_filter1d(gaze, HEAD_FOLLOW, axis=0, mode="nearest")  # the head follows the eyes slowly
    pose[:, index["head_ry"]] += -14.0 * DEG * gaze[:, 0] + 1.5 * DEG * head_noise[:, 0]  # gaze right: ry < 0
    pose[:, index["neck2_ry"]] += -5.0 * DEG * gaze[:, 0]
    pose[:, index["head_rx"]] += -6.0 * DEG * gaze[:, 1] + 1.0 * DEG * head_noise[:, 1]
    shrugs = [g for g in gestures if g.gesture.head_tilt]
    tilt = pulses(frames, np.array([g.frame for g in shrugs], dtype=np.float64),
                  np.array([g.gesture.head_tilt * g.amplitude for g in shrugs]) * DEG, 20.0)
    pose[:, index["head_rz"]] += tilt + 1.5 * DEG * head_noise[:, 2]
    return soft_limits(pose)
