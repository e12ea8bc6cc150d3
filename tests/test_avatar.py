"""The reference avatar: skeleton FK, the documented rest pose and axis signs, skinning, the linear face."""
import numpy as np
import pytest
import torch

from avatar import face
from avatar.avatar import HEAD, Avatar
from avatar.body_mesh import body_mesh
from avatar.parameters import DEG, FACE_INDEX, POSE_INDEX, POSE_PARAMETERS
from avatar.skeleton import (FLOOR_Y, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, REST_POSITIONS, bone_lengths,
                             forward_kinematics)

LOWER = torch.tensor([p.lower for p in POSE_PARAMETERS], dtype=torch.float64)
UPPER = torch.tensor([p.upper for p in POSE_PARAMETERS], dtype=torch.float64)


def random_poses(*shape, seed=0):
    """Poses uniformly within the parameter limits, (*shape, 104) float64."""
    generator = torch.Generator().manual_seed(seed)
    return LOWER + (UPPER - LOWER) * torch.rand(*shape, 104, generator=generator, dtype=torch.float64)


def pose_with(**degrees):
    """A float64 pose: zero except the named parameters (degrees; root translation in cm)."""
    pose = torch.zeros(104, dtype=torch.float64)
    for name, value in degrees.items():
        pose[POSE_INDEX[name]] = value * (1.0 if name in ("root_tx", "root_ty", "root_tz") else DEG)
    return pose


def position(pose, joint):
    return forward_kinematics(pose)[1][..., JOINT_INDEX[joint], :]


# ---- skeleton ----------------------------------------------------------------------------------------
def test_joint_table_covers_every_parameter_joint_parents_first():
    assert NUM_JOINTS == 70 and len(JOINT_NAMES) == len(set(JOINT_NAMES))
    assert set(p.joint for p in POSE_PARAMETERS) <= set(JOINT_NAMES)
    assert PARENTS[0] == -1 and all(0 <= p < j for j, p in enumerate(PARENTS) if j > 0)


def test_fk_preserves_bone_lengths_and_gives_rotations_batched():
    poses = random_poses(3, 5)
    rotations, positions = forward_kinematics(poses)
    assert rotations.shape == (3, 5, NUM_JOINTS, 3, 3) and positions.shape == (3, 5, NUM_JOINTS, 3)
    torch.testing.assert_close(bone_lengths(positions), bone_lengths(REST_POSITIONS).expand(3, 5, -1),
                               rtol=0, atol=1e-9)
    eye = torch.eye(3, dtype=torch.float64).expand_as(rotations)
    torch.testing.assert_close(rotations @ rotations.transpose(-1, -2), eye, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.linalg.det(rotations), torch.ones(3, 5, NUM_JOINTS, dtype=torch.float64))
    # the batch is the same as frame-by-frame, and the root translation moves everything rigidly
    torch.testing.assert_close(positions[1, 2], forward_kinematics(poses[1, 2])[1])
    shifted = poses.clone()
    shifted[..., :3] += torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(forward_kinematics(shifted)[1] - positions,
                               torch.tensor([5.0, -3.0, 2.0], dtype=torch.float64).expand_as(positions))


def test_fk_float32_and_gradients():
    pose32 = random_poses(4).float()
    rotations, positions = forward_kinematics(pose32)
    assert rotations.dtype == positions.dtype == torch.float32
    torch.testing.assert_close(positions, forward_kinematics(pose32.double())[1].float(), rtol=0, atol=1e-3)
    pose = (0.3 * random_poses(seed=1)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: forward_kinematics(p)[1][JOINT_INDEX["l_index_end"]], (pose,))


def test_zero_pose_is_the_documented_rest_pose():
    rotations, positions = forward_kinematics(torch.zeros(104, dtype=torch.float64))
    torch.testing.assert_close(positions, REST_POSITIONS, rtol=0, atol=1e-12)
    torch.testing.assert_close(rotations, torch.eye(3, dtype=torch.float64).expand(NUM_JOINTS, 3, 3))
    at = {name: positions[j] for j, name in enumerate(JOINT_NAMES)}
    assert at["root"].abs().max() == 0
    assert 60 <= at["head"][1] <= 70 and abs(at["head_end"][1] - FLOOR_Y - 175.0) < 1e-9  # 175 cm tall
    for side, sign in (("l", 1.0), ("r", -1.0)):  # left side at +x, hands hanging at the sides
        shoulder, wrist, tip = at[f"{side}_shoulder"], at[f"{side}_wrist"], at[f"{side}_middle_end"]
        assert sign * shoulder[0] > 15 and sign * wrist[0] > 15 and sign * tip[0] > 15
        assert shoulder[1] - wrist[1] > 45 and wrist[1] - tip[1] > 15 and abs(wrist[2]) < 3
        assert sign * at[f"{side}_thumb_end"][0] < sign * wrist[0] and at[f"{side}_thumb_end"][2] > 3  # thumb forward
        assert at[f"{side}_toes_end"][2] > 10 and at[f"{side}_toes_end"][1] - FLOOR_Y < 3  # feet forward, on floor


