"""Depth completion (engine.tracking.complete) and the depth-backend seam, on the untextured
synthetic room (flat walls, floor and table: the plane sweep matches only the objects).
The room tests are marked slow (they sweep and complete two 256x192 views)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.geometry import Camera
from engine.ingest.views import CapturedView, ViewBank
from engine.memory import GeometryMemory
from engine.tracking.complete import CompletionOptions, complete_depth, edge_aware_fill, fit_plane
from engine.tracking.dense import fuse_depth_map
from engine.tracking.depth_backend import DEPTH_BACKENDS, make_depth_backend
from engine.tracking.mvs import MVSOptions
from engine.synthetic_room import UntexturedRoom, blank_wall_cameras, render_views, room_cameras

MVS = MVSOptions(max_side=256, num_neighbors=3, max_depths=96)


@pytest.fixture(scope="module")
def room():
    scene = UntexturedRoom()
    cams = room_cameras(scene, 256, 192, spacing=0.4)
    images, depths = render_views(scene, cams)
    pts, _ = scene.sample_surface(3000, seed=1)
    return scene, cams, images, depths, pts


@pytest.fixture(scope="module")
def room_maps(room):
    """Views 1 and 4 swept once; maps of both backends from the same sweeps."""
    _, cams, images, _, pts = room
    sweep = make_depth_backend("sweep", MVS)
    list(sweep.estimate([1, 4], dict(enumerate(cams)), dict(enumerate(images)), pts))
    done = make_depth_backend("sweep+complete", MVS)
    done.state = sweep.state
    return sweep.final_maps(), done.final_maps()


def _within(dm, gt, tol=0.02):
    return np.abs(dm.depth - gt) <= tol * gt


@pytest.mark.slow   # two sweeps + completions at 256x192: ~20 s on 2 cores
def test_sweep_alone_leaves_the_flat_room_empty(room, room_maps):
    old, _ = room_maps
    for dm in old:
        assert dm.completed is None
        assert dm.valid_fraction() < 0.1          # the real failure: only the objects match


@pytest.mark.slow   # two sweeps + completions at 256x192: ~20 s on 2 cores
def test_completion_covers_every_pixel_and_recovers_the_flat_surfaces(room, room_maps):
    _, _, _, depths, _ = room
    old, new = room_maps
    for a, b in zip(old, new):
        gt = depths[b.view_id]
        assert b.valid_fraction() == 1.0 and np.isfinite(b.depth).all()
        assert np.array_equal(b.matched(), a.depth > 0) and np.array_equal(b.completed, a.depth <= 0)
        assert np.array_equal(b.depth[b.matched()], a.depth[a.depth > 0])       # matched depth untouched
        assert b.confidence[b.completed].mean() < b.confidence[b.matched()].mean()
        assert b.confidence[b.completed].max() <= CompletionOptions().max_completed_conf
    within = [_within(b, depths[b.view_id]).mean() for b in new]
    before = np.mean([(_within(a, depths[a.view_id]) & (a.depth > 0)).mean() for a in old])
    # measured 0.982 and 0.988 (views 1 and 4; 0.98 and 0.69 before the planes' refinement
    # ran to the border cost's minimum) against 0.03 for the sweep alone; issue 13 asks 0.90
    assert before < 0.05 and min(within) > 0.9, (before, within)


def test_blank_wall_gives_low_confidence_completed_depth():
    scene = UntexturedRoom()
    cams = blank_wall_cameras()
    images, depths = render_views(scene, cams, supersample=1)
    backend = make_depth_backend("sweep+complete", MVSOptions(max_side=96, num_neighbors=2))
    pts = np.array([[-2.5, y, z] for y in np.linspace(-0.3, 0.3, 5) for z in np.linspace(-1.0, -0.4, 5)])
    list(backend.estimate([1], dict(enumerate(cams)), dict(enumerate(images)), pts))
    (dm,) = backend.final_maps()
    assert dm.completed.all() and (dm.depth > 0).all()
    assert dm.confidence.max() <= CompletionOptions().blind_conf     # not confident nonsense
    mem = GeometryMemory(0.02)
    assert fuse_depth_map(mem, dm).added == 0 and len(mem) == 0      # a blind guess stays out of the memory


def test_nothing_consistent_gives_almost_no_confident_depth():
    """A mirror or moving water: every view sees unrelated texture. Chance matches survive the
    geometric filter on well under 1% of the pixels; everything else is completed at low
    confidence, and only what the fusion would take (confidence >= 0.3) counts as confident."""
    cams = blank_wall_cameras(64, 48)
    rng = np.random.default_rng(0)
    images = [(rng.random((48, 64, 3)) * 255).astype(np.uint8) for _ in cams]
    backend = make_depth_backend("sweep+complete", MVSOptions(max_side=64, num_neighbors=2))
    pts = np.array([[-2.5, y, z] for y in np.linspace(-0.3, 0.3, 5) for z in np.linspace(-1.0, -0.4, 5)])
    list(backend.estimate([0, 1, 2], dict(enumerate(cams)), dict(enumerate(images)), pts))
    for dm in backend.final_maps():
        assert dm.completed.mean() > 0.98 and (dm.depth > 0).all()
        assert dm.confidence[dm.completed].max() <= CompletionOptions().max_completed_conf
        assert np.percentile(dm.confidence, 99) < 0.15          # measured ~0.10
        assert (dm.confidence >= 0.3).mean() < 0.01              # measured 0.2-0.6% (chance matches)


def test_view_without_any_depth_or_neighbour_does_not_crash():
    cam = room_cameras(UntexturedRoom(), 32, 24)[0]
    out = complete_depth(cam, np.full((24, 32, 3), 200, np.uint8), np.zeros((24, 32), np.float32),
                         np.zeros((24, 32), np.float32), (1.0, 4.0))
    assert out.completed.all() and np.allclose(out.depth, 2.0) and out.confidence.max() <= 0.05


def test_edge_aware_fill_does_not_cross_edges():
    gray = torch.zeros(40, 60)
    gray[:, 30:] = 1.0                                      # a strong vertical edge
    values = torch.zeros(40, 60)
    known = torch.zeros(40, 60, dtype=torch.bool)
    values[:, 2], known[:, 2] = 1.0, True                   # left region known near its border
    values[:, 57], known[:, 57] = 3.0, True
    out = edge_aware_fill(values, known, gray, CompletionOptions())
    assert torch.allclose(out[:, 5:28], torch.tensor(1.0), atol=0.02)
    assert torch.allclose(out[:, 32:55], torch.tensor(3.0), atol=0.02)


def test_plane_fit_ignores_outliers_and_refuses_a_single_line():
    rng = np.random.default_rng(0)
    uv = rng.uniform(0, 100, (200, 2))
    w = 0.002 * uv[:, 0] - 0.001 * uv[:, 1] + 0.5
    w[:60] *= rng.uniform(1.2, 2.0, 60)                     # 30% foreground-fattened anchors
    fit = fit_plane(uv, w, np.ones(200), CompletionOptions(), rng)
    assert fit is not None and np.allclose(fit[0], [0.002, -0.001, 0.5], atol=1e-6)
    line = np.stack([np.linspace(0, 100, 50), np.full(50, 40.0)], 1)
    assert fit_plane(line, 0.5 + 0.001 * line[:, 0], np.ones(50), CompletionOptions(), rng) is None


@pytest.mark.slow   # two sweeps + completions at 256x192: ~20 s on 2 cores
def test_fusion_weighs_and_strides_completed_pixels(room, room_maps):
    _, new = room_maps
    dm = new[0]
    mem = GeometryMemory(0.005)
    fuse_depth_map(mem, dm, completed_stride=2)
    snap = mem.snapshot()
    uv, _ = dm.camera.project(snap.xyz)
    ij = np.clip(np.floor(uv).astype(int), 0, [dm.camera.width - 1, dm.camera.height - 1])
    from_completed = dm.completed[ij[:, 1], ij[:, 0]]
    fill = dm.completed & (dm.confidence >= 0.3)
    assert from_completed.sum() <= fill.sum() / 4 + fill.shape[1]   # every 2nd row and column
    assert snap.conf[from_completed].mean() < snap.conf[~from_completed].mean()


def test_backend_registry():
    assert {"sweep", "sweep+complete"} <= set(DEPTH_BACKENDS)
    assert make_depth_backend("sweep").name == "sweep"
    with pytest.raises(ValueError, match="unknown depth backend"):
        make_depth_backend("nope")


def test_completed_flag_round_trips_through_a_project(tmp_path):
    from engine.project import Project

    cam = room_cameras(UntexturedRoom(), 16, 12)[0]
    rng = np.random.default_rng(1)
    completed = rng.random((12, 16)) > 0.5
    views = ViewBank([CapturedView(cam, np.zeros((12, 16, 3), np.uint8), np.ones((12, 16), np.float32),
                                   np.full((12, 16), 0.5, np.float32), completed),
                      CapturedView(Camera(cam.K, 16, 12, cam.world_from_cam, name="second"),
                                   np.zeros((12, 16, 3), np.uint8), np.ones((12, 16), np.float32))])
    Project(tmp_path / "p", name="t", views=views, memory=GeometryMemory(0.05)).save()
    loaded = Project.load(tmp_path / "p", load_memory=False)
    assert np.array_equal(loaded.views[0].completed, completed)
    assert loaded.views[1].completed is None               # older depth files have no flag


def test_relaxed_matches_keep_their_depth_as_completed_pixels():
    """Raw winners one neighbour confirms (``relaxed``) are not matched depth: they stay flagged
    completed, at a confidence below the matched pixels', but keep their own depth."""
    cam = room_cameras(UntexturedRoom(), 32, 24)[0]
    depth = np.zeros((24, 32), np.float32)
    depth[4:20, 4:8] = 2.0                                   # matched
    conf = np.where(depth > 0, 0.9, 0).astype(np.float32)
    loose = np.zeros((24, 32), np.float32)
    loose[10:14, 20:28] = 3.0                                # relaxed only
    loose_conf = np.where(loose > 0, 0.4, 0).astype(np.float32)
    out = complete_depth(cam, np.full((24, 32, 3), 128, np.uint8), depth, conf, (1.0, 4.0),
                         relaxed=(loose, loose_conf))
    kept = loose > 0
    assert np.allclose(out.depth[kept], 3.0) and out.completed[kept].all()
    assert np.allclose(out.confidence[kept], CompletionOptions().relaxed_conf * 0.4)
    assert not out.completed[depth > 0].any() and np.allclose(out.depth[depth > 0], 2.0)


