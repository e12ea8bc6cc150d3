"""Every command ends bad input with one line on stderr naming the file and the fix, exit status 2; --debug or
A2P_DEBUG=1 shows the traceback; every entry point goes through utils/cli.run_cli."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from demo import demo
from sample import generate
from train import train_lip
from utils.cli import run_cli
from visualize import render_results

REPO = Path(__file__).resolve().parents[1]


def failing(error: BaseException):
    def main(argv):
        raise error
    return main


@pytest.mark.parametrize("error", [ValueError("x.npy: broken; make it again"), FileNotFoundError("x.npy: not found"),
                                   SystemExit("x.npy: broken; make it again")], ids=["value", "os", "message_exit"])
def test_bad_input_is_one_line_and_status_2(error, capsys, monkeypatch):
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run_cli(failing(error), [])
    assert stopped.value.code == 2
    assert re.fullmatch(r"\S+: error: x\.npy: (broken; make it again|not found)\n", capsys.readouterr().err)


def test_debug_flag_or_variable_shows_the_traceback(monkeypatch):
    with pytest.raises(ValueError, match="broken"):
        run_cli(failing(ValueError("broken")), ["--debug"])
    monkeypatch.setenv("A2P_DEBUG", "1")
    with pytest.raises(ValueError, match="broken"):
        run_cli(failing(ValueError("broken")), [])


def test_status_of_success_interrupt_and_bugs(capsys):
    for result, status in ((None, 0), (1, 1)):
        with pytest.raises(SystemExit) as stopped:
            run_cli(lambda argv: result, [])
        assert stopped.value.code == status
    with pytest.raises(SystemExit) as stopped:
        run_cli(failing(KeyboardInterrupt()), [])
    assert stopped.value.code == 130 and "Traceback" not in capsys.readouterr().err
    with pytest.raises(TypeError):  # a bug keeps its traceback
        run_cli(failing(TypeError("bug")), [])


def test_every_entry_point_runs_through_run_cli():
    sources = [path for folder in ("data_loaders", "sample", "train", "visualize", "demo", "scripts")
               for path in (REPO / folder).rglob("*.py")]
    entry_points = [path for path in sources if 'if __name__ == "__main__":' in path.read_text()]
    assert len(entry_points) >= 20
    for path in entry_points:
        assert 'if __name__ == "__main__":\n    run_cli(main)\n' in path.read_text(), path


def test_a_real_command_prints_one_line(tmp_path):
    missing = tmp_path / "missing.npy"
    env = {key: value for key, value in os.environ.items() if key != "A2P_DEBUG"}
    command = [sys.executable, "-m", "sample.evaluate", "--results", str(missing)]
    plain = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr == (f"sample.evaluate: error: {missing}: results file not found; sample.generate writes "
                            f"results.npy into its output folder (printed at the end of its run)\n")


CARELESS_FLAGS = [
    (generate.main, ["--device", "potato"], r"--device: 'potato' is not a device; use auto, cpu, cuda or cuda:N"),
    (generate.main, ["--device", "cuda:7"], r"--device: cuda:7: (CUDA is not available|this machine has \d CUDA)"),
    (train_lip.main, ["--device", "potato"], r"--device: 'potato' is not a device"),
    (generate.main, ["--render_size", "0"], r"--render_size: 0 is below the smallest allowed value, 32"),
    (render_results.main, ["--size", "-5"], r"--size: -5 is below the smallest allowed value, 32"),
    (generate.main, ["--guidance_param", "nan"], r"--guidance_param: nan is not a finite number"),
    (generate.main, ["--guidance_param", "inf"], r"--guidance_param: inf is not a finite number"),
    (generate.main, ["--guidance_param", "1e30"], r"--guidance_param: 1e30 is above the largest allowed value, 100.0"),
    (demo.main, ["--face_guidance", "-1"], r"--face_guidance: -1 is below the smallest allowed value, 0.0"),
    (generate.main, ["--max_seq_length", "1"], r"--max_seq_length: 1 is below the smallest allowed value, 60"),
    (generate.main, ["--seed", "99999999999999999999"], r"--seed: 99999999999999999999 is above the largest allowed "
                                                          r"value, 2147483647"),
    (train_lip.main, ["--num_workers", "-1"], r"--num_workers: -1 is below the smallest allowed value, 0"),
    (train_lip.main, ["--lr", "nan"], r"--lr: nan is not a finite number"),
    (train_lip.main, ["--betas", "0.9", "2"], r"--betas: 2 is above the largest allowed value, 0.9999"),
    (generate.main, ["--num_samples", "ten"], r"--num_samples: invalid int value: 'ten'"),
]


@pytest.mark.parametrize("main, argv, message", CARELESS_FLAGS, ids=[" ".join(argv) for _, argv, _ in CARELESS_FLAGS])
def test_a_careless_flag_is_one_line_and_status_2(main, argv, message, capsys, monkeypatch):
    """Checked in the config layer (utils/config.py) before anything is loaded: no traceback, no usage text."""
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run_cli(main, argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert re.fullmatch(rf"\S+: error: argument {message}.* \(see --help\)\n", error), error


def test_data_stats_with_an_a2p_model_is_refused_instead_of_ignored(capsys, monkeypatch):
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run_cli(generate.main, ["--model_path", str(REPO / "checkpoints" / "face"), "--audio",
                                str(REPO / "assets" / "example_conversation.wav"), "--data_stats", "stats.pth"])
    assert stopped.value.code == 2
    assert re.fullmatch(r"\S+: error: --data_stats stats.pth: only the original's released models take it; \S+face "
                        r"is an a2p run, .*leave --data_stats out\n", capsys.readouterr().err)


def test_the_test_split_of_a_model_without_a_data_root_names_the_flag_and_leaves_no_folder(tmp_path, capsys,
                                                                                          monkeypatch):
    """The shipped models name no data_root: sampling their test split used to suggest running the statistics
    tool in the current folder."""
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run_cli(generate.main, ["--model_path", str(REPO / "checkpoints" / "face"), "--output_dir",
                                str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert re.fullmatch(r"\S+: error: \S+model\d+\.pt: its args.json names no training data_root, so there is no "
                        r"test split to sample; pass --data_root <person folder>, or --audio <file> .*\n",
                        capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
