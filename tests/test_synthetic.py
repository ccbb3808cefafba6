"""Tests of engine.synthetic: exact ground truth of the procedural demo scene."""
from __future__ import annotations

import time

import numpy as np
import pytest

from engine.geometry import se3
from engine.geometry.camera import Camera, intrinsics_from_fov
from engine.synthetic import (SyntheticFrame, demo_capture_cameras, make_demo_scene,
                              read_demo_cameras, write_demo_video)

W, H = 160, 90


@pytest.fixture(scope="module")
def scene():
    return make_demo_scene(0)


@pytest.fixture(scope="module")
def cams(scene):
    return demo_capture_cameras(scene, n=12, width=W, height=H)


def _camera(eye, target, size=(W, H), fov=55.0, up=(0.0, -1.0, 0.0)) -> Camera:
    K = intrinsics_from_fov(fov, *size)
    return Camera(K=K, width=size[0], height=size[1], world_from_cam=se3.look_at(eye, target, up))


def test_render_shapes_and_types(scene, cams):
    f = scene.render(cams[0])
    assert isinstance(f, SyntheticFrame) and f.camera is cams[0]
    assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.float32
    assert f.depth.shape == (H, W) and f.depth.dtype == np.float32
    assert f.normal.shape == (H, W, 3) and f.normal.dtype == np.float32
    assert 0.0 <= f.rgb.min() and f.rgb.max() <= 1.0
    assert np.isfinite(f.depth).all() and f.depth.min() > 0
    np.testing.assert_allclose(np.linalg.norm(f.normal, axis=-1), 1.0, atol=1e-5)


def test_determinism(cams):
    a = make_demo_scene(3).render(cams[1])
    b = make_demo_scene(3).render(cams[1])
    c = make_demo_scene(4).render(cams[1])
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth, b.depth)
    assert np.array_equal(a.depth, c.depth)           # the seed changes textures only
    assert np.abs(a.rgb - c.rgb).mean() > 0.05


def test_known_depths(scene):
    bench = scene.find("bench")                         # top face at y = bench.lo[1]
    mid = 0.5 * (np.asarray(bench.lo) + np.asarray(bench.hi))
    eye = np.array([mid[0], -1.0, mid[2]])
    down = _camera(eye, eye + [0.0, 1.0, 0.0], size=(31, 21), fov=20.0, up=(0.0, 0.0, -1.0))
    f = scene.render(down)
    top = np.all(np.abs(f.normal - [0.0, -1.0, 0.0]) < 1e-6, axis=-1) & (f.depth < 2.5)
    assert top[10, 15] and top.sum() > 50
    np.testing.assert_allclose(f.depth[top], bench.lo[1] - eye[1], atol=1e-5)

    ball = scene.find("ball")
    c = np.asarray(ball.center)
    side = _camera(c - [0.0, 0.0, 2.5], c, size=(31, 21))  # odd size: center pixel hits c
    assert abs(scene.render(side).depth[10, 15] - (2.5 - ball.radius)) < 1e-5


def _bilinear_inverse_depth(depth, normal, uv):
    """z from bilinear interpolation of 1/z (exact on planes) at uv [N,2]; the 4 corners' normals [N,4,3]."""
    x, y = uv[:, 0] - 0.5, uv[:, 1] - 0.5
    j0, i0 = np.floor(x).astype(int), np.floor(y).astype(int)
    ok = (j0 >= 0) & (i0 >= 0) & (j0 + 1 < depth.shape[1]) & (i0 + 1 < depth.shape[0])
    j0, i0, fx, fy = np.where(ok, j0, 0), np.where(ok, i0, 0), x - np.floor(x), y - np.floor(y)
    inv = 1.0 / depth.astype(np.float64)
    corners = [(i0, j0), (i0, j0 + 1), (i0 + 1, j0), (i0 + 1, j0 + 1)]
    v = np.stack([inv[i, j] for i, j in corners], -1)
    n = np.stack([normal[i, j] for i, j in corners], 1)
    planar = ok & (np.abs(v[:, 0] + v[:, 3] - v[:, 1] - v[:, 2]) < 1e-6)
    top = v[:, 0] + fx * (v[:, 1] - v[:, 0])
    bottom = v[:, 2] + fx * (v[:, 3] - v[:, 2])
    return 1.0 / (top + fy * (bottom - top)), n, planar


