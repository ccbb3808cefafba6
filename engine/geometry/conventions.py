"""Every axis flip of the project lives here: named conversions to other tools' conventions.

Internal convention (everything outside this module):

- Camera axes are OpenCV / COLMAP: +x right, +y down, +z forward (the viewing direction).
- Poses are ``world_from_cam`` [4,4] rigid transforms (``p_world = world_from_cam @ p_cam``).
- Quaternions are ``wxyz`` (scalar first).
- Intrinsics ``K`` [3,3] are in pixels. **Pixel-center convention:** the center of pixel
  (row i, col j) is at image coordinates (u, v) = (j + 0.5, i + 0.5); the top-left corner
  of the image is (0, 0) and the bottom-right corner is (width, height). This is COLMAP's
  convention; nerfstudio (rays through ``pixel + 0.5``) and instant-ngp (``cx / w``)
  match it, so their cx, cy carry over unchanged. A centered principal point is
  (width / 2, height / 2).
- Worlds are arbitrary; the synthetic scenes are y-down (like OpenCV cameras).

Foreign conventions handled below (camera axes as right / up / backward unless noted):

=============  ====================================  ==================================
target         camera axes                           world change
=============  ====================================  ==================================
OpenGL/VisPy   +x right, +y up, +z backward          none
COLMAP         OpenCV (same as ours)                 none; stores cam_from_world
nerfstudio     OpenGL                                none (optional ``applied_transform``)
instant-ngp    OpenCV after its own flips            cycle xyz <- yzx, scale 0.33, +0.5
LLFF           columns (down, right, backward)       none
glTF           OpenGL                                rotate 180 deg about x (y-down -> y-up)
Blender        OpenGL                                glTF's y-up, then (x, y, z) -> (x, -z, y)
Nuke (.chan)   OpenGL                                same y-up world as glTF
=============  ====================================  ==================================

Every function is pure, takes numpy arrays (a single [4,4] or a batch [...,4,4]) and
returns new float64 arrays. All transforms are assumed rigid (no scale in the rotation).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.geometry import se3


def _const(matrix) -> np.ndarray:
    out = np.asarray(matrix, dtype=np.float64)
    out.setflags(write=False)
    return out


def _as_transforms(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if m.shape[-2:] != (4, 4):
        raise ValueError(f"expected [...,4,4] transforms, got shape {m.shape}")
    return m


# --------------------------------------------------------------------------- OpenGL

#: p_opengl_cam = opengl_from_opencv_cam @ p_opencv_cam: flips y (down -> up) and z
#: (forward -> backward). It is its own inverse.
opengl_from_opencv_cam = _const(np.diag([1.0, -1.0, -1.0, 1.0]))
opencv_from_opengl_cam = opengl_from_opencv_cam


def world_from_cam_opengl_from_opencv(world_from_cam: np.ndarray) -> np.ndarray:
    """OpenCV-axes pose [...,4,4] -> the same camera with OpenGL axes (+y up, looks down -z).

    Used by OpenGL, VisPy, nerfstudio, instant-ngp's transforms.json, Blender, glTF.
    The world frame is unchanged.
    """
    return _as_transforms(world_from_cam) @ opencv_from_opengl_cam


def world_from_cam_opencv_from_opengl(world_from_cam_opengl: np.ndarray) -> np.ndarray:
    """OpenGL-axes pose [...,4,4] -> OpenCV-axes ``world_from_cam`` [...,4,4] (same world)."""
    return _as_transforms(world_from_cam_opengl) @ opengl_from_opencv_cam


def opengl_projection_from_intrinsics(K: np.ndarray, width: int, height: int,
                                      near: float, far: float) -> np.ndarray:
    """OpenGL projection [4,4] (clip_from_opengl_cam) that reproduces ``K`` exactly.

    K [3,3] pixels, corner-origin pixel convention (see module docstring); near, far > 0
    in scene units. Input: OpenGL eye coordinates ``opengl_from_opencv_cam @ p_cam``.
    Output NDC: x = 2u/W - 1, y = 1 - 2v/H (OpenGL y points up, so image row 0 is at the
    top, NDC y = +1), z in [-1, 1] from near to far. Column-vector convention: VisPy's
    ``MatrixTransform`` (row vectors) wants the transpose.
    """
    K = np.asarray(K, dtype=np.float64)
    fx, s, cx = K[0]
    fy, cy = K[1, 1], K[1, 2]
    w, h = float(width), float(height)
    proj = np.zeros((4, 4))
    proj[0, :3] = [2.0 * fx / w, -2.0 * s / w, 1.0 - 2.0 * cx / w]
    proj[1, 1:3] = [2.0 * fy / h, 2.0 * cy / h - 1.0]
    proj[2, 2:] = [-(far + near) / (far - near), -2.0 * far * near / (far - near)]
    proj[3, 2] = -1.0
    return proj


# --------------------------------------------------------------------------- COLMAP

def colmap_from_world_from_cam(world_from_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``world_from_cam`` [...,4,4] -> (qvec_wxyz [...,4], tvec [...,3]) of COLMAP's images.txt.

    COLMAP stores ``cam_from_world`` (p_cam = R(q) p_world + t) with OpenCV axes and a
    scalar-first quaternion (w >= 0 here). pycolmap's ``Rotation3d.quat`` is xyzw instead.
    """
    cam_from_world = se3.invert(_as_transforms(world_from_cam))
    return se3.quat_from_matrix(cam_from_world[..., :3, :3]), cam_from_world[..., :3, 3].copy()


