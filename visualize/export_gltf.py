"""Export generated motion to glTF 2.0 (.glb): the skinned reference avatar with its body and face animation,
for Blender, Unity, Unreal, three.js and any web viewer.

    python -m visualize.export_gltf RESULTS --face_codes FACE_RESULTS --out motion.glb
    python -m visualize.export_gltf RESULTS --face_codes FACE --partner PARTNER --partner_face_codes PARTNER_FACE \
        --out conversation.glb

RESULTS is a results.npy of sample.generate (body poses (N, 104, 1, T), sample --index) or a plain (T, 104)
array, read like visualize.export_bvh reads it; the face comes from --face_codes (a face results.npy or a
(T, 256) array; default: the RESULTS dict's "face" entry, else a neutral face). With --partner (and
--partner_face_codes) the conversation partner joins the scene: sample.generate --both writes its files,
partner_results.npy beside each results.npy. The two stand facing each other (visualize/conversation.py).

What the file holds (one scene; glTF's frame is the avatar's: y up, the front faces +z, +x the avatar's left):
- node `a2p` scaling centimetres to metres (0.01), holding per person a node placing it in the conversation
  (`person`, `partner`), which holds the skeleton: the 70 joints of avatar.skeleton (end sites included) as
  nodes named like the joints (the partner's prefixed `partner_`), each at its rest offset from its parent,
  rotated by its local rotation; the root also moved by the root translation;
- per person two skinned meshes at the scene's root, `<person>_body` (avatar.body_mesh: rest vertices, vertex
  colours, at most 4 joints per vertex with the mesh's own linear-blend weights) and `<person>_face`
  (avatar.face: the mean face at the head's rest position, every vertex bound to the head joint alone, and
  one morph target per leading face code dim, the basis column of the linear face decoder, named by
  avatar.parameters.FACE_CODE_DIMS in the mesh's extras.targetNames, as three.js and Blender read them);
  the skin's inverse bind matrices undo each joint's rest position, so skinning is exactly
  avatar.body_mesh's (sum_j w_vj (R_j (v - rest_j) + p_j)), and the face moves with the head as
  avatar.Avatar moves it;
- one animation `motion`, keyframes at 30 fps, linear: every joint's local rotation (quaternions), the root's
  translation, and the face's morph weights = the leading --face_dims dims of the face code clamped to the
  avatar's plausible ranges (avatar.face.clamp_face_code: what the videos show). The default is the 12 named
  dims; the detail dims 12..255 move the skin by about 0.1 cm RMS, and --face_dims 256 exports them all
  (some 12 MB more per person). With every dim exported the face equals avatar.face.decode exactly;
- asset.extras.a2p: fps, frames, duration_s, the audio file (--audio, else null), the persons' names and
  the morph target names.

Joint world positions of the glTF's nodes at frame k equal avatar.skeleton.forward_kinematics (placed,
scaled to metres) and the morph-weighted face equals avatar.face.decode, both to float32 precision
(tests/test_export_gltf.py). Written with pygltflib; the Khronos glTF validator reports no errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pygltflib as gl
import torch

from avatar.body_mesh import body_mesh
from avatar.face import clamp_face_code, face_model
from avatar.parameters import FACE_CODE_DIMS
from avatar.skeleton import (JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS, REST_POSITIONS,
                             local_rotations)
from data_loaders.format import FACE_DIM, FPS, POSE_DIM
from utils.cli import run_cli
from utils.config import arg, build_parser, from_dict
from utils.files import atomic_write
from visualize.conversation import Placement, placements
from visualize.export_bvh import face_codes_of, load_motion

CM_TO_M = 0.01
HEAD = JOINT_INDEX["head"]
PERSON_NAMES = ("person", "partner")
ANIMATED_JOINTS = [j for j, name in enumerate(JOINT_NAMES) if not name.endswith("_end")]  # the 57 with parameters


@dataclass
class GltfConfig:
    """glTF export (RESULTS is the positional argument)."""
    out: str = arg("", "output .glb path; default: RESULTS with the suffix _<index>.glb")
    index: int = arg(0, "which sample of a results.npy to export (its first axis; repetition-major order)")
    face_codes: str = arg("", "a face results.npy or (T, 256) .npy (default: the RESULTS dict's 'face' entry "
                              "when it has one, else a neutral face)")
    partner: str = arg("", "the partner's body results.npy or (T, 104) .npy (sample.generate --both writes "
                           "partner_results.npy); puts both persons in the scene, facing each other")
    partner_face_codes: str = arg("", "the partner's face results.npy or (T, 256) .npy (default: neutral)")
    face_dims: int = arg(len(FACE_CODE_DIMS), "leading face code dims exported as morph targets (12: the named "
                                               "ones; up to 256: exact)")
    audio: str = arg("", "the conversation's audio file, recorded in the asset's extras (the .glb holds no sound)")


@dataclass
class PersonMotion:
    """One person's motion: poses (T, 104) and face codes (T, 256) or None (neutral)."""
    name: str
    poses: np.ndarray
    face_codes: np.ndarray | None = None


