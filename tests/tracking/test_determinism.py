"""The same input gives the same cameras on the same machine (issue 14 item 5): seeded RANSAC
and mapper, one matching thread, fixed chunking."""
from __future__ import annotations

import numpy as np

from engine.session import run_job
from engine.tracking.mvs import MVSOptions
from engine.tracking.pipeline import TrackOptions, track_job
from engine.workflows import Workspace
from tests.tracking.conftest import POSE_TEST_DEPTH


def _cameras(video, options):
    result = run_job(track_job(video, options), Workspace())
    return {v.name: v.camera for v in result.views}


def test_tracking_twice_gives_the_same_cameras(tmp_path):
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    scene = make_demo_scene(0)
    video = write_demo_video(tmp_path / "tiny.mp4", scene, demo_capture_cameras(scene, 12, 192, 108))
    opts = TrackOptions(first_chunk=6, chunk_size=6, max_dense_views=4,
                        mvs=MVSOptions(max_side=96, max_depths=24, num_neighbors=2), depth_backend=POSE_TEST_DEPTH)
    first, second = _cameras(video, opts), _cameras(video, opts)
    assert len(first) == 12 and first.keys() == second.keys()
    for name, cam in first.items():      # bit-identical up to floating-point summation order
        np.testing.assert_allclose(second[name].world_from_cam, cam.world_from_cam, rtol=0, atol=1e-9)
        np.testing.assert_allclose(second[name].K, cam.K, rtol=1e-12)
