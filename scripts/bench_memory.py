"""Peak resident memory of sampling long audio: `python scripts/bench_memory.py [--minutes 1 5 10]`.

For each length, the example conversation (assets/example_conversation.wav, 16 kHz stereo) is repeated to
that many minutes and written at --rate, then sampled by the shipped checkpoints as scripts/quickstart.sh
samples it (face: guidance 10; body: guide transformer, guidance 2; one repetition, DPM-Solver++ ddim20),
each command in its own process. The table gives each process's peak resident set size (ru_maxrss of that
child, from os.wait4), its wall time and the size of the results.npy it wrote, then checks the targets:
10 minutes under TARGET_MB and within TARGET_RATIO of 1 minute's peak. Rendering (--plot) is not part of it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from utils.cli import run_cli  # noqa: E402
from utils.config import arg, parse_config  # noqa: E402

TARGET_MB = 1200
TARGET_RATIO = 1.5
COMMANDS = {  # what scripts/quickstart.sh runs, without --plot
    "face": ["--model_path", "{checkpoints}/face", "--guidance_param", "10"],
    "body": ["--model_path", "{checkpoints}/pose", "--resume_trans", "{checkpoints}/guide", "--guidance_param", "2"],
}


@dataclass
class BenchMemoryConfig:
    """Audio lengths, input rate and checkpoints."""
    minutes: list[float] = arg([1.0, 5.0, 10.0], "lengths of audio to sample, in minutes")
    rate: int = arg(16_000, "sample rate of the input file (the example's 16 kHz; 48000 = the data set's)")
    checkpoints: str = arg(str(REPO / "checkpoints"), "folder of the face, pose, guide, lip and vq checkpoints")
    device: str = arg("cpu", "device of the sampling processes")
    timestep_respacing: str = arg("ddim20", "denoising steps (the quickstart's default)")


def long_conversation(minutes: float, rate: int, path: Path) -> Path:
    """The example conversation repeated to `minutes`, written as 16-bit stereo at `rate`."""
    audio, source_rate = sf.read(REPO / "assets" / "example_conversation.wav", dtype="float32", always_2d=True)
    if rate != source_rate:
        from scipy.signal import resample_poly
        audio = resample_poly(audio, rate, source_rate, axis=0).astype(np.float32)
    samples = int(minutes * 60 * rate)
    sf.write(path, np.resize(audio, (samples, audio.shape[1])), rate, subtype="PCM_16")
    return path


def peak_of_child(command: list[str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of running `command` to completion; an error if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in kB on Linux


def main(argv: list[str] | None = None) -> dict:
    cfg, = parse_config([BenchMemoryConfig], argv, description=__doc__.split("\n")[0])
    rows = {}
    print("| audio | face peak | body peak | face time | body time | results.npy face / body |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="a2p_bench_memory_") as work:
        for minutes in cfg.minutes:
            audio = long_conversation(minutes, cfg.rate, Path(work) / f"conversation_{minutes:g}min.wav")
            row = {}
            for kind, flags in COMMANDS.items():
                out = Path(work) / f"{kind}_{minutes:g}"
                command = [sys.executable, "-m", "sample.generate", *[f.format(checkpoints=cfg.checkpoints) for f in flags],
                           "--audio", str(audio), "--num_repetitions", "1", "--timestep_respacing",
                           cfg.timestep_respacing, "--seed", "10", "--device", cfg.device, "--output_dir", str(out),
                           "--no-progress"]
                peak, seconds = peak_of_child(command)
                row[kind] = {"peak_mb": peak, "seconds": seconds,
                             "results_mb": (out / "results.npy").stat().st_size / 2 ** 20}
            rows[minutes] = row
            print(f"| {minutes:g} min | {row['face']['peak_mb']:.0f} MB | {row['body']['peak_mb']:.0f} MB | "
                  f"{row['face']['seconds']:.0f} s | {row['body']['seconds']:.0f} s | "
                  f"{row['face']['results_mb']:.1f} / {row['body']['results_mb']:.1f} MB |", flush=True)
    if 1.0 in rows and 10.0 in rows:
        for kind in COMMANDS:
            one, ten = rows[1.0][kind]["peak_mb"], rows[10.0][kind]["peak_mb"]
            verdict = "met" if ten < TARGET_MB and ten <= TARGET_RATIO * one else "NOT met"
            print(f"{kind}: 10 min peak {ten:.0f} MB = {ten / one:.2f} x the 1 min peak; target (< {TARGET_MB} MB, "
                  f"<= {TARGET_RATIO} x) {verdict}")
    return rows


if __name__ == "__main__":
    run_cli(main)
