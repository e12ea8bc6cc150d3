"""The golden fixtures of the original code (../shared/fixtures/upstream, read its README.md), the fixture
generator's fairseq stand-ins, and a checkpoint tree in the original's released layout made from them.

    fixture = load_fixture("face_denoiser")             # dict: state_dict, config, inputs, outputs, ...
    root = make_original_tree(tmp_path)                 # root/checkpoints/{diffusion,guide,vq}/..., dataset/

The face, pose and guide fixtures were computed with a stand-in for each fairseq model (`StandInWav2Vec`: one
Conv1d(1, C, 465, stride 160) + GELU, with the same token count as fairseq's conv stack; for wav2vec_large
also a 1x1 Conv1d aggregator), whose weights sit in their state dicts under the original's attribute names.
Tests put the stand-in inside a2p's encoders to reproduce those fixtures from the raw audio.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn

from model.wav2vec import VQWav2VecEncoder

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "upstream"
STATS = FIXTURES / "data_stats"
PERSON = "PXB184"
STEP = 10  # the step in the made-up checkpoint file names


def load_fixture(name: str) -> dict:
    return torch.load(FIXTURES / f"{name}.pt", weights_only=True)


class StandInWav2Vec(nn.Module):
    """The fixture generator's stand-in for a fairseq wav2vec model (module docstring)."""

    def __init__(self, width: int, aggregator: bool = False):
        super().__init__()
        self.feature_extractor = nn.Sequential()
        self.feature_extractor.conv = nn.Conv1d(1, width, 465, stride=160)
        self.feature_extractor.act = nn.GELU()
        self.feature_aggregator = nn.Conv1d(width, width, 1) if aggregator else None


class StandInEncoder(VQWav2VecEncoder):
    """a2p's vq-wav2vec front end with the stand-in (features of `width` per channel) instead of fairseq's."""

    def __init__(self, channels: int, width: int):
        super().__init__(channels)
        self.model = StandInWav2Vec(width)
        self.out_dim = channels * width


def fairseq_keys(name: str, prefix: str) -> dict[str, torch.Tensor]:
    """The real-layout fairseq state dict of fixture `name` (vq_wav2vec / wav2vec_large) under `prefix`."""
    return {prefix + key: value for key, value in load_fixture(name)["state_dict"].items()}


def with_real_fairseq(state: dict, stand_in_prefix: str, name: str, prefix: str) -> dict:
    """`state` with the stand-in's keys under `stand_in_prefix` replaced by fixture `name`'s fairseq keys."""
    kept = {k: v for k, v in state.items() if not k.startswith(stand_in_prefix)}
    return {**kept, **fairseq_keys(name, prefix)}


def lip_state_real() -> dict:
    """The lip regressor fixture's state dict with the real-layout wav2vec_large (3 aggregator layers)."""
    return with_real_fairseq(load_fixture("lip_regressor")["state_dict"], "audio_encoder.wav2vec_model.",
                             "wav2vec_large", "audio_encoder.wav2vec_model.")


def denoiser_state_real(name: str) -> dict:
    """A denoiser fixture's state dict with real-layout vq-wav2vec keys (the face's with its lip regressor)."""
    state = with_real_fairseq(load_fixture(name)["state_dict"], "audio_model.", "vq_wav2vec", "audio_model.")
    if name == "face_denoiser":
        state.update({"lip_model." + k: v for k, v in lip_state_real().items()})
    return state


def guide_state_real() -> dict:
    """The guide fixture's decoder with real-layout vq-wav2vec keys and 1024-wide audio convs in place of the
    stand-in's 256 (one block, seeded weights stored as zero-stride views, so the file stays small)."""
    fixture = load_fixture("guide_transformer")["state_dict"]
    decoder = {k: v for k, v in fixture.items() if not k.startswith(("pre_audio.", "cond_projection."))}
    state = with_real_fairseq(decoder, "audio_model.", "vq_wav2vec", "audio_model.")
    generator = torch.Generator().manual_seed(0)
    width = 1024
    for index, kernel in zip(range(0, 21, 3), (3,) * 6 + (1,)):
        state[f"pre_audio.{index}.weight"] = (torch.randn(width, 1, kernel, generator=generator) / width).expand(
            width, width, kernel)
        state[f"pre_audio.{index}.bias"] = torch.zeros(width)
    state["cond_projection.weight"] = torch.randn(64, 1, generator=generator).expand(64, width) / width
    state["cond_projection.bias"] = fixture["cond_projection.bias"]
    return state