def test_plane_refinement_reaches_the_minimum_of_a_shallow_cost():
    """The border cost of a flat surface is shallow: the pattern search repeats a step while it
    improves and ends within 0.3% (inverse depth at the control points) of the minimum."""
    from engine.tracking.segment_stereo import refine_plane

    ys, xs = np.meshgrid(np.arange(0, 60, 3), np.arange(0, 80, 4), indexing="ij")
    ys, xs = ys.ravel(), xs.ravel()
    C = np.array([[xs.min() + 0.5, ys.min() + 0.5, 1], [xs.max() + 0.5, ys.min() + 0.5, 1],
                  [xs.min() + 0.5, ys.max() + 0.5, 1]])
    target = np.array([0.001, -0.002, 0.5])

    class Bowl:                                              # smooth cost, minimum at ``target``
        def cost(self, planes, ys_, xs_):
            rel = (np.atleast_2d(planes) @ C.T - C @ target) / (C @ target)
            return 0.4 + 2.0 * (rel ** 2).sum(1)

    start = target * np.array([1.0, 1.0, 1.06])
    plane, cost = refine_plane(Bowl(), start, float(Bowl().cost(start, ys, xs)[0]), ys, xs,
                               np.random.default_rng(0), (0.03, 0.015, 0.008, 0.004, 0.002), repeats=4)
    assert np.abs((C @ plane - C @ target) / (C @ target)).max() < 0.003


