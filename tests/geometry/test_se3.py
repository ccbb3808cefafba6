"""Tests of engine.geometry.se3 and engine.geometry.camera against hand-derived facts."""
import numpy as np
import pytest

from engine.geometry import se3
from engine.geometry.camera import Camera, fov_from_intrinsics, intrinsics_from_fov


def random_rotations(rng, n):
    q = rng.normal(size=(n, 4))
    return se3.quat_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))


def random_transforms(rng, n):
    return se3.make_transform(random_rotations(rng, n), rng.normal(size=(n, 3)) * 3)


# ----------------------------------------------------------------------------- SO(3)

def test_so3_exp_known_rotation_about_z():
    rot = se3.so3_exp(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(rot @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(rot @ [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], atol=1e-12)


def test_so3_exp_log_round_trip_batched_including_small_and_near_pi():
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(50, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi - 1e-3, 46), [0.0, 1e-10, 1e-6, np.pi - 1e-6]])
    omega = axes * angles[:, None]
    rot = se3.so3_exp(omega)
    assert rot.shape == (50, 3, 3)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_allclose(se3.so3_log(rot), omega, atol=1e-7)


def test_so3_log_angle_is_geodesic_angle():
    rng = np.random.default_rng(1)
    rot = random_rotations(rng, 20)
    angles = np.linalg.norm(se3.so3_log(rot), axis=-1)
    np.testing.assert_allclose(np.degrees(angles), se3.rotation_angle_deg(np.eye(3), rot), atol=1e-6)


# ----------------------------------------------------------------------------- quaternions

def test_quaternion_of_90_deg_about_x_is_hand_value():
    rot = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # +90 deg about x
    q = se3.quat_from_matrix(rot)
    np.testing.assert_allclose(q, [np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0], atol=1e-12)
    np.testing.assert_allclose(se3.quat_to_matrix(q), rot, atol=1e-12)


@pytest.mark.parametrize("diag", [(1, -1, -1), (-1, 1, -1), (-1, -1, 1)])
def test_quaternion_of_180_deg_rotations(diag):
    rot = np.diag(np.array(diag, dtype=float))  # trace -1: the non-trace branches
    q = se3.quat_from_matrix(rot)
    assert abs(q[0]) < 1e-12 and np.isclose(np.linalg.norm(q), 1.0)
    np.testing.assert_allclose(se3.quat_to_matrix(q), rot, atol=1e-12)


