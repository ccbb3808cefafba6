"""Qt-free studio models: the growing point buffer, path edits, playback, segments."""
from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pytest

from studio.models import Playback, PointBuffer, ProjectView, SegmentsModel
from studio.models import trajectory_edits as edits


def _snap(uids, offset=0.0, seg=-1):
    n = len(uids)
    return NS(xyz=np.full((n, 3), offset, np.float32) + np.arange(n)[:, None], rgb=np.ones((n, 3), np.float32),
              conf=np.ones(n, np.float32), segment=np.full(n, seg, np.int32), uid=np.asarray(uids, np.int64))


def test_point_buffer_appends_updates_and_removes_by_uid():
    buf = PointBuffer(capacity=4)
    upd, app, realloc = buf.apply(_snap([10, 11, 12]))
    assert (upd, app, realloc) == (None, (0, 3), False)
    upd, app, realloc = buf.apply(_snap([11, 20, 21], offset=5.0))
    assert upd == (1, 2) and app == (3, 5) and realloc          # capacity 4 -> 8
    assert buf.capacity == 8 and buf.size == 5
    assert np.allclose(buf.xyz[1], 5.0)                          # uid 11 refined in place
    upd, app, _ = buf.apply(_snap([]), removed_uids=[10, 21])
    assert upd == (0, 5) and app is None
    assert buf.num_alive == 3 and buf.alive[0] == 0 and buf.alive[4] == 0


def test_project_view_full_delta_resets_points():
    pv = ProjectView()
    resets = []
    pv.points_reset.connect(lambda: resets.append(1))
    pv.apply_delta(NS(since_version=0, version=1, changed=_snap([1, 2]), removed_uids=np.zeros(0)))
    pv.apply_delta(NS(since_version=1, version=2, changed=_snap([3]), removed_uids=np.zeros(0)))
    assert pv.points.size == 3
    pv.apply_delta(NS(since_version=0, version=5, changed=_snap([7]), removed_uids=np.zeros(0)))
    assert pv.points.size == 1 and resets


def _pose(x):
    w = np.eye(4)
    w[0, 3] = x
    return w


def test_path_edits_add_move_remove_and_validate_times():
    s = edits.TrajectoryState()
    for x in (0.0, 1.0, 2.0):
        s = edits.add_keyframe(s, _pose(x), 50.0)
    assert [k.time for k in s.keyframes] == [0.0, 1.0, 2.0]
    traj = s.trajectory()
    assert traj is not None and len(traj.sample()) == traj.num_frames
    moved = edits.translate_keyframes(s, [1], (0.0, 0.5, 0.0))
    assert np.allclose(moved.keyframes[1].world_from_cam[:3, 3], [1.0, 0.5, 0.0])
    assert np.allclose(s.keyframes[1].world_from_cam[:3, 3], [1.0, 0.0, 0.0])   # immutable
    with pytest.raises(ValueError, match="between its neighbours"):
        edits.set_keyframe(s, 1, time=5.0)
    assert len(edits.remove_keyframes(s, [0, 2]).keyframes) == 1
    assert edits.remove_keyframes(s, [0, 2]).trajectory() is None


def test_playback_clamps_and_wraps():
    pb = Playback()
    pb.set_num_frames(10)
    pb.set_frame(42)
    assert pb.frame == 9
    pb.advance()
    assert pb.frame == 0
    pb.step(-1)
    assert pb.frame == 0


def test_segments_plan_status_and_frames():
    sm = SegmentsModel()
    sm.plan(25, 10)
    assert [(s.frame_start, s.frame_stop) for s in sm.segments.values()] == [(0, 10), (10, 20), (20, 25)]
    sm.set_status(0, "running")
    sm.mark_unfinished("cancelled")
    assert sm.segments[0].status == "cancelled" and sm.segments[1].status == "pending"
    sm.add_frame(12, np.zeros((9, 16, 3), np.uint8), np.zeros((4, 7, 3), np.uint8))
    assert sm.segment_of_frame(12) == 1
    sm.clear_segment_frames(1)
    assert 12 not in sm.frames


def test_a_path_edit_keeps_only_the_segments_it_did_not_move():
    from studio.models.segments import unchanged_frames

    s = edits.TrajectoryState()
    for x in range(6):
        s = edits.add_keyframe(s, _pose(float(x)), 50.0)
    before = s.trajectory().sample()
    sm = SegmentsModel()
    sm.plan(len(before), 5)
    for f in range(len(before)):
        sm.add_frame(f, np.full((9, 16, 3), f, np.uint8), np.full((4, 7, 3), f, np.uint8))
    for seg in list(sm.segments.values()):
        sm.set_status(seg.segment_id, "done")
    moved = edits.translate_keyframes(s, [5], (0.0, 0.5, 0.0))      # the last keyframe: the end moves
    after = moved.trajectory().sample()
    same = unchanged_frames(before, after)
    assert 0 in same and len(before) - 1 not in same
    sm.plan(len(after), 5, keep_frames=same)
    status = [sm.segments[i].status for i in sorted(sm.segments)]
    assert status[0] == "done" and status[-1] == "pending", status
    for seg in sm.segments.values():
        span = range(seg.frame_start, seg.frame_stop)
        assert all((f in sm.thumbs) == (seg.status == "done") for f in span)
    assert sm.thumbs[0][0, 0, 0] == 0
    sm.plan(len(after), 4, keep_frames=set(range(len(after))))         # new boundaries: nothing kept
    assert not sm.frames and {s.status for s in sm.segments.values()} == {"pending"}


def test_nearest_photo_is_nearest_by_pose_not_by_position_alone():
    from engine.workflows.preview import nearest_view_index

    def cam(x, yaw_deg):
        w = np.eye(4)
        a = np.radians(yaw_deg)
        w[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        w[0, 3] = x
        return w

    captured = np.stack([cam(0.0, 180.0), cam(0.3, 0.0), cam(2.0, 0.0)])
    assert nearest_view_index(cam(0.0, 0.0), captured) == 1     # the one at the same spot looks away
    assert nearest_view_index(cam(1.9, 0.0), captured) == 2
    assert nearest_view_index(cam(0.0, 170.0), captured) == 0
    assert nearest_view_index(cam(0.0, 0.0), np.zeros((0, 4, 4))) == -1


def test_point_buffer_display_budget_keeps_a_stable_subset():
    """Over its budget the buffer halves the shown share of uids and compacts its rows; later
    deltas follow the same share, and refined points still update in place."""
    from types import SimpleNamespace

    import numpy as np

    from studio.models.project_view import PointBuffer

    def snap(uids):
        n = len(uids)
        return SimpleNamespace(xyz=np.random.default_rng(0).random((n, 3)), rgb=np.ones((n, 3)),
                               conf=np.ones(n), segment=-np.ones(n), uid=np.asarray(uids))

    buf = PointBuffer(budget=1000)
    buf.apply(snap(np.arange(1500)))
    assert buf.num_alive <= 1000 and buf.keep_fraction == 0.5 and buf.size == buf.num_alive
    shown_before = set(np.nonzero(buf._row_of_uid >= 0)[0])
    buf.apply(snap(np.arange(1500, 1800)))
    shown_after = set(np.nonzero(buf._row_of_uid >= 0)[0])
    assert shown_before <= shown_after and buf.num_alive <= 1000
    uid = min(shown_before)
    moved = snap([uid])
    moved.xyz[:] = 7.0
    buf.apply(moved)
    assert np.allclose(buf.xyz[buf._row_of_uid[uid]], 7.0)
