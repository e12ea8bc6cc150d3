"""MP4 video assembly: H.264 frames with AAC audio muxed in, a grid of several videos, and a probe for tests.

Frames: (F, H, W, 3) uint8 RGB, top row first, streamed to ffmpeg through a pipe (no image files); odd
widths or heights are padded with one black column/row (H.264 in yuv420p needs even sizes). Audio:
(N, channels) float in [-1, 1] (or (N,) mono) at `sample_rate`, written to a WAV in a temporary directory
and encoded as AAC 192 kb/s. Sync is exact by construction: the audio is zero-padded or trimmed to exactly
round(F * sample_rate / fps) samples (F * 1600 at 30 fps and 48 kHz), so the audio lasts as long as the
frames; a mismatch of more than `tolerance_frames` frames is an error (it means audio and motion do not
belong together). The mp4 is written to a temporary name next to `path` and renamed when complete.
ffmpeg: the system's (`apt-get install ffmpeg`), else the binary of the imageio-ffmpeg wheel.
"""
from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from pathlib import Path

import ffmpeg
import numpy as np
import soundfile as sf

from utils.files import atomic_write

VIEW_SIZE_RANGE = {"at_least": 32, "at_most": 4096}  # pixels per view that --size / --render_size flags take

AUDIO_BITRATE = "192k"
FULL_DISK_LOG = os.strerror(errno.ENOSPC).encode()  # "No space left on device" in ffmpeg's log


def ffmpeg_executable() -> str:
    """Path of the ffmpeg binary: the system's, else the one bundled with imageio-ffmpeg."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as err:
        raise RuntimeError(f"ffmpeg not found ({err}): apt-get install ffmpeg (or pip install imageio-ffmpeg)") from err


def fit_audio(audio: np.ndarray, frames: int, fps: int, sample_rate: int, tolerance_frames: float) -> np.ndarray:
    """Audio (N, C) float32 zero-padded or trimmed to exactly round(frames * sample_rate / fps) samples."""
    audio = np.asarray(audio, np.float32)
    audio = audio[:, None] if audio.ndim == 1 else audio
    if audio.ndim != 2 or audio.shape[1] > 8:
        raise ValueError(f"audio must be (samples, channels) or (samples,), got {audio.shape}")
    target = round(frames * sample_rate / fps)
    mismatch_frames = abs(len(audio) - target) * fps / sample_rate
    if mismatch_frames > tolerance_frames:
        raise ValueError(
            f"audio lasts {len(audio) / sample_rate:.3f} s ({len(audio)} samples at {sample_rate} Hz) but the "
            f"{frames} frames last {frames / fps:.3f} s at {fps} fps: they differ by {mismatch_frames:.1f} frames "
            f"(more than {tolerance_frames}). Pass the audio the motion was made from, or trim both to the same "
            f"duration.")
    fitted = np.zeros((target, audio.shape[1]), np.float32)
    kept = min(target, len(audio))
    fitted[:kept] = audio[:kept]
    return fitted


def write_video(path: str | os.PathLike, frames: np.ndarray, audio: np.ndarray | None = None, fps: int = 30,
                sample_rate: int = 48_000, crf: int = 18, preset: str = "veryfast",
                tolerance_frames: float = 1.0) -> Path:
    """Write frames (F, H, W, 3) uint8 and optional audio (N, C) float to an H.264/AAC mp4 at `path`.

    crf, preset: libx264 quality (lower crf = better, larger) and speed. Returns the path written.
    """
    path = Path(path)
    frames = _check_frames(frames)
    count, height, width, _ = frames.shape
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
    if width % 2 or height % 2:
        video = video.filter("pad", width + width % 2, height + height % 2)
    with atomic_write(path) as tmp, tempfile.TemporaryDirectory(prefix="a2p_video_") as workdir:
        streams = [video]
        audio_options = {}
        if audio is not None:
            wav = Path(workdir) / "audio.wav"
            sf.write(str(wav), fit_audio(audio, count, fps, sample_rate, tolerance_frames), sample_rate,
                     subtype="FLOAT")
            streams.append(ffmpeg.input(str(wav)))
            audio_options = {"acodec": "aac", "audio_bitrate": AUDIO_BITRATE}
        output = ffmpeg.output(*streams, str(tmp), format="mp4", vcodec="libx264", pix_fmt="yuv420p", crf=crf,
                               preset=preset, movflags="+faststart", **audio_options)
        _run_with_stdin(output.global_args("-loglevel", "error").overwrite_output(), frames, path)
    return path


def _run_with_stdin(output, frames: np.ndarray, target: Path) -> None:
    """Run an ffmpeg graph (writing the temporary file of `target`), streaming frames to its stdin; on failure
    raise its log."""
    process = output.run_async(cmd=ffmpeg_executable(), pipe_stdin=True, pipe_stderr=True)
    try:
        for frame in frames:
            process.stdin.write(frame.data)
    except BrokenPipeError:
        pass  # ffmpeg stopped early; its log says why
    _, log = process.communicate()
    if process.returncode != 0 and FULL_DISK_LOG in log:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # atomic_write names the file and the cause
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg failed writing {target} (exit {process.returncode}): "
                           f"{log.decode(errors='replace').strip()}")


def _check_frames(frames) -> np.ndarray:
    """Frames as a C-contiguous (F, H, W, 3) uint8 array, or a ValueError that says what is wrong."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"frames must be a numpy array (F, H, W, 3) uint8, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[3] != 3 or min(frames.shape) == 0:
        raise ValueError(f"frames must be (F, H, W, 3) RGB with F, H, W > 0, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (0..255), got {frames.dtype}; convert floats in [0, 1] with "
                         f"(frames * 255).round().clip(0, 255).astype(np.uint8)")
    return np.ascontiguousarray(frames)


def grid(frames_list: list[np.ndarray], cols: int) -> np.ndarray:
    """Tile equally shaped videos (F, H, W, 3) row by row into (F, H * rows, W * cols, 3); empty cells black."""
    if not frames_list:
        raise ValueError("grid needs at least one video")
    shape = frames_list[0].shape
    for i, frames in enumerate(frames_list):
        if frames.shape != shape or frames.ndim != 4:
            raise ValueError(f"grid videos must all be (F, H, W, 3) of one shape; video 0 is {shape}, "
                             f"video {i} is {frames.shape}")
    count, height, width, channels = shape
    rows = math.ceil(len(frames_list) / cols)
    out = np.zeros((count, height * rows, width * cols, channels), frames_list[0].dtype)
    for i, frames in enumerate(frames_list):
        row, col = divmod(i, cols)
        out[:, row * height:(row + 1) * height, col * width:(col + 1) * width] = frames
    return out


def probe(path: str | os.PathLike) -> dict:
    """dict(frames, width, height, duration (s, video stream), has_audio, audio_duration (s, or None))."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise RuntimeError("ffprobe not found: apt-get install ffmpeg")
    try:
        info = ffmpeg.probe(str(path), cmd=ffprobe)
    except ffmpeg.Error as err:
        raise RuntimeError(f"{path}: ffprobe cannot read it: {err.stderr.decode(errors='replace').strip()}") from err
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    return dict(frames=int(video["nb_frames"]), width=int(video["width"]), height=int(video["height"]),
                duration=float(video["duration"]), has_audio=audio is not None,
                audio_duration=float(audio["duration"]) if audio is not None else None)
