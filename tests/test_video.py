"""write_video makes an mp4 whose frames, size, duration and muxed audio are what was asked, atomically."""
import ffmpeg
import numpy as np
import pytest

from visualize.video import ffmpeg_executable, fit_audio, grid, probe, write_video

FRAMES, HEIGHT, WIDTH = 20, 48, 64
SAMPLES_PER_FRAME = 1600


def color_bars(frames=FRAMES, height=HEIGHT, width=WIDTH):
    """Left half red, right half blue, top rows green: checks RGB order and orientation after a round trip."""
    video = np.zeros((frames, height, width, 3), np.uint8)
    video[:, :, :width // 2, 0] = 220
    video[:, :, width // 2:, 2] = 220
    video[:, :height // 4] = (0, 220, 0)
    return video


def decode(path, width, height):
    """The mp4's frames (F, H, W, 3) uint8, decoded by ffmpeg."""
    raw, _ = (ffmpeg.input(str(path)).output("pipe:", format="rawvideo", pix_fmt="rgb24")
              .run(cmd=ffmpeg_executable(), capture_stdout=True, capture_stderr=True))
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def tone(samples, channels=2):
    t = np.arange(samples) / 48_000
    return np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * channels, axis=1).astype(np.float32)


def test_mp4_has_frames_size_duration_and_synced_audio(tmp_path):
    path = write_video(tmp_path / "clip.mp4", color_bars(), tone(FRAMES * SAMPLES_PER_FRAME))
    info = probe(path)
    assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (FRAMES, WIDTH, HEIGHT, True)
    assert info["duration"] == pytest.approx(FRAMES / 30, abs=1e-3)
    assert info["audio_duration"] == pytest.approx(FRAMES / 30, abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # the temporary file was renamed


def test_frames_survive_the_round_trip_in_rgb_order_and_upright(tmp_path):
    frames = color_bars()
    decoded = decode(write_video(tmp_path / "bars.mp4", frames), WIDTH, HEIGHT)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 3


@pytest.mark.parametrize("samples", [FRAMES * SAMPLES_PER_FRAME - 1000, FRAMES * SAMPLES_PER_FRAME + 1500])
def test_slightly_short_or_long_audio_is_fitted_to_the_frames(tmp_path, samples):
    info = probe(write_video(tmp_path / "fit.mp4", color_bars(), tone(samples, channels=1)[:, 0]))
    assert info["audio_duration"] == pytest.approx(FRAMES / 30, abs=1e-3)


def test_fit_audio_pads_with_silence_and_trims_exactly():
    audio = tone(3000)
    padded = fit_audio(audio, frames=2, fps=30, sample_rate=48_000, tolerance_frames=1)
    assert padded.shape == (3200, 2) and np.array_equal(padded[:3000], audio) and not padded[3000:].any()
    trimmed = fit_audio(tone(4000), frames=2, fps=30, sample_rate=48_000, tolerance_frames=1)
    assert np.array_equal(trimmed, tone(4000)[:3200])


def test_audio_of_another_length_is_an_explained_error(tmp_path):
    with pytest.raises(ValueError, match=r"audio lasts 1\.000 s .* 20 frames last 0\.667 s"):
        write_video(tmp_path / "bad.mp4", color_bars(), tone(48_000))
    assert not list(tmp_path.iterdir())


def test_video_without_audio_and_odd_size_is_padded_even(tmp_path):
    info = probe(write_video(tmp_path / "odd.mp4", color_bars(height=47, width=63)))
    assert (info["frames"], info["width"], info["height"], info["has_audio"]) == (FRAMES, 64, 48, False)


@pytest.mark.parametrize("frames, message", [
    (np.zeros((FRAMES, HEIGHT, WIDTH, 3), np.float32), "uint8"),
    (np.zeros((HEIGHT, WIDTH, 3), np.uint8), r"\(F, H, W, 3\)"),
    (np.zeros((FRAMES, HEIGHT, WIDTH, 4), np.uint8), r"\(F, H, W, 3\)"),
    ([np.zeros((HEIGHT, WIDTH, 3), np.uint8)], "numpy array"),
])
def test_bad_frames_get_clear_errors(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / "bad.mp4", frames)


def test_ffmpeg_failure_names_the_file_and_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="clip.mp4"):
        write_video(tmp_path / "clip.mp4", color_bars(), preset="no-such-preset")
    assert not list(tmp_path.iterdir())


def test_grid_tiles_videos_row_by_row():
    videos = [np.full((3, 4, 5, 3), i + 1, np.uint8) for i in range(5)]
    tiled = grid(videos, cols=2)
    assert tiled.shape == (3, 12, 10, 3)
    cells = tiled[0, ::4, ::5, 0]
    assert cells.tolist() == [[1, 2], [3, 4], [5, 0]]
    with pytest.raises(ValueError, match="video 1"):
        grid([videos[0], videos[1][:2]], cols=2)
