"""The original's released models as a user has them, and the original's README command lines.

A checkpoint tree in the original's released layout is made from the golden fixtures (tests/
original_fixtures.py: tiny sizes, real-layout fairseq keys, the VQ file with its pickled scheduler object, the
original's real data_stats.pth), and driven through a2p's commands: sample.generate (face, then body with the
guide and its VQ-VAE, in stitched windows, rendered to mp4), sample.evaluate, visualize.export_bvh (which
refuses their body) and the demo's loader. The original README's sampling and --plot lines run word for word.
The training lines of the original's README run for two steps on a tiny person folder.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from data_loaders.dataset import SocialDataset
from data_loaders.format import FACE_DIM, POSE_DIM, STATS_FILE, FormatError
from data_loaders.stats import Normalizer, load_stats
from demo.demo import Demo, DemoConfig, model_folders
from sample import evaluate, generate
from sample.results import load_results
from tests.data_fixtures import make_person_folder
from tests.original_fixtures import FIXTURES, PERSON, STATS, STEP, lip_state_real, load_fixture, make_original_tree
from train import train_diffusion, train_guide, train_vq
from train.original_layout import read_weights
from train.train_diffusion import load_diffusion_model
from train.train_guide import load_guide
from visualize import export_bvh
from visualize.video import probe

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"golden fixtures not found at {FIXTURES}")
FAST = ["--timestep_respacing", "ddim2", "--num_repetitions", "1", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The original's released layout, with a tiny test split for PXB184 (its real stats kept)."""
    root = make_original_tree(tmp_path_factory.mktemp("original"))
    person = root / "dataset" / PERSON
    make_person_folder(person, frames=120, stats=False)
    return root


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    """3 s of two-channel speech-like audio at 44.1 kHz (any rate is read)."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * 44_100) / 44_100
    voice = 0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    audio = np.stack([voice, 0.3 * voice[::-1]], axis=1) + 0.005 * rng.standard_normal((len(t), 2))
    path = tmp_path_factory.mktemp("audio") / "talk.wav"
    sf.write(path, audio.astype(np.float32), 44_100)
    return path


def test_generate_runs_the_original_face_and_body_and_renders_them(tree, talk, tmp_path, capsys):
    """--model_path as the file the original's README passes (face) or its folder (body), --resume_trans as
    the guide's iter file (its args.json names the VQ-VAE); the body in 2 s windows stitched over 3 s."""
    face_file = tree / "checkpoints" / "diffusion" / "c1_face" / f"model{STEP:09d}.pt"
    face_path = generate.main(["--model_path", str(face_file), "--audio", str(talk), "--guidance_param", "10", *FAST])
    guide_file = tree / "checkpoints" / "guide" / "c1_pose" / "checkpoints" / f"iter-{STEP:07d}.pt"
    body_path = generate.main(["--model_path", str(tree / "checkpoints" / "diffusion" / "c1_pose"),
                               "--audio", str(talk), "--resume_trans", str(guide_file), "--max_seq_length", "60",
                               "--guidance_param", "2", "--face_codes", str(face_path), "--plot", "--render_size", "64",
                               *FAST])
    said = capsys.readouterr().out
    assert f"{face_file}: the original's face model (2 layers x 8 heads, d 128" in said
    assert "its own lip regressor" in said and f"stats {tree / 'dataset' / PERSON / STATS_FILE}" in said
    assert f"{guide_file}: the original's guide transformer (2 layers, dim 64) with its VQ-VAE" in said
    face, body = load_results(face_path), load_results(body_path)
    assert face.motions.shape == (1, FACE_DIM, 1, 90) and body.motions.shape == (1, POSE_DIM, 1, 90)
    assert body.keyframes.shape == (1, 3, POSE_DIM) and np.isfinite(body.motions).all()
    assert face_path.parent == face_file.parent / f"samples_c1_face_{STEP:09d}_seed10_talk"
    stats = load_stats(tree / "dataset" / PERSON)  # motion in the person's units: near its mean pose
    assert np.abs(body.motions[0, :, 0].mean(-1) - stats["pose_mean"]).max() < 20 * stats["pose_std"].max()
    video = probe(body_path.parent / "sample00_rep00_pred.mp4")
    assert video["frames"] == 90 and video["has_audio"] and video["audio_duration"] == pytest.approx(3.0, abs=0.05)
    with pytest.raises(ValueError, match="drive its own skeleton"):  # the original's skeleton, not the reference
        export_bvh.main([str(body_path), "--out", str(tmp_path / "motion.bvh"), "--face_codes", str(face_path)])


