"""The mesh renderer draws meshes where the camera says, moves them with the vertices, and is deterministic."""
import numpy as np
import pytest
import torch

from avatar.parameters import FACE_INDEX, POSE_INDEX
from avatar.skeleton import JOINT_INDEX
from visualize.avatar_view import AvatarView
from visualize.renderer import BACKGROUND, Camera, MeshRenderer, face_incidence, vertex_normals

WIDTH, HEIGHT = 96, 64
BACKGROUND_RGB = np.round(np.asarray(BACKGROUND) * 255).astype(np.uint8)
FRONT = Camera(eye=(0.0, 0.0, 5.0), target=(0.0, 0.0, 0.0), fov_deg=30.0)


@pytest.fixture(scope="module")
def renderer():
    with MeshRenderer(WIDTH, HEIGHT) as r:
        yield r


def square(center, size, z=0.0):
    """A square facing +z: vertices (4, 3), faces (2, 3)."""
    cx, cy = center
    h = size / 2
    vertices = np.array([[cx - h, cy - h, z], [cx + h, cy - h, z], [cx + h, cy + h, z], [cx - h, cy + h, z]])
    return vertices.astype(np.float32), np.array([[0, 1, 2], [0, 2, 3]])


def sphere(n=24):
    """A unit UV sphere: vertices (n*n, 3), faces."""
    theta, phi = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, n), indexing="ij")
    vertices = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1)
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    a = (i * n + j).ravel()
    faces = np.concatenate([np.stack([a, a + n, a + 1], 1), np.stack([a + 1, a + n, a + n + 1], 1)])
    return vertices.reshape(-1, 3).astype(np.float32), faces


def project(point, camera=FRONT):
    """Pixel (row, col) of a world point, by the pinhole model (independent of the renderer's matrices)."""
    eye = np.asarray(camera.eye)
    depth = eye[2] - point[2]
    focal = (HEIGHT / 2) / np.tan(np.radians(camera.fov_deg) / 2)
    return HEIGHT / 2 - focal * point[1] / depth, WIDTH / 2 + focal * point[0] / depth


def foreground(frame):
    """(H, W) bool: pixels that are not the background colour."""
    return (frame != BACKGROUND_RGB).any(-1)


def test_square_appears_where_projected_and_background_elsewhere(renderer):
    vertices, faces = square(center=(0.6, 0.3), size=0.4)
    frame = renderer.render(vertices[None], faces, np.full((4, 3), 0.5), FRONT)[0]
    assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
    top, left = project(vertices[3])
    bottom, right = project(vertices[1])
    rows, cols = np.nonzero(foreground(frame))
    # up in the world is up in the image, right is right; the covered box matches the projection to a pixel
    assert abs(rows.min() - top) <= 1 and abs(rows.max() + 1 - bottom) <= 1
    assert abs(cols.min() - left) <= 1 and abs(cols.max() + 1 - right) <= 1
    inside = frame[int(top) + 2:int(bottom) - 1, int(left) + 2:int(right) - 1]
    assert not (inside == BACKGROUND_RGB).all(-1).any()
    corners = FRONT.project(vertices[None], WIDTH, HEIGHT)[0]
    np.testing.assert_allclose(corners[[3, 1]], [[left, top], [right, bottom]], atol=1e-4)


def test_orthographic_camera_frames_its_height():
    with MeshRenderer(64, 64, samples=0) as r:
        vertices, faces = square(center=(0.0, 0.0), size=1.0)
        camera = Camera(eye=(0, 0, 3), target=(0, 0, 0), ortho_height=2.0)
        frame = r.render(vertices[None], faces, np.ones((4, 3)), camera)[0]
    mask = foreground(frame)
    assert mask[16:48, 16:48].all() and mask.sum() == 32 * 32


def test_moving_the_mesh_moves_the_pixels(renderer):
    vertices, faces = sphere()
    shift = np.array([0.5, -0.25, 0.0], np.float32)
    frames = renderer.render(np.stack([vertices * 0.3, vertices * 0.3 + shift]), faces,
                             np.full((len(vertices), 3), 0.7), FRONT)
    centroids = [np.argwhere(foreground(f)).mean(0) for f in frames]
    expected = np.subtract(project(shift), project(np.zeros(3)))
    np.testing.assert_allclose(centroids[1] - centroids[0], expected, atol=0.5)


