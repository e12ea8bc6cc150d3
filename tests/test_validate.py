"""The validator: a good folder passes; each fault is reported with the file (and frame) and the fix;
load_scene raises the same messages; the CLI lists every fault and exits 1."""
import shutil
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch

from data_loaders import validate
from data_loaders.dataset import SocialDataset
from data_loaders.format import POSE_SUFFIX, STATS_FILE, FormatError, Scene, list_scenes, write_scene, write_wav
from data_loaders.stats import compute_stats, load_stats
from data_loaders.validate import load_scene, validate_folder
from tests.data_fixtures import make_person_folder


@pytest.fixture
def folder(tmp_path):
    return make_person_folder(tmp_path / "P0", frames=60)


def scene(folder, number=3) -> Scene:
    return list_scenes(folder)[number - 1]


def only_error(folder):
    problems = validate_folder(folder)
    assert len(problems) == 1 and not problems[0].warning, [str(p) for p in problems]
    return problems[0]


def test_generated_folder_passes_and_loads(folder):
    assert validate_folder(folder) == []
    data = load_scene(scene(folder))
    assert data.audio.shape == (60 * 1600, 2) and data.audio.dtype == np.float32
    assert data.pose.shape == (60, 104) and data.face.shape == (60, 256) and data.pose.dtype == np.float32
    assert data.face_valid.dtype == bool and (~data.face_valid).sum() == 3
    assert np.array_equal(np.flatnonzero(~data.face_valid), np.sort(np.load(scene(folder).missing)))


def test_missing_file_of_a_scene(folder):
    scene(folder).audio.unlink()
    problem = only_error(folder)
    assert problem.path == scene(folder).audio
    assert str(scene(folder).audio) in problem.message and "file not found, but scene03_" in problem.message


def test_wrong_sample_rate_says_the_rate_and_how_to_resample(folder):
    write_wav(scene(folder).audio, np.zeros((60 * 1470, 2)), rate=44100)
    problem = only_error(folder)
    assert str(scene(folder).audio) in problem.message
    assert "44100 Hz" in problem.message and "-ar 48000" in problem.message


def test_mono_audio(folder):
    write_wav(scene(folder).audio, np.zeros((60 * 1600, 1)))
    problem = only_error(folder)
    assert str(scene(folder).audio) in problem.message and "mono" in problem.message and "2 channels" in problem.message


def test_audio_length_gives_both_numbers(folder):
    write_wav(scene(folder).audio, np.zeros((60 * 1600 + 7, 2)))
    problem = only_error(folder)
    assert str(scene(folder).audio) in problem.message and "96007 samples" in problem.message
    assert "1600 x 60 frames = 96000" in problem.message


def test_nan_names_the_first_bad_frame_and_dim(folder):
    pose = np.load(scene(folder).pose)
    pose[17, 5] = np.nan
    pose[40, 0] = np.inf
    np.save(scene(folder).pose, pose)
    problem = only_error(folder)
    assert str(scene(folder).pose) in problem.message and "frame 17, dim 5" in problem.message


def test_wrong_dimensions(folder):
    np.save(scene(folder).face, np.zeros((60, 255), np.float32))
    problem = only_error(folder)
    assert str(scene(folder).face) in problem.message and "(60, 255)" in problem.message
    assert "(T, 256)" in problem.message


def test_missing_frames_must_be_1d_int(folder):
    np.save(scene(folder).missing, np.array([[1.0, 2.0]]))
    problem = only_error(folder)
    assert str(scene(folder).missing) in problem.message and "1-D integer array" in problem.message


def test_pose_and_face_frame_counts_must_agree(folder):
    np.save(scene(folder).face, np.zeros((59, 256), np.float32))
    problem = only_error(folder)
    assert str(scene(folder).face) in problem.message and "59 frames of face codes but 60 frames of pose" in problem.message


def test_out_of_range_missing_frame_indices(folder):
    np.save(scene(folder).missing, np.array([3, 60, 75]))
    problem = only_error(folder)
    assert str(scene(folder).missing) in problem.message and "index 60 is out of range [0, 60)" in problem.message


