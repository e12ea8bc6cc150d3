"""`--arch original`: the original README's training lines train the original's architecture into the original's
files, which a2p's loaders of the original's released models read back strictly; at the golden fixtures'
sizes, 0 steps from the fixtures' weights (--init_from) write files that reproduce the original's golden
outputs (../shared/fixtures/upstream).

The original's assets/ hold the fixtures' fairseq models: vq-wav2vec.pt (a legacy fairseq checkpoint, real
layout) and iter-0200000.pt (the lip regressor fixture with the real-layout wav2vec_large). The golden checks
run the fixture generator's vq-wav2vec stand-in inside a2p's encoder, as tests/test_original_models.py does.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from model import audio_encoder
from model.denoiser import FiLMTransformer
from model.guide import GuideTransformer
from model.original_checkpoint import derived_tensors, original_state, released_configs
from model.original_lip import OriginalLipRegressor
from model.vqvae import ResidualVQVAE
from tests.data_fixtures import make_person_folder
from tests.original_fixtures import (DIFFUSION_ARGS, FIXTURES, GUIDE_ARGS, PERSON, VQ_ARGS, StandInEncoder,
                                     lip_state_real, load_fixture, vq_file, write_run)
from tests.test_original_layout import README_TRAINING, TRAINERS, readme_argv as tiny_readme_argv
from tests.test_original_models import assert_close, check_denoiser_outputs
from train import train_diffusion, train_guide, train_vq
from train.checkpoint import load_checkpoint_file
from train.loop import learning_rate, run_device
from train.original_arch import (OriginalDiffusionFiles, OriginalGuideFiles, OriginalVQFiles, lip_never_run,
                                 original_defaults, vq_wav2vec_settings, vq_wav2vec_tokens)
from train.train_diffusion import load_diffusion_model
from train.train_guide import load_guide
from train.train_vq import load_vq
from utils.config import load_args_json

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"golden fixtures not found at {FIXTURES}")
ORIGINAL_TINY = {"train_diffusion": ["--post_net_width", "16"], "train_vq": [], "train_guide": ["--audio_layers", "0"]}


def write_assets(root: Path) -> Path:
    """root/assets/{vq-wav2vec.pt, iter-0200000.pt} as the original's download script lays them out."""
    (root / "assets").mkdir(parents=True)
    fixture = load_fixture("vq_wav2vec")
    torch.save({"args": argparse.Namespace(**fixture["config"]["fairseq_args"]), "model": fixture["state_dict"]},
               root / "assets" / "vq-wav2vec.pt")
    torch.save({"model_state_dict": lip_state_real()}, root / "assets" / "iter-0200000.pt")
    return root


def readme_argv(line: str, root: Path, person: Path) -> tuple[str, list[str]]:
    """(trainer, argv) of an original README training line as tests/test_original_layout.py runs it (paths under
    root, tiny sizes, two steps), with --arch original, one window of 30 frames per step, the original's guide
    without a2p's audio layers and a small pose post-net."""
    trainer, argv = tiny_readme_argv(line, root, person)
    return trainer, argv + ["--arch", "original", "--batch_size", "1", "--max_seq_length", "30",
                            *ORIGINAL_TINY[trainer]]


def check_written_weights(loaded: torch.nn.Module, save_dir: Path, step: int) -> None:
    """The loaded model's weights are the run's sampling weights of `step` (EMA when on, else the raw ones)."""
    resume = load_checkpoint_file(save_dir / f"opt{step:09d}.pt")
    weights = resume["ema"] if resume["ema"] is not None else resume["model"]
    own = loaded.state_dict()
    for name, value in weights.items():
        torch.testing.assert_close(own[name].float(), value.float(), atol=0, rtol=0)


