"""SocialDataset: items are normalised slices of the files with the right masks, keyed by their seed; the
split, the test chunks and the edge cases (short scenes, missing faces) follow the documented rules."""
import numpy as np
import pytest
import torch

from data_loaders.dataset import SocialDataset, collate
from data_loaders.format import list_scenes, read_wav
from tests.data_fixtures import make_person_folder

LENGTHS = [200, 150, 90, 100, 130, 120, 50, 70]  # train: scene01-02, val: 03-04, test: 05-08


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_person_folder(tmp_path_factory.mktemp("ds") / "P0", frames=LENGTHS)


def raw(folder, name):
    scene = next(s for s in list_scenes(folder) if s.name == name)
    return {"pose": np.load(scene.pose), "face": np.load(scene.face), "audio": read_wav(scene.audio)[0],
            "missing": np.load(scene.missing)}


def window(ds, key):
    item = ds[key]
    return item["scene"], item["start"], int(item["lengths"])


@pytest.mark.parametrize("data_format", ["face", "pose"])
def test_items_denormalise_to_the_raw_file_slices(folder, data_format):
    ds = SocialDataset(folder, "train", data_format, max_seq_length=60, min_seq_length=30)
    for seed in range(6):
        item = ds[seed]
        files, start, length = raw(folder, item["scene"]), item["start"], int(item["lengths"])
        motion = ds.normalizer.denormalize(item["motion"][:length].numpy().astype(np.float64), data_format)
        expected = files[data_format][start:start + length]
        valid = item["valid"][:length].numpy()
        np.testing.assert_allclose(motion[valid], expected[valid], rtol=1e-5, atol=1e-4)
        audio = ds.normalizer.denormalize(item["audio"][:length * 1600].numpy(), "audio")
        np.testing.assert_allclose(audio, files["audio"][start * 1600:(start + length) * 1600], atol=1e-6)
        assert not item["motion"][length:].any() and not item["audio"][length * 1600:].any()
        assert torch.equal(item["keyframes"], item["motion"][::30])
        if data_format == "face":
            assert not item["motion"][:length][~valid].any()  # missing faces are zeros when normalised


def test_masks_mark_padding_and_missing_face_frames(folder):
    ds = SocialDataset(folder, "test", "face", max_seq_length=240, min_seq_length=30)
    pose_ds = SocialDataset(folder, "test", "pose", max_seq_length=240, min_seq_length=30)
    assert len(ds) == 4  # every test scene is shorter than 240 frames: one whole-scene chunk each
    for i in range(len(ds)):
        item, pose_item = ds[i], pose_ds[i]
        frames = LENGTHS[4 + i]
        missing = raw(folder, item["scene"])["missing"]
        assert item["start"] == 0 and int(item["lengths"]) == frames
        assert torch.equal(item["mask"], torch.arange(240) < frames)
        expected_valid = item["mask"].numpy().copy()
        expected_valid[missing] = False
        assert torch.equal(item["valid"], torch.from_numpy(expected_valid)) and (~expected_valid[:frames]).sum() == 3
        assert torch.equal(pose_item["valid"], pose_item["mask"])


def test_same_seed_same_item_different_seeds_different_windows(folder):
    ds = SocialDataset(folder, "train", "face", max_seq_length=60, min_seq_length=30)
    first, again = ds[1234], ds[1234]
    for key in first:
        assert torch.equal(first[key], again[key]) if isinstance(first[key], torch.Tensor) else first[key] == again[key]
    assert int(first["seed"]) == 1234
    windows = {window(ds, seed) for seed in range(30)}
    assert len(windows) >= 25


def test_lengths_are_uniform_in_min_max_or_fixed(folder):
    ds = SocialDataset(folder, "train", "pose", max_seq_length=60, min_seq_length=30)
    lengths = np.array([window(ds, seed)[2] for seed in range(200)])
    assert lengths.min() >= 30 and lengths.max() < 60 and len(set(lengths)) > 20
    fixed = SocialDataset(folder, "train", "pose", max_seq_length=60, min_seq_length=30, random_lengths=False)
    assert {window(fixed, seed)[2] for seed in range(20)} == {60}


