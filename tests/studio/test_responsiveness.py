"""GUI responsiveness behaviours (issue 11): paced viewport redraws, the preview before the 3D
redraw, and the local preview render while a job keeps the engine busy."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PySide6.QtGui import QImage

from tests.studio.conftest import load_demo, non_background_fraction, wait_idle



def _delta(since: int, version: int, xyz: np.ndarray, first_uid: int, voxel: float = 0.05):
    from engine.memory.store import MemoryDelta, MemorySnapshot

    n = len(xyz)
    rgb = np.tile(np.float32([[0.9, 0.5, 0.2]]), (n, 1))
    snap = MemorySnapshot(xyz=xyz.astype(np.float32), rgb=rgb, conf=np.ones(n, np.float32),
                          normal=np.zeros((n, 3), np.float32), view=np.zeros(n, np.int32),
                          segment=np.full(n, -1, np.int32), uid=np.arange(first_uid, first_uid + n, dtype=np.int64),
                          version=version, voxel_size=voxel)
    return MemoryDelta(since, version, snap, np.zeros(0, np.int64))


@pytest.fixture
def viewport(qtbot):
    from studio.models import ProjectView
    from studio.viewport.adapters import PointsAdapter
    from studio.viewport.viewport import Viewport3D

    vp = Viewport3D()
    vp.resize(480, 320)
    qtbot.addWidget(vp)
    vp.show()
    qtbot.waitExposed(vp)
    pv = ProjectView()
    vp.adapter = PointsAdapter(pv, vp.points)
    vp.look_from(np.array([0.0, -0.5, -4.0]), np.zeros(3))
    qtbot.waitUntil(lambda: vp.canvas.drawn > 0 and not vp.canvas.pending)
    return vp, pv


def test_a_burst_of_memory_updates_draws_a_few_paced_frames(qtbot, viewport):
    vp, pv = viewport
    canvas = vp.canvas
    rng = np.random.default_rng(0)
    drawn0, requested0 = canvas.drawn, canvas.requested
    t0 = time.perf_counter()
    for i in range(40):                       # 40 deltas of 500 points, as a demo load streams them
        pv.apply_delta(_delta(i, i + 1, rng.uniform(-1, 1, (500, 3)), 500 * i))
        qtbot.wait(5)
    burst_s = time.perf_counter() - t0
    during = canvas.drawn - drawn0
    assert canvas.requested - requested0 >= 40          # every delta asked for a redraw ...
    # ... but frames are at least min_gap_s apart: a handful, not one per delta
    assert during <= burst_s / canvas.min_gap_s + 2, (during, burst_s)
    assert during < 40
    # the last update is drawn once the pacing allows, and the frame shows the points
    qtbot.waitUntil(lambda: not canvas.pending, timeout=5000)
    assert canvas.drawn > drawn0
    shown = vp.canvas.native.grabFramebuffer()
    shown = shown.convertToFormat(shown.Format.Format_RGB888)
    h, w = shown.height(), shown.width()
    img = np.frombuffer(shown.constBits(), np.uint8).reshape(h, shown.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)
    assert non_background_fraction(img) > 0.02


def test_a_hold_defers_the_next_frame_until_released(qtbot, viewport):
    vp, _pv = viewport
    canvas = vp.canvas
    qtbot.wait(int(canvas.min_gap_s * 1000) + 50)      # pacing would draw at once now
    drawn = canvas.drawn
    canvas.hold(10.0)
    canvas.update()
    qtbot.wait(300)
    assert canvas.drawn == drawn and canvas.pending     # held: nothing drawn, still asked for
    canvas.release()
    qtbot.waitUntil(lambda: canvas.drawn > drawn, timeout=3000)
    assert not canvas.pending


def test_local_preview_is_the_engine_render_and_serves_the_playhead_while_a_job_runs(qtbot, make_window):
    from engine.workflows import preview_render

    win = make_window()
    win.ctl.project.points.budget = 3000      # the viewport shows a share of the points ...
    load_demo(qtbot, win)
    ctl, local = win.ctl, win.ctl.local_preview
    assert ctl.project.points.keep_fraction < 1.0
    qtbot.waitUntil(local.complete, timeout=10000)   # ... the preview's mirror holds them all
    cam = ctl.path.cameras()[5]
    engine_color, engine_cov = win.bridge.session.call(preview_render(cam))
    got = []
    ctl.previewReady.connect(lambda rid, c, v: got.append((rid, c, v)))
    local.rendered.connect(lambda rid, c, v: got.append((rid, c, v)))
    local.request(cam)
    qtbot.waitUntil(lambda: bool(got), timeout=10000)
    _rid, color, cov = got.pop()
    assert color.shape == engine_color.shape
    assert abs(cov - engine_cov) < 0.002
    assert np.abs(color.astype(int) - engine_color.astype(int)).mean() < 1.5

    # a job holds the engine thread: the playhead preview comes from the studio's mirror
    release = __import__("threading").Event()
    ctl.submit("busy", lambda ws, cancel: release.wait(20))
    qtbot.waitUntil(lambda: ctl.bridge.job_running)
    try:
        ctl.playback.set_frame(12)
        qtbot.waitUntil(lambda: bool(got), timeout=10000)
        assert got[-1][0] < 0 and not release.is_set()   # a local request id, while the job still runs
        assert win.preview.source == "memory" and win.preview.shown is got[-1][1]
    finally:
        release.set()
    wait_idle(qtbot, win)
    ctl.playback.set_frame(20)                           # the engine is idle again: it renders
    wait_idle(qtbot, win)
    assert got[-1][0] > 0


def _shown(vp) -> np.ndarray:
    shown = vp.canvas.native.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)
    h, w = shown.height(), shown.width()
    return np.frombuffer(shown.constBits(), np.uint8).reshape(h, shown.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)


@pytest.mark.skipif(os.environ.get("ANYRECON_GL_THREAD") == "0", reason="render thread switched off")
def test_frames_are_drawn_on_the_render_thread_and_render_borrows_the_context(qtbot, viewport):
    vp, pv = viewport
    backend = vp.canvas.native
    assert backend.threaded                     # after the first frame the GL work left the GUI thread
    before = non_background_fraction(_shown(vp))
    rng = np.random.default_rng(1)
    pv.apply_delta(_delta(0, 1, rng.uniform(-1, 1, (4000, 3)), 0))
    drawn = vp.canvas.drawn
    qtbot.waitUntil(lambda: vp.canvas.drawn > drawn and not vp.canvas.pending, timeout=5000)
    on_screen = non_background_fraction(_shown(vp))
    assert on_screen > before + 0.02, (before, on_screen)     # the render thread presented the points
    off_screen = vp.render_image()              # canvas.render(): the context comes to this thread ...
    assert non_background_fraction(off_screen) > 0.02
    assert backend.threaded                     # ... and goes back
    pv.apply_delta(_delta(1, 2, rng.uniform(2, 3, (10, 3)), 4000))
    drawn = vp.canvas.drawn
    qtbot.waitUntil(lambda: vp.canvas.drawn > drawn and not vp.canvas.pending, timeout=5000)
