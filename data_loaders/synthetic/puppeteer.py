"""The procedural puppeteer: the body pose and face code of one person from a scene's audio and a seed.

`perform(audio, style, scene, rng)` listens to both channels (0 = this person, 1 = the partner) with the
detectors of `speech_events` and `audio_features`, and animates:
- the face (`face.animate_face`): mouth from this person's loudness and formants (JAW_LAG frames later),
  blinks, gaze, brows, smile, detail dims;
- the body (`body.animate_body`): a head nod on each stressed syllable of this person and a gesture stroke on
  a share of them (35 % at speaking energy 0 to 100 % at 1), a listener nod at a share of the partner's pauses
  while this person listens (the scene's attitude: 95 % engaged, 30 % reserved), sway, breathing, posture,
  head turns after the gaze.
The deterministic parts depend on the audio only; the random parts (which stressed syllables get a gesture,
which gesture, hand, amplitude; which pauses get a listener nod; blink times; gaze targets; sway) on `rng`
and the scene's style (`persons.SceneStyle`), so the same audio performed with another seed gives other
gestures with the same lip motion and the same speaker nods.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from data_loaders.format import FPS
from data_loaders.synthetic.audio_features import channel_features, loudness_db
from data_loaders.synthetic.body import LISTENER_NOD_LAG, SPEAKER_NOD_LAG, animate_body
from data_loaders.synthetic.face import animate_face, gaze_path
from data_loaders.synthetic.gestures import GestureEvent, choose_gesture
from data_loaders.synthetic.persons import PersonStyle, SceneStyle
from data_loaders.synthetic.speech_events import (SpeechEvents, events_from_loudness, listening_pauses, runs,
                                                  speech_events)

SPEAKING_SMOOTHING = 8.0  # frames (Gaussian sigma) that turn voice activity into a speaking state


@dataclass(frozen=True)
class Performance:
    """pose (T, 104) float32 and face (T, 256) float32 of one person; the gestures chosen, one per stressed
    syllable (an arm skips a gesture it cannot reach in time, see `body`); the events file's dict
    (`data_loaders.format`: what the puppeteer heard and did)."""
    pose: np.ndarray
    face: np.ndarray
    gestures: list[GestureEvent]
    events: dict


def speaking_state(active: np.ndarray) -> np.ndarray:
    """(T,) in [0, 1]: smoothed voice activity of this person (1 = talking)."""
    return np.clip(gaussian_filter1d(active.astype(np.float64), SPEAKING_SMOOTHING, mode="nearest"), 0.0, 1.0)


def _channel_events(events: SpeechEvents) -> dict:
    return {"speech": [list(run) for run in runs(events.active)], "stressed": events.stressed.tolist(),
            "pauses": events.pauses.tolist()}


def _frames_inside(frames: np.ndarray, count: int) -> list[int]:
    return [int(f) for f in frames if 0 <= f < count]


def scene_events(own: SpeechEvents, partner: SpeechEvents, listening: np.ndarray, nodding: np.ndarray,
                 gestures: list[GestureEvent], style: dict) -> dict:
    """The events file's dict (data_loaders/format.py) of one performance: both channels' speech events, the
    partner's pauses while this person listens, the nods' downward head-velocity peaks (SPEAKER_NOD_LAG after
    every stressed syllable, LISTENER_NOD_LAG after the `nodding` pauses), the gestures and the style."""
    frames = len(own.active)
    return {"fps": FPS, "frames": frames, "style": style,
            "person": _channel_events(own), "partner": _channel_events(partner),
            "listening_pauses": listening.tolist(),
            "speaker_nods": _frames_inside(own.stressed + SPEAKER_NOD_LAG, frames),
            "listener_nods": _frames_inside(nodding + LISTENER_NOD_LAG, frames),
            "gestures": [{"frame": g.frame, "name": g.gesture.name, "sides": "".join(g.sides),
                          "amplitude": round(g.amplitude, 4)} for g in gestures]}


def perform(audio: np.ndarray, style: PersonStyle, scene: SceneStyle, rng: np.random.Generator) -> Performance:
    """The motion of the person `style` in a scene of style `scene` for audio (T*1600, 2) at 48 kHz, channel 0 =
    this person."""
    envelope, formants = channel_features(audio[:, 0])
    own = events_from_loudness(loudness_db(envelope))
    partner = speech_events(audio[:, 1])
    gesture_rng, gaze_rng, body_rng, face_rng = rng.spawn(4)
    speaking = speaking_state(own.active)
    gesturing = own.stressed[gesture_rng.random(len(own.stressed)) < 0.35 + 0.65 * scene.energy]
    gestures = [choose_gesture(gesture_rng, int(frame), style.gesture_weights, style.right_hand,
                               style.gesture_scale * (0.6 + 0.7 * scene.energy)) for frame in gesturing]
    gaze = gaze_path(speaking, gaze_rng)
    listening = listening_pauses(own, partner)
    nodding = listening[body_rng.random(len(listening)) < scene.listener_nod_rate]
    pose = animate_body(own.stressed, nodding, speaking, gaze, gestures, style, scene, body_rng)
    face = animate_face(own, formants, speaking, gaze, style, face_rng)
    events = scene_events(own, partner, listening, nodding, gestures, scene.summary())
    return Performance(pose.astype(np.float32), face.astype(np.float32), gestures, events)
