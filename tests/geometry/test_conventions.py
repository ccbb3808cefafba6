"""Round trips and hand-derived facts for every conversion in engine.geometry.conventions.

The LLFF tests at the end check the axis convention against real data (LLFF "fern" and
its COLMAP model); they skip when ../shared/data/real/llff_fern is absent.
"""
import struct
from pathlib import Path

import numpy as np
import pytest

from engine import metrics
from engine.geometry import conventions as cv
from engine.geometry import se3
from engine.geometry.camera import Camera

FERN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "llff_fern"


def random_poses(n=6, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    return se3.make_transform(se3.quat_to_matrix(q), rng.normal(size=(n, 3)) * 2)


POSES = random_poses()
LOOK = se3.look_at(eye=[1.0, -2.0, -4.0], target=[0.5, 0.0, 1.0])  # y-down world, up = -y


def assert_rigid(m):
    rot = m[..., :3, :3]
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_allclose(m[..., 3, :], np.broadcast_to([0, 0, 0, 1.0], m.shape[:-2] + (4,)))


# ----------------------------------------------------------------------------- OpenGL

def test_opengl_round_trip_single_and_batched():
    gl = cv.world_from_cam_opengl_from_opencv(POSES)
    assert gl.shape == POSES.shape
    np.testing.assert_allclose(cv.world_from_cam_opencv_from_opengl(gl), POSES, atol=1e-12)
    np.testing.assert_allclose(cv.world_from_cam_opengl_from_opencv(POSES[0]), gl[0])
    np.testing.assert_allclose(cv.world_from_cam_opengl_from_opencv(POSES.reshape(2, 3, 4, 4)),
                               gl.reshape(2, 3, 4, 4))
    assert_rigid(gl)


def test_opengl_camera_looks_down_minus_z_with_y_up():
    gl = cv.world_from_cam_opengl_from_opencv(LOOK)
    forward = np.array([-0.5, 2.0, 5.0]) / np.linalg.norm([-0.5, 2.0, 5.0])
    np.testing.assert_allclose(-gl[:3, 2], forward, atol=1e-12)  # looks down its -z
    np.testing.assert_allclose(gl[:3, 1], -LOOK[:3, 1])  # +y up = minus image-down
    np.testing.assert_allclose(gl[:3, 0], LOOK[:3, 0])
    np.testing.assert_allclose(gl[:3, 3], LOOK[:3, 3])
    np.testing.assert_allclose(cv.opengl_from_opencv_cam @ cv.opengl_from_opencv_cam, np.eye(4))


def test_opengl_projection_matches_K_projection_in_ndc():
    K = np.array([[500.0, 1.5, 333.0], [0.0, 480.0, 250.5], [0.0, 0.0, 1.0]])
    w, h, near, far = 640, 480, 0.1, 100.0
    cam = Camera(K=K, width=w, height=h, world_from_cam=LOOK)
    rng = np.random.default_rng(1)
    pts = cam.backproject(rng.uniform(0.5, 50.0, (h, w)))[::37, ::41].reshape(-1, 3)
    uv, _ = cam.project(pts)
    p_gl = se3.transform_points(cv.opengl_from_opencv_cam @ cam.cam_from_world, pts)
    clip = np.concatenate([p_gl, np.ones((len(pts), 1))], 1) @ cv.opengl_projection_from_intrinsics(K, w, h, near, far).T
    ndc = clip[:, :3] / clip[:, 3:]
    np.testing.assert_allclose(ndc[:, 0], 2 * uv[:, 0] / w - 1, atol=1e-12)
    np.testing.assert_allclose(ndc[:, 1], 1 - 2 * uv[:, 1] / h, atol=1e-12)  # row 0 at the top
    # depth: near plane -> -1, far plane -> +1 (OpenGL eye z is negative in front)
    proj = cv.opengl_projection_from_intrinsics(K, w, h, near, far)
    for z, expected in [(near, -1.0), (far, 1.0)]:
        c = proj @ [0.0, 0.0, -z, 1.0]
        assert np.isclose(c[2] / c[3], expected)
    # the image corners are the NDC corners
    corner = proj @ np.append(cv.opengl_from_opencv_cam[:3, :3] @ np.linalg.solve(K, [0, 0, 1.0]), 1)
    np.testing.assert_allclose(corner[:2] / corner[3], [-1.0, 1.0], atol=1e-12)


# ----------------------------------------------------------------------------- COLMAP

def test_colmap_round_trip_and_w_positive():
    q, t = cv.colmap_from_world_from_cam(POSES)
    assert q.shape == (6, 4) and t.shape == (6, 3) and np.all(q[:, 0] >= 0)
    np.testing.assert_allclose(cv.world_from_cam_from_colmap(q, t), POSES, atol=1e-12)
    q0, t0 = cv.colmap_from_world_from_cam(POSES[0])
    np.testing.assert_allclose(q0, q[0])
    np.testing.assert_allclose(t0, t[0])


def test_colmap_hand_fact_camera_center_is_minus_Rt_t():
    # identity rotation at center c: COLMAP's tvec is -c, qvec identity
    q, t = cv.colmap_from_world_from_cam(se3.make_transform(np.eye(3), [1.0, 2.0, 3.0]))
    np.testing.assert_allclose(q, [1, 0, 0, 0])
    np.testing.assert_allclose(t, [-1, -2, -3])


def test_colmap_matches_pycolmap():
    pycolmap = pytest.importorskip("pycolmap")
    q, t = cv.colmap_from_world_from_cam(POSES)
    for pose, qi, ti in zip(POSES, q, t):
        rigid = pycolmap.Rigid3d(pycolmap.Rotation3d(qi[[1, 2, 3, 0]]), ti)  # pycolmap: xyzw
        cam_from_world = np.vstack([rigid.matrix(), [0, 0, 0, 1]])
        np.testing.assert_allclose(cam_from_world, se3.invert(pose), atol=1e-12)
        pinhole = pycolmap.Camera(model="PINHOLE", width=64, height=48, params=[50.0, 52.0, 32.0, 24.0])
        p = np.array([[0.3, -0.2, 2.0]])
        ours = Camera(K=pinhole.calibration_matrix(), width=64, height=48).project(p)[0]
        np.testing.assert_allclose(pinhole.img_from_cam(p), ours, atol=1e-12)  # same pixel convention


# ----------------------------------------------------------------------------- nerfstudio

def test_nerfstudio_round_trip_and_opengl_axes():
    m = cv.nerfstudio_transform_matrix_from_world_from_cam(POSES)
    np.testing.assert_allclose(m, cv.world_from_cam_opengl_from_opencv(POSES))  # world unchanged
    np.testing.assert_allclose(cv.world_from_cam_from_nerfstudio_transform_matrix(m), POSES, atol=1e-12)


def test_nerfstudio_applied_transform_round_trip_and_hand_fact():
    a = cv.nerfstudio_colmap_applied_transform[:3]  # as stored in transforms.json (3x4)
    m = cv.nerfstudio_transform_matrix_from_world_from_cam(POSES, applied_transform=a)
    np.testing.assert_allclose(cv.world_from_cam_from_nerfstudio_transform_matrix(m, a), POSES, atol=1e-12)
    # ns-process-data: (x, y, z)_colmap -> (x, z, -y); a camera at (1, 2, 3) ends at (1, 3, -2)
    m = cv.nerfstudio_transform_matrix_from_world_from_cam(se3.make_transform(np.eye(3), [1, 2, 3.0]), a)
    np.testing.assert_allclose(m[:3, 3], [1, 3, -2])
    # a y-down world's "down" (+y) becomes nerfstudio's -z: z is up there
    np.testing.assert_allclose(cv.nerfstudio_colmap_applied_transform[:3, :3] @ [0, 1, 0], [0, 0, -1])


def test_nerfstudio_intrinsics_round_trip():
    K = np.array([[500.0, 0.0, 320.5], [0.0, 501.0, 239.5], [0.0, 0.0, 1.0]])
    d = cv.intrinsics_to_nerfstudio(K, 640, 480)
    assert d == {"fl_x": 500.0, "fl_y": 501.0, "cx": 320.5, "cy": 239.5, "w": 640, "h": 480}
    K2, w, h = cv.intrinsics_from_nerfstudio(d)
    np.testing.assert_array_equal(K2, K)
    assert (w, h) == (640, 480)
    with pytest.raises(ValueError):
        cv.intrinsics_to_nerfstudio(np.array([[500.0, 3.0, 320], [0, 500, 240], [0, 0, 1]]), 640, 480)


# ----------------------------------------------------------------------------- instant-ngp

def test_ngp_round_trip():
    m = cv.ngp_matrix_from_world_from_cam(POSES)
    np.testing.assert_allclose(cv.world_from_cam_from_ngp_matrix(m), POSES, atol=1e-12)
    m2 = cv.ngp_matrix_from_world_from_cam(POSES, scale=2.0, offset=(0.1, -0.2, 0.3))
    np.testing.assert_allclose(cv.world_from_cam_from_ngp_matrix(m2[..., :3, :], 2.0, (0.1, -0.2, 0.3)),
                               POSES, atol=1e-12)


def test_ngp_hand_fact_position_and_axes():
    # ngp's nerf_position_to_ngp: p * 0.33 + 0.5, then (y, z, x)
    pose = se3.make_transform(np.eye(3), [1.0, 2.0, 3.0])
    m = cv.ngp_matrix_from_world_from_cam(pose)
    np.testing.assert_allclose(m[:3, 3], [2 * 0.33 + 0.5, 3 * 0.33 + 0.5, 1 * 0.33 + 0.5])
    # rotation: ngp flips the OpenGL columns back (cameras look down +z), then permutes rows
    np.testing.assert_allclose(m[:3, :3], np.eye(3)[[1, 2, 0]])
    # a general camera's viewing direction d (world) is ngp's +z column, cycled to (dy, dz, dx)
    m = cv.ngp_matrix_from_world_from_cam(LOOK)
    np.testing.assert_allclose(m[:3, 2], LOOK[[1, 2, 0], 2], atol=1e-12)


# ----------------------------------------------------------------------------- glTF

def test_gltf_round_trip_and_world_is_y_up():
    m = cv.gltf_node_matrix_from_world_from_cam(POSES)
    np.testing.assert_allclose(cv.world_from_cam_from_gltf_node_matrix(m), POSES, atol=1e-12)
    assert_rigid(m)
    np.testing.assert_allclose(cv.gltf_world_from_world[:3, :3] @ [0, -1, 0], [0, 1, 0])  # our up -> +Y


def test_gltf_hand_fact_identity_camera_is_the_canonical_gltf_camera():
    # our identity camera looks along world +z with image-down = world +y (y-down world);
    # in glTF's y-up world that is a camera looking down -Z with +Y up: the identity node
    np.testing.assert_allclose(cv.gltf_node_matrix_from_world_from_cam(np.eye(4)), np.eye(4))
    m = cv.gltf_node_matrix_from_world_from_cam(LOOK)
    np.testing.assert_allclose(-m[:3, 2], cv.gltf_world_from_world[:3, :3] @ LOOK[:3, 2], atol=1e-12)


# ----------------------------------------------------------------------------- Blender

def test_blender_round_trip():
    m = cv.blender_matrix_world_from_world_from_cam(POSES)
    np.testing.assert_allclose(cv.world_from_cam_from_blender_matrix_world(m), POSES, atol=1e-12)
    assert_rigid(m)


def test_blender_hand_facts():
    # glTF importer mapping (x, y, z) -> (x, -z, y); glTF +Y up becomes Blender +Z up
    np.testing.assert_allclose(cv.blender_world_from_gltf_world[:3, :3] @ [0, 1, 0], [0, 0, 1])
    np.testing.assert_allclose(cv.blender_world_from_world[:3, :3] @ [0, -1, 0], [0, 0, 1])  # our up
    # Blender's classic front camera: rotation_euler = (90 deg, 0, 0) looks along +Y, +Z up.
    # Our identity camera (horizontal, looking along +z, up = -y) is exactly that camera.
    rot_x_90 = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])
    m = cv.blender_matrix_world_from_world_from_cam(np.eye(4))
    np.testing.assert_allclose(m[:3, :3], rot_x_90, atol=1e-12)
    np.testing.assert_allclose(-m[:3, 2], [0, 1, 0], atol=1e-12)


