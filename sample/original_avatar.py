"""What a2p shows of the original's models' output on its reference avatar, and what it refuses, each in one
line (results.npy's `avatar` is "original" for them: sample/results.py).

- Body: the original's 104 pose parameters drive its own skeleton (dim 3, the root's rotation, sits near pi
  for an upright person in its data; the order, axes and offsets of the other joints are in its Codec Avatar
  files), not the reference avatar's: drawn on the reference skeleton the real PXB184 and RLW104 mean poses
  stand on their heads (tests/test_original_avatar.py). a2p has no conversion between the two skeletons that it
  could check, so the reference avatar refuses the body (it stands at rest in the videos; BVH and glTF
  export refuse the file). The original's own skeleton is in checkpoints/ca_body/data/<person>/ (PERSON_FILES),
  and with those files the photoreal renderer draws the body truly (visualize/ca_body).
- Face: the original's codes belong to its private face decoder. Its lip regressor's lips are real output,
  drawn on the reference face (`reference_face`: sample/original_lips.py), the rest of the face neutral; a
  file without them shows the neutral face.
- sample.evaluate scores their codes and poses with FD and Div only: its lip, jaw, beat, speed and nod metrics
  decode the reference face or skeleton, so it refuses them in one line (ORIGINAL_METRICS_REFUSED).
- Ground truth: the original's data is in the same skeleton and decoder, so --render_gt is refused.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from data_loaders.format import FACE_DIM, POSE_DIM
from sample.results import Results

SKELETON_FILES = "checkpoints/ca_body/data/<person>/{body_dec.ckpt, config.yml, static_assets.pt}"
BODY_REFUSED = (f"the original's pose parameters drive its own skeleton, not the reference avatar's; it is in "
                f"{SKELETON_FILES} (the photoreal renderer draws it)")
FACE_CODES = "the original's face codes belong to its private face decoder"
LIPS_SHOWN = (f"{FACE_CODES}: its lip regressor's lips are drawn on the reference face (sample/original_lips.py), "
              f"the rest of the face neutral")
ORIGINAL_METRICS_REFUSED = {
    "face": f"{FACE_CODES}, which a2p does not have: FD and Div only, no lip or jaw metrics (they decode the "
            f"reference face)",
    "body": "the original's pose parameters drive its own skeleton: FD and Div only, no beat, speed or nod metrics "
            "(they need the reference skeleton's joints)"}
GT_REFUSED = (f"the original's ground truth is in its own skeleton and private face decoder: the reference "
              f"avatar cannot draw it; {SKELETON_FILES} hold the photoreal avatar that can")


def is_original(results: Results | None) -> bool:
    return results is not None and results.avatar == "original"


def body_on_reference(results: Results | None, source: str) -> tuple[Results | None, str | None]:
    """(the body results the reference avatar draws: the original's as the rest pose (all zeros), the one line
    saying what it refuses or None)."""
    if not is_original(results):
        return results, None
    rest = dataclasses.replace(results, motions=np.zeros_like(results.motions), gt=None)
    return rest, f"{source}: {BODY_REFUSED}: the reference avatar stands at rest instead"


def face_on_reference(results: Results | None, source: str) -> tuple[Results | None, str | None]:
    """(the face results the reference avatar draws: the original's lips on a neutral face, or the neutral
    face (all zeros) without them; the one line saying what it draws instead or None)."""
    if not is_original(results):
        return results, None
    if results.reference_face is None:
        neutral = dataclasses.replace(results, motions=np.zeros_like(results.motions), gt=None)
        return neutral, f"{source}: {FACE_CODES} and the file holds no lip regressor output: the face stays neutral"
    return dataclasses.replace(results, motions=results.reference_face, gt=None), f"{source}: {LIPS_SHOWN}"


def exported_key(stored: dict, key: str, channels: int, source: str) -> str:
    """The entry of a results.npy dict that an export of the reference avatar (BVH, glTF) reads for `key`:
    `key` for a2p's own files; for the original's, 'reference_face' for its face, a ValueError naming the
    reason for its body or for a face without lip output."""
    if stored.get("avatar") != "original" or key != "motions":
        return key
    if channels == POSE_DIM:
        raise ValueError(f"{source}: {BODY_REFUSED}; a2p exports the reference avatar's skeleton only")
    if channels == FACE_DIM and stored.get("reference_face") is not None:
        return "reference_face"
    raise ValueError(f"{source}: {FACE_CODES} and the file holds no lip regressor output to export")

