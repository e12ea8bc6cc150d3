"""The original lip regressor's lips on the reference face: what a2p shows of the original's face models.

The original's face codes belong to its private face decoder, so a2p cannot draw them. Its lip regressor's
vertices (model/original_lip.py: 338 per frame, in its own units and axes) are real output of the model,
though, and the reference face's lips are a linear function of its code (sample/lip_constraint.py). So the
face of an original model is drawn as the reference face, neutral, with its mouth dims fitted to the
original's lips carried over vertex by vertex:

1. A fixed correspondence, fitted once per model (`fit_correspondence`) from the regressor's own output:
   its lips at rest (REST_SECONDS of silence) and its motion on the shipped example conversation
   (assets/example_conversation.wav). The original's lip axes are found from that alone:
   - width: the rest lips' longest principal axis;
   - vertical: the main direction of the lips' motion in speech (the jaw opens and closes), made orthogonal
     to the width, pointing so that the lip that moves more (the lower one, carried by the jaw) is below;
   - depth: orthogonal to both, pointing so that the mouth corners are behind the middle of the lips (the
     lips wrap round the teeth); the width then completes a right-handed frame (x left, y up, z forward,
     the reference head frame's).
   The scale is the ratio of the two mouths' widths (corner to corner). In that frame the original's rest
   lips lie over the reference face's neutral lips (both centred), and every reference lip vertex takes the
   inverse-distance weights of its NEIGHBOURS nearest original vertices.
2. Per frame, the original's lip displacements from its rest, turned into the reference frame and scaled,
   are carried by those weights onto the reference face's neutral lips: target lip vertices (cm).
3. The reference face's mouth dims are fitted to the target by the lip constraint's box-constrained least
   squares (sample/lip_constraint.py's LipConstraint, on raw codes), from the neutral code; every other dim
   stays 0 (neutral). The result is a reference face code per frame (`reference_face` in results.npy).

Checked in tests/test_original_lips.py: the reference face's own lips, turned, scaled, shuffled and given as
"the original's", come back as the codes that made them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatar.face import FACE_DIM, face_model
from avatar.parameters import FACE_INDEX
from data_loaders.format import SAMPLES_PER_FRAME
from data_loaders.stats import Normalizer
from sample.lip_constraint import LipConstraint

FIT_AUDIO = Path(__file__).resolve().parents[1] / "assets" / "example_conversation.wav"
REST_SECONDS = 1
NEIGHBOURS = 3
JAW_STEPS = 11  # jaw_open 0 to 1: the reference face's motion for its axes
CHUNK_FRAMES = 600  # frames of audio run through the regressor at once (a multiple of its 120-frame windows)


def identity_normalizer() -> Normalizer:
    """Statistics that leave codes as they are (mean 0, std 1): the lip constraint on raw reference codes."""
    zeros, ones = np.zeros(FACE_DIM), np.ones(FACE_DIM)
    return Normalizer({"pose_mean": np.zeros(1), "pose_std": np.ones(1), "code_mean": zeros, "code_std": ones,
                       "audio_mean": np.zeros(2), "audio_std_flat": np.ones(1)})


def neutral_reference_lips() -> torch.Tensor:
    """(L, 3) float64 lip vertices of the reference face's neutral (zero) code, cm, head frame."""
    return face_model().lip_mean.double()


@dataclass
class LipCorrespondence:
    """The fitted map from the original's lip vertex set onto the reference face's (module docstring).

    rest (V, 3) the original's lips at rest; rotation (3, 3) from the original's axes to the reference face's
    (its lip_axes onto the reference's); scale (cm per original unit); weights (L, V) rows sum to 1."""
    rest: torch.Tensor
    rotation: torch.Tensor
    scale: float
    weights: torch.Tensor

    def target(self, vertices: torch.Tensor) -> torch.Tensor:
        """(..., V, 3) original lip vertices -> (..., L, 3) reference lip vertices (cm, head frame)."""
        displacement = (vertices.double() - self.rest) @ self.rotation.T * self.scale
        return neutral_reference_lips() + self.weights @ displacement


def _unit(vector: torch.Tensor) -> torch.Tensor:
    return vector / torch.linalg.vector_norm(vector)


def _width(points: torch.Tensor, axis: torch.Tensor) -> float:
    along = points @ axis
    return float(along.max() - along.min())