def test_the_readme_training_lines_with_arch_original_write_the_originals_files(tmp_path, monkeypatch):
    """Each of the original README's training lines with --arch original (and tiny sizes) trains two steps
    and writes the original's files under its names, with the original's args.json keys; a2p's loaders of the
    original's models read them back strictly, holding the trained weights; the never-run fairseq keys are
    there for the original's own strict loading."""
    root = write_assets(tmp_path)
    person = make_person_folder(tmp_path / "dataset" / PERSON, frames=60)
    monkeypatch.chdir(tmp_path / "dataset")  # assets/ is found beside the checkpoints/ tree, not in the cwd
    for line in README_TRAINING:
        trainer, argv = readme_argv(line, root, person)
        TRAINERS[trainer].main(argv)
    runs = root / "checkpoints"
    face = load_diffusion_model(runs / "diffusion" / "c1_face_test")
    assert face.model_file.name == "model000000002.pt" and face.lip is not None
    assert face.model.cfg.rotary == "index" and face.model.cfg.lip_dim == 338 * 3
    pose = load_diffusion_model(runs / "diffusion" / "c1_pose_test")
    assert pose.model.cfg.use_guide and pose.model.cfg.null_keyframes == 1
    vq, _, vq_path = load_vq(runs / "vq" / "c1_vq_test")
    assert vq_path.name == "net_iter2.pth" and vq.cfg.codebook_size == 16
    guide = load_guide(runs / "guide" / "c1_trans_test")
    assert guide.model_file == runs / "guide" / "c1_trans_test" / "checkpoints" / "iter-0000002.pt"
    assert guide.model.cfg.token_table == "shared" and guide.vq.cfg.depth == 2
    for loaded, run in [(face.model, "diffusion/c1_face_test"), (pose.model, "diffusion/c1_pose_test"),
                        (vq, "vq/c1_vq_test"), (guide.model, "guide/c1_trans_test")]:
        check_written_weights(loaded, runs / run, 2)
    face_file = torch.load(face.model_file, weights_only=True)
    assert "audio_model.vector_quantizer.vars" in face_file and "lip_model.project_output.weight" in face_file
    assert torch.equal(face_file["lip_model.project_output.weight"], lip_state_real()["project_output.weight"])
    assert "decoder.project_mean_shape.weight" in torch.load(vq_path, weights_only=True)["net"]
    args = {run: load_args_json(runs / run / "args.json") for run in
            ("diffusion/c1_face_test", "diffusion/c1_pose_test", "vq/c1_vq_test", "guide/c1_trans_test")}
    assert args["diffusion/c1_face_test"]["train_platform_type"] == "NoPlatform"
    assert args["diffusion/c1_pose_test"]["add_frame_cond"] == 1
    assert args["vq/c1_vq_test"]["code_dim"] == 16 and args["vq/c1_vq_test"]["nb_joints"] == 104
    assert args["guide/c1_trans_test"]["resume_pth"] == str(vq_path)
    assert args["guide/c1_trans_test"]["num_audio_layers"] == 2  # the original sampler reads it
    trainer, argv = readme_argv(README_TRAINING[1], root, person)  # the same line again continues the run
    TRAINERS[trainer].main(argv + ["--num_steps", "3"])
    assert load_diffusion_model(runs / "diffusion" / "c1_pose_test").model_file.name == "model000000003.pt"


def test_arch_original_builds_the_released_sizes():
    """Without size flags --arch original is the original's released configuration: the face 8 x 8, d 512 with
    the lip input, the pose 6 x 8, d 256 with guide and post-net, both on vq-wav2vec; learned null sequences
    as long as a window's audio tokens (1998 for 600 frames, the original's 798 for 240)."""
    released = released_configs()
    for data_format in ("face", "pose"):
        _, _, model_cfg, audio_cfg, _ = train_diffusion.parse_args(["--data_format", data_format, "--arch", "original"])
        assert (model_cfg, audio_cfg) == released[data_format]
    assert vq_wav2vec_tokens(600) == 1998 and vq_wav2vec_tokens(240) == 798
    assert original_defaults("guide", 240)["null_audio_tokens"] == 798


def test_a_missing_asset_is_one_line_naming_the_file(tmp_path, monkeypatch):
    person = make_person_folder(tmp_path / "dataset" / PERSON, frames=60)
    monkeypatch.chdir(tmp_path)
    trainer, argv = readme_argv(README_TRAINING[1], tmp_path, person)
    with pytest.raises(FileNotFoundError, match=r"vq-wav2vec.pt.*--wav2vec_path") as refused:
        TRAINERS[trainer].main(argv)
    assert "\n" not in str(refused.value)
    write_assets(tmp_path)
    (tmp_path / "assets" / "iter-0200000.pt").unlink()
    trainer, argv = readme_argv(README_TRAINING[0], tmp_path, person)
    with pytest.raises(FileNotFoundError, match=r"iter-0200000.pt.*--lip_model_path"):
        TRAINERS[trainer].main(argv)