@pytest.mark.parametrize("pose, joint, axis, sign", [
    (pose_with(l_shoulder_rz=90), "l_wrist", 0, 1),  # arm out to the side
    (pose_with(r_shoulder_rz=90), "r_wrist", 0, -1),
    (pose_with(r_shoulder_rx=90), "r_wrist", 2, 1),  # arm forward
    (pose_with(l_elbow_rx=90), "l_wrist", 2, 1),  # forearm forward
    (pose_with(l_elbow_rx=90, l_shoulder_ry=45), "l_wrist", 0, -1),  # internal rotation: hand inwards
    (pose_with(l_elbow_rx=90, l_forearm_ry=90), "l_thumb_end", 0, 1),  # supination: palm up, thumb out
    (pose_with(l_wrist_rx=45), "l_middle_end", 0, -1),  # flexion towards the palm (thigh)
    (pose_with(r_index1_rx=90), "r_index_end", 0, 1),  # finger curl towards the palm
    (pose_with(l_index1_rz=20), "l_index_end", 2, 1),  # spread: index towards the thumb
    (pose_with(l_pinky1_rz=20), "l_pinky_end", 2, -1),  # pinky away from it
    (pose_with(l_clavicle_rz=20), "l_shoulder", 1, 1),  # shrug
    (pose_with(l_hip_rx=90), "l_knee", 2, 1),  # thigh forward
    (pose_with(l_knee_rx=90), "l_ankle", 2, -1),  # shin backward
    (pose_with(l_ankle_rx=30), "l_toes_end", 1, 1),  # toes up
    (pose_with(head_rx=30), "head_end", 2, 1),  # nod: head top forward
    (pose_with(head_ry=30), "head_end", 0, 0),  # (turning keeps the top in place)
    (pose_with(spine1_ry=30), "l_shoulder", 2, -1),  # turn towards +x: the left shoulder goes back
])
def test_documented_axis_signs(pose, joint, axis, sign):
    moved = position(pose, joint)[axis] - REST_POSITIONS[JOINT_INDEX[joint], axis]
    if sign == 0:
        assert abs(moved) < 1e-9
    else:
        assert sign * moved > 2.0


def test_raised_arm_puts_the_hand_above_the_head():
    head_top = REST_POSITIONS[JOINT_INDEX["head_end"], 1]
    assert position(pose_with(l_shoulder_rz=170), "l_wrist")[1] > head_top
    assert position(pose_with(r_shoulder_rx=170), "r_middle_end")[1] > head_top


def test_equal_values_on_both_sides_mirror():
    pose = random_poses(6, seed=3)
    pose[:, :24] = 0.0  # root, spine, neck, head: symmetric
    for left in [p.name for p in POSE_PARAMETERS if p.name.startswith("l_")]:
        pose[:, POSE_INDEX["r_" + left[2:]]] = pose[:, POSE_INDEX[left]]
    positions = forward_kinematics(pose)[1]
    mirror = [JOINT_INDEX["r_" + n[2:] if n.startswith("l_") else "l_" + n[2:] if n.startswith("r_") else n]
              for n in JOINT_NAMES]
    flipped = positions[:, mirror] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(flipped, positions, rtol=0, atol=1e-9)


def test_bad_pose_shape_is_rejected():
    with pytest.raises(ValueError, match="104"):
        forward_kinematics(torch.zeros(3, 103))


# ---- body mesh -------------------------------------------------------------------------------------------
def test_body_mesh_is_a_valid_moderate_coloured_mesh():
    body = body_mesh()
    assert 4000 <= body.num_vertices <= 8000
    assert body.faces.dtype == torch.int64 and body.faces.min() == 0 and body.faces.max() == body.num_vertices - 1
    assert len(torch.unique(body.faces)) == body.num_vertices  # every vertex is drawn
    assert body.colors.shape == (body.num_vertices, 3) and 0 <= body.colors.min() and body.colors.max() <= 1
    assert body.weights.shape == (body.num_vertices, NUM_JOINTS) and body.weights.min() >= 0
    torch.testing.assert_close(body.weights.sum(1), torch.ones(body.num_vertices, dtype=torch.float64))
    assert body.rest_vertices[:, 1].min() >= FLOOR_Y - 0.1 and body.rest_vertices[:, 1].min() < FLOOR_Y + 0.5
    assert body_mesh() is body  # built once


