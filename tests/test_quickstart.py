"""The quickstart (scripts/quickstart.sh) in a reduced form: the shipped checkpoints turn a 3.5 s cut of the
shipped example conversation into face and body results.npy and a small mp4 with sound (few denoising steps,
128-pixel views; sample.generate --plot renders both into the body's folder). Also checks what the quickstart relies on: the example WAV and the portable checkpoint
folders (no machine paths inside)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from data_loaders.format import FACE_DIM, FPS, POSE_DIM
from sample.recommended import RECOMMENDABLE, recommended_sampling
from sample.results import load_results
from train.checkpoint import latest_checkpoint, load_checkpoint_file
from visualize.video import probe

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "assets" / "example_conversation.wav"
CHECKPOINTS = REPO / "checkpoints"
CUT_SECONDS = 3.5
VIDEO_SIZE = 128
PATH_KEYS = ("data_root", "save_dir", "lip_model_path", "resume_pth", "guide_vq_path")


def test_example_audio_is_a_small_two_voice_conversation():
    audio, rate = sf.read(EXAMPLE, dtype="float32", always_2d=True)
    assert EXAMPLE.stat().st_size < 2 ** 20 and sf.info(EXAMPLE).subtype == "PCM_16"
    assert audio.shape[1] == 2 and 10 <= len(audio) / rate <= 15
    loud = np.abs(audio) > 0.02
    assert loud[:, 0].mean() > 0.05 and loud[:, 1].mean() > 0.05  # both voices speak
    assert (loud[:, 0] & ~loud[:, 1]).mean() > 0.05  # the person speaks alone at times (not one voice twice)


def test_shipped_checkpoints_are_small_and_portable():
    for name in ("lip", "face", "vq", "guide", "pose"):
        folder = CHECKPOINTS / name
        model_file = latest_checkpoint(folder, "model")
        assert model_file is not None, f"{folder}: no model file; run python scripts/make_checkpoints.py"
        assert model_file.stat().st_size < 8 * 2 ** 20
        config = load_checkpoint_file(model_file)["config"]
        assert config == json.loads((folder / "args.json").read_text())
        for key in PATH_KEYS:
            assert not Path(config.get(key) or ".").is_absolute(), f"{model_file}: {key} {config[key]!r}"
    assert json.loads((CHECKPOINTS / "face" / "args.json").read_text())["lip_model_path"] == "../lip"
    assert json.loads((CHECKPOINTS / "guide" / "args.json").read_text())["resume_pth"] == "../vq"
    assert json.loads((CHECKPOINTS / "pose" / "args.json").read_text()).get("guide_vq_path") in (None, "../vq")
    for name in ("face", "pose"):  # the diffusion models recommend every sampling setting (the lip one: face)
        wanted = set(RECOMMENDABLE) - ({"lip_consistency"} if name == "pose" else set())
        assert set(recommended_sampling(CHECKPOINTS / name)) == wanted, name


def test_quickstart_turns_the_example_into_results_and_a_video(tmp_path):
    audio, rate = sf.read(EXAMPLE, dtype="float32", always_2d=True)
    cut = tmp_path / "cut.wav"
    sf.write(cut, audio[:int(CUT_SECONDS * rate)], rate, subtype="PCM_16")
    out = tmp_path / "quickstart"
    env = dict(os.environ, A2P_AUDIO=cut.name, A2P_OUT=out.name, A2P_STEPS="ddim4",  # paths relative to the cwd
               A2P_VIDEO_SIZE=str(VIDEO_SIZE))
    run = subprocess.run(["bash", str(REPO / "scripts" / "quickstart.sh")], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    frames = int(np.ceil(CUT_SECONDS * FPS))
    face, body = load_results(out / "face" / "results.npy"), load_results(out / "body" / "results.npy")
    assert face.motions.shape == (1, FACE_DIM, 1, frames) and body.motions.shape == (1, POSE_DIM, 1, frames)
    assert body.keyframes.shape == (1, 4, POSE_DIM)  # guide poses drawn by the shipped guide
    assert face.motions.std(axis=-1).mean() > 0 and body.motions.std(axis=-1).mean() > 0  # it moves
    np.testing.assert_allclose(face.audio, body.audio)
    cut_std = audio[:int(CUT_SECONDS * rate), 0].std()
    assert abs(face.audio[0, :, 0].std() - cut_std) < 0.1 * cut_std  # the cut's sound, resampled to 48 kHz
    videos = sorted((out / "body").glob("*.mp4"))
    assert [v.name for v in videos] == ["sample00_rep00_pred.mp4"]
    info = probe(videos[0])
    assert (info["frames"], info["width"], info["height"]) == (frames, 2 * VIDEO_SIZE, VIDEO_SIZE)
    assert info["has_audio"] and abs(info["audio_duration"] - frames / FPS) < 0.1
    assert str(videos[0]) in run.stdout and str(out / "face" / "results.npy") in run.stdout
    guidance = {recommended_sampling(CHECKPOINTS / name)["guidance_param"] for name in ("face", "pose")}
    assert [f"ddim4, guidance {value})" in run.stdout for value in guidance] == [True] * len(guidance)
