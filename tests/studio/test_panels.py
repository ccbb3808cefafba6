"""The studio's finish, driven like a person: empty states that say what to do, the preview
following the viewport before a path exists, the jobs strip, the window's first start and
restored geometry, thumbnails kept across path edits, and the compare view. Screenshots go
to tests/studio/_artifacts/."""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent

from tests.studio.conftest import load_demo, save_shot, wait_idle


def _pixels(widget) -> np.ndarray:
    """What ``widget`` draws, as [H,W,3] uint8."""
    img = widget.grab().toImage().convertToFormat(__import__("PySide6.QtGui", fromlist=["QImage"]).QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : 3 * img.width()].reshape(img.height(), img.width(), 3).copy()


def test_empty_states_say_what_to_do_and_the_preview_follows_the_viewport(qtbot, make_window, artifacts):
    win = make_window()
    # nothing open: hints instead of FOV 5.0 / X 0.000, no timeline from -0.4 to 0.4, no jobs panel
    assert win.inspector.kf_hint.isVisible() and "Press K" in win.inspector.kf_hint.text()
    assert not win.inspector.fov.isVisible() and not win.inspector.pos[0].isVisible()
    assert win.timeline.showing_hint and win.timeline.hint.isVisible() and not win.timeline.plot.isVisible()
    assert "Open a video" in win.preview.image.text()
    assert not win.jobs_panel.isVisible()
    save_shot(win, artifacts / "20_empty_start.png")

    load_demo(qtbot, win, preset=None)
    wait_idle(qtbot, win)
    # no path yet: the preview shows the memory from the viewport camera
    qtbot.waitUntil(lambda: win.preview.source == "viewport", timeout=10000)
    first = win.preview.shown.copy()
    assert (first.astype(int).sum(-1) > 30).mean() > 0.2           # the scene, not a black frame
    assert "viewport" in win.preview.caption.text()
    cam = win.viewport.view.camera
    cam.azimuth = cam.azimuth + 40.0                                   # orbit the view
    updates = win.preview.updates
    qtbot.waitUntil(lambda: win.preview.updates > updates, timeout=10000)
    wait_idle(qtbot, win)
    assert np.abs(win.preview.shown.astype(int) - first.astype(int)).mean() > 3.0
    assert win.timeline.showing_hint                                   # still no path
    save_shot(win, artifacts / "21_preview_from_viewport.png")

    win.ctl.apply_preset("orbit")
    wait_idle(qtbot, win)
    n = win.ctl.playback.num_frames
    assert not win.timeline.showing_hint and win.timeline.plot.isVisible()
    (x0, x1), _ = win.timeline.plot.getViewBox().viewRange()
    assert abs(x0 + 0.5) < 1e-6 and abs(x1 - (n - 0.5)) < 1e-6, (x0, x1, n)   # spans the path
    fps = win.ctl.playback.fps
    assert win.timeline.axis.tickStrings([0.0, fps * 2], 1.0, fps) == ["0 s", "2 s"]
    assert "8 keyframes, none selected" in win.inspector.kf_hint.text()
    assert win.preview.source == "memory"                              # the playhead camera now
    win.ctl.selection.select_keyframes([1])
    wait_idle(qtbot, win)
    assert win.inspector.fov.isVisible() and not win.inspector.kf_hint.isVisible()
    assert win.inspector.kf_label.text() == "keyframe 2 of 8"
    save_shot(win, artifacts / "22_path_timeline_inspector.png")


def _slow_job(steps: int = 400):
    from engine.events import Progress

    def job(ws, cancel):
        t0 = time.perf_counter()
        for i in range(steps):
            cancel.raise_if_cancelled()
            time.sleep(0.01)
            done = (i + 1) / steps
            yield Progress(done, f"step {i + 1} of {steps}", (time.perf_counter() - t0) * (1 - done) / done)
        return steps
    return job


