"""The body's encoder and its UV-space conv decoder (the original's `Encoder` and `ConvDecoder` of
`models/mesh_vae_drivable.py`), with its state-dict names. Inference only: the encoders return their means
(the noise and log-variance heads matter only in training; `logvar` is kept for its checkpoint keys)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visualize.ca_body.layers import Conv2dWN, ConvBlock, ConvDownBlock, LinearWN, UpConvBlock, linear_leaky
from visualize.ca_body.seams import SeamSampler
from visualize.ca_body.uv import GeometryModule

ENCODER_INPUT_SIZE = 512
BOTTLENECK = (128, 4, 4)  # channels, height, width of the body code's feature map
FACE_BOTTLENECK = (32, 4, 4)
N_GLOBAL_POSE = 6  # root translation and rotation: not fed to the decoder


class Encoder(nn.Module):
    """Unposed geometry offsets (B, V, 3) -> body code (B, n_embs), from their UV map outside the face."""

    def __init__(self, geo_fn: GeometryModule, n_embs: int):
        super().__init__()
        self.geo_fn = geo_fn
        size = ENCODER_INPUT_SIZE
        self.register_buffer("mask", torch.zeros(1, 1, size, size, dtype=torch.bool))
        self.verts_conv = ConvDownBlock(3, 8, size)
        channels = [8, 16, 32, 32, 64, 128, 128]
        self.joint_conv_blocks = nn.Sequential(*[ConvDownBlock(channels[i], channels[i + 1], size // 2 ** (i + 1))
                                                 for i in range(len(channels) - 1)])
        self.mu = LinearWN(int(np.prod(BOTTLENECK)), n_embs)
        self.logvar = LinearWN(int(np.prod(BOTTLENECK)), n_embs)

    def forward(self, verts_unposed: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> (B, n_embs)."""
        uv = F.interpolate(self.geo_fn.to_uv(verts_unposed), size=self.mask.shape[-2:], mode="bilinear")
        features = self.joint_conv_blocks(self.verts_conv(uv * self.mask))
        return self.mu(features.reshape(len(features), -1))


class ConvDecoder(nn.Module):
    """Local pose, body code and face code -> geometry offsets and mean texture in UV space."""

    def __init__(self, geo_fn: GeometryModule, seam_sampler: SeamSampler, uv_size: int, init_uv_size: int,
                 n_pose_dims: int, n_pose_enc_channels: int, n_embs: int, n_embs_enc_channels: int,
                 n_face_embs: int, n_init_channels: int, n_min_channels: int):
        """Sizes as the original config's `decoder` section; the maps double from init_uv_size to uv_size,
        the channels halve from n_init_channels down to n_min_channels (each block runs two groups: geometry
        and texture)."""
        super().__init__()
        self.geo_fn, self.seam_sampler, self.init_uv_size = geo_fn, seam_sampler, init_uv_size
        n_blocks = int(np.log2(uv_size // init_uv_size))
        sizes = [init_uv_size * 2 ** b for b in range(n_blocks + 1)]
        self.n_channels = [max(n_init_channels // 2 ** b, n_min_channels) for b in range(n_blocks + 1)]
        self.local_pose_conv_block = ConvBlock(n_pose_dims, n_pose_enc_channels, init_uv_size, kernel_size=1,
                                               padding=0)
        self.embs_fc = linear_leaky(n_embs, int(np.prod(BOTTLENECK)))
        self.embs_conv_block = nn.Sequential(UpConvBlock(128, 128, 8), UpConvBlock(128, 128, 16),
                                             UpConvBlock(128, 64, 32), UpConvBlock(64, n_embs_enc_channels, 64))
        self.face_embs_fc = linear_leaky(n_face_embs, int(np.prod(FACE_BOTTLENECK)))
        self.face_embs_conv_block = nn.Sequential(UpConvBlock(32, 64, 8), UpConvBlock(64, 64, 16),
                                                  UpConvBlock(64, n_embs_enc_channels, 32))
        self.joint_conv_block = ConvBlock(n_pose_enc_channels + n_embs_enc_channels, n_init_channels, init_uv_size)
        self.conv_blocks = nn.ModuleList([UpConvBlock(2 * self.n_channels[b], 2 * self.n_channels[b + 1],
                                                      sizes[b + 1], groups=2) for b in range(n_blocks)])
        self.verts_conv = Conv2dWN(self.n_channels[-1], 3, 3, padding=1, bias_size=(uv_size, uv_size))
        self.tex_conv = Conv2dWN(self.n_channels[-1], 3, 3, padding=1, bias_size=(uv_size, uv_size))
        mask = (1, 1, init_uv_size, init_uv_size)
        self.register_buffer("pose_cond_mask", torch.zeros(1, n_pose_dims, *mask[2:], dtype=torch.int32))
        self.register_buffer("face_cond_mask", torch.zeros(mask))
        self.register_buffer("body_cond_mask", torch.zeros(mask))

    def forward(self, motion: torch.Tensor, embs: torch.Tensor, face_embs: torch.Tensor) -> dict[str, torch.Tensor]:
        """motion (B, 6 + n_pose_dims), embs (B, n_embs), face_embs (B, n_face_embs) -> geom_delta_rec
        (B, V, 3), geom_uv_delta_rec and tex_mean_rec (B, 3, S, S), embs_conv and pose_conv (B, C, s, s)."""
        size, half = self.init_uv_size, self.init_uv_size // 2
        non_head = (self.body_cond_mask * (1.0 - self.face_cond_mask)).clip(0.0, 1.0)
        pose = motion[:, N_GLOBAL_POSE:, None, None].expand(-1, -1, size, size) * self.pose_cond_mask
        pose_conv = self.local_pose_conv_block(pose) * non_head
        embs_conv = self.embs_conv_block(self.embs_fc(embs).reshape(-1, *BOTTLENECK))
        face_conv = self.face_embs_conv_block(self.face_embs_fc(face_embs).reshape(-1, *FACE_BOTTLENECK))
        embs_conv[:, :, half:, :half] = (face_conv * self.face_cond_mask[:, :, half:, :half]
                                         + embs_conv[:, :, half:, :half] * non_head[:, :, half:, :half])
        joint = self.joint_conv_block(torch.cat([pose_conv, embs_conv], 1))
        x = torch.cat([joint, joint], 1)
        for block in self.conv_blocks:
            x = block(x)
        x = self.seam_sampler.resample(self.seam_sampler.resample(self.seam_sampler.impaint(x)))
        verts_features, tex_features = torch.split(x, self.n_channels[-1], 1)
        geom_uv_delta = self.verts_conv(verts_features)
        return {"geom_delta_rec": self.geo_fn.from_uv(geom_uv_delta), "geom_uv_delta_rec": geom_uv_delta,
                "tex_mean_rec": self.tex_conv(tex_features), "embs_conv": embs_conv, "pose_conv": pose_conv}