def world_from_cam_from_colmap(qvec_wxyz: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """COLMAP (qvec_wxyz [...,4], tvec [...,3]) of cam_from_world -> ``world_from_cam`` [...,4,4]."""
    cam_from_world = se3.make_transform(se3.quat_to_matrix(qvec_wxyz), tvec)
    return se3.invert(cam_from_world)


# --------------------------------------------------------------------------- nerfstudio

#: The world change nerfstudio's ``ns-process-data`` (colmap_utils.colmap_to_json) applies
#: unless ``keep_original_world_coordinate``: rows [0, 2, 1] of I with the new z negated,
#: i.e. (x, y, z)_colmap -> (x, z, -y)_nerfstudio. It is recorded as "applied_transform"
#: (3x4) in transforms.json. Pass it to the two functions below to reproduce that layout.
nerfstudio_colmap_applied_transform = _const(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def _as_applied(applied_transform: np.ndarray | None) -> np.ndarray:
    if applied_transform is None:
        return np.eye(4)
    a = np.asarray(applied_transform, dtype=np.float64)
    return np.vstack([a[:3, :4], [0.0, 0.0, 0.0, 1.0]])


def nerfstudio_transform_matrix_from_world_from_cam(
        world_from_cam: np.ndarray, applied_transform: np.ndarray | None = None) -> np.ndarray:
    """``world_from_cam`` [...,4,4] -> transforms.json ``transform_matrix`` [...,4,4].

    nerfstudio's transform_matrix is camera-to-world with OpenGL camera axes. The world
    axes stay ours unless ``applied_transform`` ([3,4] or [4,4], ns_world_from_world) is
    given; then it is applied on the left, as ns-process-data does.
    """
    gl = world_from_cam_opengl_from_opencv(world_from_cam)
    return _as_applied(applied_transform) @ gl


def world_from_cam_from_nerfstudio_transform_matrix(
        transform_matrix: np.ndarray, applied_transform: np.ndarray | None = None) -> np.ndarray:
    """transforms.json ``transform_matrix`` [...,4,4] -> ``world_from_cam`` [...,4,4] (inverse)."""
    world_from_ns = se3.invert(_as_applied(applied_transform))
    return world_from_cam_opencv_from_opengl(world_from_ns @ _as_transforms(transform_matrix))


def intrinsics_to_nerfstudio(K: np.ndarray, width: int, height: int) -> dict:
    """K [3,3] pixels -> transforms.json keys {fl_x, fl_y, cx, cy, w, h}.

    nerfstudio uses the same corner-origin pixel convention, so values copy over as is.
    Skew has no transforms.json key and must be zero.
    """
    K = np.asarray(K, dtype=np.float64)
    if abs(K[0, 1]) > 1e-9 * max(1.0, abs(K[0, 0])):
        raise ValueError("nerfstudio transforms.json cannot store a skewed K")
    return {"fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2]),
            "cy": float(K[1, 2]), "w": int(width), "h": int(height)}


def intrinsics_from_nerfstudio(d: dict) -> tuple[np.ndarray, int, int]:
    """transforms.json intrinsics {fl_x, fl_y, cx, cy, w, h} -> (K [3,3] pixels, width, height)."""
    K = np.array([[d["fl_x"], 0.0, d["cx"]], [0.0, d["fl_y"], d["cy"]], [0.0, 0.0, 1.0]], dtype=np.float64)
    return K, int(d["w"]), int(d["h"])


# --------------------------------------------------------------------------- instant-ngp

NGP_DEFAULT_SCALE = 0.33
NGP_DEFAULT_OFFSET = (0.5, 0.5, 0.5)


def ngp_matrix_from_world_from_cam(world_from_cam: np.ndarray, scale: float = NGP_DEFAULT_SCALE,
                                   offset=NGP_DEFAULT_OFFSET) -> np.ndarray:
    """``world_from_cam`` [...,4,4] -> instant-ngp's internal camera matrix [...,4,4].

    Follows ``NerfDataset::nerf_matrix_to_ngp`` (NVlabs/instant-ngp,
    include/neural-graphics-primitives/nerf_loader.h, non-Mitsuba branch) applied to the
    transforms.json matrix (OpenGL axes, our world): negate columns 1 and 2 (back to
    OpenCV camera axes: ngp cameras look down their +z), position -> position * scale +
    offset (defaults ``NERF_SCALE`` = 0.33 and offset 0.5 from src/nerf_loader.cu, both
    overridable by the json's "scale"/"offset"), then cycle the rows xyz <- yzx
    (``c2w[[1, 2, 0]]``), so an ngp position is (y, z, x) of the scaled world position.
    The result's last row is [0, 0, 0, 1]; ngp itself keeps the top 3x4.
    """
    m = nerfstudio_transform_matrix_from_world_from_cam(world_from_cam).copy()
    m[..., :3, 1:3] *= -1.0
    m[..., :3, 3] = m[..., :3, 3] * scale + np.asarray(offset, dtype=np.float64)
    m[..., :3, :] = m[..., [1, 2, 0], :]
    return m


def world_from_cam_from_ngp_matrix(ngp_matrix: np.ndarray, scale: float = NGP_DEFAULT_SCALE,
                                   offset=NGP_DEFAULT_OFFSET) -> np.ndarray:
    """instant-ngp camera matrix [...,4,4] (or [...,3,4]) -> ``world_from_cam`` [...,4,4].

    Inverse of :func:`ngp_matrix_from_world_from_cam` (``ngp_matrix_to_nerf`` in ngp).
    """
    m = np.asarray(ngp_matrix, dtype=np.float64)
    out = np.zeros(m.shape[:-2] + (4, 4))
    out[..., 3, 3] = 1.0
    out[..., :3, :] = m[..., [2, 0, 1], :4]
    out[..., :3, 3] = (out[..., :3, 3] - np.asarray(offset, dtype=np.float64)) / scale
    out[..., :3, 1:3] *= -1.0  # undo ngp's flip: OpenGL transforms.json axes again
    return world_from_cam_opencv_from_opengl(out)


# --------------------------------------------------------------------------- LLFF

#: p_opencv_cam = opencv_from_llff_cam @ p_llff_cam. LLFF camera axes are (down, right,
#: backward) = OpenCV (y, x, -z); LLFF's imgs2poses builds them from COLMAP's
#: camera-to-world columns as [c1, c0, -c2]. Symmetric and its own inverse.
opencv_from_llff_cam = _const(
    [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


class LlffCameras(NamedTuple):
    """Cameras read from LLFF ``poses_bounds.npy`` rows (the full-resolution image size)."""

    world_from_cam: np.ndarray  # [N,4,4] OpenCV axes, LLFF's (= COLMAP's) world
    height: np.ndarray  # [N] pixels
    width: np.ndarray  # [N] pixels
    focal: np.ndarray  # [N] pixels (fx = fy, principal point assumed centered)
    near: np.ndarray  # [N] nearest scene depth along +z (LLFF: 0.1th percentile)
    far: np.ndarray  # [N] farthest scene depth along +z (LLFF: 99.9th percentile)


def llff_rows_from_cameras(world_from_cam: np.ndarray, K_or_focal, width, height,
                           near, far) -> np.ndarray:
    """Cameras -> LLFF ``poses_bounds`` rows [N,17].

    world_from_cam [N,4,4] OpenCV axes; K_or_focal: K [3,3] / [N,3,3] or focal [N] / scalar
    in pixels (LLFF keeps only one focal: fx is used, fy and the principal point are
    dropped, LLFF assumes them equal / centered); width, height pixels (scalar or [N]);
    near, far [N] depths along +z. Row = [R_llff | t | (H, W, f)] (3x5, row-major) + near, far,
    with R_llff columns (down, right, backward).
    """
    c2w = _as_transforms(world_from_cam).reshape(-1, 4, 4)
    n = c2w.shape[0]
    kf = np.asarray(K_or_focal, dtype=np.float64)
    focal = kf[..., 0, 0] if kf.ndim >= 2 and kf.shape[-2:] == (3, 3) else kf
    hwf = np.stack([np.broadcast_to(np.asarray(height, dtype=np.float64), (n,)),
                    np.broadcast_to(np.asarray(width, dtype=np.float64), (n,)),
                    np.broadcast_to(focal, (n,))], axis=-1)
    llff = c2w @ opencv_from_llff_cam
    mat = np.concatenate([llff[:, :3, :4], hwf[:, :, None]], axis=-1)  # [N,3,5]
    bounds = np.stack([np.broadcast_to(np.asarray(near, dtype=np.float64), (n,)),
                       np.broadcast_to(np.asarray(far, dtype=np.float64), (n,))], axis=-1)
    return np.concatenate([mat.reshape(n, 15), bounds], axis=-1)


def cameras_from_llff_rows(rows: np.ndarray) -> LlffCameras:
    """LLFF ``poses_bounds`` rows [N,17] -> :class:`LlffCameras` (OpenCV ``world_from_cam``).

    H, W and focal are at the resolution of the images LLFF ran COLMAP on (full size);
    scale focal by the downsampling factor for ``images_4`` / ``images_8``. The world is
    COLMAP's, unchanged (NeRF's ``load_llff_data`` recenters and rescales it afterwards;
    that is a loader's choice, not part of the file).
    """
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 17)
    mat = rows[:, :15].reshape(-1, 3, 5)
    llff = np.zeros((rows.shape[0], 4, 4))
    llff[:, :3, :4] = mat[:, :, :4]
    llff[:, 3, 3] = 1.0
    world_from_cam = llff @ opencv_from_llff_cam
    return LlffCameras(world_from_cam, mat[:, 0, 4].copy(), mat[:, 1, 4].copy(),
                       mat[:, 2, 4].copy(), rows[:, 15].copy(), rows[:, 16].copy())


# --------------------------------------------------------------------------- glTF

#: glTF worlds are +Y up (meters). Ours are arbitrary, the synthetic ones y-down: rotate
#: 180 degrees about x, (x, y, z) -> (x, -y, -z). A proper rotation, its own inverse.
gltf_world_from_world = _const(np.diag([1.0, -1.0, -1.0, 1.0]))


def gltf_node_matrix_from_world_from_cam(world_from_cam: np.ndarray) -> np.ndarray:
    """``world_from_cam`` [...,4,4] -> glTF camera node matrix [...,4,4] (y-up world, OpenGL axes).

    glTF cameras look down their local -Z with +Y up. The JSON ``matrix`` is column-major:
    write ``m.T.ravel()`` (glTF ``rotation`` quaternions are xyzw).
    """
    return gltf_world_from_world @ world_from_cam_opengl_from_opencv(world_from_cam)


def world_from_cam_from_gltf_node_matrix(node_matrix: np.ndarray) -> np.ndarray:
    """glTF camera node matrix [...,4,4] -> ``world_from_cam`` [...,4,4] (inverse of the above)."""
    world_from_gltf = gltf_world_from_world  # its own inverse
    return world_from_cam_opencv_from_opengl(world_from_gltf @ _as_transforms(node_matrix))


# --------------------------------------------------------------------------- Blender

#: Blender's glTF importer maps (x, y, z)_gltf -> (x, -z, y)_blender (y-up to z-up).
blender_world_from_gltf_world = _const(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])

#: Our world -> Blender's (+Z up): through glTF's y-up world. For the y-down synthetic
#: world: (x, y, z) -> (x, z, -y).
blender_world_from_world = _const(blender_world_from_gltf_world @ gltf_world_from_world)


def blender_matrix_world_from_world_from_cam(world_from_cam: np.ndarray) -> np.ndarray:
    """``world_from_cam`` [...,4,4] -> Blender camera ``matrix_world`` [...,4,4].

    Blender cameras look down their local -Z with +Y up (OpenGL axes), world +Z up.
    """
    return blender_world_from_world @ world_from_cam_opengl_from_opencv(world_from_cam)


def world_from_cam_from_blender_matrix_world(matrix_world: np.ndarray) -> np.ndarray:
    """Blender camera ``matrix_world`` [...,4,4] -> ``world_from_cam`` [...,4,4]."""
    world_from_blender = blender_world_from_world.T  # rotation: inverse = transpose
    return world_from_cam_opencv_from_opengl(world_from_blender @ _as_transforms(matrix_world))


# --------------------------------------------------------------------------- Nuke .chan

#: Nuke's 3D world is +Y up; it shares glTF's world change, so FBX/glTF exports line up.
nuke_world_from_world = gltf_world_from_world

#: Nuke Camera default vertical aperture (haperture 24.576 mm, vaperture 18.672 mm).
NUKE_DEFAULT_VERTICAL_APERTURE_MM = 18.672


def _rot_x(a):
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a):
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a):
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _rotation_from_nuke_zxy_deg(rx, ry, rz) -> np.ndarray:
    """Nuke rotation order ZXY: R = Ry @ Rx @ Rz (Z applied to the point first)."""
    rx, ry, rz = (np.radians(np.asarray(a, dtype=np.float64)) for a in (rx, ry, rz))
    return _rot_y(ry) @ _rot_x(rx) @ _rot_z(rz)