def test_jobs_strip_grows_only_while_jobs_run(qtbot, make_window, artifacts):
    win = make_window()
    strip = win.jobs_panel
    assert not strip.isVisible()
    viewport_h = win.viewport.height()
    job = win.ctl.submit("long job", _slow_job())
    qtbot.waitUntil(lambda: strip.isVisible() and job in strip.rows, timeout=5000)
    row = strip.rows[job]
    qtbot.waitUntil(lambda: row.bar.value() > 50 and row.eta.text().startswith("ETA"), timeout=10000)
    assert "step" in row.bar.text() and "%" in row.bar.text()
    assert strip.height() <= 40                                        # one slim row, not a fifth of the window
    assert win.viewport.height() == viewport_h                         # floats over it: no GL resize
    assert strip.geometry().bottom() == win.centralWidget().height() - 1
    save_shot(win, artifacts / "23_jobs_strip_running.png")
    second = win.ctl.submit("second job", _slow_job())
    qtbot.waitUntil(lambda: second in strip.rows, timeout=5000)
    qtbot.wait(50)
    assert 40 < strip.height() <= 70                                   # grows by one row per job
    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(strip.rows[second].cancel, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win)
    assert not strip.isVisible() and not strip.rows
    assert "long job cancelled" in "\n".join(win.log.lines)


def test_window_opens_maximised_then_restores_its_geometry(qtbot, make_window, tmp_path):
    win = make_window()                      # settings in tmp_path: nothing saved yet
    assert win.windowState() & Qt.WindowState.WindowMaximized
    win.showNormal()                         # the artist un-maximises it and makes it smaller
    qtbot.waitUntil(lambda: not win.isMaximized(), timeout=3000)
    win.setGeometry(40, 50, 900, 620)
    qtbot.waitUntil(lambda: win.width() == 900, timeout=3000)
    win.close()
    assert (tmp_path / "settings.ini").exists()
    again = make_window()                    # the same settings file: the last geometry
    assert not again.windowState() & Qt.WindowState.WindowMaximized
    assert (again.width(), again.height()) == (900, 620)


def _wipe_drag(widget, x_from: float, x_to: float) -> None:
    from PySide6.QtWidgets import QApplication

    y = widget.height() / 2
    for kind, x, buttons in ((QEvent.Type.MouseButtonPress, x_from, Qt.MouseButton.LeftButton),
                             (QEvent.Type.MouseMove, (x_from + x_to) / 2, Qt.MouseButton.LeftButton),
                             (QEvent.Type.MouseMove, x_to, Qt.MouseButton.LeftButton),
                             (QEvent.Type.MouseButtonRelease, x_to, Qt.MouseButton.NoButton)):
        pos = QPointF(x, y)
        QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), Qt.MouseButton.LeftButton,
                                                   buttons, Qt.KeyboardModifier.NoModifier))


def _divider_columns(pixels: np.ndarray) -> np.ndarray:
    """Columns where most rows are the compare divider's yellow."""
    yellow = (pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 120)
    return np.flatnonzero(yellow.mean(0) > 0.6)