def test_nearer_surface_hides_the_farther_one_in_any_order(renderer):
    near, faces = square((0.0, 0.0), 1.0, z=0.5)
    far, _ = square((0.0, 0.0), 1.0, z=-0.5)
    red, blue = np.tile([1.0, 0, 0], (4, 1)), np.tile([0, 0, 1.0], (4, 1))
    for order in ((near, red, far, blue), (far, blue, near, red)):
        vertices = np.concatenate([order[0], order[2]])[None]
        frame = renderer.render(vertices, np.concatenate([faces, faces + 4]), np.concatenate([order[1], order[3]]),
                                FRONT)[0]
        center = frame[HEIGHT // 2, WIDTH // 2]
        assert center[0] > 150 and center[2] < 30  # red, not blue (the white highlight adds a little)


def test_render_is_deterministic(renderer):
    vertices, faces = sphere()
    batch = np.stack([vertices * s for s in (0.5, 0.8, 1.1)])
    colors = np.random.default_rng(0).random((len(vertices), 3))
    first = renderer.render(batch, faces, colors, FRONT)
    second = renderer.render(batch, faces, colors, FRONT)
    assert np.array_equal(first, second)


def test_cameras_render_side_by_side(renderer):
    vertices, faces = sphere()
    top = Camera(eye=(0, 5, 0.01), target=(0, 0, 0), fov_deg=40)
    colors = np.full((len(vertices), 3), 0.6)
    both = renderer.render(vertices[None] * 0.5, faces, colors, [FRONT, top])
    assert both.shape == (1, HEIGHT, 2 * WIDTH, 3)
    assert np.array_equal(both[:, :, :WIDTH], renderer.render(vertices[None] * 0.5, faces, colors, FRONT))
    assert np.array_equal(both[:, :, WIDTH:], renderer.render(vertices[None] * 0.5, faces, colors, top))


def test_camera_moving_per_frame_follows_its_eye(renderer):
    vertices, faces = sphere()
    eyes = np.array([[0.0, 0.0, 5.0], [-0.5, 0.0, 5.0]])
    camera = Camera(eye=eyes, target=eyes - [0, 0, 5])
    frames = renderer.render(np.stack([vertices * 0.3] * 2), faces, np.ones((len(vertices), 3)), camera)
    cols = [np.argwhere(foreground(f))[:, 1].mean() for f in frames]
    assert cols[1] - cols[0] == pytest.approx(project((0.5, 0, 0))[1] - WIDTH / 2, abs=0.5)
    with pytest.raises(ValueError, match=r"camera eye must be \(3,\) or \(frames, 3\) = \(3, 3\)"):
        renderer.render(np.stack([vertices] * 3), faces, np.ones((len(vertices), 3)), camera)


def test_vertex_normals_of_a_sphere_point_outwards():
    vertices, faces = sphere(32)
    normals = vertex_normals(vertices, faces, face_incidence(faces, len(vertices)))
    poles = np.abs(vertices[:, 1]) > 0.999  # the UV sphere's degenerate pole rows
    assert np.abs(np.einsum("vc,vc->v", normals[~poles], vertices[~poles])).min() > 0.99


def test_missing_opengl_backend_names_the_packages_to_install():
    with pytest.raises(RuntimeError, match="apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri"):
        MeshRenderer(8, 8, device="no-such-backend")


@pytest.mark.parametrize("vertices, faces, colors, message", [
    (np.zeros((4, 3)), [[0, 1, 2]], np.zeros((4, 3)), "frames, V, 3"),
    (np.zeros((1, 4, 3)), [[0, 1, 4]], np.zeros((4, 3)), "there are 4"),
    (np.zeros((1, 4, 3)), [[0.0, 1.0, 2.0]], np.zeros((4, 3)), "faces must be integer"),
    (np.zeros((1, 4, 3)), [[0, 1, 2]], np.zeros((3, 3)), "colors must be"),
    (np.full((1, 4, 3), np.nan), [[0, 1, 2]], np.zeros((4, 3)), "NaN"),
])
def test_bad_meshes_get_clear_errors(renderer, vertices, faces, colors, message):
    with pytest.raises(ValueError, match=message):
        renderer.render(vertices, np.asarray(faces), colors, FRONT)


VIEW = 128


@pytest.fixture(scope="module")
def avatar_view():
    view = AvatarView(size=VIEW)
    yield view
    view.close()


def neutral(frames=1):
    return torch.zeros(frames, 104), torch.zeros(frames, 256)


def changed(a, b):
    """(H, W) bool: pixels that differ between two frames."""
    return (a != b).any(-1)


def test_raised_arms_change_the_body_view_where_the_arms_are(avatar_view):
    pose, face = neutral()
    raised = pose.clone()
    raised[:, [POSE_INDEX["l_shoulder_rz"], POSE_INDEX["r_shoulder_rz"]]] = 2.6  # arms up over the head
    rest_frame, raised_frame = avatar_view.render(pose, face)[0], avatar_view.render(raised, face)[0]
    assert rest_frame.shape == (VIEW, 2 * VIEW, 3)
    body = changed(rest_frame, raised_frame)[:, :VIEW]
    body_camera = avatar_view.cameras(pose)[0]
    wrists = [JOINT_INDEX["l_wrist"], JOINT_INDEX["r_wrist"]]
    for p in (pose, raised):  # where the wrists were and where they went, the picture changed
        for col, row in body_camera.project(avatar_view.avatar.joint_positions(p)[:, wrists].numpy(), VIEW, VIEW)[0]:
            assert body[int(row) - 1:int(row) + 2, int(col) - 1:int(col) + 2].any()
    knee_row = body_camera.project(avatar_view.avatar.joint_positions(pose)[:, [JOINT_INDEX["l_knee"]]].numpy(),
                                   VIEW, VIEW)[0, 0, 1]
    assert not body[int(knee_row):].any()  # the legs did not move


def test_jaw_open_changes_the_mouth_region_of_the_close_up(avatar_view):
    pose, face = neutral()
    jaw = face.clone()
    jaw[:, FACE_INDEX["jaw_open"]] = 1.0
    close_up = changed(avatar_view.render(pose, face)[0], avatar_view.render(pose, jaw)[0])[:, VIEW:]
    lips = avatar_view.posed_vertices(pose, face)[:, avatar_view.avatar.lip_vertex_indices.numpy()]
    (left, top), (right, bottom) = (f(avatar_view.cameras(pose)[1].project(lips, VIEW, VIEW)[0], axis=0)
                                    for f in (np.min, np.max))
    margin = int(0.15 * VIEW)
    mouth_box = np.zeros_like(close_up)
    mouth_box[int(top) - margin // 2:int(bottom) + 2 * margin, int(left) - margin:int(right) + margin] = True
    assert close_up.sum() > 0.2 * (right - left) * (bottom - top)  # the mouth opened visibly
    assert close_up[mouth_box].sum() >= 0.95 * close_up.sum()  # and little else changed
    assert not close_up[:int(top) - margin].any()  # eyes and brows untouched


def test_face_close_up_follows_the_head(avatar_view):
    pose, face = neutral()
    moved = pose.clone()
    moved[:, :3] = torch.tensor([25.0, -10.0, 15.0])  # root translation, cm
    still, shifted = avatar_view.render(pose, face)[0], avatar_view.render(moved, face)[0]
    assert np.abs(still[:, VIEW:].astype(int) - shifted[:, VIEW:]).mean() < 0.5
    assert np.abs(still[:, :VIEW].astype(int) - shifted[:, :VIEW]).mean() < 0.5  # the body view recentres too


@pytest.mark.parametrize("pose, face, message", [
    (torch.zeros(3, 100), torch.zeros(3, 256), r"pose must be \(T, 104\)"),
    (torch.zeros(3, 104), torch.zeros(2, 256), r"face_code must be \(T, 256\) = \(3, 256\)"),
    (torch.full((1, 104), float("nan")), torch.zeros(1, 256), "pose contains NaN"),
])
def test_avatar_view_rejects_bad_sequences(avatar_view, pose, face, message):
    with pytest.raises(ValueError, match=message):
        avatar_view.render(pose, face)
