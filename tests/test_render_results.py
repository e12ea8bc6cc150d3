"""render_results turns results.npy rows into videos of the right rows, names, sizes, lengths and sound (the
missing part at rest), refuses body and face files that do not belong together, and render_anno cuts a person
folder into the expected chunk videos."""
import re
from pathlib import Path

import numpy as np
import pytest
from test_video import decode

from data_loaders.format import FPS, SAMPLES_PER_FRAME, FormatError, list_scenes
from data_loaders.validate import load_scene
from sample.results import Results, ResultsError, motion_rows, save_results
from tests.data_fixtures import make_person_folder
from utils.cli import run_cli
from utils.files import temp_path
from visualize.avatar_view import AvatarView
from visualize.render_anno import chunk_starts, hold_missing, render_anno
from visualize.render_anno import main as render_anno_cli
from visualize.render_results import check_pair, grid_scale, main, render_results, shrink
from visualize.video import probe

SIZE, FRAMES, SAMPLES, REPS = 64, 30, 2, 2
SHORT = 20  # frames of sample 1 (padding after it)
CODEC_ERROR = 4.0  # mean |decoded - rendered| (0..255) that H.264 at crf 18 leaves on these tiny frames


def make_results(kind: str, seed: int, frames: int = FRAMES) -> Results:
    """SAMPLES x REPS rows of random motion (one pose per row, distinct) and random audio (the same for every
    repetition of a sample); sample 1 lasts SHORT frames."""
    rng = np.random.default_rng(seed)
    dims, scale = (104, 0.35) if kind == "pose" else (256, 0.6)
    audio = np.tile(rng.uniform(-0.2, 0.2, (SAMPLES, frames * SAMPLES_PER_FRAME, 2)).astype(np.float32), (REPS, 1, 1))
    motion = rng.normal(0.0, scale, (SAMPLES * REPS, 1, dims)) * np.ones((1, frames, 1))
    gt = np.tile(rng.normal(0.0, scale, (SAMPLES, 1, dims)) * np.ones((1, frames, 1)), (REPS, 1, 1))
    if kind == "pose":
        motion[..., :3] = gt[..., :3] = 0.0  # keep the root in place: the body stays in the camera's frame
    lengths = np.tile([frames, SHORT], REPS)
    return Results(motions=motion_rows(motion), gt=motion_rows(gt), audio=audio, lengths=lengths,
                   num_samples=SAMPLES, num_repetitions=REPS, data_format=kind)


@pytest.fixture(scope="module")
def view():
    view = AvatarView(SIZE)
    yield view
    view.close()


def expected(view, pose, code, length):
    return view.render(pose[:length], code[:length]).astype(np.float64)


def row_motion(results: Results, row: int, gt: bool = False) -> np.ndarray:
    return (results.gt if gt else results.motions)[row, :, 0, :].T


def test_every_sample_and_repetition_becomes_a_video_of_its_row_with_sound(tmp_path, view):
    body, face = make_results("pose", 1), make_results("face", 2)
    face.audio = body.audio.copy()
    written = render_results(body, face, out_dir=tmp_path, size=SIZE, progress=False)
    assert sorted(p.name for p in written) == sorted(p.name for p in tmp_path.glob("*.mp4")) == [
        "sample00_rep00_pred.mp4", "sample00_rep01_pred.mp4", "sample01_rep00_pred.mp4", "sample01_rep01_pred.mp4"]
    for sample in range(SAMPLES):
        for rep in range(REPS):
            path = tmp_path / f"sample{sample:02d}_rep{rep:02d}_pred.mp4"
            length = FRAMES if sample == 0 else SHORT
            info = probe(path)
            assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (length, 2 * SIZE, SIZE, True)
            assert info["duration"] == pytest.approx(length / FPS, abs=1e-3)
            assert info["audio_duration"] == pytest.approx(length / FPS, abs=0.03)  # AAC frames of 1024 samples
            row = rep * SAMPLES + sample
            video = decode(path, 2 * SIZE, SIZE).astype(np.float64)
            right = expected(view, row_motion(body, row), row_motion(face, row), length)
            other = (row + 1) % (SAMPLES * REPS)
            wrong = expected(view, row_motion(body, other), row_motion(face, other), length)
            error, confusion = np.abs(video - right).mean(), np.abs(video - wrong).mean()
            assert error < CODEC_ERROR and confusion > 5 * error, (path.name, error, confusion)


