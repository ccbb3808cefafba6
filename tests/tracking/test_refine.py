"""Render-and-match pose refinement pulls a perturbed synthetic camera back to the truth."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import se3
from engine.tracking.refine import RefineOptions, refine_pose
from tests.conftest import make_capture


@pytest.fixture(scope="module")
def cap():
    return make_capture(n=12, width=320, height=180)


def _errors(cam, gt):
    return (float(se3.rotation_angle_deg(cam.world_from_cam[:3, :3], gt.world_from_cam[:3, :3])),
            float(np.linalg.norm(cam.center - gt.center)))


def test_perturbed_camera_is_pulled_back(cap):
    memory = cap.memory(0.01)
    gt = cap.cameras[5]
    delta = se3.make_transform(se3.so3_exp(np.radians([1.5, -1.0, 0.8])), np.array([0.06, -0.04, 0.05]))
    start = gt.with_pose(gt.world_from_cam @ delta)
    res = refine_pose(memory, start, cap.views[5].image)
    rot0, pos0 = _errors(start, gt)
    rot1, pos1 = _errors(res.camera, gt)
    assert res.accepted and res.num_inliers >= 50
    assert res.error_after_px < res.error_before_px / 5
    assert rot1 < rot0 / 4 and rot1 < 0.5
    assert pos1 < pos0 / 2 and pos1 < 0.03            # 3 cm at ~3 m


def test_a_photo_that_does_not_match_is_rejected(cap):
    memory = cap.memory(0.02)
    noise = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    res = refine_pose(memory, cap.cameras[5], noise, RefineOptions(min_inliers=20))
    assert not res.accepted
    np.testing.assert_allclose(res.camera.world_from_cam, cap.cameras[5].world_from_cam)
