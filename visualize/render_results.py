"""Videos of results.npy files: sampled (or ground-truth) motion on the reference avatar, with the sound.

    render_results(body_results="pose_run/results.npy", face_results="face_run/results.npy", out_dir="videos")
    python -m visualize.render_results --pose_codes BODY.npy --face_codes FACE.npy --out_dir DIR [--render_gt] [--grid]
    python -m visualize.render_results --pose_codes BODY.npy --face_codes FACE.npy --partner_pose_codes \
        PARTNER_BODY.npy --partner_face_codes PARTNER_FACE.npy --out_dir DIR     # both persons

Inputs are results.npy files of sample.generate (layout in sample/results.py: motions (N, C, 1, T), audio
(S or N, T*1600, 2), row = rep * num_samples + sample) or `Results` already in memory: a body file (C = 104), a
face file (C = 256), or both. Given both, they must be two runs with the same seed, sample count and
repetitions, as the original requires: the same rows, frames and lengths, and the same audio in every row
(to AUDIO_TOLERANCE); anything else is an error naming both files. Given one, the other part rests: the body
in the rest pose (all zeros: standing, arms down) and the face neutral (the zero code, which the reference
avatar defines as neutral for every named dim; a data set's mean code would need its statistics, which
results.npy does not carry).

Written into out_dir, for sample s and repetition r (rows cut to their `lengths`, at the results' fps, the
row's stereo 48 kHz audio muxed in as AAC):
- `sample{s:02d}_rep{r:02d}_pred.mp4`: the generated motion. Frames are visualize.avatar_view.AvatarView's:
  size x 2*size, the full body on the left and a face close-up on the right. When the person's Codec Avatar
  files are present (ca_body: the original's checkpoints/ca_body/data/<person>/, see visualize/ca_body), the
  frames are instead that photoreal avatar's two views (visualize/ca_body/photoreal.py), size pixels high,
  through the cameras of render_defaults (the original's assets/render_defaults_<person>.pth) when given. One
  line says which is rendered.
- with render_gt instead: `sample{s:02d}_rep00_gt.mp4`, the ground truth of body and face (whichever is
  given). The ground truth is the same for every repetition, so only repetition 0 is rendered (the original
  rendered the same video once per repetition).
- with partner results (the conversation partner's, sample.generate --both: partner_results.npy) instead:
  `sample{s:02d}_rep{r:02d}_both.mp4`, visualize.conversation_view.ConversationView's frames (2*size x
  2*size): the two facing each other from the side above each one's face close-up. The partner's files must
  have the person's rows, frames and lengths; their audio is the person's with the channels swapped.
- with grid, also `sample{s:02d}_grid.mp4`: all repetitions of the sample in a grid of GRID_COLUMNS columns
  (row-major, repetition 0 top left), each cell shrunk by a whole factor so the grid's longer side stays
  within GRID_MAX_SIDE pixels; the audio is the sample's.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_loaders.format import FACE_DIM, POSE_DIM, SAMPLE_RATE
from sample.original_avatar import GT_REFUSED, body_on_reference, face_on_reference, is_original
from sample.results import Results, ResultsError, load_results
from utils.cli import run_cli
from utils.config import arg, parse_config
from utils.device import resolve_device
from visualize.avatar_view import AvatarView
from visualize.conversation_view import ConversationView
from visualize.video import grid as grid_frames
from visualize.video import VIEW_SIZE_RANGE, write_video

AUDIO_TOLERANCE = 1e-5  # largest |difference| of the face and body files' audio samples in one row
GRID_COLUMNS = 2
GRID_MAX_SIDE = 1024  # pixels; also bounds the memory of the grid (a 20 s grid of 1024 x 1024 is 1.9 GB)


@dataclass
class RenderResultsConfig:
    """Which results to render, and how."""
    pose_codes: str = arg("", "body results.npy (sample.generate of a pose model); without it the body rests")
    face_codes: str = arg("", "face results.npy (sample.generate of a face model); without it the face is "
                              "neutral")
    out_dir: str = arg("", "folder for the mp4 files (required)")
    render_gt: bool = arg(False, "render the ground truth (one video per sample) instead of the predictions")
    grid: bool = arg(False, "also write sampleNN_grid.mp4: all repetitions of a sample in one video")
    partner_pose_codes: str = arg("", "the conversation partner's body results.npy (sample.generate --both): "
                                      "videos of both persons facing each other")
    partner_face_codes: str = arg("", "the conversation partner's face results.npy (sample.generate --both)")
    size: int = arg(512, "pixels per view: a frame is size x 2*size (full body | face close-up)",
                    **VIEW_SIZE_RANGE)
    progress: bool = arg(True, "show a progress bar")
    ca_body: str = arg("", "the original's checkpoints/ca_body/data/<person> folder: render that photoreal avatar "
                           "when it holds body_dec.ckpt, config.yml and static_assets.pt")
    render_defaults: str = arg("", "the original's assets/render_defaults_<person>.pth: its cameras for --ca_body")


def _load(results: Results | str | os.PathLike | None, channels: int, what: str,
          flag: str) -> tuple[Results | None, str]:
    """(validated Results or None, a name for errors) of a results path or object that must hold `channels`
    dims."""
    if results is None:
        return None, ""
    source = f"{what} results" if isinstance(results, Results) else str(results)
    loaded = results if isinstance(results, Results) else load_results(results)
    found = loaded.motions.shape[1]
    if found != channels:
        kind = {FACE_DIM: "face codes", POSE_DIM: "body poses"}.get(found, "unknown motion")
        raise ResultsError(f"{source}: 'motions' holds {found} channels ({kind}), but {flag} takes {what} "
                           f"results with {channels}; pass it with the other flag")
    return loaded, source


def check_pair(body: Results, face: Results, body_source: str, face_source: str) -> None:
    """A ResultsError unless the body and face results describe the same sequences (module docstring)."""
    def fail(message: str):
        raise ResultsError(f"body {body_source} and face {face_source}: {message}; sample both with the same "
                           f"--seed, --num_samples, --num_repetitions (and --audio file) so that row i of one "
                           f"is row i of the other")

    layout = lambda r: (r.num_samples, r.num_repetitions, r.frames)  # noqa: E731
    if layout(body) != layout(face):
        fail(f"(samples, repetitions, frames) differ: {layout(body)} vs {layout(face)}")
    if not np.array_equal(body.lengths, face.lengths):
        fail(f"lengths differ: {body.lengths.tolist()} vs {face.lengths.tolist()}")
    for row in range(max(len(body.audio), len(face.audio))):  # S rows each when both store the audio once
        if not _same_audio(body.audio_row(row), face.audio_row(row)):
            rep, sample = divmod(row, body.num_samples)
            fail(f"the audio of sample {sample}, repetition {rep} (row {row}) differs")


def _same_audio(first: np.ndarray, second: np.ndarray, block: int = 1 << 20) -> bool:
    """Whether two (N, 2) waveforms agree to AUDIO_TOLERANCE, compared a block at a time (small temporaries)."""
    return all(np.allclose(first[start:start + block], second[start:start + block], rtol=0.0, atol=AUDIO_TOLERANCE)
               for start in range(0, len(first), block))


@dataclass
class _Sources:
    """Body and face results (either may be None: that part rests) with their names for errors."""
    body: Results | None
    body_source: str
    face: Results | None
    face_source: str

    @property
    def ref(self) -> Results:
        """The results that set rows, lengths, audio and fps (the body's when both are given: they agree)."""
        return self.body if self.body is not None else self.face

    def sequence(self, row: int, gt: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pose (L, 104), face code (L, 256), audio (L*1600, 2)) of a row, L = lengths[row]; gt: ground truth."""
        ref = self.ref
        length = int(ref.lengths[row])
        pose = _motion(self.body, row, length, gt, POSE_DIM, self.body_source)
        code = _motion(self.face, row, length, gt, FACE_DIM, self.face_source)
        return pose, code, ref.audio_row(row)[:round(length * SAMPLE_RATE / ref.fps)]


def _motion(results: Results | None, row: int, length: int, gt: bool, channels: int, source: str) -> np.ndarray:
    """(length, channels) float32 motion of a row (ground truth with gt), or zeros (rest) without results."""
    if results is None:
        return np.zeros((length, channels), np.float32)
    stored = results.gt if gt else results.motions
    if stored is None:
        raise ResultsError(f"{source}: holds no ground truth ('gt' is None: it was sampled from an --audio "
                           f"file); render its predictions instead (no --render_gt)")
    return stored[row, :, 0, :length].T.astype(np.float32)


def grid_scale(repetitions: int, size: int) -> tuple[int, int]:
    """(columns, shrink factor) of the grid of `repetitions` views of size x 2*size (module docstring)."""
    columns = min(repetitions, GRID_COLUMNS)
    rows = math.ceil(repetitions / columns)
    return columns, max(1, math.ceil(max(columns * 2 * size, rows * size) / GRID_MAX_SIDE))


def shrink(frames: np.ndarray, factor: int) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, H // factor, W // factor, 3): means of factor x factor pixel blocks (frame by
    frame, so the temporaries stay small)."""
    if factor == 1:
        return frames
    count, height, width, channels = frames.shape
    height, width = height // factor, width // factor
    out = np.empty((count, height, width, channels), np.uint8)
    for i, frame in enumerate(frames):
        blocks = frame[:height * factor, :width * factor].reshape(height, factor, width, factor, channels)
        out[i] = (blocks.sum(axis=(1, 3), dtype=np.uint32) + factor * factor // 2) // (factor * factor)
    return out


def _sources(body_results, face_results, prefix: str = "") -> _Sources:
    """The checked _Sources of a person's body and face results (prefix: the flags' 'partner_')."""
    sources = _Sources(*_load(body_results, POSE_DIM, "body", f"--{prefix}pose_codes"),
                       *_load(face_results, FACE_DIM, "face", f"--{prefix}face_codes"))
    if sources.body is not None and sources.face is not None:
        check_pair(sources.body, sources.face, sources.body_source, sources.face_source)
    return sources


def on_reference_avatar(sources: _Sources) -> _Sources:
    """What the reference avatar draws of the sources: the original's models' body at rest and their lip
    regressor's lips on a neutral face (sample/original_avatar.py), each said in one line."""
    body, body_line = body_on_reference(sources.body, sources.body_source)
    face, face_line = face_on_reference(sources.face, sources.face_source)
    for line in (body_line, face_line):
        if line:
            tqdm.write(f"[render] {line}")
    return _Sources(body, sources.body_source, face, sources.face_source)


def _check_partner(person: _Sources, partner: _Sources) -> None:
    """A ResultsError unless the partner's results have the person's rows, frames and lengths."""
    layout = lambda r: (r.num_samples, r.num_repetitions, r.frames, r.lengths.tolist())  # noqa: E731
    if layout(person.ref) != layout(partner.ref):
        raise ResultsError(f"the partner's results ({partner.body_source or partner.face_source}) do not match the "
                           f"person's ({person.body_source or person.face_source}): (samples, repetitions, frames, "
                           f"lengths) {layout(partner.ref)} vs {layout(person.ref)}; make both with one "
                           f"sample.generate --both run")


def render_conversation(person: _Sources, partner: _Sources, out_dir: Path, size: int, progress: bool) -> list[Path]:
    """sampleNN_repMM_both.mp4 of every row: the person and the partner facing each other (module docstring)."""
    _check_partner(person, partner)
    ref, written = person.ref, []
    view = ConversationView(size)
    try:
        for rep, sample in tqdm([(r, s) for s in range(ref.num_samples) for r in range(ref.num_repetitions)],
                                desc="render", unit="video", disable=not progress):
            row = ref.index(rep, sample)
            pose, code, audio = person.sequence(row, gt=False)
            partner_pose, partner_code, _ = partner.sequence(row, gt=False)
            frames = view.render([pose, partner_pose], [code, partner_code])
            written.append(write_video(out_dir / f"sample{sample:02d}_rep{rep:02d}_both.mp4", frames, audio,
                                       fps=ref.fps, sample_rate=SAMPLE_RATE))
            del frames
    finally:
        view.close()
    return written


def make_view(size: int, ca_body: str | os.PathLike | None, render_defaults: str | os.PathLike | None):
    """The photoreal avatar of the ca_body folder when it holds the original's three files (on a GPU when there
    is one), else the reference avatar (AvatarView); prints one line saying which."""
    from visualize.ca_body.assets import PERSON_FILES
    if ca_body and all((Path(ca_body) / name).is_file() for name in PERSON_FILES):
        from visualize.ca_body.photoreal import PhotorealView
        view = PhotorealView(ca_body, render_defaults or None, size, resolve_device("auto"))
        tqdm.write(f"[render] {view.describe()}")
        return view
    where = f"no {', '.join(PERSON_FILES)} in {ca_body}" if ca_body else "no ca_body folder given"
    tqdm.write(f"[render] the reference avatar (a2p's own body and face): {where} for the photoreal one")
    return AvatarView(size)


def render_results(body_results: Results | str | os.PathLike | None = None,
                   face_results: Results | str | os.PathLike | None = None, *, out_dir: str | os.PathLike,
                   render_gt: bool = False, grid: bool = False, size: int = 512, progress: bool = True,
                   partner_body_results: Results | str | os.PathLike | None = None,
                   partner_face_results: Results | str | os.PathLike | None = None,
                   ca_body: str | os.PathLike | None = None,
                   render_defaults: str | os.PathLike | None = None) -> list[Path]:
    """Render every sample x repetition of the results (module docstring); returns the mp4 paths written. With
    partner results, videos of both persons; ca_body / render_defaults: the photoreal avatar (make_view)."""
    if body_results is None and face_results is None:
        raise ValueError("render_results needs body results (--pose_codes), face results (--face_codes) or both")
    if render_gt and grid:
        raise ValueError("--grid shows the repetitions of the predictions; the ground truth is the same in all "
                         "of them, so leave out --grid or --render_gt")
    sources = _sources(body_results, face_results)
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    if partner_body_results is not None or partner_face_results is not None:
        if render_gt or grid:
            raise ValueError("videos of both persons show the predictions one by one: leave out --render_gt and "
                             "--grid with --partner_pose_codes / --partner_face_codes")
        partner = _sources(partner_body_results, partner_face_results, "partner_")
        return render_conversation(on_reference_avatar(sources), on_reference_avatar(partner), out_dir, size,
                                   progress)
    ref = sources.ref
    repetitions = 1 if render_gt else ref.num_repetitions
    columns, factor = grid_scale(repetitions, size)
    written = []
    view = make_view(size, ca_body, render_defaults)
    if isinstance(view, AvatarView):
        if render_gt and (is_original(sources.body) or is_original(sources.face)):
            view.close()
            raise ResultsError(f"{sources.body_source or sources.face_source}: {GT_REFUSED}")
        sources = on_reference_avatar(sources)
    try:
        with tqdm(total=ref.num_samples * (repetitions + grid), desc="render", unit="video",
                  disable=not progress) as bar:
            for sample in range(ref.num_samples):
                cells = []
                for rep in range(repetitions):
                    pose, code, audio = sources.sequence(ref.index(rep, sample), render_gt)
                    frames = view.render(pose, code)
                    name = f"sample{sample:02d}_rep{rep:02d}_{'gt' if render_gt else 'pred'}.mp4"
                    written.append(write_video(out_dir / name, frames, audio, fps=ref.fps, sample_rate=SAMPLE_RATE))
                    bar.update()
                    if grid:
                        cells.append(shrink(frames, factor))
                    del frames  # a 20 s clip at 512 is ~1 GB: free it before the next one is rendered
                if grid:
                    written.append(write_video(out_dir / f"sample{sample:02d}_grid.mp4", grid_frames(cells, columns),
                                               audio, fps=ref.fps, sample_rate=SAMPLE_RATE))
                    bar.update()
    except BaseException:  # a full disk, Ctrl-C: no partial set of videos, no folder made for nothing
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        view.close()
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    config, = parse_config([RenderResultsConfig], argv, description=(
        "Render results.npy files of sample.generate as mp4 videos of the reference avatar (full body and face "
        "close-up) with the audio: a body file, a face file, or both (then from runs with the same seed and "
        "sample counts)."))
    if not config.out_dir:
        raise SystemExit("--out_dir is required: the folder for the mp4 files")
    if not config.pose_codes and not config.face_codes:
        raise SystemExit("give --pose_codes (body results.npy), --face_codes (face results.npy) or both")
    written = render_results(config.pose_codes or None, config.face_codes or None, out_dir=config.out_dir,
                             render_gt=config.render_gt, grid=config.grid, size=config.size,
                             progress=config.progress, partner_body_results=config.partner_pose_codes or None,
                             partner_face_results=config.partner_face_codes or None, ca_body=config.ca_body or None,
                             render_defaults=config.render_defaults or None)
    print(f"wrote {len(written)} videos to {config.out_dir}")
    return written


if __name__ == "__main__":
    run_cli(main)