def test_depth_reprojects_exactly(scene, cams):
    a, b = scene.render(cams[0]), scene.render(cams[3])
    x = a.camera.backproject(a.depth.astype(np.float64)).reshape(-1, 3)
    n_a = a.normal.reshape(-1, 3)
    uv, z = b.camera.project(x)
    z_b, n_b, planar = _bilinear_inverse_depth(b.depth, b.normal, uv)
    same_plane = planar & (z > 0) & np.all(np.abs(n_b - n_a[:, None]) < 1e-6, axis=(1, 2))
    diff = z_b - z
    visible = same_plane & (np.abs(diff) < 0.02)
    assert visible.sum() > 0.3 * len(x)
    assert np.abs(diff[visible]).max() < 1e-3


def test_photoconsistency_exact(scene, cams):
    """A surface point has the same color in two views (Lambert, solid textures)."""
    a = scene.render(cams[2])
    rng = np.random.default_rng(0)
    pix = rng.integers(0, [H, W], size=(40, 2))
    rays = a.camera.pixel_rays()[pix[:, 0], pix[:, 1]] @ a.camera.world_from_cam[:3, :3].T
    t, _ = scene.cast(a.camera.center, rays)
    points = a.camera.center + t[:, None] * rays
    eye_b = a.camera.center + [0.7, -0.3, 0.2]
    checked = 0
    for p, (i, j) in zip(points, pix):
        b = scene.render(_camera(eye_b, p, size=(9, 9), fov=10.0))   # center pixel ray hits p
        if abs(b.depth[4, 4] - np.linalg.norm(p - eye_b)) < 1e-5:   # p visible from eye_b
            np.testing.assert_allclose(b.rgb[4, 4], a.rgb[i, j], atol=1e-4)
            checked += 1
    assert checked >= 20


def test_textures_vary(scene, cams):
    gray = scene.render(cams[5]).rgb.mean(-1)
    assert gray.std() > 0.08
    patches = gray[:80, :160].reshape(5, 16, 10, 16).transpose(0, 2, 1, 3).reshape(50, 16, 16)
    assert np.median(patches.std(axis=(1, 2))) > 0.03             # detail inside patches
    neighbours = np.abs(patches[:-1] - patches[1:]).mean(axis=(1, 2))
    assert neighbours.min() > 0.02                                # no two neighbours alike


def test_sift_matches_agree_with_ground_truth(scene):
    cv2 = pytest.importorskip("cv2")
    cams = demo_capture_cameras(scene, n=24, width=320, height=180)
    a, b = scene.render(cams[10]), scene.render(cams[12])
    sift = cv2.SIFT_create()
    kp_a, des_a = sift.detectAndCompute((a.rgb.mean(-1) * 255).astype(np.uint8), None)
    kp_b, des_b = sift.detectAndCompute((b.rgb.mean(-1) * 255).astype(np.uint8), None)
    matches = [m for m, n in cv2.BFMatcher().knnMatch(des_a, des_b, k=2) if m.distance < 0.75 * n.distance]
    # OpenCV keypoints put pixel centers on integers; the project puts them at +0.5
    uv_a = np.array([kp_a[m.queryIdx].pt for m in matches])
    uv_b = np.array([kp_b[m.trainIdx].pt for m in matches]) + 0.5
    ia = np.clip(np.round(uv_a).astype(int), 0, [319, 179])
    x = a.camera.backproject(a.depth.astype(np.float64))[ia[:, 1], ia[:, 0]]
    err = np.linalg.norm(b.camera.project(x)[0] - uv_b, axis=-1)
    inliers = (err < 1.5).sum()
    assert inliers >= 100 and inliers > 0.9 * len(matches)


