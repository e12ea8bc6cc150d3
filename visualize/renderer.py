"""Headless, batched mesh renderer: OpenGL 3.3 through moderngl on an EGL context (Mesa llvmpipe on a CPU).

Input: vertices (F, V, 3) float32 world coordinates (any unit; the camera's near/far use the same unit),
faces (Fc, 3) vertex indices, colors (V, 3) per-vertex RGB (float in [0, 1] or uint8), and one or more
`Camera`s. Output: uint8 RGB frames (F, H, W * views, 3), top row first; several cameras render side by side,
each into its own W x H view of the same frame.

Shading: per-vertex colour times (ambient + Lambert diffuse) plus a white Blinn-Phong highlight from one
light fixed relative to the camera (above, left and in front of it), two-sided (a normal facing away from the
camera is flipped). Smooth, area-weighted vertex normals are computed per frame on the CPU (numpy + a
sparse vertex-face incidence matrix). Depth test on; 4x MSAA by default (`samples=0` turns it off). The
OpenGL context, shaders and framebuffers are made once and reused; per frame only the vertex buffer is
uploaded. Output is deterministic: the same input gives bit-identical frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np
import scipy.sparse

EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"
BACKGROUND = (0.94, 0.94, 0.94)  # RGB in [0, 1]
LIGHT_DIRECTION = (-0.35, 0.55, 0.75)  # towards the light, camera coordinates (x right, y up, z to viewer)
AMBIENT, DIFFUSE, SPECULAR, SHININESS = 0.38, 0.62, 0.12, 24.0

VERTEX_SHADER = """
#version 330
uniform mat4 view;
uniform mat4 projection;
in vec3 in_position;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_position;
out vec3 v_normal;
out vec3 v_color;
void main() {
    vec4 position = view * vec4(in_position, 1.0);
    gl_Position = projection * position;
    v_position = position.xyz;
    v_normal = mat3(view) * in_normal;
    v_color = in_color;
}
"""

FRAGMENT_SHADER = """
#version 330
uniform vec3 light_direction;
uniform bool orthographic;
uniform float ambient;
uniform float diffuse;
uniform float specular;
uniform float shininess;
in vec3 v_position;
in vec3 v_normal;
in vec3 v_color;
out vec4 frag_color;
void main() {
    vec3 to_viewer = orthographic ? vec3(0.0, 0.0, 1.0) : normalize(-v_position);
    vec3 normal = normalize(v_normal);
    if (dot(normal, to_viewer) < 0.0) normal = -normal;
    float lambert = max(dot(normal, light_direction), 0.0);
    float highlight = pow(max(dot(normal, normalize(light_direction + to_viewer)), 0.0), shininess);
    vec3 color = v_color * (ambient + diffuse * lambert) + specular * highlight;
    frag_color = vec4(clamp(color, 0.0, 1.0), 1.0);
}
"""


def _normalize(x: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis (zero vectors stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True, eq=False)
class Camera:
    """A look-at camera. `eye`, `target`: (3,) for a fixed camera or (F, 3) for one that moves per frame.

    Perspective with vertical field of view `fov_deg`, or orthographic when `ortho_height` (the world height
    seen vertically) is set. `near`, `far`: clip distances, in the unit of the vertices.
    """
    eye: tuple | np.ndarray
    target: tuple | np.ndarray
    up: tuple | np.ndarray = (0.0, 1.0, 0.0)
    fov_deg: float = 30.0
    ortho_height: float | None = None
    near: float = 0.01
    far: float = 100.0

    def view_matrices(self, frames: int) -> np.ndarray:
        """World -> camera coordinates (camera looks down -z), (frames, 4, 4) float32."""
        eye, target = np.asarray(self.eye, np.float64), np.asarray(self.target, np.float64)
        for name, value in (("eye", eye), ("target", target)):
            if value.shape not in ((3,), (frames, 3)):
                raise ValueError(f"camera {name} must be (3,) or (frames, 3) = ({frames}, 3), got {value.shape}")
        eye, target = np.broadcast_to(eye, (frames, 3)), np.broadcast_to(target, (frames, 3))
        forward = _normalize(target - eye)
        right = _normalize(np.cross(forward, np.asarray(self.up, np.float64)))
        up = np.cross(right, forward)
        view = np.zeros((frames, 4, 4))
        view[:, 0, :3], view[:, 1, :3], view[:, 2, :3] = right, up, -forward
        view[:, :3, 3] = -np.einsum("fij,fj->fi", view[:, :3, :3], eye)
        view[:, 3, 3] = 1.0
        return view.astype(np.float32)

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """Pixel coordinates (F, N, 2) as (column, row), from the top left, of world points (F, N, 3)."""
        points = np.asarray(points, np.float64)
        homogeneous = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1)
        view = self.view_matrices(len(points)).astype(np.float64)
        clip = np.einsum("ij,fjk,fnk->fni", self.projection_matrix(width / height), view, homogeneous)
        ndc = clip[..., :2] / clip[..., 3:]
        return np.stack([(ndc[..., 0] + 1) / 2 * width, (1 - ndc[..., 1]) / 2 * height], axis=-1)

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """Camera -> clip coordinates for a view of width/height `aspect`, (4, 4) float32 (OpenGL conventions)."""
        near, far = self.near, self.far
        projection = np.zeros((4, 4))
        if self.ortho_height is None:
            focal = 1.0 / np.tan(np.radians(self.fov_deg) / 2)
            projection[0, 0], projection[1, 1] = focal / aspect, focal
            projection[2, 2], projection[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
            projection[3, 2] = -1.0
        else:
            half_height = self.ortho_height / 2
            projection[0, 0], projection[1, 1] = 1 / (half_height * aspect), 1 / half_height
            projection[2, 2], projection[2, 3] = -2 / (far - near), -(far + near) / (far - near)
            projection[3, 3] = 1.0
        return projection.astype(np.float32)


def face_incidence(faces: np.ndarray, num_vertices: int) -> scipy.sparse.csr_matrix:
    """Sparse (V, Fc) matrix with a 1 where vertex v is a corner of face f (sums face values onto vertices)."""
    corners = faces.reshape(-1)
    face_ids = np.repeat(np.arange(len(faces)), 3)
    ones = np.ones(len(corners), np.float32)
    return scipy.sparse.csr_matrix((ones, (corners, face_ids)), shape=(num_vertices, len(faces)))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, incidence: scipy.sparse.csr_matrix) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float32 of vertices (V, 3); `incidence` from face_incidence."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return _normalize(incidence @ np.cross(b - a, c - a)).astype(np.float32)


def create_context(device: str = "egl") -> moderngl.Context:
    """A standalone OpenGL >= 3.3 context; `device` is the moderngl backend ("egl": headless, no display)."""
    try:
        context = moderngl.create_standalone_context(backend=device, require=330)
    except Exception as err:
        raise RuntimeError(
            f"cannot create a headless OpenGL context (backend {device!r}): {err}. The renderer needs Mesa's "
            f"EGL and software rasteriser: apt-get install {EGL_PACKAGES}") from err
    return context


class MeshRenderer:
    """Renders batches of posed meshes to uint8 frames; each camera view is width x height pixels."""

    def __init__(self, width: int = 512, height: int = 512, device: str = "egl", samples: int = 4):
        self.width, self.height, self.samples = width, height, samples
        self.context = create_context(device)
        if samples > self.context.max_samples:
            raise ValueError(f"samples={samples}: this OpenGL driver supports at most {self.context.max_samples}")
        self.program = self.context.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        self.program["light_direction"].value = tuple(_normalize(np.asarray(LIGHT_DIRECTION)))
        for name, value in (("ambient", AMBIENT), ("diffuse", DIFFUSE), ("specular", SPECULAR),
                            ("shininess", SHININESS)):
            self.program[name].value = value
        self.context.enable(moderngl.DEPTH_TEST)
        self._framebuffers: dict[int, tuple[moderngl.Framebuffer, moderngl.Framebuffer]] = {}

    def close(self) -> None:
        """Free the OpenGL context and everything made in it."""
        self.context.release()

    def __enter__(self) -> "MeshRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def framebuffers(self, views: int) -> tuple[moderngl.Framebuffer, moderngl.Framebuffer]:
        """(draw target, resolved target) for `views` side-by-side views; the same one when MSAA is off."""
        if views not in self._framebuffers:
            size = (self.width * views, self.height)
            draw = self.context.framebuffer(self.context.renderbuffer(size, 3, samples=self.samples),
                                            self.context.depth_renderbuffer(size, samples=self.samples))
            resolved = self.context.framebuffer(self.context.renderbuffer(size, 3)) if self.samples else draw
            self._framebuffers[views] = draw, resolved
        return self._framebuffers[views]

    def render(self, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray,
               camera: Camera | list[Camera]) -> np.ndarray:
        """Frames (F, height, width * len(cameras), 3) uint8 of vertices (F, V, 3), faces (Fc, 3), colors (V, 3).

        `camera`: one Camera, or a list of Cameras rendered side by side (left to right) in each frame.
        """
        cameras = [camera] if isinstance(camera, Camera) else list(camera)
        vertices, faces, colors = _check_mesh(vertices, faces, colors)
        frames = len(vertices)
        views = [cam.view_matrices(frames) for cam in cameras]
        projections = [_flip_rows(cam.projection_matrix(self.width / self.height)) for cam in cameras]
        incidence = face_incidence(faces, vertices.shape[1])
        out = np.empty((frames, self.height, self.width * len(cameras), 3), np.uint8)
        with self.context:  # make this renderer's context current (another one may have been made since)
            draw, resolved = self.framebuffers(len(cameras))
            geometry = self.context.buffer(reserve=vertices.shape[1] * 6 * 4)
            color_buffer = self.context.buffer(colors)
            index_buffer = self.context.buffer(faces)
            vertex_array = self.context.vertex_array(
                self.program, [(geometry, "3f 3f", "in_position", "in_normal"), (color_buffer, "3f", "in_color")],
                index_buffer)
            try:
                for f in range(frames):
                    normals = vertex_normals(vertices[f], faces, incidence)
                    geometry.write(np.concatenate([vertices[f], normals], axis=1))
                    draw.use()
                    draw.clear(*BACKGROUND, 1.0, depth=1.0)
                    for k, cam in enumerate(cameras):
                        draw.viewport = (k * self.width, 0, self.width, self.height)
                        self.program["view"].write(np.ascontiguousarray(views[k][f].T))
                        self.program["projection"].write(np.ascontiguousarray(projections[k].T))
                        self.program["orthographic"].value = cam.ortho_height is not None
                        vertex_array.render(moderngl.TRIANGLES)
                    if resolved is not draw:
                        self.context.copy_framebuffer(resolved, draw)
                    resolved.read_into(out[f], components=3, alignment=1)
            finally:
                for resource in (vertex_array, index_buffer, color_buffer, geometry):
                    resource.release()
        return out


def _flip_rows(projection: np.ndarray) -> np.ndarray:
    """Negate clip y so OpenGL's bottom-up framebuffer reads back top row first (no copy to flip)."""
    flipped = projection.copy()
    flipped[1] *= -1
    return flipped


def _check_mesh(vertices, faces, colors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated contiguous float32 vertices (F, V, 3), int32 faces (Fc, 3), float32 colors (V, 3) in [0, 1]."""
    vertices = np.ascontiguousarray(vertices, np.float32)
    if vertices.ndim != 3 or vertices.shape[2] != 3 or vertices.shape[0] == 0:
        raise ValueError(f"vertices must be (frames, V, 3) with at least one frame, got {vertices.shape}")
    if not np.isfinite(vertices).all():
        raise ValueError("vertices contain NaN or infinite values")
    num_vertices = vertices.shape[1]
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be integer (Fc, 3) with Fc > 0, got {faces.dtype} {faces.shape}")
    if faces.min() < 0 or faces.max() >= num_vertices:
        raise ValueError(f"faces index vertices {faces.min()}..{faces.max()}, but there are {num_vertices}")
    colors = np.asarray(colors)
    if colors.shape != (num_vertices, 3):
        raise ValueError(f"colors must be (V, 3) = ({num_vertices}, 3), got {colors.shape}")
    colors = colors / 255.0 if colors.dtype == np.uint8 else colors
    return vertices, np.ascontiguousarray(faces, np.int32), np.ascontiguousarray(colors, np.float32)
