"""The web demo: Demo.run turns an audio file into one video per sample plus results.npy, BVH and face CSV files,
its diversity slider reaches the guide, bad requests and missing checkpoints get their message, and the page
works in a real headless Chromium (upload a WAV, press Generate, a playable <video> appears, the 3D view
draws the .glb).

The checkpoints are tiny models trained for 2 steps (untrained in effect: the tests check the wiring, not the
motion) by the trainers' own entry points on a random person folder (tests/data_fixtures.py), in the layout
the demo reads: face (with its lip regressor), lip, pose, guide, vq. The lip, diffusion and guide runs go
through their CLIs' main(argv); the VQ-VAE through train_vq.train_vq, since its CLI's parser cannot be built
at the moment (TrainConfig and VQConfig both declare ema_decay).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from browser import CHROMIUM, Browser
from data_loaders.format import FPS
from demo.demo import CheckpointsMissing, Demo, DemoConfig, launch, without_server_paths
from demo.workspace import REQUEST_SECONDS, remove_abandoned_workspaces
from model.vqvae import VQConfig
from sample.recommended import write_recommended_sampling
from sample.results import load_results
from tests.crafted_audio import header_bombs
from tests.data_fixtures import make_person_folder
from train import train_diffusion, train_guide, train_lip
from train.loop import TrainConfig
from train.train_vq import KeyframeDataConfig, train_vq
from visualize.export_bvh import read_bvh
from visualize.export_gltf import read_extras
from visualize.video import probe

pytestmark = pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated",  # gradio's pandas
                                        "ignore:The copy keyword is deprecated")
SIZE = 64
WINDOW = 60  # frames per training window (2 keyframes)
SECONDS = 2.0
TRAIN = ["--device", "cpu", "--num_workers", "0", "--num_steps", "2", "--batch_size", "2", "--warm_up_iter", "1",
         "--log_interval", "1", "--eval_interval", "0", "--save_interval", "100"]
AUDIO = ["--n_mels", "16", "--audio_hidden", "16", "--audio_channel_dim", "8"]
DENOISER = ["--latent_dim", "16", "--layers", "1", "--heads", "2", "--ff_size", "32", "--max_seq_length", str(WINDOW),
            "--min_seq_length", "30"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """DIR/{lip,face,vq,guide,pose} of tiny 2-step runs (module docstring)."""
    base = tmp_path_factory.mktemp("demo")
    data = str(make_person_folder(base / "P0", frames=90))
    folder = base / "checkpoints"
    common = TRAIN + ["--data_root", data]
    train_lip.main(common + AUDIO + ["--save_dir", str(folder / "lip"), "--max_seq_length", str(WINDOW),
                                     "--min_seq_length", "30", "--lip_latent_dim", "16", "--lip_heads", "2",
                                     "--lip_encoder_layers", "1", "--lip_decoder_layers", "1", "--lip_ff_size", "32"])
    train_diffusion.main(common + AUDIO + DENOISER + ["--data_format", "face", "--lip_model_path", str(folder / "lip"),
                                                      "--save_dir", str(folder / "face")])
    train_vq(TrainConfig(save_dir=str(folder / "vq"), device="cpu", num_workers=0, num_steps=2, batch_size=2,
                         warm_up_iter=1, log_interval=1, eval_interval=0, save_interval=100),
             KeyframeDataConfig(data, WINDOW), VQConfig(codebook_size=8, depth=2, emb_width=8, kmeans_iters=1))
    train_guide.main(common + AUDIO + ["--save_dir", str(folder / "guide"), "--max_seq_length", str(WINDOW),
                                       "--resume_pth", str(folder / "vq"), "--layers", "1", "--dim", "16", "--heads",
                                       "2", "--ff_size", "32", "--audio_layers", "1"])
    train_diffusion.main(common + AUDIO + DENOISER + ["--data_format", "pose", "--save_dir", str(folder / "pose")])
    write_recommended_sampling(folder / "face", {"guidance_param": 3.0, "timestep_respacing": "ddim50"})
    write_recommended_sampling(folder / "pose", {"guidance_param": 1.5})
    return folder


def demo_config(checkpoints: Path, output_dir: Path, **overrides) -> DemoConfig:
    values = dict(checkpoints=str(checkpoints), output_dir=str(output_dir), device="cpu", size=SIZE,
                  timestep_respacing="ddim4")
    return DemoConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """2 s of mono 16 kHz 'speech' (a tone with a 4 Hz syllable envelope)."""
    t = np.arange(int(16_000 * SECONDS)) / 16_000
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    sf.write(path, wave.astype(np.float32), 16_000)
    return path


def test_run_gives_a_video_per_sample_results_bvh_and_face_csv(checkpoints, speech, tmp_path):
    demo = Demo.load(demo_config(checkpoints, tmp_path))
    out = demo.run(str(speech), num_samples=2, top_p=0.9)
    frames = int(SECONDS * FPS)
    assert [p.name for p in out.videos] == ["sample00_rep00_pred.mp4", "sample00_rep01_pred.mp4"]
    for video in out.videos:
        info = probe(video)
        assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (frames, 2 * SIZE, SIZE, True)
        assert info["audio_duration"] == pytest.approx(SECONDS, abs=0.03)
    names = [p.name for p in out.files]
    assert names == ["face_results.npy", "body_results.npy", "sample00.bvh", "sample00_face.csv", "sample00.glb",
                     "sample01.bvh", "sample01_face.csv", "sample01.glb"]
    assert out.scene == out.files[4] and read_extras(out.scene)["persons"] == ["person"]
    face, body = load_results(out.files[0]), load_results(out.files[1])
    for results, dims in ((face, 256), (body, 104)):
        assert (results.num_samples, results.num_repetitions, results.frames) == (1, 2, frames)
        assert results.motions.shape[1] == dims and results.gt is None
    assert np.array_equal(face.audio, body.audio)
    for rep in range(2):
        assert np.allclose(read_bvh(out.files[2 + 3 * rep]), body.motion(rep, 0), atol=1e-5)
        assert len(out.files[3 + 3 * rep].read_text().splitlines()) == frames + 1
    assert "2 sample(s) of 2.0 s" in out.message


def test_both_persons_give_videos_of_the_two_and_the_partners_files(checkpoints, speech, tmp_path):
    demo = Demo.load(demo_config(checkpoints, tmp_path))
    out = demo.run(str(speech), num_samples=1, top_p=0.9, both=True)
    assert [p.name for p in out.videos] == ["sample00_rep00_both.mp4"]
    info = probe(out.videos[0])
    assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (int(SECONDS * FPS), 2 * SIZE,
                                                                                 2 * SIZE, True)
    assert [p.name for p in out.files] == ["face_results.npy", "body_results.npy", "partner_face_results.npy",
                                           "partner_body_results.npy", "sample00.bvh", "sample00_face.csv",
                                           "sample00.glb"]
    face, partner_face = load_results(out.files[0]), load_results(out.files[2])
    assert np.array_equal(partner_face.audio[0], face.audio[0][:, ::-1])  # the partner hears the channels swapped
    assert read_extras(out.scene)["persons"] == ["person", "partner"]
    assert "of both persons" in out.message


def test_sampling_settings_are_the_folders_unless_given(checkpoints, tmp_path):
    demo = Demo.load(demo_config(checkpoints, tmp_path))  # timestep_respacing ddim4 given
    face, body = demo.face_settings, demo.body_settings
    assert (face.guidance_param, face.sampler, face.timestep_respacing) == (3.0, "dpmpp2m", "ddim4")
    assert (body.guidance_param, body.sampler, body.timestep_respacing) == (1.5, "dpmpp2m", "ddim4")
    given = Demo.load(demo_config(checkpoints, tmp_path, face_guidance=5.0, sampler="ddim"))
    assert (given.face_settings.guidance_param, given.face_settings.sampler, given.body_settings.sampler) == (
        5.0, "ddim", "ddim")


def test_diversity_reaches_the_guide_and_grid_gives_one_video(checkpoints, speech, tmp_path):
    demo = Demo.load(demo_config(checkpoints, tmp_path))
    narrow = load_results(demo.run(str(speech), num_samples=3, top_p=0.01).files[1])
    wide = demo.run(str(speech), num_samples=3, top_p=1.0, grid=True)
    keyframes = load_results(wide.files[1]).keyframes
    assert all(np.array_equal(narrow.keyframes[0], narrow.keyframes[rep]) for rep in (1, 2))  # top-1 token only
    assert not np.array_equal(keyframes[0], keyframes[1]) and not np.array_equal(keyframes[1], keyframes[2])
    assert [p.name for p in wide.videos] == ["sample00_grid.mp4"]
    assert probe(wide.videos[0])["width"] == 2 * 2 * SIZE  # two columns of size x 2*size views


def test_bad_requests_and_missing_checkpoints_get_their_message(checkpoints, speech, tmp_path):
    demo = Demo.load(demo_config(checkpoints, tmp_path, max_seconds=1.5))
    with pytest.raises(ValueError, match="number of samples must be 1 to 10"):
        demo.run(str(speech), num_samples=11)
    with pytest.raises(ValueError, match=r"top-p\) must be in \(0, 1\]"):
        demo.run(str(speech), top_p=0.0)
    with pytest.raises(ValueError, match="speech.wav: the audio lasts 2.0 s; at most 1.5 s are taken here"):
        demo.run(str(speech))
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    with pytest.raises(ValueError, match="notes.wav: not a readable audio file"):
        demo.run(str(not_audio))
    with pytest.raises(CheckpointsMissing, match=r"(?s)empty/face .*empty/pose .*empty/guide .*train\.train_lip"):
        Demo.load(demo_config(tmp_path / "empty", tmp_path))


def test_header_bombs_are_refused_before_any_allocation(checkpoints, tmp_path):
    """Crafted headers within the size and duration limits (tests/crafted_audio.py): one line each, naming the
    file, in little memory (the 4,000,037 Hz one took 4.2 GB)."""
    demo = Demo.load(demo_config(checkpoints, tmp_path / "out"))
    for path, message in header_bombs(tmp_path).items():
        tracemalloc.start()
        with pytest.raises(ValueError, match=message) as error:
            demo.run(str(path))
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value) and peak < 300


def test_a_request_without_the_pages_follow_up_loses_its_folder_by_age_and_messages_hide_paths(checkpoints, speech,
                                                                                                 tmp_path):
    """An API-only request skips the page's follow-up call that deletes the request's folder (397 MB after 28
    such requests): a later request deletes it once it is older than REQUEST_SECONDS."""
    demo = Demo.load(demo_config(checkpoints, tmp_path / "out"))
    left = demo.run(str(speech), num_samples=1).folder
    fresh = demo.run(str(speech), num_samples=1).folder
    assert left.is_dir() and fresh.is_dir()
    old = time.time() - REQUEST_SECONDS - 1
    os.utime(left, (old, old))
    not_audio = tmp_path / "uploads" / "notes.wav"
    not_audio.parent.mkdir()
    not_audio.write_text("not audio")
    with pytest.raises(ValueError) as refused:
        demo.run(str(not_audio))  # even a refused request cleans up
    assert not left.exists() and fresh.is_dir()
    shown = without_server_paths(str(refused.value), not_audio, demo.output_root)
    assert shown.startswith("notes.wav: not a readable audio file") and str(tmp_path) not in shown


def test_workspaces_of_demos_that_no_longer_run_are_removed(tmp_path):
    dead, alive = tmp_path / f"a2p_demo_{2 ** 22 + 1}_x", tmp_path / f"a2p_demo_{os.getpid()}_y"
    for folder in (dead, alive):
        (folder / "request_1").mkdir(parents=True)
    assert remove_abandoned_workspaces(tmp_path) == [dead]
    assert alive.is_dir() and not dead.exists()


def test_sigterm_removes_the_demos_workspace(checkpoints, tmp_path):
    """SIGTERM (a service manager, `kill`) used to leave the whole temporary workspace behind."""
    port, temporary = free_port(), tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "demo.demo", "--checkpoints", str(checkpoints), "--port",
                               str(port), "--device", "cpu"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (list(temporary.glob("a2p_demo_*")) and port_open(port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.poll() is None and list(temporary.glob("a2p_demo_*")), "the demo did not start"
        server.send_signal(signal.SIGTERM)
        log = server.communicate(timeout=60)[0]
    finally:
        server.kill()
    assert not list(temporary.glob("a2p_demo_*")), log[-3000:]


REFUSE_UPLOADS = """import re, sys
from pathlib import Path
from demo.demo import Demo, DemoConfig
checkpoints, out, upload = sys.argv[1:]
for limit_mb in (1, 50):  # too large, then too long
    demo = Demo.load(DemoConfig(checkpoints=checkpoints, output_dir=out, device="cpu", max_upload_mb=limit_mb))
    try:
        demo.run(upload)
    except ValueError as error:
        print("refused:", error)