def test_the_files_at_the_released_sizes_hold_every_key_of_the_originals(tmp_path):
    """What --arch original writes at the released sizes has exactly the keys and shapes of the original's own
    state dicts (its loading is strict): the fixtures' full-size listings with the real fairseq models in place
    of the generator's stand-ins, the keys a2p never runs included (copied from the assets files, the VQ's unused
    project_mean_shape as zeros)."""
    listings = json.loads((FIXTURES / "full_size_state_dict_keys.json").read_text())
    fairseq = json.loads((FIXTURES / "wav2vec_full_size_keys.json").read_text())
    real = {"audio_model.": "vq-wav2vec", "lip_model.audio_encoder.wav2vec_model.": "wav2vec_large"}
    assets = write_assets(tmp_path) / "assets"
    _, never_run = vq_wav2vec_settings(assets / "vq-wav2vec.pt")
    released = released_configs()
    with torch.device("meta"):
        face, pose = FiLMTransformer(*released["face"]), FiLMTransformer(*released["pose"])
        guide, vq, lip = GuideTransformer(*released["guide"]), ResidualVQVAE(released["vq"]), OriginalLipRegressor()
    face_files = OriginalDiffusionFiles(face, lip, {**never_run, **lip_never_run(assets / "iter-0200000.pt")})
    written = {"face_denoiser": face_files.contents(face.state_dict(), 0),
               "pose_denoiser": OriginalDiffusionFiles(pose, None, never_run).contents(pose.state_dict(), 0),
               "guide_transformer": OriginalGuideFiles(guide, never_run).contents(guide.state_dict(), 0)[
                   "model_state_dict"],
               "vqvae": OriginalVQFiles(vq).contents(vq.state_dict(), 0)["net"]}
    for name, contents in written.items():
        listing = listings[name]
        expected = {k: v for k, v in listing["keys"].items() if k not in listing.get("stub_keys", [])}
        for prefix, model in real.items():
            if any(k.startswith(prefix) for k in listing.get("stub_keys", [])):
                expected.update({prefix + k: v for k, v in fairseq[model]["keys"].items()})
        assert {k: list(v.shape) for k, v in contents.items()} == expected, name


@pytest.fixture
def stand_in(monkeypatch):
    """a2p's vq-wav2vec front end replaced by the fixture generator's stand-in of `width` features."""
    def register(width: int) -> None:
        monkeypatch.setitem(audio_encoder.AUDIO_ENCODERS, "vq_wav2vec",
                            lambda cfg, channels: StandInEncoder(channels, width))
    return register


def init_runs(root: Path, person: Path) -> dict[str, Path]:
    """The fixtures' weights as the original's runs of `person` (stand-in keys for the vq-wav2vec front end)."""
    runs = root / "init" / "checkpoints"
    face = write_run(runs / "diffusion" / "face", {**DIFFUSION_ARGS, "data_format": "face", "heads": 8, "layers": 2,
                                                   "data_root": str(person)})
    torch.save({**load_fixture("face_denoiser")["state_dict"],
                **{"lip_model." + k: v for k, v in lip_state_real().items()}}, face / "model000000010.pt")
    pose = write_run(runs / "diffusion" / "pose", {**DIFFUSION_ARGS, "data_format": "pose", "heads": 8, "layers": 2,
                                                   "add_frame_cond": 1.0, "data_root": str(person)})
    torch.save(load_fixture("pose_denoiser")["state_dict"], pose / "model000000010.pt")
    vq = write_run(runs / "vq" / "c1_pose", {**VQ_ARGS, "out_dir": "checkpoints/vq/c1_pose"})
    vq_file(vq / "net_iter300000.pth")
    guide = write_run(runs / "guide" / "c1_pose", {**GUIDE_ARGS, "out_dir": "checkpoints/guide/c1_pose",
                                                   "resume_pth": str(vq / "net_iter300000.pth")})
    (guide / "checkpoints").mkdir()
    torch.save({"iteration": 10, "model_state_dict": load_fixture("guide_transformer")["state_dict"]},
               guide / "checkpoints" / "iter-0000010.pt")
    return {"face": face, "pose": pose, "vq": vq / "net_iter300000.pth", "guide": guide}


ZERO_STEPS = ["--num_steps", "0", "--num_workers", "0", "--device", "cpu", "--max_seq_length", "600",
              "--arch", "original"]


