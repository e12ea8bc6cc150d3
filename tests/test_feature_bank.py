"""The training feature bank (data_loaders/feature_bank.py) and fine-tuning with --init_from (train/loop.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from data_loaders.dataset import SocialDataset, collate
from data_loaders.feature_bank import FeatureBankConfig, attach_feature_bank
from data_loaders.lip_bank import attach_lip_bank
from data_loaders.sampler import StepSeedSampler
from model.audio_encoder import AudioEncoderConfig, MelConvEncoder
from tests.data_fixtures import make_person_folder
from train import train_lip
from train.train_lip import lip_loss, load_lip_regressor

AUDIO = AudioEncoderConfig(n_mels=32, audio_hidden=32, audio_channel_dim=32)
TINY_LIP = ["--lip_latent_dim", "32", "--lip_heads", "2", "--lip_encoder_layers", "1", "--lip_decoder_layers", "1",
            "--lip_ff_size", "64", "--lip_dropout", "0", "--n_mels", "32", "--audio_hidden", "32",
            "--audio_channel_dim", "32", "--batch_size", "4", "--max_seq_length", "60", "--min_seq_length", "40",
            "--num_workers", "0", "--warm_up_iter", "1", "--log_interval", "5", "--eval_interval", "0",
            "--ema_decay", "0", "--no-augment"]


@pytest.fixture
def person(tmp_path) -> Path:
    return make_person_folder(tmp_path / "P0", frames=150)


def dataset(person: Path, augment: bool = False) -> SocialDataset:
    return SocialDataset(person, "train", "face", max_seq_length=60, min_seq_length=40, augment=augment)


def test_bank_and_on_the_fly_see_the_same_clean_windows(person, tmp_path):
    on_the_fly, banked = dataset(person), dataset(person)
    bank = attach_feature_bank(banked, FeatureBankConfig(feature_bank=str(tmp_path / "bank")), AUDIO)
    assert bank.variants == 1  # no --augment: the recording alone
    encoder = MelConvEncoder(AUDIO)
    for seed in range(6):
        a, b = on_the_fly[seed], banked[seed]
        assert torch.equal(a["motion"], b["motion"]) and torch.equal(a["valid"], b["valid"])
        frames = int(a["lengths"]) * 4
        computed = encoder._log_mel(a["audio"][None])[0]
        difference = (computed - b["audio"].float()).abs()
        assert difference[:, 1:frames - 1].max() < 5e-3  # float16 rounding; the edge frames see their neighbours
        assert difference[:, frames + 1:].max() < 5e-3  # padding: the log floor, as zeros give
        with torch.no_grad():  # the front end sees the same window either way
            features = encoder(a["audio"][None]), encoder(b["audio"][None])
        assert (features[0] - features[1])[:, 2:int(a["lengths"]) - 2].abs().max() < 0.05


def test_augmented_variants_differ_and_are_drawn_by_the_item_seed(person, tmp_path):
    banked = dataset(person, augment=True)
    bank = attach_feature_bank(banked, FeatureBankConfig(feature_bank=str(tmp_path / "bank"), bank_variants=4), AUDIO)
    assert bank.variants == 4
    scene = bank.scenes[0]
    assert all((scene[v].astype("float32") - scene[0].astype("float32")).std() > 0.05 for v in range(1, 4))
    names = [scene.name for scene in banked.scenes]

    def variant(seed: int) -> int:
        item = banked[seed]
        windows = [bank.window(names.index(item["scene"]), v, item["start"], int(item["lengths"]), 60)
                   for v in range(4)]
        return next(v for v, window in enumerate(windows) if torch.equal(item["audio"], torch.from_numpy(window)))

    assert [variant(seed) for seed in range(3)] == [variant(seed) for seed in range(3)]
    assert len({variant(seed) for seed in range(16)}) >= 3


def test_changed_data_or_front_end_makes_a_new_bank(person, tmp_path):
    config = FeatureBankConfig(feature_bank=str(tmp_path / "bank"))
    first = attach_feature_bank(dataset(person), config, AUDIO).folder
    assert attach_feature_bank(dataset(person), config, AUDIO).folder == first  # reused as it is
    other_mels = attach_feature_bank(dataset(person), config, AudioEncoderConfig(n_mels=24)).folder
    audio = person / "scene01_audio.wav"
    os.utime(audio, ns=(audio.stat().st_atime_ns, audio.stat().st_mtime_ns + 10 ** 9))
    rewritten = attach_feature_bank(dataset(person), config, AUDIO).folder
    assert len({first, other_mels, rewritten}) == 3
    assert all((folder / "bank.json").is_file() for folder in (first, other_mels, rewritten))


def test_vq_wav2vec_models_read_the_waveform(person, tmp_path, capsys):
    assert attach_feature_bank(dataset(person), FeatureBankConfig(feature_bank=str(tmp_path / "bank")),
                               AudioEncoderConfig(audio_encoder="vq_wav2vec")) is None
    assert "reads the waveform" in capsys.readouterr().out


def first_batch(person: Path, seed: int, batch_size: int, bank: Path) -> dict:
    """The batch of step 0 of a run with this seed (data_loaders/sampler.py), from the same bank."""
    data = dataset(person)
    attach_feature_bank(data, FeatureBankConfig(feature_bank=str(bank)), AUDIO)
    seeds = next(iter(StepSeedSampler(seed, batch_size, num_steps=1)))
    return collate([data[s] for s in seeds])


def test_init_from_starts_from_the_given_weights_and_refuses_another_architecture(person, tmp_path):
    bank = ["--feature_bank", str(tmp_path / "bank")]
    common = ["--data_root", str(person), *TINY_LIP, *bank]
    train_lip.main([*common, "--save_dir", str(tmp_path / "base"), "--num_steps", "20", "--lr", "3e-3"])
    summary = train_lip.main([*common, "--save_dir", str(tmp_path / "tuned"), "--num_steps", "5", "--lr", "1e-3",
                              "--seed", "3", "--init_from", str(tmp_path / "base")])
    loaded = load_lip_regressor(tmp_path / "base")
    batch = first_batch(person, 3, 4, tmp_path / "bank")
    expected, _ = lip_loss(dataset(person).normalizer)(loaded, batch)
    assert summary["losses"][0] == pytest.approx(float(expected), rel=1e-4)
    scratch = train_lip.main([*common, "--save_dir", str(tmp_path / "scratch"), "--num_steps", "5", "--seed", "3"])
    assert scratch["losses"][0] > summary["losses"][0] + 0.1
    with pytest.raises(ValueError, match=r"--init_from .*base: its weights do not fit this run's LipRegressor"):
        train_lip.main([*common, "--lip_latent_dim", "48", "--save_dir", str(tmp_path / "wide"), "--num_steps", "5",
                        "--init_from", str(tmp_path / "base")])
    assert not (tmp_path / "wide" / "args.json").exists()  # refused before anything was written


def tiny_lip_file(person: Path, tmp_path: Path, name: str, seed: int) -> Path:
    """A tiny lip regressor trained for a few steps on the person (its model file)."""
    train_lip.main(["--data_root", str(person), *TINY_LIP, "--feature_bank", str(tmp_path / "bank"),
                    "--save_dir", str(tmp_path / name), "--num_steps", "3", "--seed", str(seed)])
    return next((tmp_path / name).glob("model*.pt"))


def test_lip_bank_holds_the_regressors_vertices_of_each_items_variant(person, tmp_path):
    lip_file = tiny_lip_file(person, tmp_path, "lip", seed=0)
    lip = load_lip_regressor(lip_file)
    banked = dataset(person, augment=True)
    bank = attach_feature_bank(banked, FeatureBankConfig(feature_bank=str(tmp_path / "bank"), bank_variants=3), AUDIO)
    lips = attach_lip_bank(banked, bank, lip, lip_file, window=60)
    with torch.no_grad():  # the first tile of every variant: the regressor on that tile's log-mel
        for variant in range(3):
            mel = torch.from_numpy(bank.scenes[0][variant, :, :240].astype("float32"))[None]
            expected = lip.normalise(lip(mel))[0]
            torch.testing.assert_close(torch.from_numpy(lips.window(0, variant, 0, 60, 60)), expected,
                                       atol=2e-3, rtol=2e-3)
    names = [scene.name for scene in banked.scenes]
    for seed in range(8):  # an item's vertices belong to the variant its audio came from
        item = banked[seed]
        scene, start, length = names.index(item["scene"]), item["start"], int(item["lengths"])
        variant = next(v for v in range(3)
                       if torch.equal(item["audio"], torch.from_numpy(bank.window(scene, v, start, length, 60))))
        assert torch.equal(item["lips"], torch.from_numpy(lips.window(scene, variant, start, length, 60)))
        assert not item["lips"][length:].any()


def test_another_regressor_or_window_makes_a_new_lip_bank(person, tmp_path, capsys):
    first, second = tiny_lip_file(person, tmp_path, "a", seed=0), tiny_lip_file(person, tmp_path, "b", seed=1)
    data = dataset(person)
    bank = attach_feature_bank(data, FeatureBankConfig(feature_bank=str(tmp_path / "bank")), AUDIO)
    folders = [attach_lip_bank(data, bank, load_lip_regressor(file), file, window).folder
               for file, window in ((first, 60), (first, 60), (second, 60), (first, 45))]
    assert folders[0] == folders[1] and len(set(folders)) == 3
    other_front_end = attach_feature_bank(dataset(person), FeatureBankConfig(feature_bank=str(tmp_path / "bank")),
                                          AudioEncoderConfig(n_mels=24))
    assert attach_lip_bank(data, other_front_end, load_lip_regressor(first), first, 60) is None
    assert "are not the bank's" in capsys.readouterr().out