def test_generate_then_an_edit_keeps_untouched_thumbnails_and_compare_shows_the_nearest_photo(
        qtbot, make_window, artifacts):
    """Generate turns every segment done with thumbnails and grows the memory (this was
    test_window.py's test_generate_turns_segments_done_with_thumbnails, merged here: one
    generation serves both); then an edit keeps untouched thumbnails; then compare."""
    from engine.workflows.preview import nearest_view_index

    win = make_window()
    load_demo(qtbot, win)
    win.inspector.fps.setValue(1.0)                      # a short path keeps the generation quick
    win.inspector.segment_length.setValue(2)
    wait_idle(qtbot, win)
    n = win.ctl.playback.num_frames
    assert n >= 6, n
    assert len(win.ctl.segments.segments) >= 3
    points_before = win.ctl.project.points.num_alive
    qtbot.mouseClick(win.inspector.generate, Qt.MouseButton.LeftButton)
    assert win.ctl.generate_job_id is not None
    qtbot.waitUntil(lambda: win.ctl.segments.count("running") == 1, timeout=30000)
    save_shot(win, artifacts / "04a_generating.png")
    wait_idle(qtbot, win, timeout_ms=180000)
    segs = win.ctl.segments
    assert all(s.status == "done" for s in segs.segments.values()) and len(segs.thumbs) == n
    assert {v[1] for v in win.timeline.segment_rects.values()} == {"done"}
    assert len(segs.frames) == n
    assert len(win.timeline.film_frames) >= 5
    assert win.ctl.project.points.num_alive > points_before           # memory grew
    win.ctl.playback.set_frame(3)
    wait_idle(qtbot, win)
    assert win.preview.source == "generated"
    save_shot(win, artifacts / "04b_generated.png")
    first_thumb = segs.thumbs[0]

    # move the last keyframe: only the segments near the path's end change
    win.ctl.selection.select_keyframes([len(win.ctl.path.state.keyframes) - 1])
    canvas = win.viewport.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, win)
    status = {s.segment_id: s.status for s in segs.segments.values()}
    assert status[0] == "done" and segs.thumbs.get(0) is first_thumb      # untouched: kept
    assert "pending" in status.values()                                    # touched: to regenerate
    kept = [f for f in range(n) if f in segs.thumbs]
    assert 0 < len(kept) < n and 0 in win.timeline.film_frames
    assert all(f not in segs.thumbs for s in segs.segments.values() if s.status == "pending"
               for f in range(s.frame_start, s.frame_stop))
    save_shot(win, artifacts / "24_edit_keeps_thumbnails.png")
    win.ctl.undo.undo()                                  # back to the generated path: nothing was lost
    wait_idle(qtbot, win)
    assert len(segs.thumbs) == len(kept)                 # (frames dropped by the edit stay dropped)

    # compare the generated frame at the playhead with the nearest captured photo
    win.ctl.playback.set_frame(1)
    wait_idle(qtbot, win)
    assert win.preview.source == "generated"
    frame = win.preview.shown
    win.preview.compare_mode.setCurrentIndex(win.preview.compare_mode.findData("side"))
    wait_idle(qtbot, win)
    cams = win.ctl.project.cameras
    expect = nearest_view_index(win.ctl.current_camera().world_from_cam, np.stack([c.world_from_cam for c in cams]))
    assert win.preview.reference_name == cams[expect].name
    assert cams[expect].name in win.preview.ref_caption.text()
    h, w = frame.shape[:2]
    shown = win.preview.displayed
    assert shown.shape == (h, 2 * w + 2, 3) and np.array_equal(shown[:, :w], frame)
    photo = win.bridge.session.state.views[expect].image                 # (test only: the engine's copy)
    assert abs(float(shown[:, w + 2:].mean()) - float(photo.mean())) < 12.0
    assert len(_divider_columns(_pixels(win.preview.image))) >= 1          # drawn: the split is on screen
    save_shot(win, artifacts / "25_compare_side_by_side.png")

    win.preview.compare_mode.setCurrentIndex(win.preview.compare_mode.findData("wipe"))
    wait_idle(qtbot, win)
    label = win.preview.image
    x0, _y0, pw, _ph = label.image_rect()
    _wipe_drag(label, x0 + 0.5 * pw, x0 + 0.25 * pw)
    assert abs(win.preview.wipe - 0.25) < 0.02
    shown = win.preview.displayed
    split = int(round(0.25 * w))
    assert shown.shape == frame.shape and np.array_equal(shown[:, : split - 1], frame[:, : split - 1])
    assert not np.array_equal(shown[:, split + 1:], frame[:, split + 1:])
    cols = _divider_columns(_pixels(label))
    assert len(cols) and abs(cols.mean() - (x0 + 0.25 * pw)) < 4, (cols, x0, pw)
    save_shot(win, artifacts / "26_compare_wipe.png")
