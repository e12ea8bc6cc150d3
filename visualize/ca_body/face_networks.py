"""The face part (the original's `FaceDecoderFrontal` of `nn/face.py` and `FaceEncoder` of
`models/mesh_vae_drivable.py`): a face code (the 256 numbers per frame a face model samples) is decoded to a
frontal face mesh and texture, which are encoded again into the body decoder's face conditioning."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visualize.ca_body.layers import Conv2dWN, ConvDownBlock, LinearWN, leaky, linear_leaky

FACE_TEX_SIZE = 1024
FACE_ENCODER_SIZE = 512
TEX_CHANNELS = [256, 256, 128, 128, 64, 64, 32, 8, 3]  # the texture decoder's transposed convs, 4x4 -> 1024^2
N_VIEW_FEATURES = 8


class FaceDecoderFrontal(nn.Module):
    """Face code (B, n_latent) -> face_geom (B, n_vert_out / 3, 3) and face_tex (B, 3, 1024, 1024) in 0..255."""

    def __init__(self, n_latent: int, n_vert_out: int):
        super().__init__()
        self.encmod = linear_leaky(n_latent, 256)
        self.geommod = nn.Sequential(LinearWN(256, n_vert_out))
        self.viewmod = linear_leaky(3, N_VIEW_FEATURES)
        self.texmod2 = linear_leaky(256 + N_VIEW_FEATURES, TEX_CHANNELS[0] * 4 * 4)
        layers: list[nn.Module] = []
        for i in range(len(TEX_CHANNELS) - 1):
            size = 8 * 2 ** i
            layers.append(Conv2dWN(TEX_CHANNELS[i], TEX_CHANNELS[i + 1], 4, stride=2, padding=1,
                                   bias_size=(size, size), transposed=True))
            layers.append(leaky())
        self.texmod = nn.Sequential(*layers[:-1])
        self.bias = nn.Parameter(torch.zeros(3, FACE_TEX_SIZE, FACE_TEX_SIZE))
        self.register_buffer("frontal_view", torch.zeros(3))

    def forward(self, face_embs: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, n_latent) -> {face_geom, face_tex}."""
        encoded = self.encmod(face_embs)
        view = self.viewmod(self.frontal_view.expand(len(face_embs), -1))
        tex = self.texmod(self.texmod2(torch.cat([encoded, view], 1)).reshape(-1, TEX_CHANNELS[0], 4, 4))
        return {"face_geom": self.geommod(encoded).reshape(len(face_embs), -1, 3),
                "face_tex": 255 * (tex + self.bias + 0.5)}


class FaceEncoder(nn.Module):
    """Decoded face mesh and texture -> the body decoder's face code (B, n_embs)."""

    def __init__(self, n_embs: int, n_vert_in: int):
        super().__init__()
        size = FACE_ENCODER_SIZE
        self.register_buffer("tex_cond_mask", torch.zeros(1, 1, size, size))
        channels = [3, 4, 8, 16, 32, 64, 128, 128]
        self.conv_blocks = nn.Sequential(*[ConvDownBlock(channels[i], channels[i + 1], size // 2 ** i)
                                           for i in range(len(channels) - 1)])
        self.geommod = linear_leaky(n_vert_in, 256)
        self.jointmod = linear_leaky(256 + 128 * 4 * 4, 512)
        self.mu = LinearWN(512, n_embs)
        self.logvar = LinearWN(512, n_embs)

    def forward(self, face_geom: torch.Tensor, face_tex: torch.Tensor) -> torch.Tensor:
        """face_geom (B, N, 3), face_tex (B, 3, T, T) in 0..255 -> (B, n_embs)."""
        size = self.tex_cond_mask.shape[-1]
        tex = F.interpolate(face_tex, (size, size), mode="bilinear", align_corners=False)
        tex_code = self.conv_blocks((tex / 255.0 - 0.5) * self.tex_cond_mask).reshape(len(tex), -1)
        geom_code = self.geommod(face_geom.reshape(len(face_geom), -1))
        return self.mu(self.jointmod(torch.cat([tex_code, geom_code], 1)))
