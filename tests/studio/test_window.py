"""The studio driven like a person: load, add keyframes, scrub, generate, cancel, undo,
save and reopen, bad input. Screenshots go to tests/studio/_artifacts/."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QMouseEvent

from tests.studio.conftest import load_demo, non_background_fraction, save_shot, wait_idle


def drop(win, path) -> None:
    """Drop a local file or folder onto the main window."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(win.width() / 2, win.height() / 2)
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(event)


def test_demo_points_are_drawn_by_appending(qtbot, make_window, artifacts):
    win = make_window()
    before = non_background_fraction(win.viewport.render_image())
    load_demo(qtbot, win, preset=None)
    pts = win.viewport.points
    assert win.ctl.project.points.num_alive > 5000
    assert len(win.ctl.project.cameras) == 8
    drawn = non_background_fraction(win.viewport.render_image())
    assert drawn > before + 0.01, (before, drawn)
    # deltas were appended: only capacity doublings re-upload the buffer
    assert pts.full_uploads <= 8
    assert pts.uploaded_rows < 3 * win.ctl.project.points.size
    save_shot(win, artifacts / "01_demo_loaded.png")


def test_three_keyframes_with_the_keyboard_draw_a_path(qtbot, make_window, artifacts):
    win = make_window()
    load_demo(qtbot, win, preset=None)
    canvas = win.viewport.canvas.native
    canvas.setFocus()
    no_path = win.viewport.render_image()
    cam = win.viewport.view.camera
    for azimuth in (-20.0, 0.0, 20.0):
        cam.azimuth = azimuth
        qtbot.keyClick(canvas, Qt.Key.Key_K)
        qtbot.wait(20)
    assert len(win.ctl.path.state.keyframes) == 3
    assert win.ctl.playback.num_frames > 2
    assert win.viewport.path.visible and win.viewport.keyframes.visible
    cam.azimuth, cam.elevation = 0.0, 50.0   # step back and look down at the path
    cam.distance = cam.distance * 2.5
    with_path = win.viewport.render_image()
    win.viewport.path.visible = win.viewport.path_frusta.visible = win.viewport.keyframes.visible = False
    without = win.viewport.render_image()
    win.viewport.path.visible = win.viewport.path_frusta.visible = win.viewport.keyframes.visible = True
    changed = (np.abs(with_path[..., :3].astype(int) - without[..., :3]).sum(-1) > 40).mean()
    assert changed > 0.002, changed
    assert no_path.shape == with_path.shape
    # the path camera at the start equals the first keyframe's pose
    first = win.ctl.path.cameras()[0].world_from_cam
    assert np.allclose(first, win.ctl.path.state.keyframes[0].world_from_cam, atol=1e-6)
    save_shot(win, artifacts / "02_three_keyframes.png")


def _drag_playhead(qtbot, win, frame_from: float, frame_to: float) -> None:
    tl = win.timeline
    vp = tl.plot.viewport()
    y = tl.plot.mapFromScene(tl.plot.getViewBox().mapViewToScene(
        __import__("pyqtgraph").Point(frame_from, 4.0))).y()

    def send(kind, frame, buttons):
        x = tl.frame_to_scene_x(frame)
        ev = QMouseEvent(kind, QPointF(x, y), vp.mapToGlobal(QPointF(x, y)), Qt.MouseButton.LeftButton,
                         buttons, Qt.KeyboardModifier.NoModifier)
        qtbot.wait(5)
        __import__("PySide6.QtWidgets", fromlist=["QApplication"]).QApplication.sendEvent(vp, ev)

    send(QEvent.Type.MouseButtonPress, frame_from, Qt.MouseButton.LeftButton)
    for f in np.linspace(frame_from, frame_to, 6)[1:]:
        send(QEvent.Type.MouseMove, f, Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, frame_to, Qt.MouseButton.NoButton)