@pytest.mark.parametrize("kind", ["face", "pose", "guide", "vq"])
def test_zero_steps_from_the_fixture_weights_reproduce_the_golden_outputs(kind, tmp_path, stand_in):
    """--num_steps 0 --init_from <the fixture's weights> at the fixture's sizes writes the step-0 files; a2p's
    loader of the original's models reads them strictly and reproduces the fixture's golden outputs (the face
    from the fixture's lip vertices, its lip regressor's weights those of assets/iter-0200000.pt)."""
    write_assets(tmp_path)
    stand_in(128 if kind == "guide" else 512)
    person = make_person_folder(tmp_path / "dataset" / PERSON, frames=90)
    runs = init_runs(tmp_path, person)
    save_dir = tmp_path / "checkpoints" / kind
    common = ["--data_root", str(person), "--save_dir", str(save_dir), "--init_from", str(runs[kind]), *ZERO_STEPS]
    with torch.no_grad():
        if kind in ("face", "pose"):
            sizes = {"face": ["--latent_dim", "128"], "pose": ["--latent_dim", "64"]}[kind]
            train_diffusion.main([*common, "--data_format", kind, "--layers", "2", "--heads", "8", *sizes])
            loaded = load_diffusion_model(save_dir)
            check_denoiser_golden(kind, loaded)
        elif kind == "guide":
            train_guide.main([*common, "--resume_pth", str(runs["vq"]), "--layers", "2"])
            check_guide_golden(load_guide(save_dir / "checkpoints" / "iter-0000000.pt").model)
        else:
            train_vq.main(common)
            vq, _, path = load_vq(save_dir)
            assert path.name == "net_iter0.pth"
            fixture = load_fixture("vqvae")
            assert torch.equal(vq.encode(fixture["inputs"]["verts"]), fixture["outputs"]["encode"])
            assert_close(vq.decode(fixture["inputs"]["codes"]), fixture["outputs"]["decode"])


def check_denoiser_golden(kind: str, loaded) -> None:
    """The fixture's cond / uncond / cfg outputs of a loaded face or pose model."""
    fixture = load_fixture(f"{kind}_denoiser")
    y = fixture["inputs"]["y"]
    assert loaded.model_file.name == "model000000000.pt"
    if kind == "face":
        lip, derived = original_state(loaded.lip, "lip"), derived_tensors(loaded.lip, "lip")
        assert all(torch.equal(lip[k].float(), v.float()) for k, v in lip_state_real().items()
                   if k in lip and k not in derived)
        cond = loaded.model.encode_condition(y["audio"], fixture["intermediates"]["lip_vertices"].flatten(-2))
    else:
        cond = loaded.model.encode_condition(y["audio"], keyframes=y["keyframes"].clone(), mask=y["mask"][:, 0, 0])
    check_denoiser_outputs(loaded.model, fixture, cond, {})


def check_guide_golden(model) -> None:
    """The fixture's conditional and unconditional logits of a loaded guide."""
    fixture = load_fixture("guide_transformer")
    targets, cond = fixture["inputs"]["targets"], model.encode_audio(fixture["inputs"]["condition"])
    assert_close(model(targets, cond), fixture["outputs"]["cond"])
    assert_close(model(targets, model.null_condition(cond)), fixture["outputs"]["uncond"])


def test_the_originals_training_flags_keep_their_meaning():
    """--cuda / --no-cuda (the CPU when --device is auto), --device N (the original's GPU id), and the
    original's MultiStepLR --lr-scheduler milestones with --gamma, taken by every trainer's TrainConfig."""
    def parse(*flags: str):
        return train_diffusion.parse_args(list(flags))[0]
    assert run_device(parse("--no-cuda")) == "cpu" and run_device(parse("--cuda")) == "auto"
    assert run_device(parse("--no-cuda", "--device", "cpu")) == "cpu"
    if torch.cuda.is_available():
        assert parse("--device", "0").device == "cuda:0"
    else:
        with pytest.raises(SystemExit, match="--device: cuda:0: CUDA is not available"):
            parse("--device", "0")
    cfg = parse("--lr", "2e-4", "--warm_up_iter", "0", "--lr-scheduler", "50000", "400000", "--gamma", "0.1")
    rates = [learning_rate(cfg, step) for step in (0, 49_999, 50_000, 399_999, 400_000)]
    assert rates == pytest.approx([2e-4, 2e-4, 2e-5, 2e-5, 2e-6])
    assert learning_rate(parse("--lr", "2e-4", "--warm_up_iter", "0"), 400_000) == 2e-4  # no milestones: a2p's
