"""The synthetic persons: names, conversation pairs, voices and personal motion style.

Persons come in conversation pairs: pair k (k = 0, 1, ...) is SYN{2k+1:03d} and SYN{2k+2:03d} (SYN001 and
SYN002, then SYN003 and SYN004, ...), like PXB184/RLW104 in the original data. Both persons of a pair hold
the same scenes seen from their own side: channel 0 is their own voice, channel 1 the partner's, and the
motion is their own. Each person has a fixed espeak-ng voice (VOICES, by person index) and a motion style
drawn from the data set seed: rest posture, handedness, favourite gestures, gesture and nod amplitude, sway,
blink rate, smile, and the mixing of the named face code dims into the detail dims.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.parameters import DEG, FACE_CODE_DIMS
from data_loaders.format import FACE_DIM, FPS
from data_loaders.synthetic.gestures import ARM_PARAMETERS, GESTURES
from data_loaders.synthetic.speech import Voice

NAME_PREFIX = "SYN"
VOICES = (Voice("en-us+m3", pitch=35, speed=165), Voice("en-gb+f2", pitch=60, speed=155),
          Voice("en-gb-scotland+m7", pitch=45, speed=150), Voice("en-us+f4", pitch=70, speed=170))
STYLE_STREAM = 1  # tag that separates the styles' random streams from the scenes' (generate.SCENE_STREAM)


def person_name(index: int) -> str:
    """Folder name of person `index` (0-based): SYN001, SYN002, ..."""
    return f"{NAME_PREFIX}{index + 1:03d}"


def partner_name(name: str) -> str:
    """The conversation partner of a synthetic person: SYN001 <-> SYN002, SYN003 <-> SYN004, ..."""
    index = int(name[len(NAME_PREFIX):]) - 1
    return person_name(index ^ 1)


def person_voice(index: int) -> Voice:
    """The voice of person `index`; beyond len(VOICES) persons the voices repeat with a shifted pitch."""
    voice = VOICES[index % len(VOICES)]
    shift = 8 * (index // len(VOICES))
    return Voice(voice.name, int(np.clip(voice.pitch + shift, 0, 99)), voice.speed, voice.gain)


@dataclass(frozen=True)
class PersonStyle:
    """A person's constant traits. Angles in radians, translations in cm, intervals in frames.

    arm_shift (32,) is added to both arms' ARM_PARAMETERS; gesture_weights (5,) over GESTURES; face_mix
    (12, FACE_DIM - 12) maps the named face dims into the detail dims; detail_std (FACE_DIM - 12,) is the
    std of each detail dim's own noise."""
    name: str
    voice: Voice
    root_offset: np.ndarray
    arm_shift: np.ndarray
    right_hand: float
    gesture_weights: np.ndarray
    gesture_scale: float
    nod_scale: float
    sway_scale: float
    breath_rate: float
    blink_interval: float
    smile_base: float
    jaw_gain: float
    face_mix: np.ndarray
    detail_std: np.ndarray


def person_style(index: int, seed: int) -> PersonStyle:
    """The style of person `index` in the data set made with `seed` (the same for every scene)."""
    rng = np.random.default_rng([seed, STYLE_STREAM, index, 0])
    detail = FACE_DIM - len(FACE_CODE_DIMS)
    return PersonStyle(
        name=person_name(index), voice=person_voice(index),
        root_offset=np.array([rng.normal(0.0, 2.0), rng.normal(-12.5, 1.0), rng.normal(-28.5, 1.0)]),
        arm_shift=rng.normal(0.0, 3.0, len(ARM_PARAMETERS)) * DEG,
        right_hand=float(rng.uniform(0.3, 0.8)),
        gesture_weights=rng.dirichlet(np.full(len(GESTURES), 3.0)),
        gesture_scale=float(rng.uniform(0.8, 1.1)),
        nod_scale=float(rng.uniform(0.8, 1.2)),
        sway_scale=float(rng.uniform(0.7, 1.3)),
        breath_rate=float(rng.uniform(0.2, 0.3)),
        blink_interval=float(rng.uniform(2.5, 4.5) * FPS),
        smile_base=float(rng.uniform(0.05, 0.3)),
        jaw_gain=float(rng.uniform(0.85, 1.0)),
        face_mix=rng.normal(0.0, 0.12, (len(FACE_CODE_DIMS), detail)),
        detail_std=rng.uniform(0.08, 0.25, detail),
    )
