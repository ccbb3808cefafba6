"""The memory must not collapse silently (issue 14 item 3): keyframes whose depth stops
agreeing with their neighbours' on the final cameras are named in a warning."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import se3
from engine.tracking.depth_backend import make_depth_backend
from engine.tracking.depth_check import DEPTH_WARNING, depth_warnings
from engine.tracking.mvs import MVSOptions
from tests.conftest import make_capture


@pytest.mark.slow   # four plane sweeps, three times filtered (~20 s on an idle 2-core machine, 65 s loaded)
def test_a_keyframe_whose_final_camera_is_wrong_is_named():
    cap = make_capture(n=8, width=160, height=90)
    cams = {i: c for i, c in enumerate(cap.cameras)}
    imgs = {i: v.image for i, v in enumerate(cap.views)}
    names = {i: c.name for i, c in cams.items()}
    pts, _ = cap.scene.sample_surface(2000, seed=1)
    backend = make_depth_backend("sweep", MVSOptions(max_side=160, max_depths=32, num_neighbors=3), "cpu")
    refs = [1, 3, 4, 6]
    provisional = {names[dm.view_id]: float(dm.matched().mean()) for dm in backend.estimate(refs, cams, imgs, pts)}
    assert min(provisional.values()) > 0.05

    final = {names[dm.view_id]: float(dm.matched().mean()) for dm in backend.final_maps()}
    assert depth_warnings(final, provisional) == []              # right cameras: nothing to say

    moved = cams[4].world_from_cam.copy()                         # a wrong final camera: 25 degrees off
    moved[:3, :3] = moved[:3, :3] @ se3.so3_exp(np.radians([0.0, 25.0, 0.0]))
    backend.update_poses({4: cams[4].with_pose(moved)})
    final = {names[dm.view_id]: float(dm.matched().mean()) for dm in backend.final_maps()}
    warnings = depth_warnings(final, provisional)
    assert len(warnings) >= 1 and warnings[0].startswith(DEPTH_WARNING)
    assert names[4] in warnings[0] and names[1] not in warnings[0] and names[6] not in warnings[0]


def test_collapse_of_every_map_is_reported():
    provisional = {f"f{i}": 0.3 for i in range(6)}
    final = {f"f{i}": 0.04 for i in range(6)}
    warnings = depth_warnings(final, provisional)
    assert any("overall" in w and "4.0%" in w and "30.0%" in w for w in warnings), warnings
    # blank views that never had depth are not reported
    assert depth_warnings({"a": 0.0, "b": 0.0}, {"a": 0.0, "b": 0.0}) == []
