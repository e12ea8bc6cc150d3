"""`python -m demo.demo [--checkpoints DIR] [--port 7860] [--share]`: a web page that turns speech into avatar videos.

On the page (gradio) a person uploads or records speech, picks the number of samples (1-10) and the sample
diversity (the guide transformer's nucleus top-p), and gets one video per sample (or one grid video of all)
plus the files to download: face and body results.npy (sample/results.py), and per sample a BVH of the body
(visualize.export_bvh), a CSV of the named face dims and a glTF 2.0 .glb (visualize.export_gltf: the skinned
avatar with body and face animation, for Blender, Unity, three.js); the first sample's .glb plays in an
interactive 3D view on the page. "Both persons" also animates the conversation partner (channel 1) with the
same models from the channels swapped (sample/partner.py): the videos then show the two facing each other
above their face close-ups (one video per sample: the grid shows one person), the .glb files hold both, and the
partner's results.npy files join the downloads.

Checkpoints: DIR holds one training --save_dir per model (args.json and model*.pt; the newest is used):

    DIR/face   face diffusion model   python -m train.train_diffusion --data_format face --lip_model_path DIR/lip
    DIR/lip    its lip regressor      python -m train.train_lip            (named by DIR/face/args.json)
    DIR/pose   body diffusion model   python -m train.train_diffusion --data_format pose
    DIR/guide  guide transformer      python -m train.train_guide --resume_pth DIR/vq
    DIR/vq     its VQ-VAE             python -m train.train_vq             (named by DIR/guide/args.json)

The face and guide runs find their lip regressor and VQ-VAE through the paths in their args.json
(lip_model_path, resume_pth), as sample.generate does. DIR may also be the original's released checkpoints/
tree (diffusion/c1_face, diffusion/c1_pose, guide/c1_pose, vq/c1_pose; train/original_layout.py). Default
DIR: checkpoints/ in the repository. Without usable checkpoints the page says what is missing and prints the
commands that make them (MISSING_HELP).

Processing (`Demo.run`, usable without a browser): the audio file is read by sample/audio_input.py (any
format, rate and length; mono = the person, the partner taken as quiet noise), at most --max_upload_mb
large and --max_seconds long: both are checked before anything is decoded (the size from the file system,
the duration from the file's header), so an upload that is too large or too long costs no memory. The
face and the body are sampled with sample.generate's functions as ONE audio sample with num_samples
repetitions (so the conditions are computed once), in overlapping windows when the audio is longer than the
models' window, with --seed (the same audio and settings give the same videos). Guidance, sampler and steps
are each model folder's recommendation (DIR/face/sampling.json, DIR/pose/sampling.json; sample/recommended.py)
unless given as flags; top-p starts at 0.97 as in the original demo. Videos come from visualize.render_results:
the original's photoreal avatar when its checkpoints/ca_body/data/<person>/ sits in the models' tree (the
person of the body model's data root), else the reference avatar.

Files: each request writes into its own folder under the workspace (--output_dir, default a new temporary
folder owned by the process and removed however it ends, SIGTERM included: demo/workspace.py); gradio keeps
its uploads and the copies of the outputs it serves in the workspace's `gradio/` folder (GRADIO_TEMP_DIR).
After a request, the upload and the request's folder are deleted (the page holds the videos and downloads
by then; upload the speech again for another run); a request made through the API leaves its folder until a
later request finds it older than REQUEST_SECONDS; gradio's copies older than CACHE_SECONDS are deleted as
it runs. Error messages on the page name the upload by its file name, never a path on the server.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Optional

import gradio as gr

from data_loaders.format import SAMPLE_RATE
from demo.workspace import REQUEST_PREFIX, open_workspace, remove_old_requests, stop_on_sigterm
from sample.audio_input import AudioInfo, AudioInputError, audio_file_info
from sample.body import BodySampler
from sample.face import FaceSampler
from sample.generate import GenerateConfig, Inputs, audio_file_inputs, sample_inputs
from sample.partner import PARTNER_SEED_OFFSET, partner_inputs
from sample.recommended import sampling_settings
from sample.results import Results, save_results
from sample.windows import GUIDANCE_RANGE, NormalizedAudio, SamplingConfig
from train.checkpoint import latest_checkpoint
from train.original_layout import OriginalModelConfig, original_model_folders
from utils.cli import run_cli
from utils.config import arg, parse_config
from utils.device import device_name, resolve_device
from visualize.ca_body.photoreal import person_paths
from visualize.export_bvh import write_bvh, write_face_csv
from visualize.export_gltf import PERSON_NAMES, PersonMotion, write_gltf
from visualize.render_results import render_results
from visualize.video import VIEW_SIZE_RANGE

REPO = Path(__file__).resolve().parent.parent
MAX_SAMPLES = 10
CACHE_SECONDS = 3600  # gradio's copies of served files older than this are deleted
MODELS = {"face": "face diffusion model", "pose": "body diffusion model", "guide": "guide transformer"}
MISSING_HELP = """Train the models into {dir} (here on the synthetic data set; any person folder works):

    python -m data_loaders.synthetic --preset default --out dataset
    python -m train.train_lip --data_root dataset/SYN001 --save_dir {dir}/lip
    python -m train.train_diffusion --data_format face --lip_model_path {dir}/lip --data_root dataset/SYN001 \
        --save_dir {dir}/face
    python -m train.train_vq --data_root dataset/SYN001 --save_dir {dir}/vq
    python -m train.train_guide --resume_pth {dir}/vq --data_root dataset/SYN001 --save_dir {dir}/guide
    python -m train.train_diffusion --data_format pose --data_root dataset/SYN001 --save_dir {dir}/pose

