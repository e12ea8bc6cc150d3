"""What a2p draws of the original's models on its reference avatar (sample/original_avatar.py,
sample/original_lips.py): the body refused in one line rather than drawn upside down, the face as the
original lip regressor's lips on the reference face, and the exports and metrics that would misread them
refused."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avatar.face import FACE_DIM, face_model, mouth_opening
from avatar.parameters import FACE_INDEX
from avatar.skeleton import JOINT_INDEX, forward_kinematics
from data_loaders.format import SAMPLES_PER_FRAME, STATS_FILE
from data_loaders.stats import load_stats
from sample import evaluate, generate
from sample.lip_constraint import MOUTH_DIMS
from sample.original_avatar import BODY_REFUSED, SKELETON_FILES
from sample.original_lips import OriginalLipsOnReferenceFace, fit_correspondence, identity_normalizer
from sample.results import Results, load_results, save_results
from tests.data_fixtures import make_person_folder
from tests.original_fixtures import FIXTURES, PERSON, STATS, STEP, make_original_tree
from visualize import export_bvh
from visualize.render_results import _Sources, on_reference_avatar

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"golden fixtures not found at {FIXTURES}")
FAST = ["--timestep_respacing", "ddim2", "--num_repetitions", "1", "--no-progress", "--device", "cpu"]


def joints(poses: np.ndarray) -> dict[str, np.ndarray]:
    """World positions (T, 3) of the joints the upright check looks at, on the reference skeleton."""
    _, positions = forward_kinematics(torch.as_tensor(poses, dtype=torch.float64))
    return {name: positions[:, JOINT_INDEX[name]].numpy() for name in
            ("root", "head", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_wrist", "r_wrist", "l_shoulder",
             "r_shoulder")}


def upright(poses: np.ndarray) -> bool:
    """Head above pelvis, feet below knees, hands below shoulders (y up), in every frame."""
    y = {name: position[:, 1] for name, position in joints(poses).items()}
    return bool((y["head"] > y["root"]).all() and (y["l_ankle"] < y["l_knee"]).all()
                and (y["r_ankle"] < y["r_knee"]).all() and (y["l_wrist"] < y["l_shoulder"]).all()
                and (y["r_wrist"] < y["r_shoulder"]).all())


def mean_pose_results(person: str, folder: Path, frames: int = 3) -> Results:
    """Body results of the original's models holding the person's real mean pose in every frame."""
    folder.mkdir()
    shutil.copyfile(STATS / f"{person}_data_stats.pth", folder / STATS_FILE)
    motions = np.tile(load_stats(folder)["pose_mean"][None, :, None, None], (1, 1, 1, frames))
    return Results(motions=motions, audio=np.zeros((1, frames * SAMPLES_PER_FRAME, 2), np.float32),
                   lengths=np.array([frames]), num_samples=1, num_repetitions=1, data_format="pose",
                   avatar="original")


@pytest.mark.parametrize("person", ["PXB184", "RLW104"])
def test_the_real_mean_poses_are_refused_in_one_line_never_drawn_upside_down(person, tmp_path, capsys):
    """The real mean pose on the reference skeleton stands on its head (why it is refused); the reference
    avatar draws the rest pose instead, upright, and says so in one line naming the original's skeleton files;
    BVH export refuses the file in one line."""
    results = mean_pose_results(person, tmp_path / person)
    assert not upright(results.motion(0, 0))  # the original's skeleton is not the reference's
    drawn = on_reference_avatar(_Sources(results, "body.npy", None, ""))
    pose, _, _ = drawn.sequence(0, gt=False)
    assert upright(pose) and np.allclose(pose, 0.0)
    said = capsys.readouterr().out.strip().splitlines()
    assert said == [f"[render] body.npy: {BODY_REFUSED}: the reference avatar stands at rest instead"]
    assert SKELETON_FILES in said[0]
    path = save_results(tmp_path / "results.npy", results)
    with pytest.raises(ValueError, match="drive its own skeleton") as refused:
        export_bvh.main([str(path), "--out", str(tmp_path / "motion.bvh")])
    assert "\n" not in str(refused.value) and not (tmp_path / "motion.bvh").exists()


def reference_lip_motion(frames: int = 48) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes (F, 256), their lips (F, L, 3), the neutral lips (L, 3)) of the reference face talking: the jaw
    opening and closing with some lip rounding."""
    t = torch.linspace(0.0, 6.0 * np.pi, frames, dtype=torch.float64)
    codes = torch.zeros(frames, FACE_DIM, dtype=torch.float64)
    codes[:, FACE_INDEX["jaw_open"]] = 0.4 * (1 - torch.cos(t))
    codes[:, FACE_INDEX["lip_round"]] = 0.2 * torch.sin(t / 2).abs()
    face = face_model()
    return codes, face.lip_vertices(codes), face.lip_vertices(torch.zeros(FACE_DIM, dtype=torch.float64))


