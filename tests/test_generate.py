"""sample.generate end to end (test split and --audio files of any rate, channel count and length), long audio
in stitched windows (sample/windows.py) and the results.npy layout (sample/results.py), with the tiny face
model trained by tests/test_train_face.py."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from data_loaders.augment import speech_level
from data_loaders.format import FACE_DIM, SAMPLE_RATE, SAMPLES_PER_FRAME, list_scenes, read_wav
from sample import generate
from sample.audio_input import PARTNER_NOISE_DB
from sample.face import FaceSampler
from sample.results import Results, ResultsError, load_results, results_from_dict, save_results
from sample.windows import SamplingConfig, Window, plan_windows, row_seeds, sample_long
from utils.config import build_parser
from tests.test_train_face import face_run, synthetic_person  # noqa: F401 (session fixtures shared with that file)

FAST = ["--timestep_respacing", "ddim10", "--no-progress"]
REPO = Path(__file__).resolve().parents[1]


def conversation(person: Path, seconds: float) -> np.ndarray:
    """(seconds * 48000, 2) float32: the person's scenes' audio one after another, repeated to the length."""
    audio = np.concatenate([read_wav(scene.audio)[0] for scene in list_scenes(person)])
    return np.tile(audio, (int(np.ceil(seconds * SAMPLE_RATE / len(audio))), 1))[:int(seconds * SAMPLE_RATE)]


def generate_for(run, tmp_path: Path, audio_path: Path | None = None, *flags: str) -> Results:
    args = ["--model_path", str(run.face_dir), "--output_dir", str(tmp_path / "out"), *FAST, *flags]
    return load_results(generate.main(args + (["--audio", str(audio_path)] if audio_path else [])))


def seam_excess(motion: torch.Tensor, plan: list[Window]) -> float:
    """Mean frame-to-frame speed of motion (T, C) across the window seams (into and out of each overlap)
    divided by the mean speed elsewhere."""
    speed = (motion[1:] - motion[:-1]).norm(dim=-1)  # speed[t]: frame t -> t + 1
    seams = torch.zeros(len(speed), dtype=torch.bool)
    for window in plan[1:]:
        seams[[window.start - 1, window.start + window.known - 1]] = True
    return float(speed[seams].mean() / speed[~seams].mean())


@pytest.mark.parametrize("frames,window,overlap", [(50, 60, 9), (61, 60, 9), (200, 60, 9), (2100, 600, 90),
                                                   (1234, 600, 120)])
def test_windows_cover_the_audio_on_the_keyframe_grid(frames, window, overlap):
    plan = plan_windows(frames, window, overlap)
    assert plan[0].start == 0 and plan[-1].end == frames and plan[0].known == 0
    for previous, current in zip(plan, plan[1:]):
        assert current.start % 30 == 0 and current.known == previous.end - current.start >= overlap
        assert current.end - current.start <= window and current.start > previous.start
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(frames + window, window, window - 10)


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_mono_16k_file(face_run, tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, resample_poly(conversation(face_run.person, 3.0)[:, 0], 1, 3), 16_000, subtype="PCM_16")
    results = generate_for(face_run, tmp_path, path, "--num_repetitions", "2")
    assert results.motions.shape == (2, FACE_DIM, 1, 90) and results.motions.dtype == np.float64
    assert results.gt is None and results.keyframes is None and results.num_samples == 1
    assert results.audio.shape == (1, 90 * SAMPLES_PER_FRAME, 2) and results.lengths.tolist() == [90, 90]  # once
    silent_partner = speech_level(results.audio[0, :, :1]) * 10 ** (-PARTNER_NOISE_DB / 20)
    assert results.audio[0, :, 1].std() == pytest.approx(silent_partner, rel=0.05)
    assert not np.allclose(results.motions[0], results.motions[1])  # two repetitions, two samples


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_stereo_48k_file(face_run, tmp_path):
    audio = conversation(face_run.person, 2.5)
    path = tmp_path / "stereo.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    results = generate_for(face_run, tmp_path, path, "--num_repetitions", "1")
    assert results.motions.shape == (1, FACE_DIM, 1, 75)
    np.testing.assert_array_equal(results.audio[0], read_wav(path)[0])


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_long_audio_is_stitched_without_seams(face_run, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, conversation(face_run.person, 70.0), SAMPLE_RATE, subtype="PCM_16")
    results = generate_for(face_run, tmp_path, path, "--num_repetitions", "1")
    sampler = FaceSampler.load(face_run.face_dir)
    motion = sampler.normalizer.normalize(torch.from_numpy(results.motion(0, 0)), "face")
    assert motion.shape == (2100, FACE_DIM) and sampler.window == 60
    plan = plan_windows(2100, 60, 60 * 3 // 20)
    stitched = seam_excess(motion, plan)
    # the same windows sampled independently (no overlap to condition on) jump at every seam
    audio = sampler.normalizer.normalize(torch.from_numpy(results.audio[0]), "audio")[None]
    in_memory = sample_long(sampler, audio, SamplingConfig(1, "ddim10", "dpmpp2m", 2.5, 10), sample_ids=[0],
                            overlap=9).motion[0]  # what generate wrote window by window, from audio on disk
    torch.testing.assert_close(motion.float(), in_memory, rtol=0, atol=1e-5)
    naive = sample_long(sampler, audio, SamplingConfig(1, "ddim10", "dpmpp2m", 2.5, 10), sample_ids=[0],
                        overlap=0).motion[0]
    independent = seam_excess(naive, plan_windows(2100, 60, 0))
    print(f"{len(plan)} windows; speed at seams / elsewhere: stitched {stitched:.2f}, independent {independent:.2f}")
    assert len(plan) > 60 and stitched < 1.25 and independent > 1.8


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_non_audio_file_is_rejected_by_name(face_run, tmp_path):
    path = tmp_path / "lyrics.txt"
    path.write_text("la la la")
    with pytest.raises(ValueError, match="lyrics.txt"):
        generate.main(["--model_path", str(face_run.face_dir), "--audio", str(path), *FAST])


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_test_split_results_layout(face_run, tmp_path):
    args = ["--model_path", str(face_run.face_dir), "--num_samples", "3", "--num_repetitions", "2", *FAST]
    path = generate.main(args + ["--batch_size", "2"])
    assert path.parent == face_run.face_dir / "samples_face_000000400_seed10_" and path.name == "results.npy"
    stored = np.load(path, allow_pickle=True).item()
    assert stored["motions"].shape == stored["gt"].shape == (6, FACE_DIM, 1, 60)
    np.testing.assert_array_equal(stored["keyframes"], stored["gt"][:, :, 0].transpose(0, 2, 1))  # face: (N, T, C)
    assert stored["audio"].shape == (3, 60 * SAMPLES_PER_FRAME, 2) and stored["audio"].dtype == np.float32  # once
    assert stored["lengths"].dtype == np.int64 and stored["motions"].dtype == np.float64
    ours = dict(num_samples=3, num_repetitions=2, data_format="face", fps=30)
    assert {key: stored[key] for key in ours} == ours
    for sample in range(3):  # row = rep * num_samples + sample: the inputs repeat for every repetition
        np.testing.assert_array_equal(stored["gt"][sample], stored["gt"][3 + sample])
        assert not np.allclose(stored["motions"][sample], stored["motions"][3 + sample])
    assert not np.array_equal(stored["gt"][0], stored["gt"][1])
    assert stored["scenes"].shape == stored["starts"].shape == (3,) and stored["starts"].dtype == np.int64
    for sample, (scene, start) in enumerate(zip(stored["scenes"], stored["starts"])):  # where each chunk came from
        audio, _ = read_wav(scene + "_audio.wav")
        np.testing.assert_allclose(stored["audio"][sample], audio[start * SAMPLES_PER_FRAME:][:60 * SAMPLES_PER_FRAME],
                                   atol=1e-4)
    regrouped = generate.main(args + ["--batch_size", "64", "--output_dir", str(tmp_path)])
    np.testing.assert_allclose(np.load(regrouped, allow_pickle=True).item()["motions"], stored["motions"],
                               atol=1e-4)  # the same noise per row whatever the batching (float rounding aside)


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_inpainting_a_whole_window_returns_the_known_motion(face_run):
    sampler = FaceSampler.load(face_run.face_dir)
    audio = sampler.normalizer.normalize(torch.from_numpy(conversation(face_run.person, 1.0)), "audio")[None]
    known = torch.randn(1, 30, FACE_DIM)
    out = sampler.sample(audio, SamplingConfig(1, "ddim10", "ddim", 2.5, 0), seeds=row_seeds(0, [0], 1),
                         known=known, known_mask=torch.ones(1, 30, dtype=torch.bool))
    torch.testing.assert_close(out.motion, known)


def test_every_flag_is_explained(capsys):
    with pytest.raises(SystemExit) as exit_:
        generate.main(["--help"])
    assert exit_.value.code == 0
    for action in build_parser(generate.CONFIG_TYPES)._actions:
        assert action.help and len(action.help) > 20, action.dest
    assert "--audio" in capsys.readouterr().out


def test_results_round_trip_and_validation(tmp_path):
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((2, 3 * SAMPLES_PER_FRAME, 2)).astype(np.float32)
    results = Results(motions=rng.standard_normal((4, 104, 1, 3)), audio=np.concatenate([audio, audio]),
                      lengths=np.array([3, 2, 3, 2]), num_samples=2, num_repetitions=2, data_format="pose",
                      gt=rng.standard_normal((4, 104, 1, 3)), keyframes=rng.standard_normal((4, 1, 104)),
                      scenes=np.array(["/data/P0/scene09", "/data/P0/scene10"]), starts=np.array([0, 60]))
    loaded = load_results(save_results(tmp_path / "results.npy", results))
    for key, value in results.to_dict().items():
        assert np.array_equal(getattr(loaded, key), value), key
    assert loaded.motion(1, 1).shape == (2, 104) and np.array_equal(loaded.motion(1, 0), results.motions[2, :, 0].T)
    original = {key: results.to_dict()[key] for key in ("motions", "gt", "audio", "lengths", "keyframes")}
    inferred = results_from_dict(original)  # the original's files lack our keys
    assert (inferred.num_samples, inferred.num_repetitions, inferred.data_format) == (2, 2, "pose")
    once = results_from_dict(dict(original, audio=audio))  # the audio once per sample (ours): the same rows
    assert all(np.array_equal(once.audio_row(row), inferred.audio_row(row)) for row in range(4))
    np.save(tmp_path / "broken.npy", dict(original, audio=audio[:, :100]), allow_pickle=True)
    with pytest.raises(ResultsError, match="broken.npy: 'audio' has shape"):
        load_results(tmp_path / "broken.npy")
    for broken in (dict(scenes=results.scenes[:1], starts=results.starts[:1]), dict(starts=None)):
        with pytest.raises(ResultsError, match="'scenes'"):
            results_from_dict({**results.to_dict(), **broken})
    (tmp_path / "junk.npy").write_text("no")
    with pytest.raises(ResultsError, match="junk.npy"):
        load_results(tmp_path / "junk.npy")


@pytest.mark.slow  # uses the tiny models trained by face_run
def test_plot_renders_videos_with_sound_and_reuses_given_codes(face_run, tmp_path):
    from visualize.video import probe
    path = tmp_path / "clip.wav"
    sf.write(path, conversation(face_run.person, 1.0), SAMPLE_RATE, subtype="PCM_16")
    results_path = generate.main(["--model_path", str(face_run.face_dir), "--output_dir", str(tmp_path / "out"),
                                  *FAST, "--audio", str(path), "--num_repetitions", "2", "--plot",
                                  "--render_size", "64"])
    videos = sorted(p.name for p in results_path.parent.glob("*.mp4"))
    assert videos == ["sample00_rep00_pred.mp4", "sample00_rep01_pred.mp4"]
    info = probe(results_path.parent / videos[0])
    assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (30, 128, 64, True)
    before = results_path.stat().st_mtime_ns
    again = generate.main(["--model_path", str(face_run.face_dir), "--face_codes", str(results_path), "--plot",
                           "--render_size", "64", "--no-progress"])
    assert again == results_path and results_path.stat().st_mtime_ns == before  # rendered, not re-sampled


def test_sampling_imports_without_the_renderer():
    """A GPU server without OpenGL libraries can sample (rendering is imported for --plot only)."""
    code = ("import sys; sys.modules['moderngl'] = None\n"
            "import sample.generate, sample.body, sample.face\n"
            "try:\n    import visualize.renderer\nexcept ImportError:\n    print('renderer unavailable')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "renderer unavailable"


@pytest.fixture
def shipped_face(tmp_path) -> Path:
    """A copy of the shipped face checkpoint folder with its lip regressor (../lip), to break."""
    for name in ("face", "lip"):
        shutil.copytree(REPO / "checkpoints" / name, tmp_path / "checkpoints" / name)
    return tmp_path / "checkpoints" / "face"


def refuse_to_sample(*args, **kwargs):
    raise AssertionError("sampling started before the check")


def test_an_unwritable_output_folder_is_refused_before_sampling(shipped_face, tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "sample_inputs", refuse_to_sample)
    occupied = tmp_path / "results_here"
    occupied.write_text("a file, not a folder")
    audio = REPO / "assets" / "example_conversation.wav"
    for output_dir, error in ((occupied, r"results_here: the output folder is an existing file, not a folder"),
                              (occupied / "sub", r"results_here/sub: could not write into it")):
        with pytest.raises(OSError, match=error):
            generate.main(["--model_path", str(shipped_face), "--audio", str(audio), "--output_dir", str(output_dir),
                           "--device", "cpu", *FAST])


def test_nan_weights_are_refused_at_load_naming_the_checkpoint(shipped_face, tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "sample_inputs", refuse_to_sample)
    model_file = next(shipped_face.glob("model*.pt"))
    stored = torch.load(model_file)
    name = sorted(stored["model"])[-1]
    stored["model"][name] = stored["model"][name].float() * float("nan")
    torch.save(stored, model_file)
    with pytest.raises(ValueError, match=rf"{model_file}: holds NaN or inf weights \({name}\); the training diverged"):
        generate.main(["--model_path", str(shipped_face), "--audio", str(REPO / "assets" / "example_conversation.wav"),
                       "--output_dir", str(tmp_path / "out"), "--device", "cpu", *FAST])
    assert not (tmp_path / "out").exists()