or start the demo with --checkpoints pointing at a folder that holds them."""


@dataclass
class DemoConfig:
    """The web page, the models and how they are sampled and rendered."""
    checkpoints: str = arg(str(REPO / "checkpoints"), "folder holding the face, lip, pose, guide and vq training "
                                                      "save_dirs, or the original's released checkpoints/ tree "
                                                      "(module docstring)")
    port: int = arg(7860, "port of the web page", at_most=65535)
    host: str = arg("127.0.0.1", "address to listen on (0.0.0.0: reachable from other machines)")
    share: bool = arg(False, "also publish the page through a temporary public gradio.live link (needs internet)")
    output_dir: str = arg("", "folder for each request's videos and files (default: a new temporary folder)")
    device: str = arg("auto", "auto (CUDA when available), cpu, cuda or cuda:N", check=device_name)
    size: int = arg(384, "pixels per view of the videos: a frame is size x 2*size (full body | face close-up)",
                    **VIEW_SIZE_RANGE)
    max_seconds: float = arg(120.0, "longest audio accepted, in seconds, read from the file's header before it is "
                                    "decoded (0: any length)")
    max_upload_mb: float = arg(50.0, "largest audio file accepted, in MB (0: any size)")
    timestep_respacing: Optional[str] = arg(None, "denoising steps of face and body (see sample.generate); none: "
                                                  "each model folder's sampling.json")
    sampler: Optional[Literal["dpmpp2m", "ddim", "ddpm"]] = arg(None, "diffusion sampler of face and body (see "
                                                                      "sample.generate); none: each model "
                                                                      "folder's sampling.json")
    face_guidance: Optional[float] = arg(None, "classifier-free guidance scale of the face; none: "
                                               "DIR/face/sampling.json", **GUIDANCE_RANGE)
    body_guidance: Optional[float] = arg(None, "classifier-free guidance scale of the body; none: "
                                               "DIR/pose/sampling.json", **GUIDANCE_RANGE)
    seed: int = arg(10, "seed of the sampling noise (original demo: 10)")


class CheckpointsMissing(RuntimeError):
    """The checkpoint folder lacks a model the demo needs; the message says which and how to make it."""


class DemoOutput(NamedTuple):
    """What one request produced: videos (mp4 paths, in display order), files to download, a status line, the
    request's folder holding them, and the .glb the 3D view shows (the first sample's)."""
    videos: list[Path]
    files: list[Path]
    message: str
    folder: Path
    scene: Path


def model_folders(folder: str | Path) -> dict[str, Path]:
    """{"face", "pose", "guide"} -> run folders: the original's released tree when `folder` is one, else
    folder/face, folder/pose and folder/guide, which must each hold a model*.pt (CheckpointsMissing)."""
    folder = Path(folder)
    original = original_model_folders(folder)
    if set(MODELS) <= set(original):
        return original
    missing = [f"{folder / name} ({what})" for name, what in MODELS.items()
               if latest_checkpoint(folder / name, "model") is None]
    if missing:
        raise CheckpointsMissing("No trained model in:\n" + "".join(f"    {line}\n" for line in missing) + "\n"
                                 + MISSING_HELP.format(dir=folder))
    return {name: folder / name for name in MODELS}


class Demo:
    """The loaded face and body samplers and the settings of the page (DemoConfig)."""

    def __init__(self, face: FaceSampler, body: BodySampler, config: DemoConfig,
                 person: tuple[Path, Path] | None = None):
        """person: (ca_body folder, render_defaults file) of the photoreal avatar (render_results.make_view)."""
        self.face, self.body, self.config, self.person = face, body, config, person
        folder = Path(config.checkpoints)
        common = dict(sampler=config.sampler, timestep_respacing=config.timestep_respacing, seed=config.seed)
        self.face_settings = sampling_settings(folder / "face", guidance_param=config.face_guidance, **common)
        self.body_settings = sampling_settings(folder / "pose", guidance_param=config.body_guidance, **common)
        self.output_root = open_workspace(config.output_dir)

    def check_upload(self, audio_path: str | Path) -> AudioInfo:
        """The upload's AudioInfo, or an AudioInputError when it is larger than --max_upload_mb or longer than
        --max_seconds; nothing of the file is decoded."""
        size_mb = Path(audio_path).stat().st_size / 2 ** 20 if Path(audio_path).is_file() else 0.0
        if self.config.max_upload_mb and size_mb > self.config.max_upload_mb:
            raise AudioInputError(f"{Path(audio_path).name}: {size_mb:.1f} MB; this page takes files of at most "
                                  f"{self.config.max_upload_mb:g} MB (start it with --max_upload_mb to change that)")
        return audio_file_info(audio_path, self.config.max_seconds or None)

    @classmethod
    def load(cls, config: DemoConfig, options: dict | None = None) -> "Demo":
        """Load the models of config.checkpoints; CheckpointsMissing (or the loaders' own errors, naming the
        file) when they are not usable. options: OriginalModelConfig's fields for the original's models."""
        folders, device = model_folders(config.checkpoints), resolve_device(config.device)
        face = FaceSampler.load(folders["face"], device, options)
        body = BodySampler.load(folders["pose"], device, resume_trans=folders["guide"], options=options)
        data_root = body.config.get("data_root")
        return cls(face, body, config, person_paths(folders["pose"], data_root) if data_root else None)

    def sample(self, sampler: FaceSampler | BodySampler, inputs: Inputs, num_samples: int,
               settings: SamplingConfig, partner: bool = False) -> Results:
        """num_samples repetitions of the one audio sample `inputs` (normalised for `sampler`), as results.npy;
        partner: the conversation partner's (channels swapped, its own noise seed; sample/partner.py)."""
        settings = dataclasses.replace(settings, num_repetitions=num_samples)
        if partner:
            inputs = partner_inputs(inputs, sampler.normalizer)
            settings = dataclasses.replace(settings, seed=settings.seed + PARTNER_SEED_OFFSET)
        return sample_inputs(sampler, inputs, settings, GenerateConfig(progress=False), sampler.window)

    @staticmethod
    def write_files(folder: Path, persons: list[tuple[Results, Results]], num_samples: int) -> list[Path]:
        """The downloads of a request: face and body results.npy (the partner's too), per sample a BVH and a
        face CSV of the person and a .glb of everyone. persons: (face, body) of the person[, the partner]."""
        files = []
        for name, (face, body) in zip(("", "partner_"), persons):
            files += [save_results(folder / f"{name}face_results.npy", face),
                      save_results(folder / f"{name}body_results.npy", body)]
        face, body = persons[0]
        for rep in range(num_samples):
            write_bvh(folder / f"sample{rep:02d}.bvh", body.motion(rep, 0))
            write_face_csv(folder / f"sample{rep:02d}_face.csv", face.motion(rep, 0))
            motions = [PersonMotion(name, b.motion(rep, 0), f.motion(rep, 0)) for name, (f, b) in zip(PERSON_NAMES,
                                                                                                      persons)]
            files += [folder / f"sample{rep:02d}.bvh", folder / f"sample{rep:02d}_face.csv",
                      write_gltf(folder / f"sample{rep:02d}.glb", motions)]
        return files

    def run(self, audio_path: str, num_samples: int = 3, top_p: float = 0.97, grid: bool = False,
            both: bool = False) -> DemoOutput:
        """Sample, render and export one request (module docstring). Videos: one per sample, or the grid; with
        both, one per sample of the two persons facing each other."""
        if not 1 <= int(num_samples) <= MAX_SAMPLES:
            raise ValueError(f"the number of samples must be 1 to {MAX_SAMPLES}, got {num_samples}")
        if not 0 < top_p <= 1:
            raise ValueError(f"the sample diversity (top-p) must be in (0, 1], got {top_p}")
        num_samples = int(num_samples)
        started = time.perf_counter()
        remove_old_requests(self.output_root)
        self.check_upload(audio_path)
        face_inputs = audio_file_inputs(audio_path, self.face.normalizer, self.config.max_seconds or None)
        seconds = face_inputs.raw_audio.shape[1] / SAMPLE_RATE
        self.body.top_p = top_p
        body_inputs = face_inputs._replace(audio=NormalizedAudio(face_inputs.raw_audio, self.body.normalizer))
        persons = [(self.sample(self.face, face_inputs, num_samples, self.face_settings, partner),
                    self.sample(self.body, body_inputs, num_samples, self.body_settings, partner))
                   for partner in ((False, True) if both else (False,))]
        sampled = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix=REQUEST_PREFIX, dir=self.output_root))
        try:
            files = self.write_files(folder, persons, num_samples)
            (face, body), partner = persons[0], dict(zip(("partner_face_results", "partner_body_results"),
                                                        persons[1] if both else ()))
            written = render_results(body, face, out_dir=folder, grid=grid and not both, size=self.config.size,
                                     progress=False, ca_body=self.person[0] if self.person else None,
                                     render_defaults=self.person[1] if self.person else None, **partner)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        videos = [p for p in written if p.name.endswith("_grid.mp4") == (grid and not both)]
        message = (f"{num_samples} sample(s) of {seconds:.1f} s{' of both persons' if both else ''}: sampled in "
                   f"{sampled - started:.1f} s, rendered in {time.perf_counter() - sampled:.1f} s.")
        return DemoOutput(videos, files, message, folder, folder / "sample00.glb")


