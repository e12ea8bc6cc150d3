"""glTF export: the Khronos validator finds no issue, trimesh re-imports the joints, meshes and morph target names,
and the file read back byte by byte (GLB chunks, accessors: no pygltflib) reproduces a2p's forward kinematics,
skinning and face decoder."""
import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from avatar.avatar import Avatar
from avatar.face import clamp_face_code, decode
from avatar.parameters import FACE_CODE_DIMS, POSE_PARAMETERS
from avatar.skeleton import JOINT_NAMES, NUM_JOINTS, forward_kinematics
from sample.results import Results, motion_rows, save_results
from visualize.conversation import DISTANCE_CM, placements
from visualize.export_gltf import CM_TO_M, PersonMotion, main, read_extras, write_gltf

REPO = Path(__file__).resolve().parents[1]
VALIDATOR = REPO / ".node" / "node_modules" / "gltf-validator"
FRAMES = 9
LOWER = np.array([p.lower for p in POSE_PARAMETERS])
UPPER = np.array([p.upper for p in POSE_PARAMETERS])
COMPONENTS = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}
WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def random_person(name: str, seed: int, frames: int = FRAMES) -> PersonMotion:
    """Poses uniform within the limits (root translation +-limits cm), face codes N(0, 0.6) (some clamped)."""
    rng = np.random.default_rng(seed)
    return PersonMotion(name, LOWER + (UPPER - LOWER) * rng.random((frames, 104)), rng.normal(0, 0.6, (frames, 256)))


class Glb:
    """A .glb read with the standard library and numpy only: its JSON and its accessors as arrays."""

    def __init__(self, path: Path):
        data = path.read_bytes()
        magic, version, length = struct.unpack_from("<4sII", data)
        assert (magic, version, length) == (b"glTF", 2, len(data))
        json_length, json_type = struct.unpack_from("<I4s", data, 12)
        assert json_type == b"JSON"
        self.json = json.loads(data[20:20 + json_length])
        bin_length, bin_type = struct.unpack_from("<I4s", data, 20 + json_length)
        assert bin_type == b"BIN\0"
        self.bin = data[28 + json_length:28 + json_length + bin_length]

    def accessor(self, index: int) -> np.ndarray:
        accessor = self.json["accessors"][index]
        view = self.json["bufferViews"][accessor["bufferView"]]
        dtype, width = np.dtype(COMPONENTS[accessor["componentType"]]), WIDTHS[accessor["type"]]
        stride = view.get("byteStride", dtype.itemsize * width)
        assert stride == dtype.itemsize * width  # tightly packed, one accessor per view
        start = view["byteOffset"] + accessor.get("byteOffset", 0)
        flat = np.frombuffer(self.bin, dtype, accessor["count"] * width, start)
        return flat.reshape(accessor["count"], width).astype(np.float64 if dtype.kind == "f" else np.int64)

    def node_index(self, name: str) -> int:
        return next(i for i, node in enumerate(self.json["nodes"]) if node.get("name") == name)

    def local_matrices(self, frame: int) -> list[np.ndarray]:
        """Every node's local 4x4 matrix (T R S) with the animation's values at keyframe `frame`."""
        values = {i: dict(node) for i, node in enumerate(self.json["nodes"])}
        animation = self.json["animations"][0]
        for channel in animation["channels"]:
            sampler = animation["samplers"][channel["sampler"]]
            output = self.accessor(sampler["output"])
            frames = len(self.accessor(sampler["input"]))
            target = channel["target"]
            values[target["node"]][target["path"]] = output.reshape(frames, -1)[frame]
        return [_trs(node) for _, node in sorted(values.items())]

    def world_matrices(self, frame: int) -> list[np.ndarray]:
        local = self.local_matrices(frame)
        world = [None] * len(local)

        def visit(node: int, parent: np.ndarray) -> None:
            world[node] = parent @ local[node]
            for child in self.json["nodes"][node].get("children", []):
                visit(child, world[node])

        for root in self.json["scenes"][0]["nodes"]:
            visit(root, np.eye(4))
        return world

    def skinned(self, node: int, frame: int) -> np.ndarray:
        """World vertices (V, 3) of a skinned, morphed mesh node at keyframe `frame`, as a glTF viewer computes
        them: morph targets first, then sum_i w_i (joint world @ inverse bind) v."""
        description = self.json["nodes"][node]
        primitive = self.json["meshes"][description["mesh"]]["primitives"][0]
        skin = self.json["skins"][description["skin"]]
        vertices = self.accessor(primitive["attributes"]["POSITION"])
        weights_now = self.morph_weights(node, frame)
        for target, weight in zip(primitive.get("targets", []), weights_now):
            vertices = vertices + weight * self.accessor(target["POSITION"])
        world = self.world_matrices(frame)
        inverse_bind = self.accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
        joint_matrices = np.stack([world[j] @ inverse_bind[i] for i, j in enumerate(skin["joints"])])
        joints = self.accessor(primitive["attributes"]["JOINTS_0"])
        weights = self.accessor(primitive["attributes"]["WEIGHTS_0"])
        blended = np.einsum("vk,vkab->vab", weights, joint_matrices[joints])
        return (blended[:, :3, :3] @ vertices[:, :, None])[:, :, 0] + blended[:, :3, 3]

    def morph_weights(self, node: int, frame: int) -> np.ndarray:
        mesh = self.json["meshes"][self.json["nodes"][node]["mesh"]]
        animation = self.json["animations"][0]
        for channel in animation["channels"]:
            if channel["target"] == {"node": node, "path": "weights"}:
                sampler = animation["samplers"][channel["sampler"]]
                frames = len(self.accessor(sampler["input"]))
                return self.accessor(sampler["output"]).reshape(frames, -1)[frame]
        return np.array(mesh.get("weights", []))


