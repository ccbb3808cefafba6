"""A keyframe whose solved pose steps impossibly far from its neighbours' is never kept as
solved (issue 14 item 2): it is re-registered from its sequential neighbours' points (PnP),
or left out and reported."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.geometry import se3
from engine.tracking.consistency import rotation_angle_deg
from engine.tracking.pipeline import TrackOptions, _Tracker, split_pieces


def _flip(wfc: np.ndarray) -> np.ndarray:
    """A pose turned 170 degrees about its own vertical axis and moved a few steps away."""
    out = wfc.copy()
    out[:3, :3] = wfc[:3, :3] @ se3.so3_exp(np.array([0.0, np.radians(170.0), 0.0]))
    out[:3, 3] += np.array([0.5, 0.0, -0.3])
    return out


def _center_error(a: np.ndarray, b: np.ndarray, result) -> float:
    """Center distance over the model's camera extent."""
    c = np.stack([cam.center for cam in result.cameras.values()])
    return float(np.linalg.norm(a[:3, 3] - b[:3, 3]) / np.linalg.norm(c.max(0) - c.min(0)))


def test_pose_from_neighbours_matches_the_mapped_pose(demo_model):
    ws, result, frames = demo_model
    assert len(result.registered) == len(frames)
    names = [f.name for f in frames]
    k = len(names) // 2
    wfc = ws.pose_from_neighbours(names[k], names[k - 2:k] + names[k + 1:k + 3], exclude={names[k]})
    truth = result.cameras[names[k]].world_from_cam
    assert wfc is not None
    assert rotation_angle_deg(wfc[:3, :3].T @ truth[:3, :3]) < 0.3
    assert _center_error(wfc, truth, result) < 0.01
    # no neighbour that shares matches with it: nothing to place it from
    assert ws.pose_from_neighbours(names[k], [], exclude={names[k]}) is None


def test_a_flipped_keyframe_is_re_registered_from_its_neighbours(demo_model):
    ws, result, frames = demo_model
    names = [f.name for f in frames]
    k = 7
    truth = result.cameras[names[k]].world_from_cam
    flipped = replace(result, cameras={**result.cameras, names[k]: result.cameras[names[k]].with_pose(_flip(truth))})
    tracker = _Tracker(TrackOptions(), is_video=True)
    tracker.backend.close()
    tracker.backend = type("B", (), {"pose_from_neighbours": staticmethod(ws.pose_from_neighbours)})()
    tracker.order = {n: i for i, n in enumerate(names)}
    out = tracker.drop_impossible(flipped)
    assert names[k] in out.registered and len(out.registered) == len(names)
    placed = out.cameras[names[k]].world_from_cam
    assert rotation_angle_deg(placed[:3, :3].T @ truth[:3, :3]) < 0.3
    assert _center_error(placed, truth, result) < 0.01
    assert names[k] in tracker.replaced and not tracker.impossible

    # a backend that cannot place it: the flipped keyframe is left out and reported, never kept
    tracker = _Tracker(TrackOptions(), is_video=True)
    tracker.order = {n: i for i, n in enumerate(names)}
    tracker.backend.close()
    tracker.backend = object()
    out = tracker.drop_impossible(flipped)
    assert names[k] not in out.registered and names[k] in out.unregistered
    assert "impossibly far" in tracker.impossible[names[k]]


def test_split_pieces_are_long_runs_of_left_out_keyframes():
    names = [f"f{i:02d}" for i in range(20)]
    kept = set(names[:12]) - {"f05"}
    steps = TrackOptions().steps
    assert split_pieces(names, kept, steps) == [names[12:]]      # a lone hole is not a piece
    assert split_pieces(names, set(names), steps) == []
