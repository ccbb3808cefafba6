"""Window-parallel tracking, the fast parts: windows and ownership cover the keyframes, a
known Sim(3) between two gauges is recovered from shared cameras, and two windows of an exact
synthetic model, one moved by a known Sim(3) and both slightly perturbed, are chained and
bundle-adjusted back onto the true cameras."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import se3
from engine.tracking.windows import (
    Sim3,
    SparseModel,
    owned_ranges,
    sim3_from_cameras,
    window_bounds,
)


def test_windows_overlap_and_ownership_partitions_the_keyframes():
    for n, size, overlap in [(150, 48, 12), (400, 60, 10), (50, 48, 12), (100, 40, 8), (61, 30, 6)]:
        bounds = window_bounds(n, size, overlap)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        for (a0, b0), (a1, b1) in zip(bounds, bounds[1:]):
            assert b0 - a1 >= overlap and a1 > a0          # consecutive windows share >= overlap
            assert b1 <= n
        assert all(b - a >= size // 2 for a, b in bounds)
        owned = owned_ranges(bounds)
        assert [i for lo, hi in owned for i in range(lo, hi)] == list(range(n))
        for (lo, hi), (a, b) in zip(owned, bounds):
            assert a <= lo <= hi <= b
    assert window_bounds(40, 48, 12) == [(0, 40)]


def _random_sim3(rng) -> Sim3:
    return Sim3(float(rng.uniform(0.3, 3.0)), se3.so3_exp(rng.normal(size=3)), rng.normal(size=3) * 2)


def _path_cameras(n: int) -> list[np.ndarray]:
    """world_from_cam [4,4] of cameras on a short, nearly straight path looking at the origin."""
    return [se3.look_at(np.array([0.05 * i - 0.5, -0.3, -3.0 + 0.01 * i]), np.zeros(3)) for i in range(n)]


def test_a_known_sim3_is_recovered_from_cameras_on_a_straight_path():
    rng = np.random.default_rng(3)
    true = _random_sim3(rng)
    src = _path_cameras(6)
    dst = [true.world_from_cam(w) for w in src]
    got = sim3_from_cameras(src, dst)
    assert got.scale == pytest.approx(true.scale, rel=1e-9)
    assert np.allclose(got.rotation, true.rotation, atol=1e-9)
    assert np.allclose(got.translation, true.translation, atol=1e-9)
    both = true.compose(got)        # composing: true after got
    x = rng.normal(size=(5, 3))
    assert np.allclose(both.points(x), true.points(got.points(x)))
    with pytest.raises(ValueError):
        sim3_from_cameras(src[:1], dst[:1])


def _window_model(names, world_from_cam, xyz, K, size, gauge: Sim3, rng, noise_px: float) -> SparseModel:
    """An exact sparse model of ``names`` (their true cameras and the points they see),
    expressed in another gauge: world -> gauge(world)."""
    cfw, obs = {}, {}
    for n in names:
        wfc = gauge.world_from_cam(world_from_cam[n])
        c = np.linalg.inv(wfc)
        cfw[n] = c[:3, :4]
        p = (xyz @ world_from_cam[n][:3, :3]) - world_from_cam[n][:3, 3] @ world_from_cam[n][:3, :3]
        uv = p @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        ok = (p[:, 2] > 0.1) & (uv[:, 0] > 0) & (uv[:, 0] < size[0]) & (uv[:, 1] > 0) & (uv[:, 1] < size[1])
        obs[n] = (uv[ok] + rng.normal(scale=noise_px, size=(ok.sum(), 2)), np.flatnonzero(ok))
    params = np.array([K[0, 0], K[0, 2], K[1, 2], 0.0])
    return SparseModel("SIMPLE_RADIAL", size[0], size[1], params, cfw, obs, gauge.points(xyz),
                       np.full((len(xyz), 3), 128, np.uint8))


def test_two_windows_in_different_gauges_are_chained_and_bundle_adjusted():
    pytest.importorskip("pycolmap")
    from engine.geometry.camera import intrinsics_from_fov
    from engine.metrics import pose_errors_after_sim3
    from engine.tracking.windows_merge import bundle_adjust

    rng = np.random.default_rng(0)
    K, size = intrinsics_from_fov(55.0, 320, 180), (320, 180)
    names = [f"frame_{i:06d}" for i in range(20)]
    true = dict(zip(names, _path_cameras(20)))
    xyz = rng.uniform([-1.5, -1.0, -0.5], [1.5, 1.0, 1.5], size=(400, 3))
    g1 = _random_sim3(rng)
    w0 = _window_model(names[:12], true, xyz, K, size, Sim3(), rng, 0.3)
    w1 = _window_model(names[8:], true, xyz, K, size, g1, rng, 0.3)
    shared = names[8:12]
    chain1 = sim3_from_cameras([np.linalg.inv(np.vstack([w1.cam_from_world[n], [0, 0, 0, 1]])) for n in shared],
                               [true[n] for n in shared])
    assert chain1.scale == pytest.approx(1 / g1.scale, rel=1e-6)
    start = {}
    for n in names:        # the chain's poses, each a little off (as a window's own solve would be)
        wfc = true[n].copy()
        wfc[:3, :3] = wfc[:3, :3] @ se3.so3_exp(rng.normal(scale=0.004, size=3))
        wfc[:3, 3] += rng.normal(scale=0.01, size=3)
        start[n] = wfc
    refined = bundle_adjust([w0, w1], [Sim3(), chain1], start, num_threads=1)
    assert refined.error_px[1] < refined.error_px[0] and refined.error_px[1] < 0.5
    est = np.stack([refined.world_from_cam[n] for n in names])
    ref = np.stack([true[n] for n in names])
    before = pose_errors_after_sim3(np.stack([start[n] for n in names]), ref)
    after = pose_errors_after_sim3(est, ref)
    assert after.max_rotation_deg < 0.25 and after.max_rotation_deg < before.max_rotation_deg / 2
    assert after.median_center_error < before.median_center_error / 2
    assert np.median(np.linalg.norm(est[:, :3, 3] - ref[:, :3, 3], axis=1)) < 0.02    # the gauge of the chain
    assert refined.K[0, 0] == pytest.approx(K[0, 0], rel=0.02)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    from benchmarks.bench_windows import long_clip

    return long_clip(300, 200.0, tmp_path_factory.mktemp("long clip"), processes=2)


@pytest.mark.slow   # renders a 300-frame clip and tracks it twice (~3-4 min on 2 quiet cores)
def test_window_parallel_tracking_matches_the_single_process_run(long_clip):
    ray = pytest.importorskip("ray")
    from benchmarks.bench_windows import pose_comparison
    from engine.events import CamerasChanged, MemoryChanged
    from engine.ingest import IngestOptions
    from engine.session import run_job
    from engine.synthetic import read_demo_cameras
    from engine.tracking.pipeline import TrackOptions
    from engine.tracking.windows import WindowOptions
    from engine.workflows import Workspace
    from engine.workflows.batch import start_ray
    from engine.workflows.scene import open_capture_job
    from engine.workflows.windows import track_factory

    options = TrackOptions(ingest=IngestOptions(max_keyframes=48), device="cpu")
    single = Workspace()
    run_job(open_capture_job(long_clip, options), single)
    start_ray(num_cpus=2)
    try:
        events, windowed = [], Workspace()
        loaded = run_job(open_capture_job(long_clip, options, track=track_factory(WindowOptions(20, 6))), windowed,
                         on_event=events.append)
    finally:
        ray.shutdown()
    assert loaded.num_views == len(single.project.views) == 48
    a = {v.name: v.camera.world_from_cam for v in single.project.views}
    b = {v.name: v.camera.world_from_cam for v in windowed.project.views}
    between = pose_comparison(b, a)
    assert between["n"] == 48 and between["rot_max_deg"] < 0.5 and between["ctr_max_pct"] < 0.5, between
    truth = {c.name: c.world_from_cam for c in read_demo_cameras(long_clip)}
    assert pose_comparison(b, truth)["rot_max_deg"] < 0.5
    # the memory streamed in window by window: cameras of 3 windows, points before the last one
    counts = [len(e.cameras) for e in events if isinstance(e, CamerasChanged)]
    assert counts[:3] == sorted(set(counts[:3])) and counts[0] < 48 and counts[-1] == 48
    first_points = next(i for i, e in enumerate(events) if isinstance(e, MemoryChanged) and e.num_points > 0)
    third_window = next(i for i, e in enumerate(events) if isinstance(e, CamerasChanged) and len(e.cameras) == 48)
    assert first_points < third_window
    assert len(windowed.memory) > 0.5 * len(single.memory)
    assert all(v.depth is not None for v in windowed.project.views)
    coverage = {k: np.mean([(v.depth > 0).mean() for v in ws.project.views]) for k, ws in
                (("single", single), ("windows", windowed))}
    assert coverage["windows"] > 0.8 * coverage["single"], coverage


def test_track_refuses_windows_that_cannot_be_chained(tmp_path, capsys):
    from engine.cli import main

    code = main(["track", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "out"), "--parallel-windows",
                 "--window-size", "10", "--window-overlap", "8"])
    assert code != 0 and "overlap" in capsys.readouterr().err