def test_close_to_walls_depth_is_finite(scene):
    lo, hi = scene.bounds_min, scene.bounds_max
    views = [
        _camera([0.0, 0.0, hi[2] - 0.05], [0.0, 0.0, hi[2] + 1.0]),           # 5 cm from a wall
        _camera(lo + 0.02, [lo[0] - 1.0, lo[1] - 0.5, lo[2] - 1.0]),           # into a corner
        _camera([1.0, 0.0, 1.0], [1.0, -5.0, 1.1], up=(0.0, 0.0, 1.0)),       # at the ceiling
        _camera([3.9, 1.45, -3.9], [-4.0, 1.5, 4.0]),                          # floor-level diagonal
    ]
    for cam in views:
        f = scene.render(cam)
        assert np.isfinite(f.depth).all() and f.depth.min() > 0, cam.world_from_cam
    near = scene.render(views[0]).depth
    assert abs(near[H // 2, W // 2] - 0.05) < 1e-3


def test_sample_surface(scene):
    p, n = scene.sample_surface(3000, seed=1)
    assert p.shape == (3000, 3) and n.shape == (3000, 3)
    p2, _ = scene.sample_surface(3000, seed=1)
    assert np.array_equal(p, p2)
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-9)
    t, _ = scene.cast(p + 1e-3 * n, -n)                 # each point is on an exposed surface
    np.testing.assert_allclose(t, 1e-3, atol=1e-6)
    obj, obj_n = scene.sample_surface(2000, seed=2, include_room=False)
    assert obj[:, 1].max() < scene.bounds_max[1] - 1e-6    # nothing buried in the floor
    t, _ = scene.cast(obj + 1e-3 * obj_n, -obj_n)
    np.testing.assert_allclose(t, 1e-3, atol=1e-6)
    floor = np.abs(p[:, 1] - scene.bounds_max[1]) < 1e-9
    assert 0.2 < floor.mean() < 0.3                       # ~62 of ~240 m^2 exposed


def test_demo_cameras_follow_an_arc(scene):
    cams = demo_capture_cameras(scene, n=48)
    assert [c.name for c in cams[:2]] == ["frame_000000", "frame_000001"] and len(cams) == 48
    assert (cams[0].width, cams[0].height) == (640, 360)
    centers = np.array([c.center for c in cams])
    radius = np.linalg.norm((centers - scene.center)[:, [0, 2]], axis=-1)
    assert np.all(np.abs(radius - 3.0) < 0.15)
    to_center = scene.center - centers
    cos = np.sum(to_center * np.array([c.forward for c in cams]), -1) / np.linalg.norm(to_center, axis=-1)
    assert np.all(cos > np.cos(np.radians(6.0)))
    steps = np.linalg.norm(np.diff(centers, axis=0), axis=-1)
    assert steps.max() < 0.2 and steps.min() > 0.05      # ~2.5 degrees per frame at r = 3 m
    start, end = to_center[0, [0, 2]], to_center[-1, [0, 2]]
    arc = np.degrees(np.arccos(start @ end / np.linalg.norm(start) / np.linalg.norm(end)))
    assert abs(arc - 120.0) < 5.0


def test_video_and_cameras_round_trip(scene, tmp_path):
    av = pytest.importorskip("av")
    cams = demo_capture_cameras(scene, n=6, width=W, height=H)
    path = write_demo_video(tmp_path / "demo.mp4", scene, cams, fps=12)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (H, W, 3)
    truth = scene.render(cams[3]).rgb
    assert np.abs(frames[3] / 255.0 - truth).mean() < 0.05
    back = read_demo_cameras(tmp_path / "demo_cameras.json")
    assert [c.name for c in back] == [c.name for c in cams]
    for c, d in zip(cams, back):
        np.testing.assert_array_equal(c.K, d.K)
        np.testing.assert_array_equal(c.world_from_cam, d.world_from_cam)
    assert len(read_demo_cameras(path)) == 6                # the video's path finds its json too
    with pytest.raises(ValueError):
        write_demo_video(tmp_path / "odd.mp4", scene, demo_capture_cameras(scene, 2, 161, 91))


def test_full_resolution_render(scene):
    """640x360 renders completely (its speed is measured in benchmarks/, not asserted here)."""
    cam = demo_capture_cameras(scene, n=1)[0]
    f = scene.render(cam)
    assert f.rgb.shape == (360, 640, 3) and np.isfinite(f.depth).all()