INTRO = """# a2p: speech to a talking, gesturing avatar
Upload or record speech (any length, mono or stereo: channel 0 = the person, channel 1 = the conversation
partner), choose how many different samples to draw and how diverse the body's guide poses may be, and press
Generate. The face and the body are sampled by diffusion models; sampling and rendering take a while on a CPU."""


def build_app(demo: Demo | None, problem: str = "") -> gr.Blocks:
    """The gradio page for `demo`, or a page that shows `problem` when the models could not be loaded."""
    with gr.Blocks(title="a2p demo", analytics_enabled=False, delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown(INTRO)
        if demo is None:
            gr.Markdown(f"## The models are not ready\n\n```\n{problem}\n```", elem_id="problem")
            return app
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None, label="Speech",
                                 elem_id="speech")  # format None: the upload reaches Demo.run undecoded
                num_samples = gr.Slider(1, MAX_SAMPLES, value=3, step=1, label="Number of samples")
                top_p = gr.Slider(0.01, 1.0, value=0.97, step=0.01, label="Sample diversity",
                                  info="nucleus top-p of the guide transformer that draws the body's key poses")
                grid = gr.Checkbox(False, label="One grid video of all samples")
                both = gr.Checkbox(False, label="Both persons", elem_id="both",
                                   info="also animate the conversation partner (channel 1): the two face each other")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
                status = gr.Markdown(elem_id="status")
            with gr.Column():
                videos = [gr.Video(label=f"Sample {i + 1}", visible=i == 0, interactive=False, elem_id=f"video{i}")
                          for i in range(MAX_SAMPLES)]
                scene = gr.Model3D(label="3D: sample 1 (drag to turn; the .glb is in the downloads)",
                                   clear_color=(0.94, 0.94, 0.94, 1.0), interactive=False, elem_id="model3d")
                files = gr.File(label="Downloads: results.npy (face, body), BVH, face CSV and glTF .glb per sample",
                                file_count="multiple", interactive=False, elem_id="downloads")

        request_folder = gr.State()

        def respond(audio_path, count, diversity, as_grid, both_persons):
            if not audio_path:
                raise gr.Error("Upload or record some speech first.")
            try:
                out = demo.run(audio_path, int(count), float(diversity), bool(as_grid), bool(both_persons))
            except (ValueError, OSError) as error:  # bad audio or setting, full disk: tell the person, keep the page
                raise gr.Error(without_server_paths(str(error), audio_path, demo.output_root)) from error
            finally:
                remove_upload(audio_path)
            shown = [gr.update(value=str(path), visible=True, label="All samples" if as_grid else f"Sample {i + 1}")
                     for i, path in enumerate(out.videos)]
            hidden = [gr.update(value=None, visible=False)] * (MAX_SAMPLES - len(shown))
            message = out.message + " The upload was deleted from the server: upload it again for another run."
            return [*shown, *hidden, str(out.scene), [str(path) for path in out.files], message, str(out.folder),
                    None]

        event = button.click(respond, [audio, num_samples, top_p, grid, both],
                             [*videos, scene, files, status, request_folder, audio])
        event.then(lambda folder: shutil.rmtree(folder, ignore_errors=True), request_folder)  # served by then
    return app