def test_the_fitted_correspondence_carries_lips_given_in_other_units_axes_and_order_back():
    """The reference face's own lips, turned, scaled to mm, moved and shuffled, given as "the original's":
    the fitted correspondence finds the axes and the scale and brings the talking mouth back (jaw to 0.03)."""
    codes, lips, rest = reference_lip_motion()
    generator = torch.Generator().manual_seed(0)
    turn, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    turn = turn * torch.sign(torch.det(turn))
    order = torch.randperm(len(rest), generator=generator)
    shift = torch.tensor([3.0, -2.0, 50.0], dtype=torch.float64)
    as_original = lambda v: (v @ turn.T * 10.0 + shift)[..., order, :]  # noqa: E731  cm -> mm, turned, shuffled
    correspondence = fit_correspondence(as_original(rest), as_original(lips))
    assert correspondence.scale == pytest.approx(0.1, rel=1e-6)
    assert torch.allclose(correspondence.rotation @ turn, torch.eye(3, dtype=torch.float64), atol=0.15)
    mapped = OriginalLipsOnReferenceFace(torch.nn.Identity(), identity_normalizer(), "cpu", correspondence)
    fitted = mapped.codes_of(as_original(lips)[None])[0]
    jaw = FACE_INDEX["jaw_open"]
    assert np.abs(fitted[:, jaw] - codes[:, jaw].numpy()).max() < 0.03
    opened = mouth_opening(face_model().lip_vertices(torch.from_numpy(fitted)))[0]
    assert np.corrcoef(opened.numpy(), mouth_opening(lips)[0].numpy())[0, 1] > 0.99
    others = [i for i in range(FACE_DIM) if i not in {FACE_INDEX[name] for name in MOUTH_DIMS}]
    assert np.abs(fitted[:, others]).max() == 0.0


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_original_tree(tmp_path_factory.mktemp("original"))


def test_a_face_video_of_an_original_model_moves_the_mouth_with_its_lip_regressor(tree, tmp_path, capsys):
    """sample.generate of the original's face model stores reference face codes whose mouth is the original lip
    regressor's vertices carried through the fitted correspondence, the rest neutral; the video draws them (one
    line says so), and the exports take them."""
    rng = np.random.default_rng(1)
    t = np.arange(4 * 48_000) / 48_000
    voice = 0.3 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 2 * t) > 0) + 0.01 * rng.standard_normal(len(t))
    sf.write(tmp_path / "talk.wav", np.stack([voice, 0.0 * voice], 1).astype(np.float32), 48_000)
    face_file = tree / "checkpoints" / "diffusion" / "c1_face" / f"model{STEP:09d}.pt"
    path = generate.main(["--model_path", str(face_file), "--audio", str(tmp_path / "talk.wav"),
                          "--guidance_param", "10", *FAST])
    results = load_results(path)
    assert results.avatar == "original" and results.reference_face.shape == (1, FACE_DIM, 1, 120)
    codes = results.reference_face[0, :, 0].T  # (T, 256)
    mouth = [FACE_INDEX[name] for name in MOUTH_DIMS]
    assert np.abs(np.delete(codes, mouth, axis=1)).max() == 0.0  # the rest of the face neutral
    sampler = generate.load_sampler(str(face_file), torch.device("cpu"), {}, generate.SamplingConfig())[1]
    lips = sampler.reference_lips
    audio = sampler.normalizer.normalize(torch.from_numpy(results.audio_row(0)), "audio")[None]
    vertices = lips.vertices(audio)  # (1, T, 338, 3): the regressor inside the face model
    assert np.allclose(codes, lips.codes_of(vertices)[0], atol=1e-6)  # the video's mouth is those vertices'
    assert codes[:, mouth].std(0).max() > 0.05  # the mouth moves
    target = lips.correspondence.target(vertices)[0]  # (T, L, 3) cm
    shown = face_model().lip_vertices(torch.from_numpy(codes))
    # the fixture regressor's random weights make lips that the six mouth dims follow only in part (the fit
    # itself is exact for lips that talk: the test above)
    assert np.corrcoef((shown - shown.mean(0)).flatten(), (target - target.mean(0)).flatten())[0, 1] > 0.3
    drawn = on_reference_avatar(_Sources(None, "", results, str(path)))
    assert np.array_equal(drawn.sequence(0, gt=False)[1], codes.astype(np.float32))
    assert "its lip regressor's lips are drawn on the reference face" in capsys.readouterr().out
    assert np.array_equal(export_bvh.load_motion(path, 0, FACE_DIM, "face codes"), codes)  # BVH's CSV, glTF
    without = dataclasses.replace(results, reference_face=None)  # e.g. a face model without its regressor
    assert not on_reference_avatar(_Sources(None, "", without, "face.npy")).sequence(0, gt=False)[1].any()
    assert "face.npy: the original's face codes belong to its private face decoder and the file holds no lip" \
        in capsys.readouterr().out


def test_an_original_models_results_score_fd_and_div_only(tree, capsys):
    """The original's face codes on the test split: sample.evaluate keeps FD and Div and refuses the lip and
    jaw metrics in one line."""
    make_person_folder(tree / "dataset" / PERSON, frames=120, stats=False)
    face_file = tree / "checkpoints" / "diffusion" / "c1_face" / f"model{STEP:09d}.pt"
    path = generate.main(["--model_path", str(face_file), "--num_samples", "2", "--max_seq_length", "60", *FAST])
    scores = evaluate.main(["--results", str(path)])
    assert np.isfinite(scores["generated"]["fd_g"]) and "lip_vertical" not in scores["generated"]
    assert "the original's face codes belong to its private face decoder" in capsys.readouterr().out