def _nuke_zxy_deg_from_rotation(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`_rotation_from_nuke_zxy_deg`; at gimbal lock (rx = +-90) rz = 0."""
    rx = np.arctan2(-r[..., 1, 2], np.hypot(r[..., 1, 0], r[..., 1, 1]))
    locked = np.hypot(r[..., 1, 0], r[..., 1, 1]) < 1e-9
    ry = np.where(locked, np.arctan2(-r[..., 2, 0], r[..., 0, 0]), np.arctan2(r[..., 0, 2], r[..., 2, 2]))
    rz = np.where(locked, 0.0, np.arctan2(r[..., 1, 0], r[..., 1, 1]))
    return np.degrees(rx), np.degrees(ry), np.degrees(rz)


def nuke_chan_row_from_world_from_cam(world_from_cam: np.ndarray) -> np.ndarray:
    """``world_from_cam`` [...,4,4] -> Nuke .chan values [...,6] = (tx, ty, tz, rx, ry, rz).

    Nuke camera: looks down -Z, +Y up, y-up world; translate in scene units, rotate in
    degrees with Nuke's default rotation order ZXY. Foundry's nukescripts/snap3d.py
    (``rotateMatrixZXY``, documented on learn.foundry.com) builds it as rotateY, rotateX,
    rotateZ on an identity Matrix4, and its ``rotateMatrixXYZ`` as rotateZ, rotateY,
    rotateX; both names read "first axis applied first" only if each call post-multiplies,
    which ``transformMatrix = T * R * S`` confirms. So R = Ry @ Rx @ Rz (column vectors,
    Z applied to the point first). A .chan line is ``frame tx ty tz rx ry rz [vertical fov
    in degrees]``.
    """
    m = nuke_world_from_world @ world_from_cam_opengl_from_opencv(world_from_cam)
    rx, ry, rz = _nuke_zxy_deg_from_rotation(m[..., :3, :3])
    return np.concatenate([m[..., :3, 3], np.stack([rx, ry, rz], axis=-1)], axis=-1)


def world_from_cam_from_nuke_chan_row(row: np.ndarray) -> np.ndarray:
    """Nuke .chan values [...,6] (tx, ty, tz, rx, ry, rz in degrees, ZXY) -> ``world_from_cam``."""
    row = np.asarray(row, dtype=np.float64)
    rot = _rotation_from_nuke_zxy_deg(row[..., 3], row[..., 4], row[..., 5])
    nuke_matrix = se3.make_transform(rot, row[..., :3])
    world_from_nuke = nuke_world_from_world  # its own inverse
    return world_from_cam_opencv_from_opengl(world_from_nuke @ nuke_matrix)


def nuke_focal_mm_from_fov(fov_y_deg, vertical_aperture_mm: float = NUKE_DEFAULT_VERTICAL_APERTURE_MM):
    """Vertical field of view (degrees) -> Nuke ``focal`` in mm for the given vertical aperture."""
    return 0.5 * vertical_aperture_mm / np.tan(np.radians(np.asarray(fov_y_deg, dtype=np.float64)) / 2.0)


def nuke_fov_from_focal_mm(focal_mm, vertical_aperture_mm: float = NUKE_DEFAULT_VERTICAL_APERTURE_MM):
    """Nuke ``focal`` (mm) and vertical aperture (mm) -> vertical field of view in degrees."""
    return np.degrees(2.0 * np.arctan(0.5 * vertical_aperture_mm / np.asarray(focal_mm, dtype=np.float64)))


# --------------------------------------------------------------------------- Open3D

def open3d_intrinsic_matrix_from_K(K: np.ndarray) -> np.ndarray:
    """K [3,3] pixels (ours: pixel (row i, col j) centered at (j + 0.5, i + 0.5)) -> the
    intrinsic matrix [3,3] of Open3D's ``PinholeCameraIntrinsic``.

    Open3D (depth -> point cloud, TSDF integration) puts the center of pixel (row v, col u)
    at integer (u, v): ``x = (u - cx) * z / fx``. Camera axes are OpenCV's and its
    ``extrinsic`` is ``cam_from_world``, so only the principal point moves, by -0.5 px.
    """
    out = np.array(K, dtype=np.float64).reshape(3, 3)
    out[0, 2] -= 0.5
    out[1, 2] -= 0.5
    return out


def K_from_open3d_intrinsic_matrix(intrinsic_matrix: np.ndarray) -> np.ndarray:
    """Open3D intrinsic matrix [3,3] -> K [3,3] in our pixel-center convention (inverse)."""
    out = np.array(intrinsic_matrix, dtype=np.float64).reshape(3, 3)
    out[0, 2] += 0.5
    out[1, 2] += 0.5
    return out


# --------------------------------------------------------------------------- Gaussian splats

#: Niantic's SPZ stores Gaussians in RUB (right, up, back: OpenGL / three.js), PLY files in
#: RDF (right, down, front: OpenCV, our y-down worlds); spz's PackOptions ``from = RDF``
#: flips y and z. The same proper rotation as glTF's: 180 degrees about x.
spz_world_from_world = gltf_world_from_world

#: Parity (x, y, z exponents mod 2) of each real SH basis function after the DC term, in the
#: 3DGS / KHR_gaussian_splatting order (degree 1: y, z, x; degree 2: xy, yz, 3z2-1, xz,
#: x2-y2; degree 3: y(3x2-y2), xyz, y(5z2-1), z(5z2-3), x(5z2-1), z(x2-y2), x(x2-3y2)).
_SH_PARITY = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0],
                       [1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1], [0, 0, 0],
                       [0, 1, 0], [1, 1, 1], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1], [1, 0, 0]])


def _axis_flip_diagonal(flip: np.ndarray) -> np.ndarray:
    d = np.diag(_as_transforms(flip)[:3, :3])
    off = _as_transforms(flip)[:3, :3] - np.diag(d)
    if np.abs(off).max() > 0 or not np.allclose(np.abs(d), 1.0) or np.prod(d) < 0:
        raise ValueError("expected a proper axis flip: diag(+-1, +-1, +-1) with determinant +1")
    return d


def gaussians_in_flipped_world(flip: np.ndarray, means: np.ndarray, quats_wxyz: np.ndarray,
                               sh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussians of one world expressed in ``flip @ world`` for a proper axis flip [4,4].

    means [N,3] world units; quats_wxyz [N,4] (rotation local -> world, any norm);
    sh [N,K,3] real SH coefficients (K = 1, 4, 9 or 16, 3DGS order). A 180-degree turn
    about a world axis maps positions p -> D p, rotations R -> D R D (the quaternion's
    vector part -> D v) and each SH basis function to +-itself (its parity under D), so
    the exact coefficients are sign flips. Returns new float32 arrays.
    """
    d = _axis_flip_diagonal(flip)
    means = np.asarray(means, np.float64) * d
    q = np.array(quats_wxyz, np.float64)
    q[:, 1:] *= d
    sh = np.array(sh, np.float64)
    k = sh.shape[1]
    if k > 1:
        signs = np.prod(np.where(_SH_PARITY[:k - 1] == 1, d[None, :], 1.0), axis=1)
        sh[:, 1:] *= signs[None, :, None]
    return means.astype(np.float32), q.astype(np.float32), sh.astype(np.float32)


def gltf_gaussians_from_world(means, quats_wxyz, sh):
    """Project-world Gaussians -> glTF's +Y-up world (KHR_gaussian_splatting), see
    :func:`gaussians_in_flipped_world`; the same turn as every other glTF export."""
    return gaussians_in_flipped_world(gltf_world_from_world, means, quats_wxyz, sh)


def world_gaussians_from_gltf(means, quats_wxyz, sh):
    """glTF-world Gaussians -> the project world (inverse of :func:`gltf_gaussians_from_world`)."""
    return gaussians_in_flipped_world(gltf_world_from_world.T, means, quats_wxyz, sh)


def spz_gaussians_from_world(means, quats_wxyz, sh):
    """Project-world (RDF, like a 3DGS PLY) Gaussians -> SPZ's internal RUB frame."""
    return gaussians_in_flipped_world(spz_world_from_world, means, quats_wxyz, sh)


def world_gaussians_from_spz(means, quats_wxyz, sh):
    """SPZ RUB Gaussians -> the project world (inverse of :func:`spz_gaussians_from_world`)."""
    return gaussians_in_flipped_world(spz_world_from_world.T, means, quats_wxyz, sh)