def test_the_readme_sampling_line_runs_on_the_test_split_and_evaluates(tree):
    """The original's face command line as it is (plus smaller sizes), then sample.evaluate on its output."""
    line = ("--model_path checkpoints/diffusion/c1_face/model{step:09d}.pt --num_samples 10 --num_repetitions 5 "
            "--timestep_respacing ddim500 --guidance_param 10.0").format(step=STEP)
    argv = [arg if not arg.startswith("checkpoints/") else str(tree / arg) for arg in shlex.split(line)]
    path = generate.main(argv + ["--num_samples", "2", "--max_seq_length", "60", *FAST])
    results = load_results(path)
    assert results.motions.shape == (2, FACE_DIM, 1, 60) and results.gt.shape == results.motions.shape
    scores = evaluate.main(["--results", str(path)])
    assert np.isfinite(scores["generated"]["fd_g"]) and scores["generated"]["fd_g"] > 0


README_FACE = ("--model_path checkpoints/diffusion/c1_face/model000155000.pt --num_samples 10 --num_repetitions 5 "
               "--timestep_respacing ddim500 --guidance_param 10.0")
README_BODY = ("--model_path checkpoints/diffusion/c1_pose/model000340000.pt --resume_trans "
               "checkpoints/guide/c1_pose/checkpoints/iter-0100000.pt --num_samples 10 --num_repetitions 5 "
               "--timestep_respacing ddim500 --guidance_param 10.0")
README_PLOT = README_BODY + (" --face_codes ./checkpoints/diffusion/c1_face/samples_c1_face_000155000_seed10_/"
                             "results.npy --pose_codes ./checkpoints/diffusion/c1_pose/samples_c1_pose_000340000_"
                             "seed10_guide_iter-0100000.pt/results.npy --plot")
SMALL = ["--num_samples", "2", "--max_seq_length", "60", "--render_size", "32", *FAST]  # sizes for a test


def test_the_original_readme_lines_run_as_written_and_the_plot_line_finds_their_results(tmp_path, monkeypatch,
                                                                                        capsys):
    """The original README's face, body and --plot lines, word for word, from the root of a tree laid out as
    its download scripts do (the released file names), with a test's smaller sizes appended: the results land
    in the original's folders, the --plot line finds them and writes the mp4; each line runs DDIM and says so."""
    root = make_original_tree(tmp_path)
    make_person_folder(root / "dataset" / PERSON, frames=120, stats=False)
    for run, step in (("c1_face", 155_000), ("c1_pose", 340_000)):
        (root / "checkpoints" / "diffusion" / run / f"model{STEP:09d}.pt").rename(
            root / "checkpoints" / "diffusion" / run / f"model{step:09d}.pt")
    guide = root / "checkpoints" / "guide" / "c1_pose" / "checkpoints"
    (guide / f"iter-{STEP:07d}.pt").rename(guide / "iter-0100000.pt")
    monkeypatch.chdir(root)
    face = generate.main(shlex.split(README_FACE) + SMALL)
    body = generate.main(shlex.split(README_BODY) + SMALL)
    assert face.resolve() == (root / "checkpoints/diffusion/c1_face/samples_c1_face_000155000_seed10_/results.npy")
    assert body.resolve() == (root / "checkpoints/diffusion/c1_pose/samples_c1_pose_000340000_seed10_guide_"
                                     "iter-0100000.pt/results.npy")
    generate.main(shlex.split(README_PLOT) + SMALL)
    said = capsys.readouterr().out
    assert said.count("sampler ddim, ddim2 (the original's sampler") == 3
    video = probe(body.parent / "sample00_rep00_pred.mp4")
    assert video["frames"] == 60 and video["has_audio"]
    assert load_results(body).avatar == "original" and "drive its own skeleton" in said