def test_face_only_and_body_only_results_render_the_other_part_at_rest(tmp_path, view):
    face, body = make_results("face", 3), make_results("pose", 4)
    render_results(face_results=face, out_dir=tmp_path / "face", size=SIZE, progress=False)
    render_results(body_results=body, out_dir=tmp_path / "body", size=SIZE, progress=False)
    for part, results in (("face", face), ("body", body)):
        assert len(list((tmp_path / part).glob("*_pred.mp4"))) == SAMPLES * REPS
        video = decode(tmp_path / part / "sample00_rep01_pred.mp4", 2 * SIZE, SIZE).astype(np.float64)
        motion = row_motion(results, SAMPLES)
        rest = np.zeros((FRAMES, 104 if part == "face" else 256))
        pose, code = (rest, motion) if part == "face" else (motion, rest)
        assert np.abs(video - expected(view, pose, code, FRAMES)).mean() < CODEC_ERROR, part


def test_ground_truth_is_rendered_once_per_sample_from_gt(tmp_path, view):
    body, face = make_results("pose", 5), make_results("face", 6)
    face.audio = body.audio.copy()
    written = render_results(body, face, out_dir=tmp_path, render_gt=True, size=SIZE, progress=False)
    assert [p.name for p in written] == ["sample00_rep00_gt.mp4", "sample01_rep00_gt.mp4"]
    video = decode(written[1], 2 * SIZE, SIZE).astype(np.float64)
    truth = expected(view, row_motion(body, 1, gt=True), row_motion(face, 1, gt=True), SHORT)
    assert np.abs(video - truth).mean() < CODEC_ERROR
    with pytest.raises(ValueError, match="leave out --grid or --render_gt"):
        render_results(body, out_dir=tmp_path, render_gt=True, grid=True, size=SIZE)
    body.gt = None
    with pytest.raises(ResultsError, match="holds no ground truth"):
        render_results(body, out_dir=tmp_path, render_gt=True, size=SIZE, progress=False)


def test_grid_video_tiles_all_repetitions_of_a_sample(tmp_path):
    face = make_results("face", 7)
    written = render_results(face_results=face, out_dir=tmp_path, grid=True, size=SIZE, progress=False)
    assert [p.name for p in written if "grid" in p.name] == ["sample00_grid.mp4", "sample01_grid.mp4"]
    info = probe(tmp_path / "sample01_grid.mp4")
    assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (SHORT, 2 * 2 * SIZE, SIZE, True)
    grid_video = decode(tmp_path / "sample01_grid.mp4", 4 * SIZE, SIZE).astype(np.float64)
    for rep in range(REPS):
        cell = decode(tmp_path / f"sample01_rep{rep:02d}_pred.mp4", 2 * SIZE, SIZE).astype(np.float64)
        assert np.abs(grid_video[:, :, rep * 2 * SIZE:(rep + 1) * 2 * SIZE] - cell).mean() < CODEC_ERROR
    assert grid_scale(10, 512) == (2, 3) and grid_scale(2, 256) == (2, 1) and grid_scale(1, 64) == (1, 1)
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    assert np.array_equal(shrink(frames, 2)[0, 0, 0], np.floor(frames[0, :2, :2].reshape(4, 3).mean(0) + 0.5))


def test_results_that_do_not_belong_together_are_refused_with_the_reason(tmp_path):
    body, face = make_results("pose", 8), make_results("face", 9)
    face.audio = body.audio.copy()
    face.audio[1, 100, 0] += 0.01  # sample 1, repetition 0
    with pytest.raises(ResultsError, match=r"the audio of sample 1, repetition 0 \(row 1\) differs.*same --seed"):
        render_results(body, face, out_dir=tmp_path, size=SIZE)
    longer = make_results("face", 9, frames=FRAMES + 30)
    with pytest.raises(ResultsError, match=r"\(samples, repetitions, frames\) differ: \(2, 2, 30\) vs \(2, 2, 60\)"):
        render_results(body, longer, out_dir=tmp_path, size=SIZE)
    body_file = save_results(tmp_path / "body.npy", body)
    face_file = save_results(tmp_path / "face.npy", face)
    with pytest.raises(ResultsError, match=r"face\.npy: 'motions' holds 256 channels \(face codes\), but "
                                           r"--pose_codes takes body results with 104"):
        main(["--pose_codes", str(face_file), "--out_dir", str(tmp_path)])
    stored = face.to_dict()
    del stored["audio"]
    np.save(tmp_path / "no_audio.npy", stored, allow_pickle=True)
    with pytest.raises(ResultsError, match=r"no_audio\.npy: missing key\(s\) \['audio'\]"):
        main(["--pose_codes", str(body_file), "--face_codes", str(tmp_path / "no_audio.npy"), "--out_dir",
              str(tmp_path)])
    assert not list(tmp_path.glob("*.mp4"))


def test_cli_renders_result_files(tmp_path):
    face = make_results("face", 10)
    face_file = save_results(tmp_path / "face.npy", face)
    written = main(["--face_codes", str(face_file), "--out_dir", str(tmp_path / "videos"), "--size", str(SIZE),
                    "--no-progress"])
    assert len(written) == SAMPLES * REPS and probe(written[0])["width"] == 2 * SIZE


