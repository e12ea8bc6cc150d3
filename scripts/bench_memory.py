"""Peak resident memory of sampling long audio: `python scripts/bench_memory.py [--minutes 1 5 10]`.

For each length, the example conversation (assets/example_conversation.wav, 16 kHz stereo) is repeated to
that many minutes and written at --rate, then sampled by the shipped checkpoints as scripts/quickstart.sh
samples it (face: guidance 10; body: guide transformer, guidance 2; one repetition, DPM-Solver++ ddim20),
each command in its own process (--parallel: all at once, which leaves the peaks as they are and makes the
times only indicative). The table gives each process's peak resident set size (ru_maxrss of that child,
from os.wait4), its wall time and the size of the results.npy it wrote, then checks the targets: 10 minutes
under TARGET_MB and within TARGET_RATIO of 1 minute's peak. Rendering (--plot) is not part of it.
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
from utils.device import device_name  # noqa: E402

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
    device: str = arg("cpu", "device of the sampling processes", check=device_name)
    timestep_respacing: str = arg("ddim20", "denoising steps (the quickstart's default)")
    parallel: bool = arg(False, "run every command at once (peaks are per process; times become indicative)")


def long_conversation(minutes: float, rate: int, path: Path) -> Path:
    """The example conversation repeated to `minutes`, written as 16-bit stereo at `rate`."""
    audio, source_rate = sf.read(REPO / "assets" / "example_conversation.wav", dtype="float32", always_2d=True)
    if rate != source_rate:
        from scipy.signal import resample_poly
        audio = resample_poly(audio, rate, source_rate, axis=0).astype(np.float32)
    samples = int(minutes * 60 * rate)
    sf.write(path, np.resize(audio, (samples, audio.shape[1])), rate, subtype="PCM_16")
    return path


def run_children(commands: dict, parallel: bool, logs: Path) -> dict:
    """{key: (peak resident MB, seconds)} of running every command of {key: command} to completion, one after
    the other or all at once (stderr of each into a file in `logs`); an error if one fails."""
    started, processes, measured = {}, {}, {}

    def start(key) -> None:
        started[key] = time.perf_counter()
        with open(logs / f"{len(processes)}.log", "w") as log:
            processes[key] = subprocess.Popen(commands[key], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)

    def finish() -> None:
        pid, status, usage = os.wait4(-1, 0)
        index, key = next((i, key) for i, (key, process) in enumerate(processes.items()) if process.pid == pid)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(commands[key])} failed: {(logs / f'{index}.log').read_text()[-2000:]}")
        measured[key] = (usage.ru_maxrss / 1024, time.perf_counter() - started[key])  # ru_maxrss: kB on Linux

    for key in commands:
        start(key)
        if not parallel:
            finish()
    while len(measured) < len(commands):
        finish()
    return measured


def main(argv: list[str] | None = None) -> dict:
    cfg, = parse_config([BenchMemoryConfig], argv, description=__doc__.split("\n")[0])
    with tempfile.TemporaryDirectory(prefix="a2p_bench_memory_") as work:
        commands = {}
        for minutes in cfg.minutes:
            audio = long_conversation(minutes, cfg.rate, Path(work) / f"conversation_{minutes:g}min.wav")
            for kind, flags in COMMANDS.items():
                commands[minutes, kind] = [
                    sys.executable, "-m", "sample.generate", *[f.format(checkpoints=cfg.checkpoints) for f in flags],
                    "--audio", str(audio), "--num_repetitions", "1", "--timestep_respacing", cfg.timestep_respacing,
                    "--seed", "10", "--device", cfg.device, "--output_dir", str(Path(work) / f"{kind}_{minutes:g}"),
                    "--no-progress"]
        measured = run_children(commands, cfg.parallel, Path(work))
        rows = {key: {"peak_mb": peak, "seconds": seconds,
                      "results_mb": (Path(work) / f"{key[1]}_{key[0]:g}" / "results.npy").stat().st_size / 2 ** 20}
                for key, (peak, seconds) in measured.items()}
    print("| audio | face peak | body peak | face time | body time | results.npy face / body |\n|---|---|---|---|---|---|")
    for minutes in cfg.minutes:
        face, body = rows[minutes, "face"], rows[minutes, "body"]
        print(f"| {minutes:g} min | {face['peak_mb']:.0f} MB | {body['peak_mb']:.0f} MB | {face['seconds']:.0f} s | "
              f"{body['seconds']:.0f} s | {face['results_mb']:.1f} / {body['results_mb']:.1f} MB |")
    if 1.0 in cfg.minutes and 10.0 in cfg.minutes:
        for kind in COMMANDS:
            one, ten = rows[1.0, kind]["peak_mb"], rows[10.0, kind]["peak_mb"]
            verdict = "met" if ten < TARGET_MB and ten <= TARGET_RATIO * one else "NOT met"
            print(f"{kind}: 10 min peak {ten:.0f} MB = {ten / one:.2f} x the 1 min peak; target (< {TARGET_MB} MB, "
                  f"<= {TARGET_RATIO} x) {verdict}")
    return rows


if __name__ == "__main__":
    run_cli(main)