def test_empty_folder(tmp_path):
    problems = validate_folder(tmp_path)
    messages = [p.message for p in problems]
    assert any(m.startswith(f"{tmp_path}: no scenes found") for m in messages)
    assert any(m.startswith(f"{tmp_path / STATS_FILE}: file not found") for m in messages)


def test_missing_stats_file(folder):
    (folder / STATS_FILE).unlink()
    problem = only_error(folder)
    assert problem.message.startswith(f"{folder / STATS_FILE}: file not found")
    assert "python -m data_loaders.stats" in problem.message


def test_too_few_scenes_is_a_warning(tmp_path):
    folder = make_person_folder(tmp_path / "P1", num_scenes=5, frames=30)
    problems = validate_folder(folder)
    assert len(problems) == 1 and problems[0].warning and "5 scenes; the split needs at least 7" in problems[0].message


def test_load_scene_raises_the_validator_messages(folder):
    np.save(scene(folder).missing, np.array([99]))
    write_wav(scene(folder).audio, np.zeros((100, 1)))
    expected = [p.message for p in validate_folder(folder)]
    assert len(expected) == 3  # out-of-range index, mono, length
    with pytest.raises(FormatError) as err:
        load_scene(scene(folder))
    assert str(err.value).split("\n") == expected


def test_cli_prints_every_fault_and_exits_1(folder, capsys):
    scene(folder, 2).face.unlink()
    pose = np.load(scene(folder, 6).pose)
    pose[12, 3] = np.nan
    np.save(scene(folder, 6).pose, pose)
    assert validate.main([str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"error: {scene(folder, 2).face}: file not found" in out
    assert f"error: {scene(folder, 6).pose}: pose holds nan at frame 12, dim 3" in out
    assert "OK     scene01: 60 frames, 2.0 s, 3 missing face frames" in out and "FAULTY scene06" in out
    assert "2 errors, 0 warnings" in out


def test_cli_exits_0_on_a_good_folder(folder, capsys):
    assert validate.main([str(folder)]) == 0
    assert "480 good frames (16.0 s); 0 errors" in capsys.readouterr().out


@pytest.mark.parametrize("person, wrapped", [("PXB184", True), ("RLW104", True), ("GQS883", False)])
def test_pose_dim_3_of_two_captured_persons_is_read_mod_2pi_like_the_original(folder, tmp_path, person, wrapped):
    person_folder = shutil.copytree(folder, tmp_path / person)
    path = scene(person_folder).pose
    pose = np.load(path)
    pose[:, 3] = np.linspace(-7.0, 7.0, len(pose), dtype=np.float32)
    np.save(path, pose)
    loaded = load_scene(scene(person_folder)).pose
    assert loaded.dtype == np.float32 and path.name.endswith(POSE_SUFFIX)
    np.testing.assert_array_equal(np.delete(loaded, 3, axis=1), np.delete(pose, 3, axis=1))
    if wrapped:
        assert loaded[:, 3].min() >= 0 and loaded[:, 3].max() < 2 * np.pi
        np.testing.assert_allclose(np.cos(loaded[:, 3]), np.cos(pose[:, 3]), atol=1e-5)  # the same angles
    else:
        np.testing.assert_array_equal(loaded[:, 3], pose[:, 3])


def only_warning(folder):
    problems = validate_folder(folder)
    assert len(problems) == 1 and problems[0].warning, [str(p) for p in problems]
    return problems[0]


def test_a_scene_of_0_frames_is_a_warning_and_skipped(folder):
    write_scene(folder, "scene02", np.zeros((0, 2)), np.zeros((0, 104)), np.zeros((0, 256)), np.zeros(0))
    warning = only_warning(folder)
    assert warning.path == scene(folder, 2).pose and "0 frames" in warning.message and "skipped" in warning.message
    assert "scene02" not in [s.name for s in SocialDataset(folder, "train", "pose", 30, 30).scenes]


def test_a_scene_whose_face_frames_are_all_missing_is_skipped_like_the_original(folder):
    np.save(scene(folder, 2).missing, np.arange(60))
    warning = only_warning(folder)
    assert warning.path == scene(folder, 2).missing and "every one of the scene's 60 face frames" in warning.message
    for data_format in ("face", "pose"):  # the original skips it for both models
        assert "scene02" not in [s.name for s in SocialDataset(folder, "train", data_format, 30, 30).scenes]
    without = compute_stats(folder, [s for s in list_scenes(folder)[:2] if s.name != "scene02"])
    assert np.array_equal(compute_stats(folder, list_scenes(folder)[:2])["pose_mean"], without["pose_mean"])


def test_absurd_pose_values_are_an_error(folder):
    pose = np.load(scene(folder, 1).pose)  # a train scene
    pose[7, 12] = 1e30
    np.save(scene(folder, 1).pose, pose)
    problem = only_error(folder)
    assert problem.path == scene(folder, 1).pose and "1e+30 at frame 7, dim 12" in problem.message
    with pytest.raises(FormatError, match="1e\\+30 at frame 7"):
        compute_stats(folder)  # no std of 4.7e28 from it


def test_absurd_face_codes_count_only_on_frames_that_are_present(folder):
    missing = int(np.load(scene(folder).missing)[0])
    face = np.load(scene(folder).face)
    face[missing] = 1e9  # a corrupt code of a frame listed as missing: ignored, like the frame
    np.save(scene(folder).face, face)
    assert validate_folder(folder) == []
    face[(missing + 1) % 60] = 1e9
    np.save(scene(folder).face, face)
    assert "face codes holds 1e+09" in only_error(folder).message


def test_stats_of_another_pose_size_are_one_error_blaming_the_stats_file(folder):
    stats = load_stats(folder)
    torch.save({**stats, "pose_mean": stats["pose_mean"][:100], "pose_std": stats["pose_std"][:100]},
               folder / STATS_FILE)
    problem = only_error(folder)
    assert problem.path == folder / STATS_FILE
    assert "pose statistics of 100 dims, but the scenes' pose files have 104" in problem.message
    assert f"python -m data_loaders.stats {folder} --force" in problem.message
    with pytest.raises(FormatError, match=rf"{folder / STATS_FILE}: holds pose statistics of 100 dims"):
        SocialDataset(folder, "train", "pose", 30, 30)


def test_float_audio_far_above_1_is_an_error_naming_the_file(folder):
    audio = load_scene(scene(folder)).audio * 100
    sf.write(scene(folder).audio, audio, 48_000, subtype="FLOAT")
    problem = only_error(folder)
    assert problem.path == scene(folder).audio and "peaks at" in problem.message and "far above" in problem.message


def with_npy_shape(path, shape) -> None:
    """Rewrite the header of the .npy at `path` to declare `shape` (the data stays as it is)."""
    data = path.read_bytes()
    length = int.from_bytes(data[8:10], "little")
    header = data[10:10 + length].decode("latin1")
    old = header[header.index("'shape': ") + 9:header.index("), ") + 1]
    crafted = header.replace(old, str(shape)).rstrip(" \n")
    path.write_bytes(data[:10] + (crafted + " " * (length - len(crafted) - 1) + "\n").encode("latin1")
                     + data[10 + length:])


def test_a_scene_npy_whose_header_declares_terabytes_is_one_fault_in_little_memory(folder):
    """A face file declaring (10^12, 256) float32 (931 TiB) made the validator die with a MemoryError."""
    face = scene(folder, 4).face
    with_npy_shape(face, (10 ** 12, 256))
    tracemalloc.start()
    problem = only_error(folder)
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    assert problem.path == face and peak < 300
    assert "its header declares a (1000000000000, 256) float32 array (1,024,000,000,000,000 bytes) but the file " \
           "holds 61,440 bytes of data (truncated or crafted)" in problem.message
    with pytest.raises(FormatError, match="its header declares a"):
        load_scene(scene(folder, 4))