def test_dragging_the_playhead_changes_the_preview(qtbot, make_window, artifacts):
    win = make_window()
    load_demo(qtbot, win)
    n = win.ctl.playback.num_frames
    assert n >= 20
    win.ctl.playback.set_frame(0)
    wait_idle(qtbot, win)
    first = win.preview.shown.copy()
    updates = win.preview.updates
    _drag_playhead(qtbot, win, 0, n // 3)
    wait_idle(qtbot, win)
    assert win.ctl.playback.frame > n // 6, win.ctl.playback.frame
    assert win.preview.updates > updates and win.preview.source == "memory"
    diff = np.abs(win.preview.shown.astype(int) - first.astype(int)).mean()
    assert diff > 5.0, diff
    assert win.ctl.preview_latencies and min(win.ctl.preview_latencies) < 5.0
    save_shot(win, artifacts / "03_playhead_dragged.png")


# Generate -> segments done with thumbnails, memory grown, generated preview: checked by
# tests/studio/test_panels.py::test_generate_then_an_edit_keeps_untouched_thumbnails_and_compare_shows_the_nearest_photo
# (one studio generation for both).


def test_cancel_a_running_generation(qtbot, make_window, artifacts):
    win = make_window()
    load_demo(qtbot, win)
    win.inspector.segment_length.setValue(5)
    job = win.ctl.generate()
    qtbot.waitUntil(lambda: len(win.ctl.segments.frames) >= 1, timeout=60000)
    row = win.jobs_panel.rows[job]
    assert row.isVisible()
    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win)
    statuses = [s.status for s in win.ctl.segments.segments.values()]
    assert "cancelled" in statuses and "running" not in statuses
    assert statuses.count("done") < len(statuses)
    assert job not in win.jobs_panel.rows
    assert "cancelled" in win.log.lines[-1]
    save_shot(win, artifacts / "05_cancelled.png")


def test_undo_and_redo_a_keyframe_move(qtbot, make_window):
    win = make_window()
    load_demo(qtbot, win)
    win.ctl.selection.select_keyframes([2])
    before = win.ctl.path.state.keyframes[2].world_from_cam[:3, 3].copy()
    canvas = win.viewport.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    moved = win.ctl.path.state.keyframes[2].world_from_cam[:3, 3].copy()
    step = moved - before                                  # along the scene's horizontal, not its up
    up = win.ctl.scene_up
    assert np.linalg.norm(step) > 0 and abs(step @ up) < 1e-6 * np.linalg.norm(step) + 1e-9
    assert step[0] > 0.99 * np.linalg.norm(step)           # the demo world is y-down: "right" is ~+x
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.allclose(win.ctl.path.state.keyframes[2].world_from_cam[:3, 3], before)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.allclose(win.ctl.path.state.keyframes[2].world_from_cam[:3, 3], moved)
    assert np.isclose(win.inspector.pos[0].value(), moved[0], atol=1e-3)


def test_save_close_and_reopen_a_project(qtbot, make_window, tmp_path, artifacts):
    win = make_window()
    load_demo(qtbot, win)
    win.inspector.segment_length.setValue(10)
    win.ctl.generate(only_segment=0)                  # one segment is enough to round-trip
    wait_idle(qtbot, win, timeout_ms=180000)
    n_points, n_kf = win.ctl.project.points.num_alive, len(win.ctl.path.state.keyframes)
    n_frames = len(win.ctl.segments.frames)
    n_done = win.ctl.segments.count("done")
    assert n_frames == 10 and n_done == 1 and len(win.ctl.segments.segments) > 1
    root = tmp_path / "my_project"
    win.ctl.save_project(root)
    wait_idle(qtbot, win)
    assert (root / "project.json").exists() and win.ctl.project.root == str(root)
    win.close()
    win2 = make_window()
    assert win2.open_path(root)
    wait_idle(qtbot, win2)
    assert win2.ctl.project.points.num_alive == n_points
    assert len(win2.ctl.path.state.keyframes) == n_kf
    assert len(win2.ctl.segments.frames) == n_frames
    assert win2.ctl.segments.count("done") == n_done and len(win2.ctl.segments.segments) > 1
    assert non_background_fraction(win2.viewport.render_image()) > 0.01
    save_shot(win2, artifacts / "06_reopened.png")


def test_bad_input_shows_a_message_and_keeps_the_project(qtbot, make_window, tmp_path, artifacts):
    win = make_window()
    load_demo(qtbot, win)
    n = win.ctl.project.points.num_alive
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    drop(win, bad)
    assert "unsupported file type" in win.banner.text
    save_shot(win, artifacts / "07_unsupported_file.png")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    drop(win, empty)
    assert "contains no images" in win.banner.text
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    (tmp_path / "broken_cameras.json").write_text('{"fps": 24, "frames": []}')
    drop(win, broken)
    wait_idle(qtbot, win)
    assert "broken" in win.banner.text and win.banner.level == "error"
    wait_idle(qtbot, win)
    assert win.ctl.project.points.num_alive == n
    assert len(win.ctl.path.state.keyframes) == 8