def without_server_paths(message: str, upload: str | Path, workspace: Path) -> str:
    """`message` for the page: the upload's path on the server replaced by its file name, the workspace's by
    "the demo's workspace"."""
    return message.replace(str(upload), Path(upload).name).replace(str(workspace), "the demo's workspace")


def remove_upload(path: str | Path) -> None:
    """Delete an uploaded file, and its folder when that is left empty, if it lies in gradio's upload folder
    (GRADIO_TEMP_DIR; never a file of the user's own)."""
    path = Path(path).resolve()
    upload_root = Path(os.environ.get("GRADIO_TEMP_DIR", tempfile.gettempdir() + "/gradio")).resolve()
    if upload_root not in path.parents:
        return
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def launch(config: DemoConfig, block: bool = True, options: dict | None = None) -> gr.Blocks:
    """Load the models (or the reason they cannot be) and serve the page; block: until Ctrl-C, else return
    at once (the page runs in a thread; stop it with .close()). options: OriginalModelConfig's fields."""
    try:
        demo, problem = Demo.load(config, options), ""
    except (CheckpointsMissing, FileNotFoundError, ValueError) as error:
        demo, problem = None, str(error)
        print(f"[demo] {problem}")
    if block:
        stop_on_sigterm()
    if demo is not None:
        os.environ["GRADIO_TEMP_DIR"] = str(demo.output_root / "gradio")  # uploads and served copies
    app = build_app(demo, problem)
    allowed = [str(demo.output_root)] if demo is not None else []
    app.queue().launch(server_name=config.host, server_port=config.port, share=config.share, allowed_paths=allowed,
                       prevent_thread_lock=not block, ssr_mode=False,
                       max_file_size=f"{config.max_upload_mb:g}mb" if config.max_upload_mb else None)
    return app


def main(argv: list[str] | None = None) -> None:
    config, original = parse_config([DemoConfig, OriginalModelConfig], argv, description=(
        "Web page (gradio): upload or record speech and watch the avatar say it, several samples at a time."))
    launch(config, options=dataclasses.asdict(original))


if __name__ == "__main__":
    run_cli(main)
