"""BVH export: exact round trips, a third-party parser reads the same angles, BVH semantics give our FK."""
import csv
import math

import numpy as np
import pytest
import torch
from bvh import Bvh

from avatar.parameters import FACE_CODE_DIMS, POSE_PARAMETERS
from avatar.skeleton import END_SITES, JOINT_AXES, JOINT_INDEX, JOINT_NAMES, JOINT_PARAMETERS, JOINT_SIGNS, REST_OFFSETS
from avatar.skeleton import forward_kinematics
from visualize.export_bvh import main, read_bvh, write_bvh

LOWER = np.array([p.lower for p in POSE_PARAMETERS])
UPPER = np.array([p.upper for p in POSE_PARAMETERS])


def random_poses(frames, seed=0):
    """(frames, 104) poses uniformly within the limits (root rotations over the full +-180 degrees)."""
    return LOWER + (UPPER - LOWER) * np.random.default_rng(seed).random((frames, 104))


def test_round_trip_through_our_reader(tmp_path):
    poses = random_poses(7)
    write_bvh(tmp_path / "motion.bvh", poses)
    np.testing.assert_allclose(read_bvh(tmp_path / "motion.bvh"), poses, rtol=0, atol=1e-6)  # 6 decimals


def test_the_bvh_package_reads_our_angles(tmp_path):
    poses = random_poses(4, seed=1)
    write_bvh(tmp_path / "motion.bvh", poses)
    mocap = Bvh((tmp_path / "motion.bvh").read_text())
    joints = [n for n in JOINT_NAMES if n not in END_SITES]
    assert mocap.nframes == 4 and math.isclose(mocap.frame_time, 1 / 30, rel_tol=1e-5)
    assert sorted(mocap.get_joints_names()) == sorted(joints)
    recovered = np.zeros_like(poses)
    for name in joints:
        j = JOINT_INDEX[name]
        np.testing.assert_allclose(mocap.joint_offset(name), REST_OFFSETS[j].numpy(), atol=1e-6)
        channels = mocap.joint_channels(name)
        if name == "root":
            recovered[:, :3] = mocap.frames_joint_channels(name, ["Xposition", "Yposition", "Zposition"])
        for k in range(3):
            if JOINT_PARAMETERS[j, k] >= 0:
                channel = "XYZ"[JOINT_AXES[j, k]] + "rotation"
                assert channel in channels
                degrees = np.array(mocap.frames_joint_channels(name, [channel]))[:, 0]
                recovered[:, JOINT_PARAMETERS[j, k]] = np.radians(degrees) * JOINT_SIGNS[j, k]
    np.testing.assert_allclose(recovered, poses, rtol=0, atol=1e-4)


def _axis_rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def test_standard_bvh_semantics_reproduce_our_forward_kinematics(tmp_path):
    """A generic BVH reader (rotation = product of the channel rotations in file order, child = parent +
    R_parent @ OFFSET) puts every joint where avatar.skeleton does."""
    poses = random_poses(3, seed=2)
    write_bvh(tmp_path / "motion.bvh", poses)
    mocap = Bvh((tmp_path / "motion.bvh").read_text())
    names = mocap.get_joints_names()
    expected = forward_kinematics(torch.tensor(poses))[1].numpy()
    for frame in range(3):
        rotation, position = {}, {}
        for index, name in enumerate(names):
            channels = mocap.joint_channels(name)
            values = mocap.frame_joint_channels(frame, name, channels)
            local = np.eye(3)
            for channel, value in zip(channels, values):
                if channel.endswith("rotation"):
                    local = local @ _axis_rotation(channel[0], value)
            offset = np.array(mocap.joint_offset(name))
            parent = mocap.joint_parent_index(name)
            if parent < 0:
                position[name] = offset + np.array(values[:3])
                rotation[name] = local
            else:
                parent_name = names[parent]
                position[name] = position[parent_name] + rotation[parent_name] @ offset
                rotation[name] = rotation[parent_name] @ local
            np.testing.assert_allclose(position[name], expected[frame, JOINT_INDEX[name]], atol=1e-4)


def _results(path, motions, face=None):
    results = {"motions": motions, "lengths": np.full(len(motions), motions.shape[-1])}
    if face is not None:
        results["face"] = face
    np.save(path, results, allow_pickle=True)


def test_cli_exports_a_results_sample_and_its_face_csv(tmp_path, capsys):
    rng = np.random.default_rng(3)
    poses = np.stack([random_poses(6, seed=s) for s in (4, 5)])  # (N=2, T, 104)
    faces = rng.normal(size=(2, 6, 256))
    _results(tmp_path / "results.npy", poses.transpose(0, 2, 1)[:, :, None], faces.transpose(0, 2, 1)[:, :, None])
    main([str(tmp_path / "results.npy"), "--out", str(tmp_path / "out.bvh"), "--index", "1"])
    np.testing.assert_allclose(read_bvh(tmp_path / "out.bvh"), poses[1], atol=1e-6)
    with open(tmp_path / "out_face.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["frame", "time_s", *FACE_CODE_DIMS] and len(rows) == 7
    np.testing.assert_allclose(np.array(rows[1:], dtype=float)[:, 2:], faces[1, :, :len(FACE_CODE_DIMS)], atol=1e-6)
    assert "out.bvh" in capsys.readouterr().out
    # a plain (T, 104) array, with the face codes from a separate face results file
    np.save(tmp_path / "poses.npy", poses[0])
    _results(tmp_path / "face_results.npy", faces.transpose(0, 2, 1)[:, :, None])
    main([str(tmp_path / "poses.npy"), "--face_codes", str(tmp_path / "face_results.npy")])
    np.testing.assert_allclose(read_bvh(tmp_path / "poses_0.bvh"), poses[0], atol=1e-6)
    assert (tmp_path / "poses_0_face.csv").is_file()


def test_bad_input_gets_an_error_naming_the_file(tmp_path):
    _results(tmp_path / "face_as_body.npy", np.zeros((1, 256, 1, 5)))
    with pytest.raises(ValueError, match=r"face_as_body\.npy.*104"):
        main([str(tmp_path / "face_as_body.npy"), "--out", str(tmp_path / "x.bvh")])
    np.save(tmp_path / "short.npy", np.zeros((5, 103)))
    with pytest.raises(ValueError, match=r"short\.npy.*104"):
        main([str(tmp_path / "short.npy")])
    _results(tmp_path / "two.npy", np.zeros((2, 104, 1, 5)))
    with pytest.raises(ValueError, match=r"two\.npy.*index 2"):
        main([str(tmp_path / "two.npy"), "--index", "2"])
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        main([str(tmp_path / "missing.npy")])
    with pytest.raises(ValueError, match=r"other\.bvh.*write_bvh|other\.bvh.*export_bvh"):
        (tmp_path / "other.bvh").write_text("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition "
                                            "Yposition Zposition\n}\nMOTION\nFrames: 0\nFrame Time: 0.03\n")
        read_bvh(tmp_path / "other.bvh")
    with pytest.raises(ValueError, match=r"\(T, 104\)"):
        write_bvh(tmp_path / "bad.bvh", np.zeros((4, 100)))


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for flag in ("results", "--out", "--index", "--face_codes"):
        assert flag in text
