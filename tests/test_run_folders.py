"""A training folder of one kind passed where another is expected is refused, with one line naming the folder
and what it holds, before anything is written: a trainer pointed at another model's save_dir leaves it as it
was, and --lip_model_path / --resume_pth / --guide_vq_path / --resume_trans / --model_path of the wrong kind
name the folder instead of failing inside load_state_dict. Checkpoints holding NaN weights are refused at
load, naming the file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sample import generate
from tests.data_fixtures import make_person_folder
from train import train_diffusion, train_guide, train_lip, train_vq
from train.checkpoint import latest_checkpoint
from train.train_lip import load_lip_regressor

TRAIN = ["--device", "cpu", "--num_workers", "0", "--num_steps", "2", "--batch_size", "2", "--warm_up_iter", "1",
         "--log_interval", "1", "--eval_interval", "0", "--save_interval", "100"]
AUDIO = ["--n_mels", "16", "--audio_hidden", "16", "--audio_channel_dim", "8"]
WINDOW = ["--max_seq_length", "60"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny 2-step runs of a lip regressor and a VQ-VAE, and the person folder they trained on."""
    base = tmp_path_factory.mktemp("runs")
    person = make_person_folder(base / "P0", frames=90)
    common = TRAIN + ["--data_root", str(person)]
    train_lip.main(common + AUDIO + WINDOW + ["--min_seq_length", "30", "--lip_latent_dim", "16", "--lip_heads", "2",
                                              "--lip_encoder_layers", "1", "--lip_decoder_layers", "1",
                                              "--lip_ff_size", "32", "--save_dir", str(base / "lip")])
    train_vq.main(common + WINDOW + ["--codebook_size", "8", "--depth", "2", "--emb_width", "8", "--kmeans_iters",
                                     "1", "--save_dir", str(base / "vq")])
    return {"person": person, "lip": base / "lip", "vq": base / "vq"}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_trainer_pointed_at_another_kind_of_run_leaves_it_untouched(runs):
    before = snapshot(runs["lip"])
    with pytest.raises(FileExistsError, match=rf"{runs['lip']}: holds a lip regressor run, and this trainer trains "
                                              r"a VQ-VAE; pass another --save_dir \(nothing was written there\)"):
        train_vq.main(TRAIN + WINDOW + ["--data_root", str(runs["person"]), "--save_dir", str(runs["lip"])])
    assert snapshot(runs["lip"]) == before


@pytest.mark.parametrize("flag, kind, holds", [("--lip_model_path", "vq", "a VQ-VAE run"),
                                               ("--guide_vq_path", "lip", "a lip regressor run")])
def test_diffusion_trainer_paths_of_the_wrong_kind(runs, tmp_path, flag, kind, holds):
    data_format = "face" if flag == "--lip_model_path" else "pose"
    with pytest.raises(ValueError, match=rf"^{runs[kind]}: holds {holds} \(see its args.json\), not a "):
        train_diffusion.main(TRAIN + AUDIO + WINDOW + ["--data_format", data_format, "--data_root",
                                                       str(runs["person"]), flag, str(runs[kind]),
                                                       "--save_dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_guide_trainer_and_samplers_refuse_folders_of_the_wrong_kind(runs, tmp_path):
    with pytest.raises(SystemExit, match=rf"--resume_pth: {runs['lip']}: holds a lip regressor run .*not a VQ-VAE"):
        train_guide.main(TRAIN + AUDIO + WINDOW + ["--data_root", str(runs["person"]), "--resume_pth",
                                                   str(runs["lip"]), "--save_dir", str(tmp_path / "guide")])
    assert not (tmp_path / "guide").exists()
    with pytest.raises(ValueError, match=rf"{runs['vq']}: holds a VQ-VAE run .*not a face diffusion model or a "
                                         r"body diffusion model"):
        generate.main(["--model_path", str(runs["vq"]), "--device", "cpu", "--output_dir", str(tmp_path / "out")])
    with pytest.raises(ValueError, match=rf"{runs['lip']}: holds a lip regressor run .*not a guide transformer"):
        train_guide.load_guide(runs["lip"])  # what --resume_trans loads


def test_nan_weights_are_refused_at_load_naming_the_file(runs, tmp_path):
    model_file = latest_checkpoint(runs["lip"], "model")
    stored = torch.load(model_file)
    name = next(iter(stored["model"]))
    stored["model"][name] = torch.full_like(stored["model"][name], float("nan"))
    broken = tmp_path / "lip"
    broken.mkdir()
    (broken / "args.json").write_bytes((runs["lip"] / "args.json").read_bytes())
    torch.save(stored, broken / model_file.name)
    with pytest.raises(ValueError, match=rf"{broken / model_file.name}: holds NaN or inf weights \({name}"):
        load_lip_regressor(broken)
