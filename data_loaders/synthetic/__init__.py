"""The synthetic conversational data set: espeak-ng conversations and a procedural puppeteer, written in the
official format so that every model, loader and metric can run with nothing to download.

    python -m data_loaders.synthetic --preset default --out dataset --seed 0   # ~1.7 h of conversation
    python -m data_loaders.synthetic --preset tiny --out /tmp/tiny              # 1 pair x 8 scenes, seconds

Layout (one folder per person, as `dataset/PXB184/` in the original):

    DIR/SYN001/scene01_audio.wav ... scene24_events.json, data_stats.pth
    DIR/SYN002/...      (SYN001's partner: the same scenes, channels swapped, SYN002's own motion)
    DIR/SYN003/, DIR/SYN004/  (the second pair, default preset)

| preset  | pairs | persons | scenes per person | scene length | conversation |
|---------|-------|---------|-------------------|--------------|--------------|
| tiny    | 1     | 2       | 8                 | 6-8 s        | ~1 min       |
| default | 2     | 4       | 24                | 110-150 s    | ~1.7 h       |

The split rule of the format (last 4 scenes test, 2 before them validation) leaves 2 train scenes for tiny
and 18 for default. Same seed, same bytes (any number of worker processes). Every scene also gets an events
file (`data_loaders.format`: what the puppeteer heard and did, and the scene's style).

Known relationships between audio and motion (the ground truth the evaluation measures against):
- mouth: face dim jaw_open follows the loudness of this person's channel JAW_LAG = 2 frames later; lip_spread
  / lip_round follow formant proxies of the channel (`face`, `audio_features.formant_proxies`);
- speaker nods: head pitch velocity (downward) peaks SPEAKER_NOD_LAG = 2 frames after each of this person's
  stressed syllables (`speech_events.stressed_syllables`);
- listener nods: the same at LISTENER_NOD_LAG = 6 frames after a share of the partner's pauses while this
  person listens (`speech_events.listener_pauses`; 95 % for an engaged listener, 30 % for a reserved one);
- gestures: a stroke (arm keyframe) on a share of the stressed syllables (35-100 % with the speaking
  energy) when the arm can reach it; the gesture type, hand and amplitude are random (`gestures`);
- scene style (`persons.SceneStyle`), heard in the voice and seen in the motion: speaking energy (speech rate,
  pitch and intonation range; gesture rate and size, nod depth, sway, lean) and listener attitude
  (backchannel rate; listener nods, leaning in or arms folded);
- missing face frames: short runs per scene, listed in the missing-frames file, face rows set to zeros
  (`faults`).

Modules: conversation (script), speech (voices, recording), audio_features and speech_events (detectors,
reused by the evaluation), trajectories, gestures, persons, body, face, puppeteer, faults, generate.
"""
from data_loaders.synthetic.audio_features import formant_proxies, loudness_db, speech_envelope
from data_loaders.synthetic.body import LISTENER_NOD_LAG, SPEAKER_NOD_LAG
from data_loaders.synthetic.face import JAW_LAG
from data_loaders.synthetic.generate import PRESETS, SyntheticConfig, generate_dataset
from data_loaders.synthetic.persons import partner_name, person_name, person_style
from data_loaders.synthetic.puppeteer import Performance, perform
from data_loaders.synthetic.speech import EspeakMissingError
from data_loaders.synthetic.speech_events import (SpeechEvents, listener_pauses, speech_events, speech_pauses,
                                                  stressed_syllables, syllable_nuclei, voice_activity)

__all__ = ["formant_proxies", "loudness_db", "speech_envelope", "LISTENER_NOD_LAG", "SPEAKER_NOD_LAG", "JAW_LAG",
           "PRESETS", "SyntheticConfig", "generate_dataset", "partner_name", "person_name", "person_style",
           "Performance", "perform", "EspeakMissingError", "SpeechEvents", "listener_pauses", "speech_events",
           "speech_pauses", "stressed_syllables", "syllable_nuclei", "voice_activity"]
