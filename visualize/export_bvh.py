"""Export generated body motion to BVH, for animation tools (Blender, MotionBuilder, ...).

    python -m visualize.export_bvh RESULTS --out FILE.bvh [--index N] [--face_codes FACE_RESULTS]

RESULTS is a `results.npy` written by sample.generate (a pickled dict whose "motions" are (N, 104, 1, T)
body poses; sample N is exported) or a plain .npy array (T, 104) of poses (avatar.parameters layout). The
BVH holds the reference skeleton (avatar.skeleton): HIERARCHY with each joint's rest OFFSET in cm (y up,
facing +z), the root with 6 channels (X/Y/Zposition in cm, then 3 rotations), every other joint with 3
rotation channels, End Sites for the last bones; MOTION at 30 fps (Frame Time 0.0333333), angles in degrees.

Channel order and signs are the skeleton's own axis table: a joint whose (rx, ry, rz) turn about world
axes (A0, A1, A2) with signs (s0, s1, s2) gets channels "A0rotation A1rotation A2rotation" holding
(s0 rx, s1 ry, s2 rz) in degrees, which BVH composes as R = R_A0 R_A1 R_A2, exactly our rotation, so no
angle is converted (a parameter a joint lacks is a 0 channel). `read_bvh` reverses this for files written
here.

Face codes: when the results dict has a "face" entry (N, 256, 1, T), or a face results file is given with
--face_codes ("motions" (N, 256, 1, T), or a plain (T, 256) array), the named leading face dims
(avatar.parameters.FACE_CODE_DIMS) are written to FILE_face.csv beside the BVH: columns frame, time_s and
one per named dim.

Results of the original's models (results.npy's avatar "original"): their body is in the original's own
skeleton, so it is refused in one line; their face is its lip regressor's lips on the reference face
(`reference_face`), or refused without it (sample/original_avatar.py). visualize.export_gltf reads the same way.
"""
from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.parameters import FACE_CODE_DIMS, POSE_PARAMETERS
from avatar.skeleton import END_SITES, JOINT_AXES, JOINT_NAMES, JOINT_PARAMETERS, JOINT_SIGNS, PARENTS, REST_OFFSETS
from data_loaders.format import FACE_DIM, FPS, POSE_DIM
from sample.original_avatar import exported_key
from utils.cli import run_cli
from utils.config import arg, build_parser, from_dict
from utils.files import atomic_write
from utils.safe_load import UnsafeFileError, load_npy

FRAME_TIME = "0.0333333"  # 1 / FPS, as written in the file
_AXIS_CHANNEL = ("Xrotation", "Yrotation", "Zrotation")
_POSITION_CHANNELS = ["Xposition", "Yposition", "Zposition"]


@dataclass
class ExportConfig:
    """BVH export (RESULTS is the positional argument)."""
    out: str = arg("", "output .bvh path; default: RESULTS with the suffix _<index>.bvh")
    index: int = arg(0, "which sample of a results.npy to export (its first axis; repetition-major order)")
    face_codes: str = arg("", "a face results.npy or (T, 256) .npy whose named face dims go to <out>_face.csv "
                              "(default: the RESULTS dict's 'face' entry when it has one, else no CSV)")


def joint_channels(joint: int) -> list[str]:
    """BVH channel names of a joint, in file order."""
    rotations = [_AXIS_CHANNEL[a] for a in JOINT_AXES[joint]]
    return _POSITION_CHANNELS + rotations if PARENTS[joint] < 0 else rotations


def _children(joint: int) -> list[int]:
    return [j for j, parent in enumerate(PARENTS) if parent == joint]


def _hierarchy_lines(joint: int, depth: int, order: list[int]) -> list[str]:
    """The HIERARCHY block of a joint and its subtree; appends the joints to `order` as written."""
    pad = "  " * depth
    offset = " ".join(f"{v:.6f}" for v in REST_OFFSETS[joint].tolist())
    name = JOINT_NAMES[joint]
    if name in END_SITES:
        return [f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {offset}", f"{pad}}}"]
    order.append(joint)
    channels = joint_channels(joint)
    lines = [f"{pad}{'ROOT' if PARENTS[joint] < 0 else 'JOINT'} {name}", f"{pad}{{", f"{pad}  OFFSET {offset}",
             f"{pad}  CHANNELS {len(channels)} {' '.join(channels)}"]
    for child in _children(joint):
        lines += _hierarchy_lines(child, depth + 1, order)
    return lines + [f"{pad}}}"]


