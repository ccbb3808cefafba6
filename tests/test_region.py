"""The region of interest as the studio edits it (engine.workflows.region): set, switch off, fit
to the memory, saved in project.json; and generation that fuses back only inside it."""
from __future__ import annotations

import numpy as np
import pytest

from engine.export.roi import export_roi
from engine.geometry import se3
from engine.geometry.scene_frame import SceneFrame, box_contains, fit_region
from engine.project import Project
from engine.session import run_job
from engine.trajectory import Keyframe, Trajectory
from engine.workflows import GenerateOptions, Workspace, generate_job, save_project
from engine.workflows.region import fit_region_request, set_region_request


def _yaw(camera, degrees) -> np.ndarray:
    w = camera.world_from_cam.copy()
    w[:3, :3] = w[:3, :3] @ se3.so3_exp([0.0, np.radians(degrees), 0.0])
    return w


def _workspace(tmp_path, capture) -> Workspace:
    base = capture.cameras[0]                    # a path looking past the captured region: it invents
    traj = Trajectory((Keyframe(_yaw(base, 50), base.fov_y_deg, 0.0), Keyframe(_yaw(base, 58), base.fov_y_deg, 1.0)),
                      fps=3, width=base.width, height=base.height)
    project = Project(tmp_path / "proj", name="t", views=capture.views, memory=capture.memory(0.05),
                      trajectories={"path": traj})
    return Workspace(project=project)


def test_fit_is_robust_to_stray_points_and_follows_the_scene_up():
    rng = np.random.default_rng(0)
    up = np.array([0.0, 0.0, 1.0])                                 # a z-up world
    pts = rng.uniform([-2, -1, 0], [2, 1, 0.5], size=(5000, 3))
    pts[:20] = 100.0                                              # a few strays far away
    world_from_box, half = fit_region(pts, up, percentile=1.0)
    assert np.allclose(world_from_box[:3, :3] @ [0, -1, 0], up)  # box -y is the scene's up
    assert np.allclose(sorted(half), sorted([2.0, 1.0, 0.25]), atol=0.08)
    inside = box_contains(world_from_box, half, pts).mean()
    assert 0.9 < inside < 0.99


def test_set_switch_off_fit_and_save(tmp_path, capture):
    ws = _workspace(tmp_path, capture)
    box = np.eye(4)
    box[:3, 3] = [0.1, 0.2, 3.0]
    ans = set_region_request(box, [0.5, 0.5, 0.5], enabled=False)(ws)
    assert ans.enabled is False and np.allclose(ans.world_from_box, box)
    assert export_roi(ws.project, None) is None                    # switched off: exports keep all
    save_project(ws)
    back = Project.load(tmp_path / "proj", device="cpu").scene_frame
    assert back.roi_enabled is False and np.allclose(back.roi_world_from_box, box)
    fitted = fit_region_request()(ws)
    xyz = ws.memory.snapshot().xyz
    inside = box_contains(fitted.world_from_box, fitted.half_extent, xyz).mean()
    assert fitted.enabled and 0.9 < inside < 0.995, inside
    assert export_roi(ws.project, None) is not None
    assert set_region_request(None)(ws).world_from_box is None and ws.project.scene_frame.roi_world_from_box is None
    with pytest.raises(ValueError, match="not a rotation"):
        set_region_request(np.diag([2.0, 1, 1, 1]), [1, 1, 1])
    with pytest.raises(ValueError, match="needs a scene"):
        fit_region_request()(Workspace())


def test_generation_fuses_only_inside_the_region(tmp_path, capture):
    ws = _workspace(tmp_path, capture)
    with pytest.raises(ValueError, match="no region of interest"):
        run_job(generate_job("path", options=GenerateOptions(segment_length=2, fuse_in_roi=True)), ws)
    assert not ws.project.segments                                   # refused before any work
    free = _workspace(tmp_path / "free", capture)
    run_job(generate_job("path", options=GenerateOptions(segment_length=2)), free)
    added = free.memory.snapshot()
    added = added.xyz[added.segment >= 0]
    assert len(added) > 50
    # a box holding about half of what the free run added: the cropped run adds only inside it
    center = np.median(added, axis=0)
    half = np.full(3, 0.6 * np.abs(added - center).max())
    box = np.eye(4)
    box[:3, 3] = center
    half[0] = max(np.median(np.abs(added[:, 0] - center[0])), 1e-3)
    ws.project.scene_frame = SceneFrame().with_roi(box, half)
    inside_free = box_contains(box, half, added)
    assert 0.2 < inside_free.mean() < 0.8
    run_job(generate_job("path", options=GenerateOptions(segment_length=2, fuse_in_roi=True)), ws)
    snap = ws.memory.snapshot()
    generated = snap.xyz[snap.segment >= 0]
    assert len(generated) > 0
    assert box_contains(box, half * (1 + 1e-4) + 1e-5, generated).all()   # float32 storage
