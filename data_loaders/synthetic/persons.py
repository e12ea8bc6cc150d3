"""The synthetic persons: names, conversation pairs, personal motion style, and how they sound and behave
in each scene.

Persons come in conversation pairs: pair k (k = 0, 1, ...) is SYN{2k+1:03d} and SYN{2k+2:03d} (SYN001 and
SYN002, then SYN003 and SYN004, ...), like PXB184/RLW104 in the original data. Both persons of a pair hold
the same scenes seen from their own side: channel 0 is their own voice, channel 1 the partner's, and the
motion is their own.

Each person has a constant motion style (`PersonStyle`, drawn from the data set seed): rest posture,
handedness, favourite gestures, gesture and nod amplitude, sway, blink rate, smile, and the mixing of the
named face code dims into the detail dims. Each scene draws, per person, a `SceneStyle` that both the voice
and the motion carry, so a model must read it from the audio:
- speaking energy e in [0, 1]: the voice speaks faster (x 0.85-1.2), higher and with a wider intonation
  range; the motion gestures on more stressed syllables (35-100 %) with larger strokes (x 0.6-1.3), nods
  deeper (x 0.7-1.3), sways more and leans forward while speaking (up to 4 degrees);
- listener attitude, "engaged" or "reserved": an engaged listener answers 70 % of the partner's within-turn
  pauses with a backchannel, nods at 95 % of the partner's pauses and leans in; a reserved one backchannels
  at 15 %, nods at 30 % (smaller nods) and folds the arms while listening;
- the voice: a language (English in most scenes, else German, French, Spanish, Italian, Portuguese, Dutch or
  Mandarin, the same for both persons in most scenes), an espeak-ng variant (every variant of
  VOICE_VARIANTS; the non-human-sounding ones in 10 % of the scenes), pitch, speed, pause lengths.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.parameters import DEG, FACE_CODE_DIMS
from data_loaders.format import FACE_DIM, FPS
from data_loaders.synthetic.gestures import ARM_PARAMETERS, GESTURES
from data_loaders.synthetic.conversation import LANGUAGES, Language
from data_loaders.synthetic.speech import PITCH_RANGES, Voice

NAME_PREFIX = "SYN"
HUMAN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                  "klatt3", "klatt4", "klatt5", "klatt6", "croak", "adam", "Alex", "Alicia", "Andrea", "Andy",
                  "Annie", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "Denis",
                  "Diogo", "ed", "edward", "edward2", "Gene", "Gene2", "gustave", "Henrique", "Hugo", "iven",
                  "iven2", "iven3", "iven4", "Jacky", "john", "kaukovalta", "Lee", "linda", "marcelo", "Marco",
                  "Mario", "max", "Michael", "michel", "miguel", "Mike", "Mr", "Nguyen", "norbert", "pablo",
                  "paul", "pedro", "quincy", "RicishayMax", "RicishayMax2", "RicishayMax3", "rob", "robert",
                  "sandro", "shelby", "steph", "steph2", "steph3", "Storm", "travis", "victor", "zac", "anika",
                  "grandma", "grandpa", "AnxiousAndy", "whisper", "whisperf")
OTHER_VARIANTS = ("Demonic", "announcer", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5",
                  "robosoft6", "robosoft7", "robosoft8", "UniRobot", "anikaRobot", "Tweaky", "fast")
VOICE_VARIANTS = HUMAN_VARIANTS + OTHER_VARIANTS  # every variant of espeak-ng 1.51 (`espeak-ng --voices=variant`)
ENGLISH_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan")
OTHER_LANGUAGES = ("de", "fr", "es", "it", "pt", "nl", "zh")
ATTITUDES = ("engaged", "reserved")
STEADY_ENERGY = 0.7  # the energy of every scene when styles do not vary (the tiny test preset)
BACKCHANNEL_RATE = {"engaged": 0.7, "reserved": 0.15}
LISTENER_NOD_RATE = {"engaged": 0.95, "reserved": 0.3}
STYLE_STREAM = 1  # tag that separates the styles' random streams from the scenes' (generate.SCENE_STREAM)


def person_name(index: int) -> str:
    """Folder name of person `index` (0-based): SYN001, SYN002, ..."""
    return f"{NAME_PREFIX}{index + 1:03d}"


def partner_name(name: str) -> str:
    """The conversation partner of a synthetic person: SYN001 <-> SYN002, SYN003 <-> SYN004, ..."""
    index = int(name[len(NAME_PREFIX):]) - 1
    return person_name(index ^ 1)


@dataclass(frozen=True)
class PersonStyle:
    """A person's constant traits. Angles in radians, translations in cm, intervals in frames.

    arm_shift (32,) is added to both arms' ARM_PARAMETERS; gesture_weights (5,) over GESTURES; face_mix
    (12, FACE_DIM - 12) maps the named face dims into the detail dims; detail_std (FACE_DIM - 12,) is the
    std of each detail dim's own noise."""
    name: str
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
        name=person_name(index),
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