def _trs(node: dict) -> np.ndarray:
    x, y, z, w = np.asarray(node.get("rotation", (0, 0, 0, 1)), np.float64)
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                         [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                         [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.get("scale", (1, 1, 1)))
    matrix[:3, 3] = node.get("translation", (0, 0, 0))
    return matrix


@pytest.fixture(scope="module")
def conversation(tmp_path_factory) -> tuple[Path, list[PersonMotion]]:
    persons = [random_person("person", 0), random_person("partner", 1)]
    path = write_gltf(tmp_path_factory.mktemp("gltf") / "conversation.glb", persons, audio="talk.wav")
    return path, persons


@pytest.mark.skipif(shutil.which("node") is None or not VALIDATOR.is_dir(),
                    reason="needs node and the npm package gltf-validator in .node/ (scripts/install.sh installs both)")
def test_khronos_validator_reports_no_issue(conversation):
    report = json.loads(subprocess.run(["node", str(REPO / "scripts" / "validate_gltf.js"), str(conversation[0])],
                                       capture_output=True, text=True, check=True, timeout=120).stdout)
    issues = report["issues"]
    assert (issues["numErrors"], issues["numWarnings"], issues["numInfos"], issues["numHints"]) == (0, 0, 0, 0), \
        issues["messages"][:5]
    info = report["info"]
    assert (info["animationCount"], info["hasSkins"], info["hasMorphTargets"], info["maxInfluences"]) == (1, True,
                                                                                                          True, 4)


def test_trimesh_reimports_joints_meshes_and_morph_target_names(conversation):
    path, persons = conversation
    scene = trimesh.load(path)
    avatar = Avatar()
    assert sorted(scene.geometry) == ["partner_body", "partner_face", "person_body", "person_face"]
    for name in ("person", "partner"):
        assert len(scene.geometry[f"{name}_body"].vertices) == avatar.num_body_vertices
        assert len(scene.geometry[f"{name}_face"].vertices) == avatar.num_vertices - avatar.num_body_vertices
        assert scene.geometry[f"{name}_face"].metadata["targetNames"] == list(FACE_CODE_DIMS)
    nodes = set(scene.graph.nodes)
    assert len(nodes & set(JOINT_NAMES)) == NUM_JOINTS == 70
    assert len(nodes & {f"partner_{name}" for name in JOINT_NAMES}) == 70
    glb = Glb(path)
    times = glb.accessor(glb.json["animations"][0]["samplers"][0]["input"])[:, 0]
    np.testing.assert_allclose(times, np.arange(FRAMES) / 30, atol=1e-7)
    assert [len(skin["joints"]) for skin in glb.json["skins"]] == [70, 70]
    assert read_extras(path) == {"fps": 30, "frames": FRAMES, "duration_s": FRAMES / 30, "audio": "talk.wav",
                                 "persons": ["person", "partner"], "targetNames": list(FACE_CODE_DIMS)}


@pytest.mark.parametrize("frame", [0, 5])
def test_gltf_nodes_reproduce_forward_kinematics_placed_face_to_face(conversation, frame):
    path, persons = conversation
    glb = Glb(path)
    world = glb.world_matrices(frame)
    for person, placement, prefix in zip(persons, placements(2), ("", "partner_")):
        _, positions = forward_kinematics(torch.from_numpy(person.poses[frame]))
        expected = placement.apply(positions.numpy())
        found = np.stack([world[glb.node_index(prefix + name)][:3, 3] for name in JOINT_NAMES]) / CM_TO_M
        assert np.abs(found - expected).max() < 1e-4  # cm


def test_two_persons_at_rest_face_each_other_at_conversational_distance(tmp_path):
    rest = [PersonMotion(name, np.zeros((1, 104))) for name in ("person", "partner")]
    glb = Glb(write_gltf(tmp_path / "rest.glb", rest))
    world = glb.world_matrices(0)
    heads = [world[glb.node_index(prefix + "head")] for prefix in ("", "partner_")]
    between = (heads[1][:3, 3] - heads[0][:3, 3]) / CM_TO_M
    np.testing.assert_allclose(between, [0.0, 0.0, DISTANCE_CM], atol=1e-4)
    facing = [head[:3, 2] / np.linalg.norm(head[:3, 2]) for head in heads]  # each head's forward (+z) axis
    np.testing.assert_allclose(facing[0], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(facing[1], [0, 0, -1], atol=1e-6)


def test_skinned_body_and_morphed_face_equal_the_avatar(conversation):
    path, persons = conversation
    glb, avatar, frame = Glb(path), Avatar(), 3
    person = persons[1]
    pose, code = torch.from_numpy(person.poses[frame]), torch.from_numpy(person.face_codes[frame])
    named = clamp_face_code(code)
    named[len(FACE_CODE_DIMS):] = 0  # only the named dims are morph targets by default
    expected = placements(2)[1].apply(avatar.posed_vertices(pose, named).numpy())
    body = glb.skinned(glb.node_index("partner_body"), frame) / CM_TO_M
    face = glb.skinned(glb.node_index("partner_face"), frame) / CM_TO_M
    assert np.abs(body - expected[:avatar.num_body_vertices]).max() < 1e-4  # cm
    assert np.abs(face - expected[avatar.num_body_vertices:]).max() < 1e-4


def test_every_face_dim_as_morph_target_equals_the_face_decoder(tmp_path):
    person = random_person("person", 2, frames=2)
    glb = Glb(write_gltf(tmp_path / "face.glb", [person], face_dims=256))
    node = glb.node_index("person_face")
    primitive = glb.json["meshes"][glb.json["nodes"][node]["mesh"]]["primitives"][0]
    rest = glb.accessor(primitive["attributes"]["POSITION"])
    head_rest = rest - decode(torch.zeros(256, dtype=torch.float64)).numpy()  # the head joint's rest position
    assert np.ptp(head_rest, axis=0).max() < 1e-5
    for frame in range(2):
        morphed = rest + sum(w * glb.accessor(t["POSITION"])
                             for w, t in zip(glb.morph_weights(node, frame), primitive["targets"]))
        expected = decode(clamp_face_code(torch.from_numpy(person.face_codes[frame]))).numpy()
        assert np.abs(morphed - head_rest[0] - expected).max() < 1e-4  # cm, the head frame


def test_cli_reads_results_files_and_names_bad_input(tmp_path):
    person, partner = random_person("person", 3, frames=6), random_person("partner", 4, frames=6)

    def results(motion: np.ndarray, kind: str, name: str) -> Path:
        stored = Results(motions=motion_rows(motion[None]), audio=np.zeros((1, 6 * 1600, 2), np.float32),
                         lengths=np.array([6]), num_samples=1, num_repetitions=1, data_format=kind)
        return save_results(tmp_path / name, stored)

    body, face = results(person.poses, "pose", "body.npy"), results(person.face_codes, "face", "face.npy")
    partner_body = results(partner.poses, "pose", "partner_body.npy")
    out = main([str(body), "--face_codes", str(face), "--partner", str(partner_body), "--out",
                str(tmp_path / "both.glb")])
    glb = Glb(out)
    assert [n["name"] for n in glb.json["nodes"] if "mesh" in n] == ["person_body", "person_face", "partner_body",
                                                                     "partner_face"]
    np.testing.assert_allclose(glb.morph_weights(glb.node_index("person_face"), 4),
                               clamp_face_code(torch.from_numpy(person.face_codes[4])).numpy()[:12], atol=1e-6)
    np.testing.assert_allclose(glb.morph_weights(glb.node_index("partner_face"), 4), 0.0)  # no face: neutral
    np.save(tmp_path / "short.npy", partner.poses[:4])
    with pytest.raises(ValueError, match="partner: 4 frames, but the first person has 6"):
        main([str(body), "--partner", str(tmp_path / "short.npy"), "--out", str(tmp_path / "bad.glb")])
    with pytest.raises(SystemExit, match="--partner_face_codes needs --partner"):
        main([str(body), "--partner_face_codes", str(face)])