def target_names(face_dims: int) -> list[str]:
    """Morph target names of the leading face_dims dims: the named ones, then detail_012, ..."""
    return [FACE_CODE_DIMS[d] if d < len(FACE_CODE_DIMS) else f"detail_{d:03d}" for d in range(face_dims)]


def rotation_quaternions(rotations: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (x, y, z, w), w >= 0 (Shepperd's method:
    the largest of the four squared components first, so no division by a small number)."""
    m = rotations
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = np.stack([  # 4 * q * q_k for k = x, y, z, w: rows of the symmetric outer product
        np.stack([1 + 2 * m[..., 0, 0] - trace, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0],
                  m[..., 2, 1] - m[..., 1, 2]], -1),
        np.stack([m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - trace, m[..., 1, 2] + m[..., 2, 1],
                  m[..., 0, 2] - m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - trace,
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1],
                  1 + trace], -1)], -2)
    best = np.argmax(np.stack([candidates[..., k, k] for k in range(4)], -1), axis=-1)
    row = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quaternion = row / np.linalg.norm(row, axis=-1, keepdims=True)
    return quaternion * np.where(quaternion[..., 3:] < 0, -1.0, 1.0)


def continuous(quaternions: np.ndarray) -> np.ndarray:
    """(T, ..., 4) quaternions with signs flipped so that consecutive frames are on the same hemisphere
    (linear interpolation between keyframes then takes the short way)."""
    out = quaternions.copy()
    for t in range(1, len(out)):
        flip = np.sum(out[t] * out[t - 1], axis=-1, keepdims=True) < 0
        out[t] = np.where(flip, -out[t], out[t])
    return out


class _Binary:
    """The .glb's binary chunk: arrays appended as buffer views with one accessor each."""

    COMPONENTS = {np.dtype(np.float32): gl.FLOAT, np.dtype(np.uint8): gl.UNSIGNED_BYTE,
                  np.dtype(np.uint16): gl.UNSIGNED_SHORT, np.dtype(np.uint32): gl.UNSIGNED_INT}
    TYPES = {1: gl.SCALAR, 3: gl.VEC3, 4: gl.VEC4, 16: gl.MAT4}

    def __init__(self, gltf: gl.GLTF2):
        self.gltf, self.data = gltf, bytearray()

    def add(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Append array (n,) or (n, width) (float32, uint8/16/32); its accessor's index. bounds: store min and
        max (required for positions and animation times)."""
        array = np.ascontiguousarray(array)
        width = 1 if array.ndim == 1 else array.shape[1]
        self.data += b"\0" * (-len(self.data) % 4)
        view = gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=array.nbytes, target=target)
        if target == gl.ARRAY_BUFFER and array.itemsize * width % 4 == 0:
            view.byteStride = array.itemsize * width
        self.data += array.tobytes()
        self.gltf.bufferViews.append(view)
        flat = array.reshape(len(array), width)
        accessor = gl.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=self.COMPONENTS[array.dtype],
                               count=len(array), type=self.TYPES[width])
        if bounds:
            accessor.min, accessor.max = flat.min(0).tolist(), flat.max(0).tolist()
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1


class _SceneBuilder:
    """Builds the glTF of one or two persons (module docstring)."""

    def __init__(self, frames: int, face_dims: int):
        self.gltf = gl.GLTF2(asset=gl.Asset(generator="a2p visualize.export_gltf", version="2.0"))
        self.binary = _Binary(self.gltf)
        self.face_dims = face_dims
        self.gltf.materials.append(gl.Material(name="vertex colours", pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.8), doubleSided=True))
        self.root = self.node(gl.Node(name="a2p", scale=[CM_TO_M] * 3))
        self.gltf.scenes.append(gl.Scene(name="conversation", nodes=[self.root]))
        self.gltf.scene = 0
        self.animation = gl.Animation(name="motion")
        self.gltf.animations.append(self.animation)
        self.times = self.binary.add(np.arange(frames, dtype=np.float32) / FPS, bounds=True)

    def node(self, node: gl.Node, parent: int | None = None) -> int:
        self.gltf.nodes.append(node)
        index = len(self.gltf.nodes) - 1
        if parent is not None:
            self.gltf.nodes[parent].children.append(index)
        return index

    def animate(self, node: int, path: str, values: np.ndarray) -> None:
        """One linear channel of the animation: values (T, width) or (T * morph targets,) at 30 fps."""
        output = self.binary.add(values.astype(np.float32))
        sampler = gl.AnimationSampler(input=self.times, output=output, interpolation=gl.ANIM_LINEAR)
        self.animation.samplers.append(sampler)
        self.animation.channels.append(gl.AnimationChannel(sampler=len(self.animation.samplers) - 1,
                                                           target=gl.AnimationChannelTarget(node=node, path=path)))

    def add_person(self, person: PersonMotion, placement: Placement, prefix: str) -> None:
        """The person's placement node, skeleton, skin, body and face meshes and animation channels."""
        holder = self.node(gl.Node(name=person.name, rotation=list(placement.quaternion),
                                   translation=list(placement.translation)), self.root)
        poses = torch.from_numpy(person.poses)
        quaternions = continuous(rotation_quaternions(local_rotations(poses).numpy()))  # (T, J, 4)
        joints = []
        for j, name in enumerate(JOINT_NAMES):
            parent = holder if PARENTS[j] < 0 else joints[PARENTS[j]]
            offset = REST_OFFSETS[j].numpy() + (person.poses[0, :3] if PARENTS[j] < 0 else 0.0)
            joints.append(self.node(gl.Node(name=prefix + name, translation=offset.tolist(),
                                            rotation=quaternions[0, j].tolist()), parent))
        for j in ANIMATED_JOINTS:
            self.animate(joints[j], "rotation", quaternions[:, j])
        self.animate(joints[0], "translation", person.poses[:, :3] + REST_OFFSETS[0].numpy())
        inverse_bind = np.tile(np.eye(4, dtype=np.float32), (NUM_JOINTS, 1, 1))
        inverse_bind[:, :3, 3] = -REST_POSITIONS.numpy()
        self.gltf.skins.append(gl.Skin(name=f"{person.name}_skeleton", joints=joints, skeleton=joints[0],
                                       inverseBindMatrices=self.binary.add(
                                           inverse_bind.transpose(0, 2, 1).reshape(NUM_JOINTS, 16))))  # column-major
        skin = len(self.gltf.skins) - 1
        self.add_body(person.name, skin)
        face_node = self.add_face(person.name, skin)
        codes = np.zeros((len(person.poses), FACE_DIM)) if person.face_codes is None else person.face_codes
        weights = clamp_face_code(torch.from_numpy(codes)).numpy()[:, :self.face_dims]
        self.animate(face_node, "weights", weights.reshape(-1))

    def mesh_node(self, name: str, primitive: gl.Primitive, skin: int, **mesh_fields) -> int:
        self.gltf.meshes.append(gl.Mesh(name=name, primitives=[primitive], **mesh_fields))
        node = self.node(gl.Node(name=name, mesh=len(self.gltf.meshes) - 1, skin=skin))
        self.gltf.scenes[0].nodes.append(node)
        return node

    def primitive(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, joints: np.ndarray,
                  weights: np.ndarray) -> gl.Primitive:
        add = self.binary.add
        attributes = gl.Attributes(POSITION=add(vertices.astype(np.float32), gl.ARRAY_BUFFER, bounds=True),
                                   COLOR_0=add(colors.astype(np.float32), gl.ARRAY_BUFFER),
                                   JOINTS_0=add(joints.astype(np.uint8), gl.ARRAY_BUFFER),
                                   WEIGHTS_0=add(weights.astype(np.float32), gl.ARRAY_BUFFER))
        indices = add(faces.reshape(-1).astype(np.uint32), gl.ELEMENT_ARRAY_BUFFER)
        return gl.Primitive(attributes=attributes, indices=indices, material=0, mode=gl.TRIANGLES)

    def add_body(self, name: str, skin: int) -> int:
        body = body_mesh()
        weights = body.weights.numpy()
        joints = np.argsort(-weights, axis=1, kind="stable")[:, :4]  # avatar.body_mesh: at most 4 per vertex
        strongest = np.take_along_axis(weights, joints, axis=1)
        strongest = strongest / strongest.sum(1, keepdims=True)
        joints = np.where(strongest > 0, joints, 0)  # unused slots: joint 0 with weight 0
        primitive = self.primitive(body.rest_vertices.numpy(), body.faces.numpy(), body.colors.numpy(), joints,
                                   strongest)
        return self.mesh_node(f"{name}_body", primitive, skin)

    def add_face(self, name: str, skin: int) -> int:
        face = face_model()
        count = face.num_vertices
        joints = np.zeros((count, 4), np.uint8)
        joints[:, 0] = HEAD
        weights = np.zeros((count, 4))
        weights[:, 0] = 1.0
        primitive = self.primitive(face.mean.numpy() + REST_POSITIONS[HEAD].numpy(), face.faces.numpy(),
                                   face.colors.numpy(), joints, weights)
        basis = face.basis.numpy().reshape(count, 3, FACE_DIM)
        primitive.targets = [gl.Attributes(POSITION=self.binary.add(basis[:, :, d].astype(np.float32), gl.ARRAY_BUFFER,
                                                                  bounds=True))
                             for d in range(self.face_dims)]
        return self.mesh_node(f"{name}_face", primitive, skin, weights=[0.0] * self.face_dims,
                              extras={"targetNames": target_names(self.face_dims)})

    def finish(self, extras: dict) -> gl.GLTF2:
        self.gltf.asset.extras = {"a2p": extras}
        self.gltf.buffers.append(gl.Buffer(byteLength=len(self.binary.data)))
        self.gltf.set_binary_blob(bytes(self.binary.data))
        return self.gltf


def _check_person(person: PersonMotion, frames: int) -> None:
    if person.poses.ndim != 2 or person.poses.shape[1] != POSE_DIM or len(person.poses) == 0:
        raise ValueError(f"{person.name}: body poses must be (T, {POSE_DIM}) with T > 0, got {person.poses.shape}")
    if len(person.poses) != frames:
        raise ValueError(f"{person.name}: {len(person.poses)} frames, but the first person has {frames}: both "
                         f"persons must come from the same audio")
    if person.face_codes is not None and person.face_codes.shape != (frames, FACE_DIM):
        raise ValueError(f"{person.name}: face codes must be (T, {FACE_DIM}) = ({frames}, {FACE_DIM}) like its "
                         f"poses, got {person.face_codes.shape}")
    for what, values in (("body poses", person.poses), ("face codes", person.face_codes)):
        if values is not None and not np.isfinite(values).all():
            raise ValueError(f"{person.name}: its {what} contain NaN or infinite values")


def write_gltf(path: str | Path, persons: list[PersonMotion], face_dims: int = len(FACE_CODE_DIMS),
               audio: str | None = None) -> Path:
    """Write one or two persons (poses (T, 104), face codes (T, 256) or None) as a .glb (module docstring)."""
    if not 0 <= face_dims <= FACE_DIM:
        raise ValueError(f"--face_dims must be 0 to {FACE_DIM}, got {face_dims}")
    frames = len(persons[0].poses)
    for person in persons:
        _check_person(person, frames)
    builder = _SceneBuilder(frames, face_dims)
    for number, (person, placement) in enumerate(zip(persons, placements(len(persons)))):
        builder.add_person(person, placement, "" if number == 0 else f"{person.name}_")
    gltf = builder.finish({"fps": FPS, "frames": frames, "duration_s": frames / FPS, "audio": audio or None,
                           "persons": [p.name for p in persons], "targetNames": target_names(face_dims)})
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_bytes(b"".join(gltf.save_to_bytes()))
    return path


def read_extras(path: str | Path) -> dict:
    """asset.extras.a2p of a .glb written here."""
    return gl.GLTF2().load_binary(str(path)).asset.extras["a2p"]


def _person(name: str, body: str, face: str, index: int) -> PersonMotion:
    """A person from its body file and face file (empty: the body file's 'face' entry, else neutral)."""
    poses = load_motion(body, index, POSE_DIM, "body poses")
    return PersonMotion(name, poses, face_codes_of(body, face, index, len(poses))[0])


def main(argv=None) -> Path:
    parser = build_parser([GltfConfig], description=__doc__.split("\n")[0])
    parser.add_argument("results", help="results.npy from sample.generate, or a (T, 104) .npy of body poses")
    namespace = vars(parser.parse_args(argv))
    config = from_dict(GltfConfig, namespace)
    results = Path(namespace["results"])
    if config.partner_face_codes and not config.partner:
        raise SystemExit("--partner_face_codes needs --partner: the partner's body results.npy")
    persons = [_person(PERSON_NAMES[0], str(results), config.face_codes, config.index)]
    if config.partner:
        persons.append(_person(PERSON_NAMES[1], config.partner, config.partner_face_codes, config.index))
    out = Path(config.out) if config.out else results.with_name(f"{results.stem}_{config.index}.glb")
    write_gltf(out, persons, config.face_dims, config.audio or None)
    frames = len(persons[0].poses)
    print(f"wrote {out}: {len(persons)} person(s), {frames} frames ({frames / FPS:.1f} s) at {FPS} fps, "
          f"{NUM_JOINTS} joints, {config.face_dims} face morph targets")
    return out


if __name__ == "__main__":
    run_cli(main)
