"""engine.geometry.camera_torch against the numpy Camera methods (skewed K included)."""
import numpy as np
import pytest
import torch

from engine.geometry import Camera, camera_torch as ct, se3


def _cameras():
    pose = se3.make_transform(se3.so3_exp([0.2, -0.4, 0.1]), [0.3, -0.2, 1.5])
    plain = np.array([[120.0, 0.0, 41.0], [0.0, 110.0, 29.5], [0, 0, 1]])
    skewed = np.array([[120.0, 17.0, 38.0], [0.0, 95.0, 31.0], [0, 0, 1]])
    return [Camera(plain, 80, 60, pose), Camera(skewed, 80, 60, pose)]


@pytest.mark.parametrize("cam", _cameras(), ids=["plain", "skewed"])
def test_project_matches_numpy_camera(cam):
    rng = np.random.default_rng(0)
    pts = cam.backproject_points(rng.uniform(0, [80, 60], (500, 2)), rng.uniform(0.5, 4.0, 500))
    uv_np, z_np = cam.project(pts)
    u, v, z = ct.project(cam, torch.tensor(pts, dtype=torch.float32))
    np.testing.assert_allclose(np.stack([u, v], -1), uv_np, atol=2e-3)
    np.testing.assert_allclose(z.numpy(), z_np, rtol=1e-5)


@pytest.mark.parametrize("cam", _cameras(), ids=["plain", "skewed"])
def test_backproject_matches_numpy_camera_and_inverts_project(cam):
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 3.0, (cam.height, cam.width)).astype(np.float32)
    world = ct.depth_to_world_points(cam, torch.tensor(depth))
    np.testing.assert_allclose(world.numpy(), cam.backproject(depth), atol=1e-4)
    uv = rng.uniform(0, [80, 60], (300, 2))
    d = rng.uniform(0.5, 3.0, 300)
    uv_t, d_t = torch.tensor(uv, dtype=torch.float32), torch.tensor(d, dtype=torch.float32)
    pts = ct.backproject(cam, uv_t[:, 0], uv_t[:, 1], d_t)
    np.testing.assert_allclose(pts.numpy(), cam.backproject_points(uv, d), atol=1e-4)
    u, v, z = ct.project(cam, pts)
    np.testing.assert_allclose(torch.stack([u, v], -1).numpy(), uv, atol=2e-3)
    np.testing.assert_allclose(z.numpy(), d, rtol=1e-5)


def test_skew_moves_u_by_skew_times_normalized_y():
    cam = _cameras()[1]
    p_cam = torch.tensor([[0.0, 0.5, 2.0]])   # x = 0, y/z = 0.25
    u, v, z = ct.project_camera_points(cam, p_cam)
    assert float(u) == pytest.approx(38.0 + 17.0 * 0.25)
    assert float(v) == pytest.approx(31.0 + 95.0 * 0.25)
    back = ct.unproject(cam, u, v, z)
    np.testing.assert_allclose(back.numpy(), p_cam.numpy(), atol=1e-6)


def test_pixel_centers_and_rays_follow_the_half_pixel_convention():
    cam = _cameras()[1]
    u, v = ct.pixel_centers(cam)
    assert u.shape == (60, 80) and float(u[0, 0]) == 0.5 and float(v[0, 0]) == 0.5
    assert float(u[5, 7]) == 7.5 and float(v[5, 7]) == 5.5
    rays, center = ct.pixel_rays(cam)
    depth = np.full((60, 80), 2.0, np.float32)
    np.testing.assert_allclose((center + 2.0 * rays).numpy(), cam.backproject(depth), atol=1e-4)
    np.testing.assert_allclose(center.numpy(), cam.center, atol=1e-6)


def test_points_behind_the_camera_are_flagged_by_z():
    cam = _cameras()[0]
    u, v, z = ct.project_camera_points(cam, torch.tensor([[0.1, 0.1, -1.0], [0.1, 0.1, 0.0]]), near=1e-3)
    assert (z <= 1e-3).all() and torch.isfinite(u).all() and torch.isfinite(v).all()
    with pytest.raises(ValueError, match="does not match"):
        ct.depth_to_camera_points(cam, torch.ones(10, 10))


def test_backproject_at_reads_the_depth_of_the_containing_pixel():
    cam = _cameras()[1]
    depth = np.zeros((60, 80))
    depth[10, 20], depth[30, 5] = 2.0, 3.0
    uv = np.array([[20.9, 10.1], [5.5, 30.5], [40.0, 40.0], [-0.5, 3.0], [80.0, 59.0]])
    xyz, keep = cam.backproject_at(uv, depth)
    assert keep.tolist() == [True, True, False, False, False]
    np.testing.assert_allclose(xyz, cam.backproject_points(uv[:2], [2.0, 3.0]))