def test_drop_the_demo_video_and_points_appear(qtbot, make_window, tmp_path, artifacts):
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    scene = make_demo_scene(0)
    video = write_demo_video(tmp_path / "demo.mp4", scene, demo_capture_cameras(scene, 12, 192, 108), fps=8)
    win = make_window()
    win.demo_ground_truth = True        # tracking a video takes minutes on 2 cores: use its exact cameras
    drop(win, video)
    qtbot.waitUntil(lambda: win.ctl.project.points.size > 0, timeout=60000)
    first = win.ctl.project.points.size
    wait_idle(qtbot, win)
    assert win.ctl.project.points.size > first          # grew while views streamed in
    assert len(win.ctl.project.cameras) == 12
    assert non_background_fraction(win.viewport.render_image()) > 0.01
    win.ctl.selection.select_view(3)                    # click a frustum: its photo in the preview
    qtbot.waitUntil(lambda: win.preview.source == "captured", timeout=5000)   # answered by the engine
    save_shot(win, artifacts / "00_video_dropped.png")


def test_export_dialog_writes_the_chosen_format(qtbot, make_window, tmp_path):
    """File > Export…: pick a format and a destination, OK; the file appears and reads back."""
    from studio.panels.export_dialog import ExportDialog

    win = make_window()
    load_demo(qtbot, win)
    unsaved = ExportDialog(win)
    unsaved.format.setCurrentText("points-ply")
    unsaved.out.setText(str(tmp_path / "early.ply"))
    unsaved._run()
    wait_idle(qtbot, win)
    assert not (tmp_path / "early.ply").exists()          # refused: the project has no folder yet
    win.ctl.save_project(tmp_path / "proj")
    wait_idle(qtbot, win)
    dialog = ExportDialog(win)
    assert "points-ply" in [dialog.format.itemText(i) for i in range(dialog.format.count())]
    dialog.format.setCurrentText("points-ply")
    dialog.out.setText(str(tmp_path / "points.ply"))
    dialog._run()
    wait_idle(qtbot, win)
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(tmp_path / "points.ply"))
    assert len(cloud.points) == len(win.bridge.session.state.memory)    # all points, not the display subset