def _check_poses(poses: np.ndarray, source: str) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != POSE_DIM:
        raise ValueError(f"{source}: body poses must be (T, {POSE_DIM}), got {poses.shape}")
    if not np.isfinite(poses).all():
        raise ValueError(f"{source}: body poses contain NaN or infinite values")
    return poses


def write_bvh(path: str | Path, poses: np.ndarray) -> None:
    """Write poses (T, 104) (avatar.parameters layout: cm and radians) as a BVH of the reference skeleton."""
    poses = _check_poses(poses, str(path))
    order: list[int] = []
    lines = ["HIERARCHY"] + _hierarchy_lines(0, 0, order)
    padded = np.concatenate([poses, np.zeros((len(poses), 1))], axis=1)
    columns = []
    for joint in order:
        if PARENTS[joint] < 0:
            columns.append(poses[:, :3] + REST_OFFSETS[joint].numpy())
        index = np.where(JOINT_PARAMETERS[joint] >= 0, JOINT_PARAMETERS[joint], POSE_DIM)
        columns.append(np.degrees(padded[:, index] * JOINT_SIGNS[joint]))
    values = np.concatenate(columns, axis=1)
    lines += ["MOTION", f"Frames: {len(poses)}", f"Frame Time: {FRAME_TIME}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _parse_hierarchy(tokens: list[str], source: str) -> tuple[list[tuple[str, list[str]]], int]:
    """(joint name, channels) in file order, and the token index just after the HIERARCHY block."""
    joints, i, depth = [], 1, 0
    while i < len(tokens) and tokens[i] != "MOTION":
        token = tokens[i]
        if token in ("ROOT", "JOINT"):
            joints.append((tokens[i + 1], []))
            i += 2
        elif token == "CHANNELS":
            count = int(tokens[i + 1])
            joints[-1][1].extend(tokens[i + 2:i + 2 + count])
            i += 2 + count
        elif token == "OFFSET":
            i += 4
        elif token == "End":
            i += 2
        elif token in ("{", "}"):
            depth += 1 if token == "{" else -1
            i += 1
        else:
            raise ValueError(f"{source}: unexpected token {token!r} in the BVH HIERARCHY")
    if i >= len(tokens) or depth != 0:
        raise ValueError(f"{source}: truncated BVH: no MOTION section after a complete HIERARCHY")
    return joints, i


def read_bvh(path: str | Path) -> np.ndarray:
    """Poses (T, 104) float64 from a BVH written by `write_bvh` (the reference skeleton's joints and channel
    order; other skeletons are rejected with an error naming the first mismatch)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: BVH file not found")
    tokens = path.read_text().split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise ValueError(f"{path}: not a BVH file (it must start with HIERARCHY)")
    joints, i = _parse_hierarchy(tokens, str(path))
    with_parameters = [j for j, name in enumerate(JOINT_NAMES) if name not in END_SITES]
    if sorted(name for name, _ in joints) != sorted(JOINT_NAMES[j] for j in with_parameters):
        raise ValueError(f"{path}: its joints are not the reference skeleton's (avatar.skeleton.JOINT_NAMES); "
                         f"read_bvh only reads BVH files written by visualize.export_bvh")
    for name, channels in joints:
        expected = joint_channels(JOINT_NAMES.index(name))
        if channels != expected:
            raise ValueError(f"{path}: joint {name} has channels {channels}, expected {expected} "
                             f"(read_bvh only reads BVH files written by visualize.export_bvh)")
    if tokens[i + 1:i + 2] != ["Frames:"] or tokens[i + 3:i + 5] != ["Frame", "Time:"]:
        raise ValueError(f"{path}: MOTION must start with 'Frames: N' and 'Frame Time: t'")
    frames = int(tokens[i + 2])
    width = sum(len(channels) for _, channels in joints)
    numbers = np.array(tokens[i + 6:], dtype=np.float64)
    if numbers.size != frames * width:
        raise ValueError(f"{path}: MOTION holds {numbers.size} values, expected {frames} frames x {width} channels")
    values = numbers.reshape(frames, width)
    poses = np.zeros((frames, POSE_DIM))
    column = 0
    for name, channels in joints:
        joint = JOINT_NAMES.index(name)
        if PARENTS[joint] < 0:
            poses[:, :3] = values[:, column:column + 3] - REST_OFFSETS[joint].numpy()
            column += 3
        for k in range(3):
            if JOINT_PARAMETERS[joint, k] >= 0:
                poses[:, JOINT_PARAMETERS[joint, k]] = np.radians(values[:, column + k]) * JOINT_SIGNS[joint, k]
        column += 3
    return poses


def load_motion(path: str | Path, index: int, channels: int, what: str, key: str = "motions") -> np.ndarray:
    """(T, channels) float64 from a results.npy dict (entry `key`, (N, channels, 1, T), sample `index`) or a
    plain (T, channels) .npy array; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found")
    try:
        data = load_npy(path)
    except UnsafeFileError:
        raise
    except (ValueError, OSError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: cannot read it as .npy ({err})") from err
    if data.dtype == object and data.ndim == 0:
        results = data.item()
        if isinstance(results, dict):
            key = exported_key(results, key, channels, str(path))
        if not isinstance(results, dict) or key not in results:
            found = sorted(results) if isinstance(results, dict) else type(results).__name__
            raise ValueError(f"{path}: a results.npy must be a dict with {key!r} (N, {channels}, 1, T); found {found}")
        stacked = np.asarray(results[key])
        if stacked.ndim != 4 or stacked.shape[1] != channels or stacked.shape[2] != 1:
            raise ValueError(f"{path}: {key!r} must be (N, {channels}, 1, T) {what}, got {stacked.shape}")
        if not 0 <= index < len(stacked):
            raise ValueError(f"{path}: --index {index} is out of range: it holds {len(stacked)} samples")
        return stacked[index, :, 0, :].T.astype(np.float64)
    if data.ndim != 2 or data.shape[1] != channels:
        raise ValueError(f"{path}: a plain array must be (T, {channels}) {what}, got {data.shape}")
    return data.astype(np.float64)


def has_key(path: str | Path, key: str) -> bool:
    """Whether `path` is a results.npy dict with entry `key`."""
    data = load_npy(path)
    return data.dtype == object and data.ndim == 0 and isinstance(data.item(), dict) and key in data.item()


def face_codes_of(results: str | Path, face_codes: str, index: int, frames: int) -> tuple[np.ndarray | None, str]:
    """((T, 256) face codes or None, their file) that go with body results: --face_codes (a face results.npy or
    a plain array) when given, else the results dict's 'face' entry when it has one, else none; their frame
    count must be the body's."""
    source = face_codes or (str(results) if has_key(results, "face") else "")
    if not source:
        return None, ""
    codes = load_motion(source, index, FACE_DIM, "face codes", key="motions" if face_codes else "face")
    if len(codes) != frames:
        raise ValueError(f"{source}: {len(codes)} face frames, but {results} has {frames} pose frames")
    return codes, source


def write_face_csv(path: str | Path, codes: np.ndarray) -> None:
    """Write the named face dims of codes (T, 256) to a CSV: frame, time_s, one column per FACE_CODE_DIMS."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "time_s", *FACE_CODE_DIMS])
        for t, row in enumerate(codes[:, :len(FACE_CODE_DIMS)]):
            writer.writerow([t, f"{t / FPS:.6f}", *(f"{v:.6f}" for v in row)])


def main(argv=None) -> None:
    parser = build_parser([ExportConfig], description=__doc__.split("\n")[0])
    parser.add_argument("results", help="results.npy from sample.generate, or a (T, 104) .npy of body poses")
    namespace = vars(parser.parse_args(argv))
    config = from_dict(ExportConfig, namespace)
    results = Path(namespace["results"])
    poses = load_motion(results, config.index, POSE_DIM, "body poses")
    out = Path(config.out) if config.out else results.with_name(f"{results.stem}_{config.index}.bvh")
    write_bvh(out, poses)
    print(f"wrote {out}: {len(poses)} frames ({len(poses) / FPS:.1f} s), {len(POSE_PARAMETERS)} pose parameters")
    codes, _ = face_codes_of(results, config.face_codes, config.index, len(poses))
    if codes is not None:
        csv_path = out.with_name(out.stem + "_face.csv")
        write_face_csv(csv_path, codes)
        print(f"wrote {csv_path}: {len(FACE_CODE_DIMS)} named face dims ({', '.join(FACE_CODE_DIMS)})")


if __name__ == "__main__":
    run_cli(main)
