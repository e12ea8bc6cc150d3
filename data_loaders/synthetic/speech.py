"""How the conversation sounds: espeak-ng voices, synthesis and the two-microphone recording of a scene.

Each utterance is synthesised by the system's `espeak-ng` (a subprocess writing a 22 050 Hz WAV into a
temporary folder; a voice's intonation range other than "medium" is spoken through SSML prosody), trimmed
of its silent ends, resampled to 48 kHz with `scipy.signal.resample_poly` (320/147), high-passed at 50 Hz
(no DC offset), faded in and out over FADE samples (no clicks), and scaled to the voice's speech level (RMS
over the voiced samples = SPEECH_RMS x voice.gain, about -26 dBFS). Every utterance varies the voice's speed and pitch a little.

A scene is recorded on two tracks, one per speaker (as with two close microphones: no crosstalk), each with
its own room noise (low-passed Gaussian noise at about NOISE_RMS, -60 dBFS). Samples are then put on the 16-bit
grid that the WAV file stores (`pcm16_grid`), so what the puppeteer hears is bit for bit what a reader of
the file gets.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
from scipy.signal import butter, lfilter, resample_poly, sosfiltfilt

from data_loaders.format import SAMPLE_RATE
from data_loaders.synthetic.conversation import ENGLISH, Language, conversation, schedule

ESPEAK_RATE = 22_050
RESAMPLE_UP, RESAMPLE_DOWN = 320, 147  # 22 050 Hz * 320 / 147 = 48 000 Hz
SPEECH_RMS = 0.05
NOISE_RMS = 0.001
TRIM_LEVEL = 0.01  # |sample| below this at the ends of an utterance is trimmed
HIGH_PASS_HZ = 50.0
FADE = 240  # samples (5 ms)


PITCH_RANGES = ("x-low", "low", "medium", "high", "x-high")  # SSML prosody range, narrow to wide intonation


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: name with variant (`espeak-ng --voices`, e.g. "de+f3"), pitch 0-99, speed in words
    per minute, a level factor, the intonation range (one of PITCH_RANGES, spoken through SSML prosody) and the
    pause between words in units of 10 ms (espeak-ng -g)."""
    name: str
    pitch: int
    speed: int
    gain: float = 1.0
    pitch_range: str = "medium"
    word_gap: int = 0


class EspeakMissingError(RuntimeError):
    """espeak-ng is not installed."""


def check_espeak() -> str:
    """Path of the espeak-ng program; EspeakMissingError with the install command when it is absent."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakMissingError("espeak-ng not found: the synthetic data set speaks with it; install it with "
                                 "`sudo apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng`")
    return path


def _trim(wave: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(wave) > TRIM_LEVEL)
    return wave[loud[0]:loud[-1] + 1] if loud.size else wave[:0]


def synthesize(text: str, voice: Voice, rng: np.random.Generator, workdir: str | Path) -> np.ndarray:
    """(n,) float64 speech at 48 kHz of `text` in `voice` (speed +-8 %, pitch +-4 per utterance)."""
    path = Path(workdir) / "utterance.wav"
    speed = int(round(voice.speed * rng.uniform(0.92, 1.08)))
    pitch = int(np.clip(voice.pitch + rng.integers(-4, 5), 0, 99))
    command = [check_espeak(), "-v", voice.name, "-p", str(pitch), "-s", str(speed), "-g", str(voice.word_gap),
               "-w", str(path)]
    if voice.pitch_range != "medium":
        text = f'<speak><prosody range="{voice.pitch_range}">{escape(text)}</prosody></speak>'
        command.append("-m")
    command.append(text)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"espeak-ng failed on {text!r} with voice {voice.name}: {result.stderr.strip()}")
    wave, rate = sf.read(str(path), dtype="float64")
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz audio; expected {ESPEAK_RATE} Hz")
    wave = resample_poly(_trim(wave), RESAMPLE_UP, RESAMPLE_DOWN)
    if len(wave) > 2 * FADE:
        wave = sosfiltfilt(butter(2, HIGH_PASS_HZ, btype="highpass", fs=SAMPLE_RATE, output="sos"), wave)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(FADE) / FADE)
        wave[:FADE] *= ramp
        wave[-FADE:] *= ramp[::-1]
    voiced = np.abs(wave) > TRIM_LEVEL
    level = np.sqrt(np.mean(wave[voiced] ** 2)) if voiced.any() else 1.0
    return wave * (SPEECH_RMS * voice.gain / level)


def room_noise(rng: np.random.Generator, samples: int) -> np.ndarray:
    """(samples,) quiet low-passed Gaussian noise with RMS about NOISE_RMS."""
    white = rng.standard_normal(samples)
    pole = 0.95  # one-pole low-pass: a warmer, room-like hiss
    return lfilter([1.0 - pole], [1.0, -pole], white) * (NOISE_RMS / np.sqrt((1 - pole) / (1 + pole)))


def pcm16_grid(audio: np.ndarray) -> np.ndarray:
    """float32 audio on the 16-bit grid (k / 32768, as soundfile writes and reads PCM_16 WAV)."""
    return (np.clip(np.round(audio * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


def record_conversation(rng: np.random.Generator, samples: int, voices: tuple[Voice, Voice],
                        languages: tuple[Language, Language] = (ENGLISH, ENGLISH),
                        backchannel_rates: tuple[float, float] = (0.5, 0.5),
                        pause_scales: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """(samples, 2) float32 at 48 kHz: track i holds speaker i of a fresh conversation (`conversation.conversation`
    with these languages, backchannel rates and pause scales), plus room noise."""
    tracks = np.zeros((2, samples))
    main_end = 0.0
    with tempfile.TemporaryDirectory(prefix="a2p_espeak_") as workdir:
        for line in conversation(rng, languages, backchannel_rates, pause_scales):
            wave = synthesize(line.text, voices[line.speaker], rng, workdir)
            start, main_end = schedule(line, len(wave) / SAMPLE_RATE, main_end)
            first = int(round(start * SAMPLE_RATE))
            if first >= samples:
                break
            piece = wave[:samples - first]
            tracks[line.speaker, first:first + len(piece)] += piece
    tracks += np.stack([room_noise(rng, samples) for _ in range(2)])
    return pcm16_grid(tracks.T)
