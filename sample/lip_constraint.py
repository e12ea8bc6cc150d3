"""Lip-consistent face sampling: the face code's mouth held to the lip regressor's vertices at every step.

The reference face decoder is linear (`avatar.face`): the lip vertices of a code c (256,) are
    lips(c) = A c + b,        A (3L, 256), b (3L,), centimetres in the head frame,
and a face model works on normalised codes x = (c - mu) / sd, so lips are an affine function of x as well:
    lips(x) = A' x + b',      A' = A diag(sd), b' = A mu + b.
The lip regressor gives target vertices v (3L,) per frame. Holding the code to them is a linear inverse
problem, which samplers solve by correcting the denoiser's clean estimate x̂0 at every step (as DDRM and
Pi-GDM do for linear measurements): the mouth dims m (MOUTH_DIMS) of x̂0 are replaced by the solution of

    min_z  ||A'_m (z - x̂0_m) - r||^2 + (z - x̂0_m)^T Λ (z - x̂0_m)     subject to  lo <= z <= hi,
    r = v - (A' x̂0 + b')    (the lip error of the estimate, cm),

a ridge-regularised least-squares fit of the mouth dims to the residual, kept inside the avatar's plausible
ranges [lo, hi] (`avatar.face.face_code_limits`, normalised). Every other dim (eyes, brows, blinks, gaze,
detail) stays the model's. Λ = diag(RIDGE_i * (A'^T A')_ii): the articulators (jaw, rounding, spreading,
pressing) are fitted nearly freely (RIDGE_ARTICULATOR), while smile and cheek puff, which also move the lips
but are expression, give way only halfway (RIDGE_EXPRESSION), so a generated smile is kept where the lips
allow it. The box-constrained quadratic is solved exactly by projected coordinate descent
(COORDINATE_SWEEPS sweeps over the 6 dims, started from the clamped unconstrained solution); everything it
needs (A'_m, Q = A'_m^T A'_m + Λ, its inverse) is computed once per model.

Because it acts on x̂0, it works with every sampler (each consumes x̂0 alone) and the sampler's final output
satisfies it: the returned code is the last projected x̂0. With the stitched windows of long audio it is
applied before the overlap's inpainting: the known frames, the previous window's codes already held to its
regressor output, are blended in as they are, and the lips of a blend of codes are the blend of their lips. Cost per denoiser
call: one (B*T, 256) x (256, 3L) product and a few (B, T, 6) operations.

Only for codes of a2p's reference face (256-d, with a lip regressor predicting its lip vertex set); the
original's released models have their own private decoder and sample unconstrained.
"""
from __future__ import annotations

import torch

from avatar.face import FACE_DIM, LIP_VERTEX_INDICES, face_code_limits, face_model
from avatar.parameters import FACE_INDEX
from data_loaders.stats import Normalizer

MOUTH_DIMS = ("jaw_open", "lip_round", "lip_spread", "lip_press", "smile", "cheek_puff")
EXPRESSION_DIMS = ("smile", "cheek_puff")
RIDGE_ARTICULATOR = 1e-3
RIDGE_EXPRESSION = 1.0
COORDINATE_SWEEPS = 8


class LipConstraint:
    """Projection of normalised face codes onto the codes whose lips match given vertices (module docstring).

        constraint = LipConstraint(normalizer, device)
        x0 = constraint.project(x0 (B, T, 256) normalised, target (B, T, L, 3) cm)   # (B, T, 256)
    """

    def __init__(self, normalizer: Normalizer, device: torch.device | str = "cpu"):
        face = face_model()
        mean = torch.as_tensor(normalizer.mean["face"], dtype=torch.float64)
        std = torch.as_tensor(normalizer.std["face"], dtype=torch.float64)
        if mean.shape != (FACE_DIM,):
            raise ValueError(f"the lip constraint needs {FACE_DIM}-d face codes of the reference face, the "
                             f"statistics hold {tuple(mean.shape)}")
        lip_basis = face.lip_basis  # (3L, 256), rows vertex-major (x, y, z)
        self.dims = torch.tensor([FACE_INDEX[name] for name in MOUTH_DIMS])
        basis = lip_basis * std  # A' (3L, 256)
        offset = lip_basis @ mean + face.lip_mean.reshape(-1)  # b' (3L,)
        mouth = basis[:, self.dims]  # A'_m (3L, m)
        gram = mouth.T @ mouth
        ridge = torch.tensor([RIDGE_EXPRESSION if name in EXPRESSION_DIMS else RIDGE_ARTICULATOR
                              for name in MOUTH_DIMS], dtype=torch.float64) * gram.diagonal()
        quadratic = gram + torch.diag(ridge)  # Q (m, m)
        lower, upper = (torch.as_tensor(bound, dtype=torch.float64) for bound in face_code_limits())
        to = dict(device=device, dtype=torch.float32)
        self.basis_t, self.offset, self.mouth = basis.T.to(**to), offset.to(**to), mouth.to(**to)
        self.quadratic, self.inverse = quadratic.to(**to), torch.linalg.inv(quadratic).to(**to)
        self.lower = ((lower - mean) / std)[self.dims].to(**to)
        self.upper = ((upper - mean) / std)[self.dims].to(**to)
        self.dims = self.dims.to(device)

    def project(self, x0: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """x0 (B, T, 256) normalised codes, target (B, T, L, 3) lip vertices (cm) -> x0 with its mouth dims
        refitted (B, T, 256), float32."""
        x0 = x0.float()
        residual = target.flatten(-2).float() - (x0 @ self.basis_t + self.offset)  # r (B, T, 3L)
        pull = residual @ self.mouth  # A'_m^T r (B, T, m)
        start = x0[..., self.dims]
        step = torch.clamp(start + pull @ self.inverse, self.lower, self.upper) - start  # z - x̂0_m
        for _ in range(COORDINATE_SWEEPS):
            for i in range(len(MOUTH_DIMS)):
                gradient = step @ self.quadratic[:, i] - pull[..., i]
                value = start[..., i] + step[..., i] - gradient / self.quadratic[i, i]
                step[..., i] = torch.clamp(value, self.lower[i], self.upper[i]) - start[..., i]
        projected = x0.clone()
        projected[..., self.dims] = start + step
        return projected


def lip_constraint_for(normalizer: Normalizer, lip_vertices: int, device: torch.device | str) -> LipConstraint | None:
    """The constraint for a face model of the reference face whose lip regressor predicts `lip_vertices`
    vertices; None when the codes or the vertices are not the reference face's (the original's models)."""
    if normalizer.dim("face") != FACE_DIM or lip_vertices != len(LIP_VERTEX_INDICES):
        return None
    return LipConstraint(normalizer, device)
