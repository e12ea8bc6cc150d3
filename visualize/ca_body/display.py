"""The original's display transform of rendered linear colours (`linear2displayBatch` of `utils/image.py`
with its defaults) and the frame layout of its BodyRenderer (views side by side, uint8)."""
from __future__ import annotations

import torch

WHITE_BALANCE = (1.05, 0.95, 1.45)
BLACK_LEVEL = 5.0 / 255.0
GAMMA = 1.5
SRGB_LINEAR_LIMIT = 0.0031308


def linear_to_display(rgb: torch.Tensor) -> torch.Tensor:
    """Linear colours (B, 3, H, W) in 0..255 -> display colours in 0..255 (float): white balance, black level,
    then the sRGB curve with exponent 1 / GAMMA."""
    value = rgb.float() / 255.0 * rgb.new_tensor(WHITE_BALANCE)[:, None, None] - BLACK_LEVEL
    curve = 1.055 * torch.pow(value.clamp(min=SRGB_LINEAR_LIMIT), 1 / GAMMA) - 0.055
    return torch.where(value <= SRGB_LINEAR_LIMIT, value * 12.92, curve).clamp(0, 1) * 255.0


def frame(rgb: torch.Tensor) -> torch.Tensor:
    """Views (C, 3, H, W) linear -> one uint8 frame (H, C * W, 3), views left to right (truncated, as the
    original's `.to(uint8)`)."""
    display = linear_to_display(rgb)
    return torch.cat(list(display), -1).permute(1, 2, 0).clip(0, 255).to(torch.uint8)