def test_skinning_at_rest_reproduces_the_rest_mesh():
    body = body_mesh()
    rotations, positions = forward_kinematics(torch.zeros(2, 104, dtype=torch.float64))
    torch.testing.assert_close(body.skin(rotations, positions), body.rest_vertices.expand(2, -1, -1),
                               rtol=0, atol=1e-10)
    skinned32 = body.skin(*forward_kinematics(torch.zeros(104)))
    assert skinned32.dtype == torch.float32 and (skinned32 - body.rest_vertices).abs().max() < 1e-4


def test_skinning_moves_only_what_the_joint_carries():
    body = body_mesh()
    subtree = {JOINT_INDEX["l_elbow"]}
    for j, parent in enumerate(PARENTS):
        if parent in subtree:
            subtree.add(j)
    influenced = body.weights[:, sorted(subtree)].sum(1) > 0
    moved = body.skin(*forward_kinematics(pose_with(l_elbow_rx=90))) - body.rest_vertices
    distance = torch.linalg.vector_norm(moved, dim=-1)
    assert distance[~influenced].max() < 1e-9 and distance[influenced].max() > 20
    carried = body.weights[:, JOINT_INDEX["l_wrist"]] == 1.0  # the hand turns rigidly with the forearm
    hand = body.skin(*forward_kinematics(pose_with(l_elbow_rx=90)))[carried]
    rest_hand = body.rest_vertices[carried]
    assert len(hand) > 50
    torch.testing.assert_close(torch.cdist(hand, hand, compute_mode="donot_use_mm_for_euclid_dist"),
                               torch.cdist(rest_hand, rest_hand, compute_mode="donot_use_mm_for_euclid_dist"),
                               rtol=0, atol=1e-9)


# ---- face ------------------------------------------------------------------------------------------------
def code_with(**values):
    code = torch.zeros(256, dtype=torch.float64)
    for name, value in values.items():
        code[FACE_INDEX[name]] = value
    return code


def opening(code):
    return face.mouth_opening(face.lip_vertices(code))


def test_decode_is_linear_and_batched():
    model = face.face_model()
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(2, 3, 256, generator=generator, dtype=torch.float64) for _ in range(2))
    va, vb, vab = model.decode(a), model.decode(b), model.decode(a + b)
    assert va.shape == (2, 3, model.num_vertices, 3)
    torch.testing.assert_close(vab - model.mean, (va - model.mean) + (vb - model.mean), rtol=0, atol=1e-10)
    torch.testing.assert_close(model.decode(torch.zeros(256, dtype=torch.float64)), model.mean)
    torch.testing.assert_close(face.lip_vertices(a), va[..., face.LIP_VERTEX_INDICES, :])
    assert face.decode(a.float()).dtype == torch.float32
    with pytest.raises(ValueError, match="256"):
        face.decode(torch.zeros(2, 255))


def test_face_mesh_is_valid():
    model = face.face_model()
    assert model.basis.shape == (model.num_vertices * 3, 256) and model.mean.shape == (model.num_vertices, 3)
    assert model.faces.min() == 0 and model.faces.max() == model.num_vertices - 1
    assert model.colors.shape == (model.num_vertices, 3) and 0 <= model.colors.min() and model.colors.max() <= 1
    dark = (model.colors.sum(1) < 0.5).sum()
    assert dark > 20  # mouth interior, pupils, lashes


def test_jaw_open_opens_the_mouth_vertically():
    vertical, horizontal = opening(code_with())
    assert abs(vertical) < 1e-9 and 4.0 < horizontal < 6.5  # neutral: lips closed, mouth ~5 cm wide
    half, _ = opening(code_with(jaw_open=0.5))
    full, _ = opening(code_with(jaw_open=1.0))
    assert full > 1.5 and 0.4 * full < half < 0.6 * full
    lips = face.lip_vertices(code_with(jaw_open=1.0)) - face.lip_vertices(code_with())
    lower = slice(3 * face.MOUTH_SLIT_COLUMNS + 4, 4 * face.MOUTH_SLIT_COLUMNS + 4)
    assert lips[lower, 1].max() < -0.5  # the lower lip moves down