def test_quaternion_matrix_round_trip_batched_and_sign():
    rng = np.random.default_rng(2)
    q = rng.normal(size=(5, 7, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    rot = se3.quat_to_matrix(q)
    back = se3.quat_from_matrix(rot)
    assert back.shape == (5, 7, 4)
    assert np.all(back[..., 0] >= 0)
    np.testing.assert_allclose(back, q * np.sign(q[..., :1]), atol=1e-12)  # q and -q: same rotation


def test_quaternion_agrees_with_pycolmap_xyzw():
    pycolmap = pytest.importorskip("pycolmap")
    rng = np.random.default_rng(3)
    for rot in random_rotations(rng, 5):
        xyzw = np.asarray(pycolmap.Rotation3d(rot).quat)
        q = se3.quat_from_matrix(rot)
        ref = np.concatenate([xyzw[3:], xyzw[:3]])
        np.testing.assert_allclose(q, ref * np.sign(ref[0]), atol=1e-12)


def test_slerp_endpoints_and_midpoint_angle():
    rng = np.random.default_rng(4)
    q0, q1 = se3.quat_from_matrix(random_rotations(rng, 2))
    np.testing.assert_allclose(se3.quat_slerp(q0, q1, 0.0), q0, atol=1e-12)
    r1 = se3.quat_to_matrix(se3.quat_slerp(q0, q1, 1.0))
    np.testing.assert_allclose(r1, se3.quat_to_matrix(q1), atol=1e-12)
    r0, mid = se3.quat_to_matrix(q0), se3.quat_to_matrix(se3.quat_slerp(q0, q1, 0.5))
    total = se3.rotation_angle_deg(r0, r1)
    np.testing.assert_allclose(se3.rotation_angle_deg(r0, mid), total / 2, atol=1e-9)
    np.testing.assert_allclose(se3.rotation_angle_deg(mid, r1), total / 2, atol=1e-9)


def test_slerp_takes_the_short_arc_and_batches_over_t():
    q0 = np.array([1.0, 0, 0, 0])
    q1 = -se3.quat_from_matrix(se3.so3_exp([0, 0, np.radians(40)]))  # same rotation, far sign
    t = np.linspace(0, 1, 5)
    q = se3.quat_slerp(q0, q1, t)
    assert q.shape == (5, 4)
    angles = se3.rotation_angle_deg(np.eye(3), se3.quat_to_matrix(q))
    np.testing.assert_allclose(angles, 40 * t, atol=1e-9)


def test_slerp_nearly_identical_quaternions_is_stable():
    q0 = np.array([1.0, 0, 0, 0])
    q1 = se3.quat_from_matrix(se3.so3_exp([1e-5, 0, 0]))
    q = se3.quat_slerp(q0, q1, 0.5)
    assert np.all(np.isfinite(q)) and np.isclose(np.linalg.norm(q), 1.0)


# ----------------------------------------------------------------------------- SE(3)

def test_se3_exp_log_round_trip():
    rng = np.random.default_rng(5)
    xi = np.concatenate([rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) * 0.8], axis=1)
    xi[0, 3:] = 0.0  # pure translation
    xi[1, 3:] = 1e-10
    t = se3.se3_exp(xi)
    np.testing.assert_allclose(se3.se3_log(t), xi, atol=1e-8)
    np.testing.assert_allclose(se3.se3_exp(se3.se3_log(t)), t, atol=1e-10)


def test_se3_exp_pure_translation_and_screw_motion():
    np.testing.assert_allclose(se3.se3_exp([1.0, 2.0, 3.0, 0, 0, 0]),
                               se3.make_transform(np.eye(3), [1.0, 2.0, 3.0]), atol=1e-12)
    # rho along the rotation axis: a screw motion translates along the axis by |rho|
    t = se3.se3_exp([0.0, 0.0, 2.0, 0.0, 0.0, np.pi / 3])
    np.testing.assert_allclose(t[:3, 3], [0.0, 0.0, 2.0], atol=1e-12)


def test_invert_and_compose():
    rng = np.random.default_rng(6)
    a, b = random_transforms(rng, 2)
    np.testing.assert_allclose(se3.compose(a, se3.invert(a)), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(se3.invert(a), np.linalg.inv(a), atol=1e-12)
    np.testing.assert_allclose(se3.invert(se3.compose(a, b)), se3.compose(se3.invert(b), se3.invert(a)), atol=1e-12)
    batch = random_transforms(rng, 4)
    np.testing.assert_allclose(se3.invert(batch) @ batch, np.broadcast_to(np.eye(4), batch.shape), atol=1e-12)


def test_compose_order_is_matrix_order():
    c_from_b = se3.make_transform(se3.so3_exp([0, 0, np.pi / 2]), [0, 0, 0])
    b_from_a = se3.make_transform(np.eye(3), [1.0, 0, 0])
    c_from_a = se3.compose(c_from_b, b_from_a)
    # the origin of a is at (1,0,0) in b, then rotated 90 deg about z into c
    np.testing.assert_allclose(se3.transform_points(c_from_a, np.zeros((1, 3))), [[0, 1, 0]], atol=1e-12)


def test_rotation_angle_deg():
    np.testing.assert_allclose(se3.rotation_angle_deg(np.eye(3), se3.so3_exp([0, np.radians(30), 0])), 30.0)


# ----------------------------------------------------------------------------- look_at

def test_look_at_axes_default_up_for_y_down_world():
    w = se3.look_at(eye=[0.0, 0.0, -5.0], target=[0.0, 0.0, 0.0])
    np.testing.assert_allclose(w[:3, :3], np.eye(3), atol=1e-12)  # OpenCV camera == world axes
    np.testing.assert_allclose(w[:3, 3], [0, 0, -5])


def test_look_at_general_properties():
    rng = np.random.default_rng(7)
    for _ in range(10):
        eye, target = rng.normal(size=3) * 4, rng.normal(size=3)
        w = se3.look_at(eye, target)
        rot = w[:3, :3]
        np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(rot), 1.0)
        fwd = (target - eye) / np.linalg.norm(target - eye)
        np.testing.assert_allclose(rot[:, 2], fwd, atol=1e-12)
        assert abs(rot[:, 0] @ [0, -1, 0]) < 1e-12  # image x axis is horizontal
        assert rot[:, 1] @ [0, -1, 0] < 0  # image down points away from "up"
        cam = Camera(K=intrinsics_from_fov(60, 64, 48), width=64, height=48, world_from_cam=w)
        uv, z = cam.project(target[None])
        np.testing.assert_allclose(uv[0], [32, 24], atol=1e-9)  # target at the image center


def test_look_at_straight_along_up_is_valid():
    w = se3.look_at([0, 0, 0], [0, -3, 0])
    assert np.isclose(np.linalg.det(w[:3, :3]), 1.0)
    np.testing.assert_allclose(w[:3, 2], [0, -1, 0], atol=1e-12)


# ----------------------------------------------------------------------------- Camera

def make_camera(rng=None):
    rng = rng or np.random.default_rng(8)
    K = np.array([[50.0, 0.0, 33.0], [0.0, 52.0, 23.5], [0.0, 0.0, 1.0]])
    return Camera(K=K, width=64, height=48, world_from_cam=random_transforms(rng, 1)[0], name="cam")


def test_fov_intrinsics_round_trip():
    K = intrinsics_from_fov(90.0, 640, 480)
    np.testing.assert_allclose(K[1, 1], 240.0)  # half height / tan(45 deg)
    np.testing.assert_allclose(K[:2, 2], [320, 240])
    assert np.isclose(fov_from_intrinsics(K, 480), 90.0)


def test_project_backproject_consistency():
    cam = make_camera()
    rng = np.random.default_rng(9)
    depth = rng.uniform(1.0, 5.0, size=(cam.height, cam.width))
    pts = cam.backproject(depth)
    uv, z = cam.project(pts.reshape(-1, 3))
    j, i = np.meshgrid(np.arange(cam.width), np.arange(cam.height))
    np.testing.assert_allclose(uv, np.stack([j + 0.5, i + 0.5], -1).reshape(-1, 2), atol=1e-9)
    np.testing.assert_allclose(z, depth.ravel(), atol=1e-12)


def test_pixel_centers_and_corners():
    cam = Camera(K=intrinsics_from_fov(60, 64, 48), width=64, height=48)
    rays = cam.pixel_rays()
    # the principal point (32, 24) is the corner shared by pixels (23,31),(23,32),(24,31),(24,32)
    np.testing.assert_allclose(rays[23, 31, :2] + rays[24, 32, :2], 0.0, atol=1e-12)
    uv, _ = cam.project(np.array([[0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(uv[0], [32.0, 24.0])


def test_scaled_keeps_pixel_center_convention():
    cam = make_camera()
    half = cam.scaled(0.5)
    assert (half.width, half.height) == (32, 24)
    rng = np.random.default_rng(10)
    pts = cam.backproject(rng.uniform(1, 3, (cam.height, cam.width))).reshape(-1, 3)
    uv, _ = cam.project(pts)
    uv2, _ = half.project(pts)
    np.testing.assert_allclose(uv2, uv * 0.5, atol=1e-9)  # corner-origin: plain scaling
    # pixel (0,0) of the half image covers pixels (0..1, 0..1): its center (0.5, 0.5) is at (1, 1)
    p = half.backproject(np.ones((24, 32)))[0, 0]
    np.testing.assert_allclose(cam.project(p[None])[0][0], [1.0, 1.0], atol=1e-9)


def test_camera_properties_and_dict_round_trip():
    cam = make_camera()
    np.testing.assert_allclose(cam.cam_from_world @ cam.world_from_cam, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(cam.center, cam.world_from_cam[:3, 3])
    uv, z = cam.project((cam.center + 2.0 * cam.forward)[None])
    np.testing.assert_allclose(uv[0], cam.K[:2, 2], atol=1e-9)
    np.testing.assert_allclose(z, [2.0], atol=1e-12)
    back = Camera.from_dict(cam.to_dict())
    np.testing.assert_array_equal(back.K, cam.K)
    np.testing.assert_array_equal(back.world_from_cam, cam.world_from_cam)
    assert (back.width, back.height, back.name) == (64, 48, "cam")
    moved = cam.with_pose(np.eye(4))
    np.testing.assert_array_equal(moved.world_from_cam, np.eye(4))
    np.testing.assert_array_equal(moved.K, cam.K)
