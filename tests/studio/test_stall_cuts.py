"""The demo-load stall cuts (issue 11): memory deltas applied in parts, and shader programs
composed before the first geometry arrives."""
from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np

from studio.models import ProjectView
from studio.models.project_view import split_delta


def _delta(since, version, uids, removed=(), seed=0):
    rng = np.random.default_rng(seed)
    n = len(uids)
    snap = NS(xyz=rng.uniform(-1, 1, (n, 3)).astype(np.float32), rgb=rng.uniform(0, 1, (n, 3)).astype(np.float32),
              conf=rng.uniform(0, 5, n).astype(np.float32), segment=np.full(n, -1, np.int32),
              uid=np.asarray(uids, np.int64), voxel_size=0.05)
    return NS(since_version=since, version=version, changed=snap, removed_uids=np.asarray(removed, np.int64))


def _live(pv) -> dict:
    b = pv.points
    uids = np.nonzero(b._row_of_uid >= 0)[0]
    rows = b._row_of_uid[uids]
    live = b.alive[rows] > 0
    uids, rows = uids[live], rows[live]
    return dict(zip(uids.tolist(), zip(map(tuple, b.xyz[rows].tolist()), map(tuple, b.rgb[rows].tolist()),
                                       b.conf[rows].tolist())))


def test_a_delta_applied_in_parts_leaves_the_same_points_as_applied_whole():
    deltas = [_delta(0, 1, range(5000), seed=1),
              _delta(1, 2, list(range(2000, 3000)) + list(range(5000, 9000)), removed=range(100, 400), seed=2),
              _delta(0, 3, range(20000, 26000), seed=3)]          # a new scene: the buffer is replaced
    resets: list = []
    for budget in (None, 6000):                                    # (6000: thinned on the way)
        whole, parts = ProjectView(), ProjectView()
        whole.points.budget = parts.points.budget = budget
        resets.clear()
        parts.points_reset.connect(lambda: resets.append(1))
        for d in deltas:
            whole.apply_delta(d)
            pieces = split_delta(d, 1024)
            assert len(pieces) == -(-len(d.changed.uid) // 1024)
            assert [p.since_version for p in pieces[1:]] == [None] * (len(pieces) - 1)
            for p in pieces:
                parts.apply_delta(p)
            if budget is None:
                assert _live(parts) == _live(whole)
            else:   # the same share of uids is shown (thinning may compact rows in another order)
                assert parts.points.keep_fraction == whole.points.keep_fraction
                assert set(_live(parts)) == set(_live(whole))
            assert parts.memory_version == d.version and parts.voxel_size == 0.05
        assert resets                                              # the new scene cleared the buffer
        assert min(_live(parts)) >= 20000
    small = _delta(1, 2, range(10))
    assert split_delta(small, 1024) == [small]


def test_visual_programs_are_built_before_the_first_scene_and_path(qtbot):
    from vispy.visuals.shaders.program import ModularProgram

    from engine.geometry.camera import Camera, intrinsics_from_fov
    from studio.viewport.viewport import Viewport3D

    vp = Viewport3D()
    vp.resize(320, 240)
    qtbot.addWidget(vp)
    assert vp.prebuild_programs() >= 8             # points, frusta, path, keyframes, gizmo, region ...
    builds = []
    original = ModularProgram._build

    def counted(self):
        builds.append(self)
        original(self)

    ModularProgram._build = counted
    try:
        pv = ProjectView()
        from studio.viewport.adapters import PointsAdapter

        adapter = PointsAdapter(pv, vp.points)
        pv.apply_delta(_delta(0, 1, range(3000)))
        adapter.flush()
        cams = []
        for x in np.linspace(-1, 1, 6):
            w = np.eye(4)
            w[:3, 3] = (x, 0.0, -3.0)
            cams.append(Camera(intrinsics_from_fov(50.0, 64, 48), 64, 48, w))
        vp.set_captured_cameras(cams[:3])
        vp.set_path(cams, np.linspace(0, 1, len(cams)), np.stack([c.world_from_cam[:3, 3] for c in cams[::2]]), (1,),
                    np.stack([c.world_from_cam for c in cams[::2]]))
        vp.set_playhead_camera(cams[2])
        vp.set_selected_view(0)
        vp.look_from(np.array([0.0, -1.0, -6.0]), np.zeros(3))
        image = vp.render_image()                 # every visual drawn: none composes its program now
    finally:
        ModularProgram._build = original
    assert image[..., :3].std() > 1.0             # something was drawn
    assert builds == []
