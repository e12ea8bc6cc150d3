"""Classifier-free guidance on the x0 prediction, in ONE batched forward pass per step.

    x0_hat = x0_uncond + s · (x0_cond − x0_uncond)

The model is `model(x_t (N,T,C), t (N,) int64, cond: dict) -> x0_hat (N,T,C)`; a condition is a dict of
batch-first tensors (a value may be None = absent). The conditional and the null condition (the model's
"everything dropped" condition) are concatenated along the batch once, when the denoiser is built; each step
then runs the model on [x_t; x_t] (2B rows) and splits the result. s = 0 gives the unconditional prediction,
s = 1 the conditional one (computed from the conditional half alone: one B-row call).
"""
from __future__ import annotations

import torch


def _concat_conditions(cond: dict, null_cond: dict) -> dict:
    """{key: cat([cond[key], null_cond[key]])} (2B rows), None where both are None."""
    if set(cond) != set(null_cond):
        raise ValueError(f"guidance: condition keys {sorted(cond)} differ from null-condition keys "
                         f"{sorted(null_cond)}")
    both = {}
    for key in cond:
        if (cond[key] is None) != (null_cond[key] is None):
            raise ValueError(f"guidance: condition {key!r} is None in one of cond / null_cond but not the other")
        both[key] = None if cond[key] is None else torch.cat([cond[key], null_cond[key]])
    return both


def guided_denoiser(model, cond: dict, null_cond: dict, scale: float | torch.Tensor):
    """denoise_fn(x_t (B,T,C), t (B,)) -> guided x0_hat (B,T,C) for the samplers.

    scale: a number or a (B,) tensor of per-sample guidance scales.
    """
    if (torch.as_tensor(scale) == 1).all():
        return lambda x_t, t: model(x_t, t, cond)
    both = _concat_conditions(cond, null_cond)

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        conditional, unconditional = model(torch.cat([x_t, x_t]), torch.cat([t, t]), both).chunk(2)
        s = torch.as_tensor(scale, dtype=conditional.dtype, device=conditional.device)
        s = s.view(-1, *[1] * (conditional.dim() - 1)) if s.dim() == 1 else s
        return unconditional + s * (conditional - unconditional)
    return denoise