def vq_file(path: Path) -> Path:
    """net_iterNNNNNN.pth as the original's train_vq writes it: net, optimizer and a pickled scheduler OBJECT."""
    parameter = nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([parameter], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[300_000], gamma=0.05)
    torch.save({"net": load_fixture("vqvae")["state_dict"], "optimizer": optimizer.state_dict(),
                "scheduler": scheduler}, path)
    return path


DIFFUSION_ARGS = dict(cuda=True, device=0, seed=10, batch_size=4, dataset="social", data_root=f"./dataset/{PERSON}/",
                      max_seq_length=600, split=None, num_audio_layers=3, latent_dim=512, cond_mask_prob=0.2,
                      unconstrained=False, not_rotary=False, simplify_audio=False, noise_schedule="cosine",
                      diffusion_steps=10, timestep_respacing="", sigma_small=True, overwrite=False,
                      train_platform_type="NoPlatform", lr=1e-4, weight_decay=0.0, lr_anneal_steps=0,
                      log_interval=1000, save_interval=5000, num_steps=800000, resume_checkpoint="")
GUIDE_ARGS = dict(seed=10, total_iter=1000000, log_interval=1000, eval_interval=1000, save_interval=5000, layers=2,
                  dim=64, resume_trans=None, lr=2e-4, warm_up_iter=5000, weight_decay=0.1,
                  lr_scheduler=[50000, 400000], gamma=0.1, gn=True, dataset="social", data_format="pose",
                  data_root=f"./dataset/{PERSON}/", batch_size=4, add_frame_cond=1, max_seq_length=600)
VQ_ARGS = dict(dataname="social", data_root=f"./dataset/{PERSON}/", max_seq_length=600, add_frame_cond=1.0,
               data_format="pose", dataset="social", batch_size=4, total_iter=300000, warm_up_iter=1000, lr=1e-3,
               lr_scheduler=[300000], gamma=0.05, weight_decay=0.0, commit=0.02, loss_vel=0.0, code_dim=1024, depth=4,
               output_emb_width=64, resume_pth=None, print_iter=200, eval_iter=1000, seed=123, nb_joints=104)


def write_run(folder: Path, args: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.json").write_text(json.dumps(args, indent=4, sort_keys=True))
    return folder


def make_original_tree(root: Path) -> Path:
    """root/checkpoints/{diffusion/c1_face, diffusion/c1_pose, guide/c1_pose, vq/c1_pose} in the original's
    released layout (tiny fixture sizes, real-layout fairseq keys) and root/dataset/PXB184/data_stats.pth (the
    original's real file). Returns root."""
    checkpoints = root / "checkpoints"
    for data_format, extra in (("face", {}), ("pose", {"lambda_vel": 2.0, "add_frame_cond": 1.0})):
        args = {**DIFFUSION_ARGS, "data_format": data_format, "heads": 8, "layers": 2, "lambda_vel": 0.0,
                "add_frame_cond": None, "save_dir": f"checkpoints/diffusion/c1_{data_format}", **extra}
        run = write_run(checkpoints / "diffusion" / f"c1_{data_format}", args)
        torch.save(denoiser_state_real(f"{data_format}_denoiser"), run / f"model{STEP:09d}.pt")
    vq_run = write_run(checkpoints / "vq" / "c1_pose", {**VQ_ARGS, "out_dir": "checkpoints/vq/c1_pose"})
    vq_file(vq_run / "net_iter300000.pth")
    guide_run = write_run(checkpoints / "guide" / "c1_pose",
                          {**GUIDE_ARGS, "out_dir": "checkpoints/guide/c1_pose",
                           "resume_pth": "checkpoints/vq/c1_pose/net_iter300000.pth"})
    (guide_run / "checkpoints").mkdir()
    torch.save({"iteration": STEP, "model_state_dict": guide_state_real(), "optimizer_state_dict": {}},
               guide_run / "checkpoints" / f"iter-{STEP:07d}.pt")
    (root / "dataset" / PERSON).mkdir(parents=True)
    shutil.copyfile(STATS / f"{PERSON}_data_stats.pth", root / "dataset" / PERSON / "data_stats.pth")
    return root