def test_scenes_are_drawn_in_proportion_to_their_length(folder):
    ds = SocialDataset(folder, "train", "pose", max_seq_length=60, min_seq_length=30)
    share = np.mean([window(ds, seed)[0] == "scene01" for seed in range(400)])
    assert len(ds) == 350 and abs(share - 200 / 350) < 0.07
    starts = [window(ds, seed)[1] for seed in range(400)]
    assert min(starts) == 0 and max(starts) > 150


def test_split_follows_sorted_scene_order(folder):
    names = {split: [s.name for s in SocialDataset(folder, split, "pose", max_seq_length=60, min_seq_length=30).scenes]
             for split in ("train", "val", "test")}
    assert names == {"train": ["scene01", "scene02"], "val": ["scene03", "scene04"],
                     "test": ["scene05", "scene06", "scene07", "scene08"]}


def test_test_chunks_keep_every_full_chunk_and_drop_partial_tails(folder):
    ds = SocialDataset(folder, "test", "pose", max_seq_length=60, min_seq_length=30)
    # scene05: 130 frames -> 0, 60 (tail of 10 dropped); scene06: 120 -> 0, 60 (last full chunk kept);
    # scene07: 50 < 60 -> the whole scene; scene08: 70 -> 0
    chunks = [window(ds, i) for i in range(len(ds))]
    assert chunks == [("scene05", 0, 60), ("scene05", 60, 60), ("scene06", 0, 60), ("scene06", 60, 60),
                      ("scene07", 0, 50), ("scene08", 0, 60)]
    assert [int(ds[i]["seed"]) for i in range(len(ds))] == list(range(6))
    val = SocialDataset(folder, "val", "pose", max_seq_length=60, min_seq_length=30, random_windows=True)
    assert len({window(val, seed) for seed in range(10)}) > 5


def test_scene_shorter_than_the_window_is_taken_whole(folder):
    ds = SocialDataset(folder, "train", "face", max_seq_length=300, min_seq_length=250)
    for seed in range(10):
        name, start, length = window(ds, seed)
        assert start == 0 and length == LENGTHS[int(name[-2:]) - 1]
        assert ds[seed]["audio"].shape == (300 * 1600, 2)


def test_all_missing_scene_skipped_and_sparse_faces_still_give_valid_windows(tmp_path):
    folder = make_person_folder(tmp_path / "P1", num_scenes=9, frames=300)
    scenes = list_scenes(folder)
    np.save(scenes[0].missing, np.arange(300))                # no face at all: skipped
    np.save(scenes[1].missing, np.delete(np.arange(300), [250]))  # one face frame left
    np.save(scenes[2].missing, np.delete(np.arange(300), [10]))
    ds = SocialDataset(folder, "train", "face", max_seq_length=60, min_seq_length=30)
    assert [s.name for s in ds.scenes] == ["scene02", "scene03"]
    assert all(ds[seed]["valid"].sum() == 1 for seed in range(30))


def test_collate_gives_the_batch_contract(folder):
    ds = SocialDataset(folder, "train", "face", max_seq_length=60, min_seq_length=30)
    batch = collate([ds[seed] for seed in (5, 6, 7)])
    assert ds.nfeats == 256
    shapes = {key: (tuple(value.shape), value.dtype) for key, value in batch.items() if isinstance(value, torch.Tensor)}
    assert shapes == {"motion": ((3, 60, 256), torch.float32), "mask": ((3, 60), torch.bool),
                      "valid": ((3, 60), torch.bool), "audio": ((3, 96000, 2), torch.float32),
                      "keyframes": ((3, 2, 256), torch.float32), "lengths": ((3,), torch.int64),
                      "seed": ((3,), torch.int64)}
    assert batch["seed"].tolist() == [5, 6, 7] and len(batch["scene"]) == 3 and len(batch["start"]) == 3
    loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=[11, 12], collate_fn=collate)
    assert torch.equal(next(iter(loader))["motion"][1], ds[12]["motion"])