print("peak MB", int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_an_over_large_or_long_upload_is_refused_before_decoding_in_little_memory(checkpoints, tmp_path):
    """A 1.3 MB FLAC holding an hour at 1 kHz decodes and resamples to 2.7 GB of float64 at 48 kHz: it is
    refused from its size, or its header, before that, with the demo's resident memory under 1 GB."""
    hour = tmp_path / "hour.flac"
    t = np.arange(3600 * 1000) / 1000
    sf.write(hour, (0.3 * np.sin(2 * np.pi * 110 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.float32),
             1000, format="FLAC", subtype="PCM_16")
    assert 1 < hour.stat().st_size / 2 ** 20 < 2
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", REFUSE_UPLOADS, str(checkpoints), str(tmp_path / "out"), str(hour)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    refusals = re.findall(r"refused: (.*)", done.stdout)
    assert len(refusals) == 2, done.stdout
    assert re.fullmatch(r"hour.flac: 1.\d MB; this page takes files of at most 1 MB .*", refusals[0])
    assert re.fullmatch(rf"{hour}: the audio lasts 3600.0 s; at most 120 s are taken here .*", refusals[1])
    peak = int(re.search(r"peak MB (\d+)", done.stdout).group(1))
    print(f"peak resident memory while refusing: {peak} MB")
    assert peak < 1024


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe_socket:
        return probe_socket.connect_ex(("127.0.0.1", port)) == 0


def save_artifact(path: Path) -> None:
    if os.environ.get("A2P_ARTIFACTS"):
        Path(os.environ["A2P_ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["A2P_ARTIFACTS"]) / path.name)


VIDEO_STATE = """(() => {{ const v = document.querySelector('#video{i} video');
    return v && v.readyState >= 2 && v.error === null &&
           {{duration: v.duration, width: v.videoWidth, height: v.videoHeight, src: v.currentSrc}}; }})()"""


PLAY = """(async () => { const v = document.querySelector('#video0 video'); v.muted = true; await v.play();
    await new Promise(done => setTimeout(done, 500)); return v.currentTime; })()"""


MODEL3D_FILE = """(() => { const link = document.querySelector('#model3d a[download]');
    return document.querySelector('#model3d canvas') !== null && link !== null && link.href; })()"""


def avatar_pixels(browser: Browser, path: Path, timeout: float = 60.0) -> dict[str, float]:
    """Fractions of the 3D view's pixels that differ from its clear colour, and that are the avatar's blue
    shirt, once the .glb has loaded and drawn (polled until the shirt shows, or `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        pixels = np.asarray(Image.open(browser.element_screenshot("#model3d canvas", path)).convert("RGB"), float)
        background = np.array([0.94, 0.94, 0.94]) * 255
        red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
        found = {"not_background": float((np.abs(pixels - background).sum(-1) > 30).mean()),
                 "shirt": float(((blue > red + 40) & (blue > green + 10)).mean())}
        if found["shirt"] > 0.002 or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} not found: apt-get install chromium "
                                                             f"(scripts/install.sh installs it)")
def test_page_in_headless_chromium_plays_the_generated_videos_and_draws_the_glb(checkpoints, speech, tmp_path):
    port = free_port()
    app = launch(demo_config(checkpoints, tmp_path / "out", port=port), block=False)
    try:
        with Browser(tmp_path / "profile") as browser:
            browser.open(f"http://127.0.0.1:{port}/")
            browser.wait_for("document.querySelector('#speech input[type=file]') !== null")
            browser.set_files("#speech input[type=file]", [speech])
            browser.wait_for("document.querySelector('#speech audio') !== null")  # uploaded: the player shows
            browser.evaluate("document.querySelector('#generate').click()")
            first = browser.wait_for(VIDEO_STATE.format(i=0), timeout=120)
            assert first["duration"] == pytest.approx(SECONDS, abs=0.05)
            assert (first["width"], first["height"]) == (2 * SIZE, SIZE)
            assert first["src"].endswith("sample00_rep00_pred.mp4")
            third = browser.wait_for(VIDEO_STATE.format(i=2))  # the slider's default: 3 samples
            assert third["src"].endswith("sample00_rep02_pred.mp4")
            assert browser.evaluate("document.querySelector('#video3 video') === null")  # the rest stay hidden
            assert browser.evaluate(PLAY) > 0.1
            downloads = browser.wait_for("document.querySelector('#downloads').innerText").replace("\n", "")
            assert "face_results.npy" in downloads and "sample02.bvh" in downloads and "sample02.glb" in downloads
            assert browser.wait_for(MODEL3D_FILE).endswith("sample00.glb")
            drawn = avatar_pixels(browser, tmp_path / "demo_3d_view.png")
            assert drawn["shirt"] > 0.002 and drawn["not_background"] > 0.02, drawn
            save_artifact(tmp_path / "demo_3d_view.png")
            save_artifact(browser.screenshot(tmp_path / "demo_page.png"))
            uploads = tmp_path / "out" / "gradio"
            assert uploads.is_dir()  # gradio wrote the upload there (GRADIO_TEMP_DIR)
            browser.wait_for("document.querySelector('#speech audio') === null")  # the upload is gone
            deadline = time.monotonic() + 30
            while list((tmp_path / "out").glob("request_*")) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not list((tmp_path / "out").glob("request_*"))  # served from gradio's copies, then deleted
            assert not [path for path in uploads.rglob("*") if path.suffix in (".wav", ".flac", ".mp3")]
    finally:
        app.close()
    port = free_port()
    app = launch(demo_config(tmp_path / "nothing", tmp_path / "out", port=port), block=False)
    try:
        with Browser(tmp_path / "profile_missing") as browser:
            browser.open(f"http://127.0.0.1:{port}/")
            problem = browser.wait_for("document.querySelector('#problem')?.innerText")
            assert "No trained model in" in problem and "python -m train.train_guide" in problem
            save_artifact(browser.screenshot(tmp_path / "demo_page_missing_checkpoints.png"))
    finally:
        app.close()
