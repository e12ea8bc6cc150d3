"""Speech events of one channel at 30 fps: voice activity, syllable nuclei, stressed syllables and pauses.

These detectors define the events the synthetic puppeteer reacts to; the evaluation reuses them to check
generated motion against the audio. All work on the loudness (dB re full scale) of `speech_envelope`:

- voice activity: loudness > VOICE_DB (-40 dB; room noise lies near -61 dB, speech peaks near -20 dB), with
  silent gaps shorter than MIN_GAP frames closed (stop consonants) and voiced islands shorter than
  MIN_VOICED frames dropped (clicks);
- syllable nuclei: peaks of the loudness inside voice activity, at least NUCLEUS_PROMINENCE_DB above the
  surrounding valleys and NUCLEUS_DISTANCE frames apart (about 4.5 nuclei per second of espeak-ng speech);
- stressed syllables: nuclei at least STRESS_DB louder than the median loudness of the nuclei within
  +-STRESS_CONTEXT frames (loudness is the cue espeak-ng gives its stressed vowels), thinned so that no two
  lie closer than STRESS_SPACING frames (the louder wins); about 40 % of the nuclei;
- pauses: silent runs (after gap closing) of at least MIN_PAUSE frames that follow at least MIN_SPEECH_BEFORE
  frames of voice activity; a pause is reported by its first silent frame;
- listener pauses: pauses of the partner (channel 1) during which this person (channel 0) is listening:
  silent over the LISTEN_WINDOW frames before the pause.

Inputs are waveforms: `channel` (N,) at 48 kHz or `audio` (N, 2) (channel 0 = this person, 1 = partner).
Frame indices are int64 arrays, sorted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from data_loaders.synthetic.audio_features import loudness_db, speech_envelope

VOICE_DB = -40.0
MIN_GAP = 6
MIN_VOICED = 3
NUCLEUS_PROMINENCE_DB = 4.0
NUCLEUS_DISTANCE = 4
STRESS_DB = 1.5
STRESS_CONTEXT = 45
STRESS_SPACING = 8
MIN_PAUSE = 9
MIN_SPEECH_BEFORE = 10
LISTEN_WINDOW = 15


@dataclass(frozen=True)
class SpeechEvents:
    """The events of one channel: loudness (T,) dB, active (T,) bool, and frame indices of nuclei, stressed
    syllables and pause onsets."""
    loudness: np.ndarray
    active: np.ndarray
    nuclei: np.ndarray
    stressed: np.ndarray
    pauses: np.ndarray


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _voice_activity(loudness: np.ndarray) -> np.ndarray:
    active = loudness > VOICE_DB
    for start, end in runs(~active):
        if start > 0 and end < len(active) and end - start < MIN_GAP:
            active[start:end] = True
    for start, end in runs(active):
        if end - start < MIN_VOICED:
            active[start:end] = False
    return active


def _nuclei(loudness: np.ndarray, active: np.ndarray) -> np.ndarray:
    peaks, _ = find_peaks(loudness, prominence=NUCLEUS_PROMINENCE_DB, distance=NUCLEUS_DISTANCE)
    return peaks[active[peaks]].astype(np.int64)


def _stressed(loudness: np.ndarray, nuclei: np.ndarray) -> np.ndarray:
    levels = loudness[nuclei]
    candidates = [k for k, frame in enumerate(nuclei)
                  if levels[k] >= np.median(levels[np.abs(nuclei - frame) <= STRESS_CONTEXT]) + STRESS_DB]
    chosen: list[int] = []
    for k in sorted(candidates, key=lambda k: (-levels[k], nuclei[k])):
        if all(abs(nuclei[k] - nuclei[j]) >= STRESS_SPACING for j in chosen):
            chosen.append(k)
    return np.sort(nuclei[chosen]).astype(np.int64)


def _pauses(active: np.ndarray) -> np.ndarray:
    onsets, voiced_from = [], 0
    for start, end in runs(~active):
        voiced_before = start - voiced_from
        if start > 0 and end - start >= MIN_PAUSE and voiced_before >= MIN_SPEECH_BEFORE:
            onsets.append(start)
        voiced_from = end
    return np.asarray(onsets, dtype=np.int64)


def events_from_loudness(loudness: np.ndarray) -> SpeechEvents:
    """Every event of a channel from its loudness (T,) in dB (`loudness_db(speech_envelope(channel))`)."""
    active = _voice_activity(loudness)
    nuclei = _nuclei(loudness, active)
    return SpeechEvents(loudness, active, nuclei, _stressed(loudness, nuclei), _pauses(active))


def speech_events(channel: np.ndarray) -> SpeechEvents:
    """Every event of one channel (N,) from a single analysis pass."""
    return events_from_loudness(loudness_db(speech_envelope(channel)))


def voice_activity(channel: np.ndarray) -> np.ndarray:
    """(T,) bool: frames where the channel's speaker is talking."""
    return speech_events(channel).active


def syllable_nuclei(channel: np.ndarray) -> np.ndarray:
    """Frame indices of syllable nuclei (loudness peaks)."""
    return speech_events(channel).nuclei


def stressed_syllables(channel: np.ndarray) -> np.ndarray:
    """Frame indices of stressed syllables (nuclei louder than their neighbourhood)."""
    return speech_events(channel).stressed


def speech_pauses(channel: np.ndarray) -> np.ndarray:
    """Frame indices where the channel's speaker falls silent for at least MIN_PAUSE frames."""
    return speech_events(channel).pauses


def listening_pauses(own: SpeechEvents, partner: SpeechEvents) -> np.ndarray:
    """Pause onsets of the partner while this person was silent over the LISTEN_WINDOW frames before them."""
    return np.asarray([p for p in partner.pauses if not own.active[max(p - LISTEN_WINDOW, 0):p].any()],
                      dtype=np.int64)


def listener_pauses(audio: np.ndarray) -> np.ndarray:
    """Frame indices of the partner's pauses (channel 1) while this person (channel 0) listens."""
    return listening_pauses(speech_events(audio[:, 0]), speech_events(audio[:, 1]))
