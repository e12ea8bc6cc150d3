"""The original's weight-normalised layers (`nn/layers.py`) and the residual blocks built from them
(`nn/blocks.py`), with its state-dict names: `weight_v` (direction), `weight_g` (gain) and `bias`.

The weight is weight_v * weight_g / |weight_v|, the norm taken over the whole tensor (the original's
`v_dim=None`); weight_g is (out, 1, ...) for convolutions and linear layers and (1, out, 1, 1) for transposed
convolutions. "Untied" biases hold one value per output pixel: (out, H, W). Parameters start at zero: they
are always loaded from a checkpoint.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2


def normalised_weight(direction: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """direction * gain / |direction| (Frobenius norm of the whole tensor)."""
    return direction * (gain / direction.norm())


class Conv2dWN(nn.Module):
    """A weight-normalised 2-D convolution, transposed or not, with one bias per channel or per pixel."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias_size: tuple[int, int] | None = None,
                 transposed: bool = False):
        """bias_size: (H, W) of the output for an untied bias, None for one bias per channel."""
        super().__init__()
        self.stride, self.padding, self.groups, self.transposed = stride, padding, groups, transposed
        if transposed:
            self.weight_v = nn.Parameter(torch.zeros(in_channels, out_channels // groups, kernel_size, kernel_size))
            self.weight_g = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        else:
            self.weight_v = nn.Parameter(torch.zeros(out_channels, in_channels // groups, kernel_size, kernel_size))
            self.weight_g = nn.Parameter(torch.zeros(out_channels, 1, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels, *bias_size) if bias_size else torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, H', W')."""
        weight = normalised_weight(self.weight_v, self.weight_g)
        convolve = F.conv_transpose2d if self.transposed else F.conv2d
        out = convolve(x, weight, None, self.stride, self.padding, groups=self.groups)
        return out.add_(self.bias if self.bias.dim() == 3 else self.bias[:, None, None])


class LinearWN(nn.Module):
    """A weight-normalised linear layer."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight_v = nn.Parameter(torch.zeros(out_features, in_features))
        self.weight_g = nn.Parameter(torch.zeros(out_features, 1))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in) -> (B, out)."""
        return F.linear(x, normalised_weight(self.weight_v, self.weight_g), self.bias)


def leaky() -> nn.LeakyReLU:
    """The activation between all layers."""
    return nn.LeakyReLU(LEAKY_SLOPE)


def linear_leaky(in_features: int, out_features: int) -> nn.Sequential:
    """LinearWN then the activation (state-dict index 0)."""
    return nn.Sequential(LinearWN(in_features, out_features), leaky())


class ConvBlock(nn.Module):
    """Two convolutions with untied biases (in -> in -> out) plus a 1 x 1 skip, at one size."""

    def __init__(self, in_channels: int, out_channels: int, size: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv_resize = Conv2dWN(in_channels, out_channels, 1)
        self.conv1 = Conv2dWN(in_channels, in_channels, kernel_size, padding=padding, bias_size=(size, size))
        self.conv2 = Conv2dWN(in_channels, out_channels, kernel_size, padding=padding, bias_size=(size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, size, size) -> (B, out, size, size)."""
        y = F.leaky_relu(self.conv1(x), LEAKY_SLOPE)
        return F.leaky_relu(self.conv2(y), LEAKY_SLOPE) + self.conv_resize(x)


class ConvDownBlock(nn.Module):
    """ConvBlock whose second convolution and skip halve the size; `size` is the input's."""

    def __init__(self, in_channels: int, out_channels: int, size: int):
        super().__init__()
        self.conv_resize = Conv2dWN(in_channels, out_channels, 1, stride=2)
        self.conv1 = Conv2dWN(in_channels, in_channels, 3, padding=1, bias_size=(size, size))
        self.conv2 = Conv2dWN(in_channels, out_channels, 3, stride=2, padding=1, bias_size=(size // 2, size // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, size, size) -> (B, out, size / 2, size / 2)."""
        y = F.leaky_relu(self.conv1(x), LEAKY_SLOPE)
        return F.leaky_relu(self.conv2(y), LEAKY_SLOPE) + self.conv_resize(x)


class UpConvBlock(nn.Module):
    """Bilinear upsampling (corners aligned) to `size`, then a ConvBlock with channel groups."""

    def __init__(self, in_channels: int, out_channels: int, size: int, groups: int = 1):
        super().__init__()
        self.size = size
        self.conv_resize = Conv2dWN(in_channels, out_channels, 1, groups=groups)
        self.conv1 = Conv2dWN(in_channels, in_channels, 3, padding=1, groups=groups, bias_size=(size, size))
        self.conv2 = Conv2dWN(in_channels, out_channels, 3, padding=1, groups=groups, bias_size=(size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, h, w) -> (B, out, size, size)."""
        up = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=True)
        y = F.leaky_relu(self.conv1(up), LEAKY_SLOPE)
        return F.leaky_relu(self.conv2(y), LEAKY_SLOPE) + self.conv_resize(up)