@dataclass(frozen=True)
class SceneStyle:
    """How one person sounds and behaves in one scene (module docstring)."""
    energy: float
    attitude: str
    language: str
    voice: Voice
    pause_scale: float

    @property
    def backchannel_rate(self) -> float:
        return BACKCHANNEL_RATE[self.attitude]

    @property
    def listener_nod_rate(self) -> float:
        return LISTENER_NOD_RATE[self.attitude]

    def speaks(self) -> Language:
        return LANGUAGES[self.language]

    def summary(self) -> dict:
        """The style as the events file stores it (data_loaders/format.py)."""
        return {"energy": round(self.energy, 4), "attitude": self.attitude, "language": self.language,
                "voice": self.voice.name, "pitch": self.voice.pitch, "speed": self.voice.speed,
                "pitch_range": self.voice.pitch_range, "pause_scale": round(self.pause_scale, 4)}


def scene_voice(rng: np.random.Generator, language: str, energy: float) -> Voice:
    """A random espeak-ng voice for `language` (an English accent for "en") whose rate, pitch and intonation
    range rise with the speaking energy."""
    variants = HUMAN_VARIANTS if rng.random() < 0.9 else OTHER_VARIANTS
    base = ENGLISH_ACCENTS[rng.integers(len(ENGLISH_ACCENTS))] if language == "en" else LANGUAGES[language].voice
    span = int(np.clip(round(energy * 4 + rng.normal(0.0, 0.6)), 0, len(PITCH_RANGES) - 1))
    return Voice(f"{base}+{variants[rng.integers(len(variants))]}",
                 pitch=int(np.clip(rng.uniform(10, 80) + 20 * (energy - 0.5), 0, 99)),
                 speed=int(round(rng.uniform(125, 200) * (0.85 + 0.35 * energy))),
                 pitch_range=PITCH_RANGES[span], word_gap=int(rng.integers(0, 5)))


def scene_styles(rng: np.random.Generator, varied: bool = True) -> tuple[SceneStyle, SceneStyle]:
    """The styles of both persons of a pair in one scene: a shared language in 80 % of the scenes (English in
    70 % of those), energies, attitudes and pause lengths drawn for each. Not `varied`: one style for every
    scene, English, engaged and energy STEADY_ENERGY for both (the voices and pauses still drawn)."""
    def language() -> str:
        return "en" if rng.random() < 0.7 else OTHER_LANGUAGES[rng.integers(len(OTHER_LANGUAGES))]
    shared = language()
    styles = []
    for _ in range(2):
        spoken = shared if rng.random() < 0.8 else language()
        energy = float(rng.uniform(0.0, 1.0))
        attitude = ATTITUDES[rng.integers(2)]
        if not varied:
            spoken, energy, attitude = "en", STEADY_ENERGY, "engaged"
        styles.append(SceneStyle(energy=energy, attitude=attitude, language=spoken,
                                 voice=scene_voice(rng, spoken, energy),
                                 pause_scale=float(rng.uniform(0.6, 1.8) * (1.2 - 0.4 * energy))))
    return styles[0], styles[1]