def _mouse(widget, kind, pos, buttons):
    from PySide6.QtWidgets import QApplication

    event = QMouseEvent(kind, QPointF(*pos), QPointF(*pos), Qt.MouseButton.LeftButton,
                        buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_dragging_a_gizmo_handle_moves_the_keyframe_along_its_axis(qtbot, make_window, artifacts):
    win = make_window()
    load_demo(qtbot, win)
    win.ctl.selection.select_keyframes([2])
    wait_idle(qtbot, win)
    vp = win.viewport
    before = win.ctl.path.state.keyframes[2].world_from_cam[:3, 3].copy()
    center = np.asarray(vp.view.camera.center)
    vp.look_from(before + 0.6 * (before - center) + np.array([0.0, -1.2, 0.0]), before)  # look at it
    win.ctl.selection.select_keyframes([2])
    wait_idle(qtbot, win)
    assert vp.gizmo.lines.visible and not np.isnan(vp.gizmo.handle_screen(vp._screen, 0)).any()
    a, b = vp.gizmo.handle_screen(vp._screen, 0)            # the x handle, on screen
    start = a + 0.7 * (b - a)
    direction = (b - a) / np.linalg.norm(b - a)
    end = start + 60.0 * direction
    native = vp.canvas.native
    held, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _mouse(native, QEvent.Type.MouseButtonPress, start, held)
    for t in np.linspace(0.2, 1.0, 5):
        _mouse(native, QEvent.Type.MouseMove, start + t * (end - start), held)
        qtbot.wait(10)
    _mouse(native, QEvent.Type.MouseButtonRelease, end, none)
    wait_idle(qtbot, win)
    after = win.ctl.path.state.keyframes[2].world_from_cam[:3, 3]
    moved = after - before
    assert moved[0] > 0 and np.allclose(moved[1:], 0.0, atol=1e-9)     # only along x
    # the keyframe followed the cursor: on screen it moved ~60 px along the handle
    shift = vp._screen(after[None])[0] - vp._screen(before[None])[0]
    assert abs(float(shift @ direction) - 60.0) < 12.0, shift
    save_shot(win, artifacts / "08_gizmo_drag.png")
    win.ctl.undo.undo()                                       # the whole drag is one undo step
    assert np.allclose(win.ctl.path.state.keyframes[2].world_from_cam[:3, 3], before)


def test_training_splats_shows_progress_and_a_preview(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("ANYRECON_SCRATCH", str(tmp_path / "scratch"))
    win = make_window()
    load_demo(qtbot, win, num_views=6, width=96, height=54)
    seen = []
    win.bridge.splatProgress.connect(seen.append)
    assert win.actions_.train_splats(5) is not None           # not saved yet: trains into a scratch folder
    wait_idle(qtbot, win, timeout_ms=240000)
    assert seen and seen[-1].iteration == 5 and seen[-1].preview is not None
    assert win.preview.source == "splats"
    assert not (tmp_path / "proj").exists()
    win.ctl.save_project(tmp_path / "proj")                   # the first save carries the splats
    wait_idle(qtbot, win)
    assert (tmp_path / "proj" / "splats" / "checkpoint.pt").exists()


@pytest.mark.slow   # real pycolmap + MVS tracking in the GUI: about a minute on 2 cores
def test_drop_a_video_tracks_it_and_the_memory_grows(qtbot, make_window, tmp_path, artifacts):
    """The real path: a dropped video is ingested, tracked with pycolmap, densified by MVS and
    fused while the window stays live (a short synthetic clip keeps it to seconds)."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    scene = make_demo_scene(0)
    video = write_demo_video(tmp_path / "clip.mp4", scene, demo_capture_cameras(scene, 16, 256, 144), fps=8)
    win = make_window()
    assert not win.demo_ground_truth
    seen_points = []
    win.ctl.project.points_appended.connect(lambda a, b: seen_points.append(win.ctl.project.points.num_alive))
    drop(win, video)
    wait_idle(qtbot, win, timeout_ms=240000)
    assert len(win.ctl.project.cameras) >= 14                 # registered keyframes as frusta
    assert len(seen_points) >= 2 and max(seen_points) > seen_points[0]   # grew in steps (the end rebuilds)
    assert non_background_fraction(win.viewport.render_image()) > 0.05
    save_shot(win, artifacts / "09_video_tracked.png")


def test_dropped_photos_join_the_scene_or_are_reported(qtbot, make_window, tmp_path, artifacts):
    """Photo files dropped on an open scene are registered by render-and-match: one taken
    between two captured views appears as a new camera; an unrelated one is reported."""
    import cv2

    from engine.synthetic import make_demo_scene
    from tests.conftest import between_poses

    win = make_window()
    load_demo(qtbot, win, preset=None)
    cams = list(win.ctl.project.cameras)
    truth = between_poses(cams)[3].scaled(2.0)
    rgb = (np.clip(make_demo_scene(0).render(truth).rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    photo, holiday = tmp_path / "extra.png", tmp_path / "holiday.png"
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(holiday), np.random.default_rng(0).integers(0, 255, (180, 320, 3), np.uint8))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo)), QUrl.fromLocalFile(str(holiday))])
    win.dropEvent(QDropEvent(QPointF(win.width() / 2, win.height() / 2), Qt.DropAction.CopyAction, mime,
                             Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    wait_idle(qtbot, win)
    assert len(win.ctl.project.cameras) == len(cams) + 1
    new = win.ctl.project.cameras[-1]
    assert new.name == "extra" and np.linalg.norm(new.center - truth.center) < 0.05
    assert "registered 1 of 2" in win.banner.text and "holiday" in win.banner.text
    assert win.ctl.project.dirty
    before = win.viewport.render_image()
    win.ctl.selection.select_view(len(cams))           # click the new camera: highlighted, photo shown
    wait_idle(qtbot, win)
    after = win.viewport.render_image()
    assert (np.abs(after[..., :3].astype(int) - before[..., :3]).sum(-1) > 30).sum() > 50
    assert win.preview.source == "captured"
    save_shot(win, artifacts / "10_photos_registered.png")


def test_a_photo_without_a_scene_is_a_clear_message(qtbot, make_window, tmp_path):
    import cv2

    win = make_window()
    photo = tmp_path / "lonely.png"
    cv2.imwrite(str(photo), np.zeros((90, 160, 3), np.uint8))
    drop(win, photo)
    assert "tracked scene" in win.banner.text and win.banner.level == "error"
