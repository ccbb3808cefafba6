"""Wide baselines (issue 14 item 6): when the first attempt on a photo set finds no model,
leaves most photos out or is weak, a second attempt with wide-baseline settings runs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.tracking.sfm import SfmOptions, relaxed_options


def test_relaxed_options_ask_for_what_wide_baselines_need():
    base = SfmOptions()
    r = relaxed_options(base)
    assert r.relaxed and not base.relaxed
    assert r.max_num_features >= 4 * base.max_num_features and r.max_image_size >= 1600
    assert r.mapper == "incremental" and r.matching == "exhaustive" and r.seed == base.seed


@pytest.mark.slow   # 8 photos 640x360, SIFT twice (the second with affine shapes): ~1-2 min on 2 cores
def test_eight_photos_forty_degrees_apart_are_placed(tmp_path):
    from engine.metrics import pose_errors_after_sim3
    from engine.session import run_job
    from engine.synthetic import _render_rgb8, demo_capture_cameras, make_demo_scene
    from engine.tracking.mvs import MVSOptions
    from engine.tracking.pipeline import TrackOptions, track_job
    from engine.workflows import Workspace

    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, 8, 640, 360, arc_deg=280.0)
    folder = tmp_path / "wide"
    folder.mkdir()
    for c in cams:
        cv2.imwrite(str(folder / f"{c.name}.png"), cv2.cvtColor(_render_rgb8(scene, c), cv2.COLOR_RGB2BGR))
    opts = TrackOptions(mvs=MVSOptions(max_side=160, max_depths=32, num_neighbors=2))
    result = run_job(track_job(folder, opts), Workspace())
    assert sorted(result.registered) == [c.name for c in cams]
    est = np.stack([result.views[result.views.index_of(c.name)].camera.world_from_cam for c in cams])
    err = pose_errors_after_sim3(est, np.stack([c.world_from_cam for c in cams]))
    assert err.max_rotation_deg < 2.0, err.rotation_deg       # the first attempt: 129 degrees off
    assert any("wide-baseline settings" in w for w in result.warnings), result.warnings
