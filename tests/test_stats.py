"""data_stats.pth: computed over the train scenes (missing face frames excluded), saved and loaded exactly,
bad files named in the error; the Normalizer inverts itself on numpy and torch."""
import numpy as np
import pytest
import soundfile as sf
import torch

from data_loaders import stats as stats_module
from data_loaders.format import STATS_FILE, FormatError, list_scenes
from data_loaders.stats import STATS_SHAPES, STD_FLOOR, Normalizer, compute_stats, load_stats, save_stats
from tests.data_fixtures import make_person_folder

EXPECTED = {"pose_mean": ((104,), np.float64), "pose_std": ((104,), np.float64),
            "code_mean": ((256,), np.float64), "code_std": ((256,), np.float64),
            "audio_mean": ((2,), np.float32), "audio_std": ((2,), np.float32), "audio_std_flat": ((1,), np.float32),
            "pose_std_flat": ((1,), np.float64), "code_std_flat": ((1,), np.float64)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_person_folder(tmp_path_factory.mktemp("stats") / "P0", frames=[90, 120, 60, 90, 90, 90, 90, 90])


def test_keys_shapes_and_dtypes_are_the_originals(folder):
    stats = compute_stats(folder)
    assert set(stats) == set(EXPECTED) == set(STATS_SHAPES)
    for key, (shape, dtype) in EXPECTED.items():
        assert stats[key].shape == shape and stats[key].dtype == dtype, key


def test_values_equal_numpy_over_train_scenes_without_missing_faces(folder):
    train = list_scenes(folder)[:2]  # 8 scenes: 2 train, 2 val, 4 test
    pose = np.concatenate([np.load(s.pose).astype(np.float64) for s in train])
    face = np.concatenate([np.delete(np.load(s.face).astype(np.float64), np.load(s.missing), axis=0) for s in train])
    audio = np.concatenate([sf.read(s.audio, dtype="float32")[0].astype(np.float64) for s in train])
    stats = compute_stats(folder)
    np.testing.assert_allclose(stats["pose_mean"], pose.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats["pose_std"], pose.std(0), rtol=1e-10)
    np.testing.assert_allclose(stats["code_mean"], face.mean(0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(stats["code_std"], face.std(0), rtol=1e-10)
    np.testing.assert_allclose(stats["pose_std_flat"], [pose.std()], rtol=1e-10)
    np.testing.assert_allclose(stats["code_std_flat"], [face.std()], rtol=1e-10)
    np.testing.assert_allclose(stats["audio_mean"], audio.mean(0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(stats["audio_std"], audio.std(0), rtol=1e-5)
    np.testing.assert_allclose(stats["audio_std_flat"], [audio.std()], rtol=1e-5)


def test_constant_dimension_gets_the_std_floor(tmp_path):
    folder = make_person_folder(tmp_path / "P1", num_scenes=7, frames=40, stats=False)
    for scene in list_scenes(folder):
        pose = np.load(scene.pose)
        pose[:, 7] = 1.25
        np.save(scene.pose, pose)
    stats = compute_stats(folder)
    assert stats["pose_std"][7] == STD_FLOOR and stats["pose_std"][6] > 0.05
    assert np.all(Normalizer(stats).normalize(pose, "pose")[:, 7] == 0.0)


def test_save_load_round_trip_is_exact(folder, tmp_path):
    stats = compute_stats(folder)
    save_stats(tmp_path, stats)
    loaded = load_stats(tmp_path)
    assert set(loaded) == set(stats)
    for key in stats:
        assert loaded[key].dtype == stats[key].dtype and np.array_equal(loaded[key], stats[key]), key
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupted_stats_file_gets_an_error_naming_it_and_the_fix(tmp_path):
    (tmp_path / STATS_FILE).write_bytes(b"\x80\x04 this is not a torch file")
    with pytest.raises(FormatError, match=rf"{tmp_path / STATS_FILE}.*python -m data_loaders.stats"):
        load_stats(tmp_path)


def test_stats_with_a_missing_key_or_wrong_shape_are_rejected(folder, tmp_path):
    stats = compute_stats(folder)
    del stats["code_std"]
    stats["pose_mean"] = stats["pose_mean"][:100]
    torch.save(stats, tmp_path / STATS_FILE)
    with pytest.raises(FormatError) as err:
        load_stats(tmp_path)
    assert "'code_std' is missing" in str(err.value) and "'pose_std' has 104 entries but 'pose_mean' has 100" in str(err.value)
    assert str(tmp_path / STATS_FILE) in str(err.value)


def test_missing_stats_file_names_the_command(tmp_path):
    with pytest.raises(FormatError, match=r"data_stats.pth: file not found.*python -m data_loaders.stats"):
        load_stats(tmp_path)


def test_too_few_scenes_for_a_train_split_is_a_clear_error(tmp_path):
    folder = make_person_folder(tmp_path / "P2", num_scenes=6, frames=30, stats=False)
    with pytest.raises(FormatError, match="6 scenes, but the split needs at least 7"):
        compute_stats(folder)


def test_normalizer_inverts_on_numpy_and_torch_and_uses_one_audio_std(folder):
    stats = load_stats(folder)
    normalizer = Normalizer(stats)
    rng = np.random.default_rng(0)
    for kind, dim in (("pose", 104), ("face", 256), ("audio", 2)):
        x = rng.normal(size=(50, dim)).astype(np.float32)
        y = normalizer.normalize(x, kind)
        assert y.dtype == np.float32 and normalizer.dim(kind) == dim
        np.testing.assert_allclose(normalizer.denormalize(y, kind), x, rtol=1e-5, atol=1e-5)
        yt = normalizer.normalize(torch.from_numpy(x), kind)
        assert yt.dtype == torch.float32
        np.testing.assert_allclose(yt.numpy(), y, rtol=1e-5, atol=1e-5)
    audio = rng.normal(size=(10, 2)).astype(np.float32)
    expected = (audio - stats["audio_mean"]) / stats["audio_std_flat"][0]
    np.testing.assert_allclose(normalizer.normalize(audio, "audio"), expected, rtol=1e-6)
    face = rng.normal(size=(3, 256))
    np.testing.assert_allclose(normalizer.normalize(face, "face"), (face - stats["code_mean"]) / stats["code_std"])


def test_cli_writes_stats_and_refuses_to_overwrite_without_force(tmp_path, capsys):
    folder = make_person_folder(tmp_path / "P3", num_scenes=7, frames=30, stats=False)
    stats_module.main([str(folder)])
    assert "wrote" in capsys.readouterr().out
    assert set(load_stats(folder)) == set(EXPECTED)
    with pytest.raises(FileExistsError, match=r"data_stats\.pth: exists; pass --force"):
        stats_module.main([str(folder)])
    stats_module.main([str(folder), "--force"])