# ----------------------------------------------------------------------------- Nuke

def test_nuke_round_trip_including_gimbal_lock():
    rows = cv.nuke_chan_row_from_world_from_cam(POSES)
    assert rows.shape == (6, 6)
    np.testing.assert_allclose(cv.world_from_cam_from_nuke_chan_row(rows), POSES, atol=1e-10)
    for rx in (90.0, -90.0):
        row = np.array([1.0, 2.0, 3.0, rx, 30.0, 20.0])
        pose = cv.world_from_cam_from_nuke_chan_row(row)
        back = cv.nuke_chan_row_from_world_from_cam(pose)
        np.testing.assert_allclose(cv.world_from_cam_from_nuke_chan_row(back), pose, atol=1e-10)


def test_nuke_angles_come_back_unchanged_away_from_gimbal_lock():
    row = np.array([0.5, -1.0, 2.0, 20.0, -35.0, 10.0])
    np.testing.assert_allclose(
        cv.nuke_chan_row_from_world_from_cam(cv.world_from_cam_from_nuke_chan_row(row)), row, atol=1e-10)


def test_nuke_hand_facts_zxy_order():
    def fwd_up(row):
        pose = cv.world_from_cam_from_nuke_chan_row(np.array(row, dtype=float))
        return pose[:3, 2], -pose[:3, 1]  # viewing direction and image-up, our y-down world

    # rest: Nuke camera looks down -Z with +Y up; in our world: looks along +z, up = -y
    f, u = fwd_up([0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(f, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(u, [0, -1, 0], atol=1e-12)
    # ry = +90: pans left, -Z -> -X (x is not flipped by the y-up world change)
    np.testing.assert_allclose(fwd_up([0, 0, 0, 0, 90, 0])[0], [-1, 0, 0], atol=1e-12)
    # rx = +90: tilts up to Nuke +Y, our -y
    np.testing.assert_allclose(fwd_up([0, 0, 0, 90, 0, 0])[0], [0, -1, 0], atol=1e-12)
    # ZXY = Ry Rx Rz: tilt first, then pan; a camera tilted straight up stays looking up
    # and the pan turns its image-up to +X (with Rx Ry it would look along -X instead)
    f, u = fwd_up([0, 0, 0, 90, 90, 0])
    np.testing.assert_allclose(f, [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(u, [1, 0, 0], atol=1e-12)
    # translate is the camera center in Nuke's y-up world
    pose = cv.world_from_cam_from_nuke_chan_row(np.array([1.0, 2.0, 3.0, 10, 20, 30]))
    np.testing.assert_allclose(pose[:3, 3], [1.0, -2.0, -3.0])


def test_nuke_focal_fov():
    assert np.isclose(cv.nuke_focal_mm_from_fov(90.0, vertical_aperture_mm=24.0), 12.0)
    assert np.isclose(cv.nuke_fov_from_focal_mm(12.0, vertical_aperture_mm=24.0), 90.0)
    f = cv.nuke_focal_mm_from_fov(np.array([20.0, 45.0, 70.0]))
    np.testing.assert_allclose(cv.nuke_fov_from_focal_mm(f), [20.0, 45.0, 70.0])
    # Nuke's default 50 mm lens on the default 18.672 mm vertical aperture: ~21.2 deg
    assert np.isclose(cv.nuke_fov_from_focal_mm(50.0), np.degrees(2 * np.arctan(9.336 / 50)))


# ----------------------------------------------------------------------------- LLFF (synthetic)

def test_llff_round_trip():
    K = np.array([[400.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
    near, far = np.linspace(1, 2, 6), np.linspace(10, 20, 6)
    rows = cv.llff_rows_from_cameras(POSES, K, 640, 480, near, far)
    assert rows.shape == (6, 17)
    cams = cv.cameras_from_llff_rows(rows)
    np.testing.assert_allclose(cams.world_from_cam, POSES, atol=1e-12)
    np.testing.assert_allclose(cams.height, 480)
    np.testing.assert_allclose(cams.width, 640)
    np.testing.assert_allclose(cams.focal, 400)
    np.testing.assert_allclose(cams.near, near)
    np.testing.assert_allclose(cams.far, far)
    np.testing.assert_allclose(cv.llff_rows_from_cameras(POSES, np.full(6, 400.0), 640, 480, near, far), rows)
    np.testing.assert_allclose(cv.llff_rows_from_cameras(POSES, np.broadcast_to(K, (6, 3, 3)), 640, 480,
                                                         near, far), rows)


def test_llff_hand_fact_columns_are_down_right_back():
    rows = cv.llff_rows_from_cameras(LOOK[None], 100.0, 64, 48, [1.0], [5.0])
    mat = rows[0, :15].reshape(3, 5)
    np.testing.assert_allclose(mat[:, 0], LOOK[:3, 1])  # down
    np.testing.assert_allclose(mat[:, 1], LOOK[:3, 0])  # right
    np.testing.assert_allclose(mat[:, 2], -LOOK[:3, 2])  # backwards
    np.testing.assert_allclose(mat[:, 3], LOOK[:3, 3])
    np.testing.assert_allclose(mat[:, 4], [48, 64, 100])  # H, W, focal


# ----------------------------------------------------------------------------- LLFF (real data)

def _read_colmap_points3d(path):
    """points3D.bin -> (xyz [N,3], list of track image ids). Format: COLMAP's read_write_model."""
    data = path.read_bytes()
    (n,), off = struct.unpack_from("<Q", data, 0), 8
    head = struct.Struct("<Q3d3BdQ")
    xyz, tracks = np.empty((n, 3)), []
    for k in range(n):
        rec = head.unpack_from(data, off)
        off += head.size
        xyz[k] = rec[1:4]
        length = rec[8]
        tracks.append(np.frombuffer(data, dtype="<i4", count=2 * length, offset=off)[0::2])
        off += 8 * length
    return xyz, tracks


def _read_colmap_cameras(path):
    """cameras.bin -> list of (model_id, width, height, params)."""
    data, out = path.read_bytes(), []
    (n,), off = struct.unpack_from("<Q", data, 0), 8
    for _ in range(n):
        _, model, w, h = struct.unpack_from("<iiQQ", data, off)
        off += 24
        count = {0: 3, 1: 4, 2: 4, 3: 5, 4: 8}[model]
        out.append((model, w, h, struct.unpack_from(f"<{count}d", data, off)))
        off += 8 * count
    return out


needs_fern = pytest.mark.skipif(not (FERN / "poses_bounds.npy").exists(), reason="real data absent")


@needs_fern
def test_llff_fern_matches_its_colmap_points_exactly():
    """LLFF computed near/far as the 0.1 / 99.9 percentiles of the z-depth of the COLMAP
    points each image sees. Our conversion reproduces them and projects those points
    inside the image: the (down, right, back) axis convention is right. (The model has
    no images.bin, so pycolmap cannot load it; the two binary files are parsed here.)"""
    cams = cv.cameras_from_llff_rows(np.load(FERN / "poses_bounds.npy"))
    xyz, tracks = _read_colmap_points3d(FERN / "sparse" / "0" / "points3D.bin")
    [(model, w, h, params)] = _read_colmap_cameras(FERN / "sparse" / "0" / "cameras.bin")
    assert model == 2 and (w, h) == (4032, 3024)  # SIMPLE_RADIAL (f, cx, cy, k)
    np.testing.assert_allclose(cams.focal, params[0], rtol=1e-6)
    np.testing.assert_allclose(cams.height, h)
    np.testing.assert_allclose(cams.width, w)
    for r, pose in enumerate(cams.world_from_cam):
        seen = np.array([(r + 1) in t for t in tracks])  # image ids 1..20 in file-name order
        K = np.array([[cams.focal[r], 0, w / 2], [0, cams.focal[r], h / 2], [0, 0, 1]])
        uv, z = Camera(K=K, width=w, height=h, world_from_cam=pose).project(xyz[seen])
        np.testing.assert_allclose(np.percentile(z, [0.1, 99.9]), [cams.near[r], cams.far[r]], rtol=1e-6)
        assert np.all(z > 0)
        assert np.all((uv > 0) & (uv < [w, h]))  # distortion is small: all inside the image


@pytest.mark.slow
@needs_fern
def test_llff_fern_agrees_with_an_independent_colmap_reconstruction(tmp_path):
    """Reconstruct images_8 with pycolmap (~5-8 s on 2 cores): the camera centers from poses_bounds
    match COLMAP's up to a similarity, and so do the viewing directions after that
    similarity's rotation. Reading LLFF's axes any other way fails by 90-180 degrees."""
    pycolmap = pytest.importorskip("pycolmap")
    database, images = tmp_path / "db.db", FERN / "images_8"
    pycolmap.extract_features(database, images, camera_mode=pycolmap.CameraMode.SINGLE,
                              device=pycolmap.Device.cpu)
    pycolmap.match_exhaustive(database, device=pycolmap.Device.cpu)
    recs = pycolmap.incremental_mapping(database, images, tmp_path / "sparse")
    rec = max(recs.values(), key=lambda r: r.num_reg_images())
    by_name = {im.name: im for im in rec.images.values()}
    names = sorted(p.name for p in images.glob("*.png"))
    keep = [i for i, name in enumerate(names) if name in by_name]
    assert len(keep) >= 15
    ref = np.stack([se3.invert(np.vstack([by_name[names[i]].cam_from_world().matrix(), [0, 0, 0, 1]]))
                    for i in keep])
    llff = cv.cameras_from_llff_rows(np.load(FERN / "poses_bounds.npy")).world_from_cam[keep]

    err = metrics.pose_errors_after_sim3(llff, ref)
    assert err.max_center_error < 0.01  # fraction of the rig's extent
    assert err.max_rotation_deg < 1.0
    forward_ref = ref[:, :3, 2]
    forward_est = llff[:, :3, 2] @ err.sim3_rotation.T
    angles = np.degrees(np.arccos(np.clip(np.sum(forward_ref * forward_est, 1), -1, 1)))
    assert angles.max() < 1.0

    raw = np.tile(np.eye(4), (len(keep), 1, 1))  # wrong: LLFF matrix read as OpenCV axes
    raw[:, :3, :4] = np.load(FERN / "poses_bounds.npy")[keep, :15].reshape(-1, 3, 5)[:, :, :4]
    for wrong in (raw, cv.world_from_cam_opencv_from_opengl(raw)):
        # centers-only: a whole-pose fit would absorb a constant camera-axis error on this
        # forward-facing rig (all rotations nearly equal), which is what this check must catch
        assert metrics.pose_errors_after_sim3(wrong, ref, align="centers").median_rotation_deg > 45.0


# --------------------------------------------------------------------------- Open3D (export)
def test_open3d_intrinsics_round_trip_and_match_open3d_backprojection():
    """Open3D's depth -> points with the converted K gives our Camera.backproject exactly."""
    K = np.array([[80.0, 0.0, 81.3], [0.0, 82.0, 44.1], [0.0, 0.0, 1.0]])
    K_o3d = cv.open3d_intrinsic_matrix_from_K(K)
    np.testing.assert_allclose(cv.K_from_open3d_intrinsic_matrix(K_o3d), K)
    o3d = pytest.importorskip("open3d")
    w, h = 160, 90
    depth = (1.0 + 0.01 * np.arange(w * h, dtype=np.float32).reshape(h, w) / (w * h))
    intr = o3d.camera.PinholeCameraIntrinsic(w, h, K_o3d[0, 0], K_o3d[1, 1], K_o3d[0, 2], K_o3d[1, 2])
    cam = Camera(K, w, h, random_poses(1)[0])
    pcd = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(depth), intr, cam.cam_from_world, depth_scale=1.0, depth_trunc=10.0)
    np.testing.assert_allclose(np.asarray(pcd.points), cam.backproject(depth).reshape(-1, 3), atol=1e-5)