def test_hold_missing_keeps_the_last_present_code():
    codes = np.arange(6, dtype=np.float64)[:, None] * np.ones((1, 3))
    present = np.array([False, True, False, False, True, False])
    assert hold_missing(codes, present)[:, 0].tolist() == [1, 1, 1, 1, 4, 4]
    assert not hold_missing(codes, np.zeros(6, bool)).any()
    assert chunk_starts(90, 40) == [0, 40, 80] and chunk_starts(40, 40) == [0] and chunk_starts(39, 40) == [0]


def test_render_anno_writes_every_chunk_of_the_chosen_scenes(tmp_path, view, monkeypatch):
    folder = make_person_folder(tmp_path / "P0", frames=[50, 40, 90, 30, 30, 30, 30, 30])
    drawn, render = [], AvatarView.render  # the face codes handed to the renderer, chunk by chunk
    monkeypatch.setattr(AvatarView, "render", lambda self, pose, face: drawn.append(np.asarray(face)) or render(
        self, pose, face))
    written = render_anno_cli(["--data_root", str(folder), "--save_dir", str(tmp_path / "videos"), "--max_seq_length",
                               "40", "--scenes", "scene01", "scene03", "--size", str(SIZE), "--no-progress"])
    names = ["scene01_0000.mp4", "scene01_0040.mp4", "scene03_0000.mp4", "scene03_0040.mp4", "scene03_0080.mp4"]
    assert [p.name for p in written] == names
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == names
    for path, frames in zip(written, [40, 10, 40, 40, 10]):
        info = probe(path)
        assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (frames, 2 * SIZE, SIZE, True)
        assert info["audio_duration"] == pytest.approx(frames / FPS, abs=0.03)
    scene = load_scene(list_scenes(folder)[2])  # scene03: 90 frames, 3 missing face frames (corrupt codes)
    held = hold_missing(scene.face, scene.face_valid)
    for path, start in zip(written[2:], (0, 40, 80)):
        end = min(start + 40, scene.frames)
        video = decode(path, 2 * SIZE, SIZE).astype(np.float64)
        shown = expected(view, scene.pose[start:end], held[start:end], end - start)
        error = np.abs(video - shown).mean()
        assert error < CODEC_ERROR, (path.name, error)
    # the missing frames' corrupt codes were never drawn (the renderer clamps codes to the avatar's plausible
    # ranges, so the pictures alone would hardly tell)
    np.testing.assert_array_equal(np.concatenate(drawn[2:5]), held)
    assert (~scene.face_valid).sum() == 3 and not np.isin(scene.face[~scene.face_valid], held).any()
    with pytest.raises(FormatError, match="no scene named scene09; it holds scene01, scene02"):
        render_anno(folder, tmp_path / "videos", scenes=["scene09"], size=SIZE)


def test_audio_stored_once_per_sample_pairs_with_the_originals_rows(tmp_path):
    """Our files hold the audio once per sample (S rows), the original's once per row (N rows): a pair of the
    two layouts is checked sample by sample, and each row renders with its sample's audio."""
    body, face = make_results("pose", 10), make_results("face", 11)
    face.audio = body.audio.copy()  # N rows
    body.audio = body.audio[:SAMPLES].copy()  # S rows, as sample.generate writes them
    check_pair(body, face, "body", "face")
    assert np.array_equal(body.audio_row(3), face.audio[3])  # rep 1, sample 1
    body.audio[1, 100, 0] += 0.01
    with pytest.raises(ResultsError, match=r"the audio of sample 1, repetition 0 \(row 1\) differs"):
        check_pair(body, face, "body", "face")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="simulates a full disk with /dev/full")
def test_a_full_disk_is_one_line_naming_the_video_and_leaves_no_partial_set(tmp_path, capsys, monkeypatch):
    """ffmpeg writes the second video into /dev/full (its temporary file links there), as on a full disk: one
    line naming the video (it used to be a traceback), and the first video is removed again."""
    monkeypatch.delenv("A2P_DEBUG", raising=False)
    face_file = save_results(tmp_path / "face.npy", make_results("face", 10))
    videos = tmp_path / "videos"
    videos.mkdir()
    temp_path(videos / "sample00_rep01_pred.mp4").symlink_to("/dev/full")
    with pytest.raises(SystemExit) as stopped:
        run_cli(main, ["--face_codes", str(face_file), "--out_dir", str(videos), "--size", str(SIZE), "--no-progress"])
    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert re.fullmatch(rf"\S+: error: {re.escape(str(videos / 'sample00_rep01_pred.mp4'))}: could not write it: no "
                        rf"space left on the device of {re.escape(str(videos))} .*\n", error), error
    assert not list(videos.iterdir())
