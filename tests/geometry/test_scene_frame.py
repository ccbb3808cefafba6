"""The scene frame: up estimated from cameras in any world gauge, a box around the points,
and the round trip through the project file."""
from __future__ import annotations

import numpy as np
import pytest

from engine.geometry import se3
from engine.geometry.scene_frame import (SceneFrame, estimate_scene_frame, rotation_taking, up_from_cameras)


def _orbit(n=12, up=(0.0, -1.0, 0.0)):
    """world_from_cam [n,4,4] of upright cameras circling the origin in a y-down world, then
    rotated so that the world's up is ``up``."""
    cams = []
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        eye = np.array([3 * np.cos(a), -0.8, 3 * np.sin(a)])
        cams.append(se3.look_at(eye, np.zeros(3)))
    rot = np.eye(4)
    rot[:3, :3] = rotation_taking((0.0, -1.0, 0.0), up)
    return np.stack([rot @ c for c in cams])


@pytest.mark.parametrize("up", [(0.0, -1.0, 0.0), (0.0, 0.0, 1.0), (0.3, 0.2, 0.93)])
def test_up_is_found_in_any_gauge(up):
    truth = np.asarray(up) / np.linalg.norm(up)
    assert np.allclose(up_from_cameras(_orbit(up=tuple(truth))), truth, atol=1e-6)


def test_rotation_taking_maps_a_onto_b_even_when_opposite():
    for a, b in [((0, -1, 0), (0, 0, 1)), ((0, -1, 0), (0, 1, 0)), ((1, 2, 3), (-3, 1, 0.5))]:
        r = rotation_taking(a, b)
        assert np.allclose(r @ (np.asarray(a) / np.linalg.norm(a)), np.asarray(b) / np.linalg.norm(b), atol=1e-9)
        assert np.allclose(r.T @ r, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(r), 1.0)


def test_region_of_interest_holds_the_points_and_round_trips():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (5000, 3)) * [2.0, 0.5, 1.0] + [1.0, 0.0, -2.0]
    frame = estimate_scene_frame(_orbit(), pts, percentile=0.0)
    box = np.asarray(frame.roi_world_from_box)
    local = (pts - box[:3, 3]) @ box[:3, :3]
    assert (np.abs(local) <= np.asarray(frame.roi_half_extent) + 1e-9).all()
    assert np.allclose(sorted(frame.roi_half_extent), sorted([2.0, 0.5, 1.0]), atol=0.01)
    again = SceneFrame.from_dict(frame.to_dict())
    assert np.allclose(again.up, frame.up) and np.allclose(again.roi_world_from_box, frame.roi_world_from_box)
    with pytest.raises(ValueError):
        SceneFrame.from_dict({"up": [float("nan"), 0, 0]})


def test_projects_keep_their_scene_frame(tmp_path, capture):
    from engine.project import Project, ProjectError

    frame = estimate_scene_frame(capture.views.world_from_cams(), capture.memory(0.05).snapshot().xyz)
    Project(tmp_path / "p", views=capture.views, scene_frame=frame).save()
    assert np.allclose(Project.load(tmp_path / "p").scene_frame.up, frame.up)
    meta = (tmp_path / "p" / "project.json").read_text().replace('"up": [', '"up": [1e999, ')
    (tmp_path / "p" / "project.json").write_text(meta)
    with pytest.raises(ProjectError):
        Project.load(tmp_path / "p")