def test_crossed_lips_read_negative():
    openings = [float(opening(code_with(jaw_open=value))[0]) for value in (1.0, 0.5, 0.0, -0.5, -1.0)]
    assert openings[0] > 1.5 and openings[-1] < -1.5  # jaw_open -1 used to read +0.96 cm open
    assert all(a > b for a, b in zip(openings, openings[1:]))  # the sign holds as the lips cross
    crossed = [bool(face.lips_crossed(face.lip_vertices(code_with(**values)))) for values in (
        {}, {"jaw_open": 1.0}, {"lip_press": 1.0}, {"jaw_open": -0.15}, {"jaw_open": -1.0},
        {"jaw_open": -0.05, "lip_press": 1.0})]
    assert crossed == [False, False, False, True, True, True]  # pressed lips are not crossed
    gaps = face.inner_lip_gaps(face.lip_vertices(torch.stack([code_with(), code_with(jaw_open=1.0)])))
    assert gaps.shape == (2, face.MOUTH_SLIT_COLUMNS) and gaps[0].abs().max() < 1e-9 and (gaps[1] > 0.3).all()


def test_lip_shapes_change_width():
    _, neutral = opening(code_with())
    assert opening(code_with(lip_round=1.0))[1] < neutral - 1.0
    assert opening(code_with(lip_spread=1.0))[1] > neutral + 0.5
    assert opening(code_with(smile=1.0))[1] > neutral + 0.5
    assert opening(code_with(lip_press=1.0))[0] < 0  # pressed lips


def test_blink_closes_one_eyelid():
    model = face.face_model()
    neutral = face.eye_opening(model.decode(code_with()))
    assert (neutral > 0.8).all()
    left = face.eye_opening(model.decode(code_with(blink_left=1.0)))
    right = face.eye_opening(model.decode(code_with(blink_right=1.0)))
    assert left[0] < 1e-9 and abs(left[1] - neutral[1]) < 1e-9
    assert right[1] < 1e-9 and abs(right[0] - neutral[0]) < 1e-9
    lids = face.LEFT_EYELID_INDICES[0]
    assert (model.decode(code_with(blink_left=1.0))[lids, 1] - model.mean[lids, 1]).min() < -0.8  # lid moves down
    assert model.mean[face.LEFT_EYELID_INDICES, 0].min() > 0 > model.mean[face.RIGHT_EYELID_INDICES, 0].max()


def test_gaze_turns_the_pupils():
    model = face.face_model()
    pupils = model.colors.sum(1) < 0.15
    rest = model.mean[pupils]
    right = model.decode(code_with(gaze_yaw=1.0))[pupils]
    up = model.decode(code_with(gaze_pitch=1.0))[pupils]
    assert (right[:, 0] - rest[:, 0]).min() > 0.3 and (up[:, 1] - rest[:, 1]).min() > 0.3


def test_detail_dims_are_small_and_keep_the_mouth_closed():
    model = face.face_model()
    generator = torch.Generator().manual_seed(1)
    code = torch.zeros(256, dtype=torch.float64)
    code[len(face.FACE_CODE_DIMS):] = 0.3 * torch.randn(256 - len(face.FACE_CODE_DIMS), generator=generator,
                                                        dtype=torch.float64)
    moved = torch.linalg.vector_norm(model.decode(code) - model.mean, dim=-1)
    rms = moved.pow(2).mean().sqrt()
    assert 0.03 < rms < 0.2 and moved.max() < 1.0
    assert abs(opening(code)[0]) < 1e-9


def test_lip_landmarks_are_ordered():
    n = face.MOUTH_SLIT_COLUMNS
    assert len(face.LIP_VERTEX_INDICES) == 4 * n + 6 == len(set(face.LIP_VERTEX_INDICES.tolist()))
    lips = face.face_model().mean[face.LIP_VERTEX_INDICES]
    x, y = lips[:, 0], lips[:, 1]
    inner = slice(2 * n + 4, 4 * n + 4)
    assert x[face.LIP_LEFT_CORNER] > max(x[inner].max(), 2.0) and x[face.LIP_LEFT_CORNER] > x.max() - 0.05
    assert x[face.LIP_RIGHT_CORNER] < min(x[inner].min(), -2.0) and x[face.LIP_RIGHT_CORNER] < x.min() + 0.05
    for mid in (face.LIP_UPPER_MID, face.LIP_LOWER_MID, face.LIP_UPPER_OUTER_MID, face.LIP_LOWER_OUTER_MID):
        assert abs(x[mid]) < 1e-9
    assert y[face.LIP_UPPER_OUTER_MID] > y[face.LIP_UPPER_MID] + 0.5
    assert y[face.LIP_LOWER_OUTER_MID] < y[face.LIP_LOWER_MID] - 0.5
    for start, length in ((0, n + 2), (n + 2, n + 2), (2 * n + 4, n), (3 * n + 4, n)):  # each contour: +x to -x
        assert (torch.diff(x[start:start + length]) < 0).all()


