"""Make assets/example_conversation.wav: a short conversation of the synthetic voices, the quickstart's input.

    python scripts/make_example_audio.py [--out assets/example_conversation.wav] [--seconds 12] [--seed 1]

The two voices are English espeak-ng voices drawn as a synthetic scene draws them
(data_loaders.synthetic.persons.scene_voice, at medium speaking energy) from --seed: channel 0 = the person
to animate, channel 1 = the partner. The conversation itself is a fresh one
(data_loaders.synthetic.speech.record_conversation with the same --seed), so no training scene is reused. Stored as 16 kHz stereo 16-bit PCM WAV to stay small (12 s: 750 KB); sample.generate --audio
resamples it to 48 kHz. Needs espeak-ng.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from data_loaders.format import SAMPLE_RATE  # noqa: E402
from data_loaders.synthetic.persons import scene_voice  # noqa: E402
from data_loaders.synthetic.speech import check_espeak, record_conversation  # noqa: E402
from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402

FILE_RATE = 16_000


@dataclass
class ExampleAudioConfig:
    """The example conversation."""
    out: str = arg(str(REPO / "assets" / "example_conversation.wav"), "WAV file to write")
    seconds: float = arg(12.0, "length of the clip")
    seed: int = arg(1, "seed of the voices and the conversation (text, timing, voice variation, room noise)")


def example_conversation(seconds: float, seed: int) -> np.ndarray:
    """(seconds * 16000, 2) float32 in [-1, 1]: channel 0 = the person's voice, channel 1 = the partner's."""
    rng = np.random.default_rng(seed)
    voices = (scene_voice(rng, "en", 0.5), scene_voice(rng, "en", 0.5))
    tracks = record_conversation(rng, int(seconds * SAMPLE_RATE), voices)
    return np.clip(resample_poly(tracks, FILE_RATE, SAMPLE_RATE, axis=0), -1.0, 1.0).astype(np.float32)


def main(argv: list[str] | None = None) -> Path:
    config, = parse_config([ExampleAudioConfig], argv, description=__doc__.split("\n")[0])
    check_espeak()
    audio = example_conversation(config.seconds, config.seed)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), audio, FILE_RATE, subtype="PCM_16")
    speaking = (np.abs(audio) > 0.02).mean(axis=0)
    print(f"wrote {out}: {len(audio) / FILE_RATE:.1f} s, 16 kHz stereo, {out.stat().st_size / 1024:.0f} KB; "
          f"share of loud samples: person {speaking[0]:.0%}, partner {speaking[1]:.0%}")
    return out


if __name__ == "__main__":
    run_cli(main)
