"""The texture's view-dependent, shadow and upscaling networks (the original's `UNetViewDecoder` and
`UpscaleNet` of `models/mesh_vae_drivable.py`, `UNetWB` of `nn/unet.py`, `ShadowUNet` of `nn/shadow.py`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visualize.ca_body.layers import Conv2dWN, leaky
from visualize.ca_body.uv import GeometryModule, view_cosines

UNET_OUT_SCALE = 0.1
SHADOW_BETA = 1.0  # added to the shadow logits: shadows start mostly lit


def conv_leaky(in_channels: int, out_channels: int, size: int, **conv) -> nn.Sequential:
    """Conv2dWN with an untied (size, size) bias, then the activation (state-dict index 0)."""
    return nn.Sequential(Conv2dWN(in_channels, out_channels, bias_size=(size, size), **conv), leaky())


class UNetWB(nn.Module):
    """Five stride-2 downs, five transposed-conv ups with additive skips, then a 1 x 1 conv on the input and
    the last features; output scaled by 0.1."""

    def __init__(self, in_channels: int, out_channels: int, size: int, n_init_ftrs: int):
        super().__init__()
        widths = [in_channels] + [n_init_ftrs * 2 ** i for i in range(5)]
        for i in range(1, 6):
            setattr(self, f"down{i}", conv_leaky(widths[i - 1], widths[i], size // 2 ** i, kernel_size=4, stride=2,
                                                 padding=1))
        ups = [widths[5], widths[4], widths[3], widths[2], widths[1], widths[1]]
        for i in range(1, 6):
            setattr(self, f"up{i}", conv_leaky(ups[i - 1], ups[i], size // 2 ** (5 - i), kernel_size=4, stride=2,
                                               padding=1, transposed=True))
        self.out = Conv2dWN(n_init_ftrs + in_channels, out_channels, 1, bias_size=(size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, size, size) -> (B, out, size, size)."""
        skips = [x]
        for i in range(1, 6):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        y = skips[5]
        for i in range(1, 5):
            y = getattr(self, f"up{i}")(y) + skips[5 - i]
        y = self.up5(y)
        return self.out(torch.cat([y, x], 1)) * UNET_OUT_SCALE


class UNetViewDecoder(nn.Module):
    """The view-dependent texture (B, 3, S, S) from the posed mesh, the camera position and the mean texture."""

    def __init__(self, geo_fn: GeometryModule, net_uv_size: int, n_init_ftrs: int):
        super().__init__()
        self.geo_fn = geo_fn
        self.unet = UNetWB(4, 3, net_uv_size, n_init_ftrs)

    def forward(self, geom: torch.Tensor, tex_mean: torch.Tensor, camera_positions: torch.Tensor) -> torch.Tensor:
        """geom (B, V, 3), tex_mean (B, 3, S, S), camera_positions (B, 3) -> (B, 3, S, S)."""
        cosines = view_cosines(geom, self.geo_fn.vi.long(), camera_positions)
        return self.unet(torch.cat([self.geo_fn.to_uv(cosines[..., None]), tex_mean], 1))


class ShadowUNet(nn.Module):
    """Ambient occlusion map (B, 1, s, s) -> shadow map (B, 1, uv_size, uv_size) in 0..1, by a small U-Net
    at shadow_size .. shadow_size / 8 (the original's ShadowUNet with biases=False, bilinear)."""

    def __init__(self, uv_size: int, shadow_size: int, n_dims: int):
        super().__init__()
        self.uv_size, self.shadow_size = uv_size, shadow_size
        self.register_buffer("ao_mean", torch.zeros(1, shadow_size, shadow_size))
        sizes = [shadow_size // 2 ** i for i in range(4)]
        self.enc_layers = nn.ModuleList([conv_leaky(1 if i == 0 else n_dims, n_dims, sizes[i], kernel_size=3,
                                                    padding=1) for i in range(4)])
        self.dec_layers = nn.ModuleList([conv_leaky(n_dims if i == 0 else 2 * n_dims, n_dims, sizes[-i - 1],
                                                    kernel_size=3, padding=1) for i in range(4)])
        self.shadow_pred = Conv2dWN(n_dims, 1, 3, padding=1)

    def forward(self, ao: torch.Tensor) -> torch.Tensor:
        """(B, 1, s, s) -> (B, 1, uv_size, uv_size)."""
        if ao.shape[-2:] != (self.shadow_size, self.shadow_size):
            ao = F.interpolate(ao, size=(self.shadow_size, self.shadow_size))
        x, skips = ao - self.ao_mean, []
        for i, layer in enumerate(self.enc_layers):
            x = layer(x)
            skips.append(x)
            if i < len(self.enc_layers) - 1:
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", recompute_scale_factor=True,
                                  align_corners=True)
        for i, layer in enumerate(self.dec_layers):
            if i > 0:
                skip = skips[-i - 1]
                x = torch.cat([F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=True), skip], 1)
            x = layer(x)
        low = torch.sigmoid(self.shadow_pred(x) + SHADOW_BETA)
        return F.interpolate(low, (self.uv_size, self.uv_size), mode="bilinear", align_corners=False)


class UpscaleNet(nn.Module):
    """Mean and view textures (B, 6, S, S) -> a texture detail (B, 3, 2S, 2S) by a conv and pixel shuffle."""

    def __init__(self, n_ftrs: int, size: int, in_channels: int = 6, out_channels: int = 3, factor: int = 2):
        super().__init__()
        self.conv_block = conv_leaky(in_channels, n_ftrs, size, kernel_size=3, padding=1)
        self.out_block = Conv2dWN(n_ftrs, out_channels * factor ** 2, 1, bias_size=(size, size))
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 6, S, S) -> (B, 3, 2S, 2S)."""
        return F.pixel_shuffle(self.out_block(self.conv_block(x)), self.factor)