# ---- avatar ----------------------------------------------------------------------------------------------
def test_avatar_poses_body_and_face_together():
    avatar = Avatar()
    pose = random_poses(2, 3, seed=5) * 0.3
    code = torch.zeros(2, 3, 256, dtype=torch.float64)
    vertices = avatar.posed_vertices(pose, code)
    assert vertices.shape == (2, 3, avatar.num_vertices, 3)
    assert avatar.faces.max() == avatar.num_vertices - 1 and avatar.colors.shape == (avatar.num_vertices, 3)
    face_vertices = vertices[..., avatar.num_body_vertices:, :]
    # the face rides on the head rigidly: its vertices relative to the head joint are the mean, rotated
    head_rotation, head_position = avatar.head_rotation(pose), avatar.head_position(pose)
    local = ((face_vertices - head_position[..., None, :]) @ head_rotation)
    torch.testing.assert_close(local, face.face_model().mean.expand_as(local), rtol=0, atol=1e-9)
    rest = avatar.posed_vertices(torch.zeros(104, dtype=torch.float64), torch.zeros(256, dtype=torch.float64))
    torch.testing.assert_close(rest[avatar.lip_vertex_indices],
                               face.face_model().mean[face.LIP_VERTEX_INDICES] + REST_POSITIONS[HEAD])
    centre = avatar.face_centre(torch.zeros(104, dtype=torch.float64))
    assert centre[2] > REST_POSITIONS[HEAD, 2] + 5 and torch.equal(avatar.joint_positions(pose),
                                                                    forward_kinematics(pose)[1])


def test_head_turn_keeps_the_face_on_the_head_shell():
    avatar = Avatar()
    code = torch.zeros(256, dtype=torch.float64)
    shell = torch.nonzero(avatar.body.weights[:, HEAD] == 1.0)[::10, 0]
    face_vertices = torch.arange(avatar.num_body_vertices, avatar.num_vertices)[::10]

    def distances(pose):
        vertices = avatar.posed_vertices(pose, code)
        return torch.cdist(vertices[face_vertices], vertices[shell], compute_mode="donot_use_mm_for_euclid_dist")

    torch.testing.assert_close(distances(pose_with(head_ry=40, neck1_rx=15, spine2_rz=10)),
                               distances(torch.zeros(104, dtype=torch.float64)), rtol=0, atol=1e-9)


def radial_excess(vertices):
    """(..., V) cm by which head-frame vertices lie outside the head shape (negative: inside)."""
    x, y, z = vertices[..., 0].numpy(), vertices[..., 1].numpy(), vertices[..., 2].numpy() - face.HEAD_AXIS_Z
    return torch.from_numpy(np.hypot(x, z) - face.head_radius(np.arctan2(x, z), y))


def test_rendered_face_stays_on_the_head_whatever_the_code():
    avatar = Avatar()
    model = face.face_model()
    eyes = model.basis.view(-1, 3, 256)[:, :, FACE_INDEX["gaze_yaw"]].abs().sum(1) > 0  # the eyeballs
    extreme = torch.stack([code_with(gaze_yaw=4.3, gaze_pitch=-3.0), code_with(gaze_yaw=-4.3, gaze_pitch=3.0),
                           code_with(jaw_open=5.0), code_with(jaw_open=-1.0), code_with(lip_round=-2.0)])
    generator = torch.Generator().manual_seed(3)
    extreme[:, 12:] = 5.0 * torch.randn(5, 244, generator=generator, dtype=torch.float64).sign()

    def check(local):
        lips = local[:, face.LIP_VERTEX_INDICES]
        return (radial_excess(local[:, eyes]).amax(1) < 0, lips[..., 1].amin(1) > face.CHIN_Y,
                radial_excess(lips).amax(1) < 2.5, ~face.lips_crossed(lips))

    raw = check(model.decode(extreme))
    assert raw[0].tolist()[:2] == [False, False] and not raw[1][2] and raw[3].tolist()[3:] == [False, False]
    pose = torch.zeros(5, 104, dtype=torch.float64)
    shown = avatar.posed_vertices(pose, extreme)[:, avatar.num_body_vertices:] - REST_POSITIONS[HEAD]
    assert all(bool(ok.all()) for ok in check(shown))
    lower, upper = (torch.from_numpy(bound) for bound in face.face_code_limits())
    inside = lower + (upper - lower) * torch.rand(256, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(face.clamp_face_code(inside), inside, rtol=0, atol=0)  # in range: untouched