def test_flip_person_curr_seq_length_and_cuda_are_the_originals(tree, tmp_path, capsys):
    """--flip_person samples the paired identity's test split (RLW104 beside PXB184) with the channels swapped
    and the model's own statistics; --curr_seq_length is the frames per sample; --no-cuda samples on the CPU."""
    paired = tree / "dataset" / "RLW104"
    if not paired.exists():
        make_person_folder(paired, frames=120, seed=5, stats=False)
        shutil.copyfile(STATS / "RLW104_data_stats.pth", paired / STATS_FILE)
    face_file = tree / "checkpoints" / "diffusion" / "c1_face" / f"model{STEP:09d}.pt"
    flags = ["--model_path", str(face_file), "--num_samples", "2", "--curr_seq_length", "60", "--no-cuda",
             "--timestep_respacing", "ddim2", "--num_repetitions", "1", "--no-progress"]
    flipped = load_results(generate.main(flags + ["--flip_person", "--output_dir", str(tmp_path / "flip")]))
    own = load_results(generate.main(flags + ["--output_dir", str(tmp_path / "own")]))
    assert flipped.motions.shape == (2, FACE_DIM, 1, 60)
    assert all(Path(scene).parent == paired.resolve() for scene in flipped.scenes)
    chunks = SocialDataset(paired, "test", "face", max_seq_length=60, min_seq_length=1, random_windows=False)
    first = [i for i in range(len(chunks)) if chunks[i]["scene"] == Path(flipped.scenes[0]).name
             and chunks[i]["start"] == flipped.starts[0]][0]
    raw = chunks.normalizer.denormalize(chunks[first]["audio"], "audio").numpy()
    assert np.allclose(flipped.audio_row(0), raw[:, ::-1], atol=1e-6)  # the paired side's audio, swapped
    gt = chunks.normalizer.denormalize(chunks[first]["motion"], "face").numpy()
    assert np.allclose(flipped.gt[0, :, 0].T, gt, atol=1e-4)  # its ground truth in its own units
    assert not np.allclose(flipped.motions, own.motions)
    with pytest.raises(SystemExit, match="--curr_seq_length 60 and --max_seq_length 90"):
        generate.main(flags + ["--max_seq_length", "90"])