def lip_axes(rest: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """(3, 3) rows = the width, vertical and depth axes of a lip vertex set from its rest (V, 3) and its
    motion (F, V, 3) (module docstring, step 1)."""
    rest, motion = rest.double(), motion.double()
    centred = rest - rest.mean(0)
    width = torch.linalg.eigh(centred.T @ centred).eigenvectors[:, -1]
    moves = (motion - rest).reshape(-1, 3)
    vertical = torch.linalg.eigh(moves.T @ moves).eigenvectors[:, -1]
    vertical = _unit(vertical - (vertical @ width) * width)
    amount = torch.linalg.vector_norm(motion - rest, dim=-1).std(0)  # (V,) how much each vertex moves
    if torch.dot(centred @ vertical, amount - amount.mean()) > 0:
        vertical = -vertical  # the lip that moves more is below
    depth = _unit(torch.linalg.cross(width, vertical))
    sideways = (centred @ width) ** 2
    if torch.dot(centred @ depth, sideways - sideways.mean()) > 0:
        depth = -depth  # the corners are behind the middle
    return torch.stack([torch.linalg.cross(vertical, depth), vertical, depth])


def opening_mode(rest: torch.Tensor, motion: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """(V, 3) the main mode of a lip set's motion (its first singular vector), unit norm, signed to open the
    mouth downwards (the vertices' mean motion along `vertical` negative)."""
    moves = (motion.double() - rest.double()).flatten(1)  # (F, 3V)
    mode = torch.linalg.svd(moves, full_matrices=False).Vh[0].reshape(-1, 3)
    return -mode if (mode @ vertical).mean() > 0 else mode


def reference_motion() -> torch.Tensor:
    """(JAW_STEPS, L, 3) the reference face's lips opening the jaw from 0 to 1: its motion for lip_axes."""
    jaw = torch.zeros(JAW_STEPS, FACE_DIM, dtype=torch.float64)
    jaw[:, FACE_INDEX["jaw_open"]] = torch.linspace(0.0, 1.0, JAW_STEPS, dtype=torch.float64)
    return face_model().lip_vertices(jaw)


def fit_correspondence(rest: torch.Tensor, motion: torch.Tensor) -> LipCorrespondence:
    """rest (V, 3) the original's lips at rest, motion (F, V, 3) its lips in speech -> LipCorrespondence
    (module docstring, step 1)."""
    rest = rest.double()
    reference, jaw = neutral_reference_lips(), reference_motion()
    to_reference, axes = lip_axes(reference, jaw), lip_axes(rest, motion)
    rotation = to_reference.T @ axes  # the original's axes onto the reference's
    scale = _width(reference, to_reference[0]) / _width(rest, axes[0])
    reference_open = jaw[-1] - reference
    mode = opening_mode(rest, motion, axes[1]) @ rotation.T
    mode = mode * torch.linalg.vector_norm(reference_open) / torch.linalg.vector_norm(mode)
    placed = (rest - rest.mean(0)) @ rotation.T * scale + reference.mean(0)
    distance = torch.cdist(jaw[-1], placed + mode)  # (L, V), both mouths open
    nearest = distance.topk(NEIGHBOURS, largest=False)
    inverse = 1.0 / nearest.values.clamp_min(1e-6)
    weights = torch.zeros_like(distance).scatter_(1, nearest.indices, inverse / inverse.sum(1, keepdim=True))
    return LipCorrespondence(rest, rotation, scale, weights)


class OriginalLipsOnReferenceFace:
    """Reference face codes showing an original face model's lips (module docstring).

        lips = OriginalLipsOnReferenceFace(regressor, normalizer, device)
        codes = lips.codes(audio (B, T*1600, 2) normalised)            # (B, T, 256) float64 raw codes
    """

    def __init__(self, regressor: torch.nn.Module, normalizer: Normalizer, device: torch.device | str,
                 correspondence: LipCorrespondence | None = None):
        """correspondence: a fitted one to use (default: fitted from the regressor on first use)."""
        self.regressor, self.normalizer, self.device = regressor, normalizer, device
        self.constraint = LipConstraint(identity_normalizer(), device)
        self._correspondence = correspondence

    @torch.no_grad()
    def vertices(self, audio) -> torch.Tensor:
        """(B, T*1600, 2) normalised audio (a tensor or a sample.windows.NormalizedAudio, read a part at a
        time) -> (B, T, V, 3) the regressor's lips, CHUNK_FRAMES at a time."""
        frames = audio.shape[1] // SAMPLES_PER_FRAME
        parts = [self.regressor(audio[:, start * SAMPLES_PER_FRAME:min(start + CHUNK_FRAMES, frames)
                                      * SAMPLES_PER_FRAME].to(self.device)).cpu()
                 for start in range(0, frames, CHUNK_FRAMES)]
        return torch.cat(parts, dim=1)

    def _raw(self, raw: np.ndarray) -> torch.Tensor:
        return self.normalizer.normalize(torch.from_numpy(np.ascontiguousarray(raw, np.float32)), "audio")[None]

    @property
    def correspondence(self) -> LipCorrespondence:
        """The fixed correspondence of this model, fitted on first use (module docstring, step 1)."""
        if self._correspondence is None:
            from sample.audio_input import load_conversation_audio
            speech, _ = load_conversation_audio(FIT_AUDIO)
            silence = np.zeros((REST_SECONDS * 30 * SAMPLES_PER_FRAME, 2), np.float32)
            rest = self.vertices(self._raw(silence))[0].mean(0)
            self._correspondence = fit_correspondence(rest, self.vertices(self._raw(speech))[0])
        return self._correspondence

    def codes(self, audio) -> np.ndarray:
        """(B, T*1600, 2) normalised audio -> (B, T, 256) float64 reference face codes: neutral, the mouth dims
        fitted to the original's lips."""
        return self.codes_of(self.vertices(audio))

    def codes_of(self, vertices: torch.Tensor) -> np.ndarray:
        """(B, T, V, 3) original lip vertices -> (B, T, 256) float64 reference face codes."""
        target = self.correspondence.target(vertices).to(self.device)
        neutral = torch.zeros(*target.shape[:2], FACE_DIM, device=self.device)
        return self.constraint.project(neutral, target).cpu().double().numpy()