def test_parallel_windows_complete_their_final_maps():
    """The window-parallel tracker's merger (engine.workflows.windows) holds raw sweeps without
    stereo neighbours: with the default backend it completes each final map against the most
    covisible swept keyframes; matched pixels stay as they were."""
    from types import SimpleNamespace

    from engine.tracking.dense import filtered_depth
    from engine.workflows.windows import _Merger

    scene = UntexturedRoom()
    cams = room_cameras(scene, 64, 48, spacing=0.4)[:3]
    images, _ = render_views(scene, cams, supersample=1)
    pts, _ = scene.sample_surface(1000, seed=1)
    backend = make_depth_backend("sweep", MVSOptions(max_side=64, num_neighbors=2, max_depths=32))
    list(backend.estimate([0, 1, 2], dict(enumerate(cams)), dict(enumerate(images)), pts))
    state = backend.state
    state.neighbors.clear()                     # as in the merger: sweeps arrive from the windows
    maps = [filtered_depth(state, 1)]
    merger = SimpleNamespace(dense=state, seconds={})
    done = _Merger._completed(merger, maps, None)
    for before, after in zip(maps, done):
        assert state.neighbors[after.view_id] and after.view_id not in state.neighbors[after.view_id]
        assert (after.depth > 0).all() and after.completed.any()
        matched = before.depth > 0
        np.testing.assert_array_equal(after.depth[matched & ~after.completed], before.depth[matched & ~after.completed])
        assert not (after.completed & matched).any()
    assert merger.seconds["complete_depth_s"] >= 0
