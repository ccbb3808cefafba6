import numpy as np
import pytest
import torch

from engine.geometry import Camera, intrinsics_from_fov, se3
from engine.memory import GeometryMemory
from engine.render.points import render_memory, render_points
from engine.render.points_reference import render_points_reference


def _camera(w=64, h=48, fov=60.0, pose=np.eye(4)):
    return Camera(intrinsics_from_fov(fov, w, h), w, h, pose)


def test_fast_renderer_matches_reference_twin():
    rng = np.random.default_rng(0)
    xyz = (rng.random((4000, 3)) * [2, 2, 1.5] + [-1, -1, 1.0]).astype(np.float32)
    rgb = rng.random((4000, 3)).astype(np.float32)
    cam = _camera(pose=se3.make_transform(se3.so3_exp([0.05, -0.1, 0.02]), [0.1, 0, -0.2]))
    for radius in (0.0, 0.01, 0.03):
        fast = render_points(torch.tensor(xyz), torch.tensor(rgb), cam, radius).numpy()
        color, depth, index = render_points_reference(xyz, rgb, cam, radius)
        assert np.array_equal(fast.point_index, index)
        assert np.allclose(fast.depth, depth)
        assert np.allclose(fast.color, color)


def test_z_buffer_keeps_the_nearest_surface():
    near = np.stack(np.meshgrid(np.linspace(-1, 1, 200), np.linspace(-1, 1, 200), [2.0]), -1).reshape(-1, 3)
    far = near.copy()
    far[:, 2] = 4.0
    xyz = torch.tensor(np.concatenate([far, near]), dtype=torch.float32)
    rgb = torch.tensor(np.concatenate([np.zeros_like(far), np.ones_like(near)]), dtype=torch.float32)
    r = render_points(xyz, rgb, _camera(), radius_world=0.02).numpy()
    center = r.color[10:38, 14:50]
    assert (center == 1.0).all()
    assert np.allclose(r.depth[10:38, 14:50], 2.0)


def test_footprint_makes_close_surfaces_hole_free():
    # a plane at 1 m sampled every 2 cm: ~1.6 px apart at this focal length -> holes without footprint
    g = np.linspace(-1, 1, 101)
    xyz = np.stack(np.meshgrid(g, g, [1.0]), -1).reshape(-1, 3)
    cam = _camera(w=96, h=72, fov=60.0)
    pts, rgb = torch.tensor(xyz, dtype=torch.float32), torch.ones(xyz.shape[0], 3)
    bare = render_points(pts, rgb, cam, radius_world=0.0)
    splat = render_points(pts, rgb, cam, radius_world=0.03)  # 1.5 x spacing, as the memory uses
    assert bare.coverage < 0.7
    assert splat.coverage == 1.0


def test_points_behind_the_camera_are_not_drawn():
    xyz = torch.tensor([[0.0, 0.0, -2.0], [0.1, 0.1, -1.0]])
    r = render_points(xyz, torch.ones(2, 3), _camera(), 0.05)
    assert not r.mask.any()


def test_render_memory_reports_source_view_and_provenance(capture):
    mem = capture.memory(0.03)
    mem.insert_points(np.array([[0.0, 0.9, 0.0]]), np.ones((1, 3)), segment=4)
    r = render_memory(mem, capture.cameras[5]).numpy()
    assert r.coverage > 0.95
    views = set(np.unique(r.source_view[r.mask & (r.segment < 0)]))
    assert views <= set(range(len(capture.views))) and len(views) > 1
    generated_only = mem.provenance_mask(captured=False)
    hidden = render_memory(mem, capture.cameras[5], subset=generated_only).numpy()
    assert hidden.mask.sum() < 20 and set(np.unique(hidden.segment[hidden.mask])) == {4}
    # point_index refers to the memory's rows even when only a subset is drawn
    rows = hidden.point_index[hidden.mask]
    assert (mem.rows.segment[torch.as_tensor(rows)] == 4).all()
    # the same subset given as row numbers draws the same image; no subset (or the former
    # include_hidden flag, positionally) draws every point again
    by_rows = render_memory(mem, capture.cameras[5], torch.nonzero(generated_only).squeeze(1)).numpy()
    assert np.array_equal(by_rows.point_index, hidden.point_index)
    for again in (render_memory(mem, capture.cameras[5]), render_memory(mem, capture.cameras[5], True, 3.0)):
        assert np.array_equal(again.numpy().point_index, r.point_index)


def test_render_of_empty_memory_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        render_memory(GeometryMemory(0.1, device="cpu"), _camera())


@pytest.mark.gpu
def test_cuda_render_matches_cpu(capture):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    mem = capture.memory(0.03)
    cam = capture.cameras[2]
    cpu = render_points(mem.rows.xyz, mem.rows.rgb, cam, 0.03).numpy()
    gpu = render_points(mem.rows.xyz.cuda(), mem.rows.rgb.cuda(), cam, 0.03).numpy()
    assert (cpu.point_index == gpu.point_index).mean() > 0.999


def test_windowed_footprint_equals_the_offset_loop():
    """The CUDA path composites footprints over strided windows; it must equal the loop."""
    from engine.render.points import _center_keys, _footprint_windows, splat_keys

    rng = np.random.default_rng(3)
    xyz = torch.tensor((rng.random((5000, 3)) * [2, 2, 1] + [-1, -1, 1.5]).astype(np.float32))
    cam = _camera(w=80, h=60)
    for radius, max_r in ((0.0, 3.0), (0.02, 2.0), (0.05, 3.0)):
        canvas, rad, pad = _center_keys(xyz, cam, radius, 1e-3, max_r)
        windows = _footprint_windows(canvas, rad, pad, cam.height, cam.width, max_r)
        assert torch.equal(windows, splat_keys(xyz, cam, radius, max_radius_px=max_r))


def test_dense_center_keys_equal_the_selected_ones():
    """The CUDA form of step 1 (every point, those outside into a spare slot: no nonzero)
    gives the canvas and radii of the selecting form, here both on the CPU."""
    from engine.render.points import _center_keys

    rng = np.random.default_rng(5)
    # points in front, behind the camera, far outside the image and at the canvas border
    xyz = torch.tensor((rng.random((6000, 3)) * [6, 6, 4] + [-3, -3, -1]).astype(np.float32))
    cam = _camera(w=80, h=60)
    for radius in (0.0, 0.03, torch.tensor(rng.random(6000).astype(np.float32) * 0.05)):
        for max_r in (2.0, 3.0):
            a = _center_keys(xyz, cam, radius, 1e-3, max_r, dense=False)
            b = _center_keys(xyz, cam, radius, 1e-3, max_r, dense=True)
            assert a[2] == b[2] and torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
            assert (a[0] != a[0].max()).sum() > 100          # points were drawn
