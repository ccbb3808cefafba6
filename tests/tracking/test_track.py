"""Streaming camera tracking with pycolmap on the synthetic video, and its failure cases."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.events import CamerasChanged, MemoryChanged
from engine.ingest import IngestOptions
from engine.metrics import pose_errors_after_sim3
from engine.session import run_job
from engine.workflows import Workspace
from engine.synthetic import read_demo_cameras
from engine.tracking.mvs import MVSOptions
from engine.tracking.pipeline import TrackOptions, chunk_bounds, track_job
from engine.tracking.sfm import TrackingError
from tests.conftest import make_capture
from tests.tracking.conftest import POSE_TEST_DEPTH
from tests.ingest.conftest import textured, write_video

FAST_MVS = MVSOptions(max_side=160, max_depths=48, num_neighbors=3)


def test_poses_match_ground_truth_after_sim3(tracked_demo, demo_video):
    result = tracked_demo.result                      # the shared run (tests/tracking/conftest.py)
    gt = {c.name: c for c in read_demo_cameras(demo_video)}
    assert len(result.registered) == 12 and result.unregistered == []
    est = np.stack([result.views[result.views.index_of(n)].camera.world_from_cam for n in result.registered])
    ref = np.stack([gt[n].world_from_cam for n in result.registered])
    err = pose_errors_after_sim3(est, ref)
    assert err.max_rotation_deg < 0.5, err.rotation_deg
    assert err.max_center_error < 0.01, err.center_error


def test_cameras_and_memory_grow_chunk_by_chunk(tracked_demo):
    result, events, state = tracked_demo.result, tracked_demo.events, tracked_demo.state
    cams = [e for e in events if isinstance(e, CamerasChanged)]
    mems = [e for e in events if isinstance(e, MemoryChanged)]
    assert [len(e.cameras) for e in cams[:2]] == [6, 12]                  # two chunks of 6 keyframes
    grown = [e.num_points for e in mems[:2]]
    assert grown == sorted(grown) and grown[0] > 1000
    assert mems[0].delta is not None and len(mems[0].delta.changed) == grown[0]
    assert state.memory is result.memory and len(state.views) == 12
    # geometry streams: the first chunk's points arrive before the second chunk is mapped
    # (fusing only at the end would put every MemoryChanged after the last CamerasChanged)
    first_points = next(i for i, e in enumerate(events) if isinstance(e, MemoryChanged))
    second_chunk = next(i for i, e in enumerate(events) if isinstance(e, CamerasChanged) and len(e.cameras) == 12)
    assert first_points < second_chunk
    assert result.timings["first_geometry_s"] > 0
    snap = result.memory.snapshot()
    assert (snap.segment == -1).all() and len(np.unique(snap.view)) >= 10
    assert all(v.depth is not None and v.depth.shape == v.image.shape[:2] for v in result.views)


def test_chunk_bounds():
    assert chunk_bounds(24, 8, 8) == [(0, 8), (8, 16), (16, 24)]
    assert chunk_bounds(25, 8, 8) == [(0, 8), (8, 16), (16, 25)]      # a tiny tail joins
    assert chunk_bounds(5, 10, 30) == [(0, 5)]
    # later chunks grow with the model: the global mapper's re-solves stay ~2x one solve
    assert chunk_bounds(150, 10, 40) == [(0, 10), (10, 50), (50, 100), (100, 150)]
    assert chunk_bounds(90, 10, 40, grow=False) == [(0, 10), (10, 50), (50, 90)]


@pytest.mark.slow   # tracks the demo video on its own (~20 s); test_cli.py checks every 3rd keyframe swept
def test_depth_maps_on_every_kth_keyframe_and_memory_depth_on_the_others(demo_video):
    """With max_dense_views below the keyframe count only every k-th keyframe is swept;
    every view still ends with a depth (the memory's, rendered) that matches the truth
    (to the memory's voxels: ~4% mean relative error here, 160-px sweeps, vs ~1.2% swept)."""
    from engine.metrics import depth_errors
    from engine.synthetic import make_demo_scene

    opts = TrackOptions(first_chunk=8, chunk_size=8, mvs=FAST_MVS, max_dense_views=8)
    result = run_job(track_job(demo_video, opts), Workspace())
    swept = set(np.unique(result.memory.snapshot().view).tolist())
    names = [v.name for v in result.views]
    assert {names[i] for i in swept} == {f"frame_{i:06d}" for i in range(0, 24, 3)}
    gt = {c.name: c for c in read_demo_cameras(demo_video)}
    scale = pose_errors_after_sim3(np.stack([v.camera.world_from_cam for v in result.views]),
                                   np.stack([gt[v.name].world_from_cam for v in result.views])).sim3_scale
    scene = make_demo_scene(0)
    for i, v in enumerate(result.views):
        assert v.depth is not None and v.depth.shape == v.image.shape[:2]
        if i not in swept and i % 4 == 1:
            valid = v.depth > 0
            assert valid.mean() > 0.3, (v.name, valid.mean())
            truth = scene.render(gt[v.name]).depth
            err = depth_errors(v.depth * scale, truth, valid)
            assert err.abs_rel < 0.07 and err.delta_1_25 > 0.93, (v.name, err)


def test_unrelated_photo_is_reported_and_the_rest_reconstructs(tmp_path):
    cap = make_capture(n=8, width=320, height=180, arc_deg=60)
    for v in cap.views:
        cv2.imwrite(str(tmp_path / f"{v.name}.png"), cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "zz_holiday.png"), textured(180, 320, seed=9))
    result = run_job(track_job(tmp_path, TrackOptions(mvs=FAST_MVS, depth_backend=POSE_TEST_DEPTH)), Workspace())
    assert result.unregistered == ["zz_holiday"]
    assert len(result.registered) == 8 and len(result.memory) > 1000


def test_identical_frames_fail_with_a_clear_message(tmp_path):
    path = write_video(tmp_path / "still.mp4", [textured(96, 160)] * 10)
    with pytest.raises(TrackingError, match="parallax"):
        run_job(track_job(path, TrackOptions(mvs=FAST_MVS)), Workspace())


def test_pure_rotation_fails_with_a_clear_message(tmp_path):
    from engine.geometry import se3
    from engine.synthetic import make_demo_scene

    scene = make_demo_scene(0)
    base = make_capture(n=1, width=320, height=180).cameras[0]
    frames = []
    for a in np.linspace(-12, 12, 10):
        cam = base.with_pose(base.world_from_cam @ se3.make_transform(se3.so3_exp(np.radians([0, a, 0])), np.zeros(3)))
        frames.append((np.clip(scene.render(cam).rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    path = write_video(tmp_path / "pan.mp4", frames)
    with pytest.raises(TrackingError, match="rotat|parallax"):
        run_job(track_job(path, TrackOptions(ingest=IngestOptions(stride=1), mvs=FAST_MVS)), Workspace())