def test_the_lip_regressor_comes_from_the_model_file_or_assets(tree, capsys):
    """A face file without lip_model.* reads assets/iter-0200000.pt beside the checkpoints/ tree (the
    original's hard-coded path), or --lip_model_path; without either the error names the path and the flag."""
    run = tree / "checkpoints" / "diffusion" / "c1_face"
    bare = tree.parent / "bare" / "checkpoints" / "diffusion" / "c1_face"
    bare.mkdir(parents=True)
    shutil.copyfile(run / "args.json", bare / "args.json")
    state = torch.load(run / f"model{STEP:09d}.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("lip_model.")}, bare / f"model{STEP:09d}.pt")
    options = {"data_stats": str(tree / "dataset" / PERSON)}
    with pytest.raises(FileNotFoundError, match=r"assets/iter-0200000.pt is not there \(pass --lip_model_path\)"):
        load_diffusion_model(bare, "cpu", options)
    assets = tree.parent / "bare" / "assets"
    assets.mkdir()
    torch.save({"model_state_dict": lip_state_real()}, assets / "iter-0200000.pt")
    from_assets = load_diffusion_model(bare, "cpu", options)
    assert f"lip regressor {assets / 'iter-0200000.pt'}" in capsys.readouterr().out
    own = load_diffusion_model(run, "cpu")
    audio = torch.randn(1, 30 * 1600, 2)
    with torch.no_grad():
        assert torch.equal(from_assets.lip(audio), own.lip(audio))


def test_stats_come_from_the_data_root_or_the_flags(tree, tmp_path):
    """args.json data_root by default; --data_stats, or sample.generate's --data_root, instead."""
    run = tree / "checkpoints" / "diffusion" / "c1_pose"
    other = tmp_path / "RLW104"
    other.mkdir()
    shutil.copyfile(STATS / "RLW104_data_stats.pth", other / STATS_FILE)
    recorded = load_diffusion_model(run, "cpu").normalizer
    given = load_diffusion_model(run, "cpu", {"data_stats": str(other / STATS_FILE)}).normalizer
    sampled = load_diffusion_model(run, "cpu", {"data_root": str(other)}).normalizer  # generate --data_root
    assert np.allclose(recorded.mean["pose"], load_stats(tree / "dataset" / PERSON)["pose_mean"])
    assert np.allclose(given.mean["pose"], load_stats(other)["pose_mean"])
    assert np.allclose(sampled.mean["pose"], load_stats(other)["pose_mean"])
    with pytest.raises(FormatError, match=STATS_FILE):
        load_diffusion_model(run, "cpu", {"data_stats": str(tmp_path / "nowhere")})


def test_the_originals_real_stats_files_load(tmp_path):
    """The original repository's own data_stats.pth files (numpy arrays, float64 / float32) load through
    data_loaders.stats.load_stats."""
    for person in ("PXB184", "RLW104"):
        (tmp_path / person).mkdir()
        shutil.copyfile(STATS / f"{person}_data_stats.pth", tmp_path / person / STATS_FILE)
        stats = load_stats(tmp_path / person)
        assert stats["pose_mean"].shape == (POSE_DIM,) and stats["code_std"].shape == (FACE_DIM,), person
        assert stats["facekp_mean"].shape == (274, 3) and stats["audio_std_flat"].shape == (1,)
        pose = Normalizer(stats).denormalize(np.zeros((1, POSE_DIM)), "pose")
        assert np.allclose(pose[0], stats["pose_mean"])


class CallPayload:
    """Unpickling it would call os.system (create a marker file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class MethodPayload(CallPayload):
    """Unpickling it would call a method of an object (Path.touch)."""

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_the_vq_file_is_read_without_running_its_pickled_objects(tree, tmp_path):
    """net_iter*.pth holds a pickled scheduler object: reading it imports and calls nothing of it. A payload
    in its place is refused with a one-line error naming the file, and never runs."""
    real = read_weights(tree / "checkpoints" / "vq" / "c1_pose" / "net_iter300000.pth")
    assert type(real["scheduler"]).__name__ == "_Unread" and "quantizer.layers.0._codebook.embed" in real["net"]
    marker = tmp_path / "ran"
    for payload in (CallPayload(marker), MethodPayload(marker)):
        path = tmp_path / f"net_iter{type(payload).__name__}.pth"
        torch.save({"net": load_fixture("vqvae")["state_dict"], "optimizer": {}, "scheduler": payload}, path)
        with pytest.raises(ValueError, match=rf"{path.name}: refused, it holds pickled objects .*\(.+\)") as refused:
            read_weights(path)
        assert "\n" not in str(refused.value) and not marker.exists()


def test_the_demo_loads_the_original_tree(tree):
    """demo.demo --checkpoints <the original's checkpoints/ tree> finds and loads the face and body models."""
    folders = model_folders(tree / "checkpoints")
    assert folders == {"face": tree / "checkpoints" / "diffusion" / "c1_face",
                       "pose": tree / "checkpoints" / "diffusion" / "c1_pose",
                       "guide": tree / "checkpoints" / "guide" / "c1_pose"}
    demo = Demo.load(DemoConfig(checkpoints=str(tree / "checkpoints"), device="cpu", output_dir=str(tree / "demo")))
    assert demo.face.lip is not None and demo.face.model.cfg.rotary == "index"
    assert demo.body.guide.model_file.name == f"iter-{STEP:07d}.pt" and demo.body.guide.vq.cfg.codebook_size == 1024


README_TRAINING = [  # the original's README, as it is
    "python -m train.train_diffusion --save_dir checkpoints/diffusion/c1_face_test --data_root ./dataset/PXB184/ "
    "--batch_size 4 --dataset social --data_format face --layers 8 --heads 8 --timestep_respacing '' "
    "--max_seq_length 600",
    "python -m train.train_diffusion --save_dir checkpoints/diffusion/c1_pose_test --data_root ./dataset/PXB184/ "
    "--lambda_vel 2.0 --batch_size 4 --dataset social --add_frame_cond 1 --data_format pose --layers 6 --heads 8 "
    "--timestep_respacing '' --max_seq_length 600",
    "python -m train.train_vq --out_dir checkpoints/vq/c1_vq_test --data_root ./dataset/PXB184/ --lr 1e-3 "
    "--code_dim 1024 --output_emb_width 64 --depth 4 --dataname social --loss_vel 0.0 --data_format pose "
    "--batch_size 4 --add_frame_cond 1 --max_seq_length 600",
    "python -m train.train_guide --out_dir checkpoints/guide/c1_trans_test --data_root ./dataset/PXB184/ "
    "--batch_size 4 --resume_pth checkpoints/vq/c1_vq_test/net_iter300000.pth --add_frame_cond 1 --layers 6 "
    "--lr 2e-4 --gn --dim 64",
]
TINY_TRAIN = ["--num_steps", "2", "--save_interval", "2", "--log_interval", "1", "--eval_interval", "0",
              "--warm_up_iter", "1", "--num_workers", "0", "--device", "cpu", "--max_seq_length", "60"]
TINY_MODEL = {"train_diffusion": ["--layers", "1", "--heads", "2", "--latent_dim", "16", "--ff_size", "32",
                                  "--num_cond_layers", "1", "--n_mels", "16", "--audio_hidden", "16",
                                  "--audio_channel_dim", "8", "--min_seq_length", "30"],
              "train_vq": ["--code_dim", "16", "--output_emb_width", "8", "--depth", "2"],
              "train_guide": ["--layers", "1", "--dim", "16", "--heads", "2", "--ff_size", "32", "--audio_layers", "1",
                              "--n_mels", "16", "--audio_hidden", "16", "--audio_channel_dim", "8"]}
TRAINERS = {"train_diffusion": train_diffusion, "train_vq": train_vq, "train_guide": train_guide}


def readme_argv(line: str, root: Path, person: Path) -> tuple[str, list[str]]:
    """(trainer module name, argv) of a README line, its paths moved under root (the VQ-VAE of the guide's
    --resume_pth named by the original's file name of the step the tiny run reached)."""
    words = shlex.split(line)
    trainer = words[2].split(".")[1]
    argv = []
    for word in words[3:]:
        if word == "./dataset/PXB184/":
            word = str(person)
        elif word.startswith("checkpoints/"):
            word = str(root / word.replace("net_iter300000.pth", "net_iter2.pth"))
        argv.append(word)
    return trainer, argv + TINY_TRAIN + TINY_MODEL[trainer]


def test_the_readme_training_lines_run_and_name_their_checkpoints(tmp_path, capsys):
    """Each training line of the original's README, with tiny sizes added, trains two steps and writes
    model000000002.pt; the guide's --resume_pth .../net_iter2.pth (the original's name of that step) and
    sample.generate's --resume_trans .../checkpoints/iter-0000002.pt find the a2p runs' model files."""
    person = make_person_folder(tmp_path / PERSON, frames=120)
    for line in README_TRAINING:
        trainer, argv = readme_argv(line, tmp_path, person)
        TRAINERS[trainer].main(argv)
        save_dir = Path(argv[argv.index("--save_dir" if "--save_dir" in argv else "--out_dir") + 1])
        assert (save_dir / "model000000002.pt").is_file() and (save_dir / "args.json").is_file(), line
    guide = load_guide(tmp_path / "checkpoints" / "guide" / "c1_trans_test" / "checkpoints" / "iter-0000002.pt")
    assert guide.model_file.name == "model000000002.pt" and guide.vq.cfg.codebook_size == 16
    assert guide.config["resume_pth"].endswith("c1_vq_test/model000000002.pt")


def test_a_missing_resume_pth_is_one_line(tmp_path):
    missing = tmp_path / "vq" / "net_iter300000.pth"
    done = subprocess.run([sys.executable, "-m", "train.train_guide", "--out_dir", str(tmp_path / "guide"),
                           "--data_root", str(tmp_path), "--resume_pth", str(missing)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and str(missing) in done.stderr
