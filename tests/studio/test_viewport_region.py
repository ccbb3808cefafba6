"""The viewport's region of interest (crop box) and the gizmo's rotate rings, driven with the
mouse like a person would; screenshots go to tests/studio/_artifacts/."""
from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.geometry import se3
from tests.studio.conftest import load_demo, save_shot, wait_idle

HELD, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton


def _mouse(widget, kind, pos, buttons, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    event = QMouseEvent(kind, QPointF(*pos), QPointF(*pos), Qt.MouseButton.LeftButton, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def _drag(qtbot, vp, points) -> None:
    """Press at points[0], move through the others, release at the last (canvas pixels)."""
    native = vp.canvas.native
    _mouse(native, QEvent.Type.MouseButtonPress, points[0], HELD)
    for p in points[1:]:
        _mouse(native, QEvent.Type.MouseMove, p, HELD)
        qtbot.wait(5)
    _mouse(native, QEvent.Type.MouseButtonRelease, points[-1], NONE)


def _engine_box(win):
    frame = win.bridge.session.state.project.scene_frame     # read after the engine went idle
    return np.asarray(frame.roi_world_from_box), np.asarray(frame.roi_half_extent), frame.roi_enabled


def _changed_pixels(a, b) -> float:
    return float((np.abs(a[..., :3].astype(int) - b[..., :3]).sum(-1) > 40).mean())


def test_drag_a_crop_box_face_saves_the_region(qtbot, make_window, tmp_path, artifacts):
    win = make_window()
    load_demo(qtbot, win, preset=None, num_views=6, width=96, height=54)
    vp, region = win.viewport, win.ctl.region
    assert not region.state.has_box and not vp.region.edges.visible      # no box until one is drawn or fitted
    win.actions_.region_menu.fit.trigger()                                # Region > Fit Region to Memory
    wait_idle(qtbot, win)
    fitted = region.state
    assert fitted.has_box, win.banner.text
    assert fitted.enabled and win.actions_.region_menu.enabled.isChecked()
    box, half = fitted.box()
    xyz = win.bridge.session.state.memory.snapshot().xyz
    inside = np.all(np.abs((xyz - box[:3, 3]) @ box[:3, :3]) <= half, axis=1).mean()
    assert 0.9 < inside < 0.995, inside                                   # robust: strays fall outside
    assert np.allclose(_engine_box(win)[0], box) and np.allclose(_engine_box(win)[1], half)

    # look at the box from outside, above one corner
    center = box[:3, 3]
    eye = center + box[:3, :3] @ (np.array([1.3, -1.1, -1.6]) * half.max() * 1.6)
    vp.look_from(eye, center)
    vp.canvas.update()
    qtbot.wait(20)
    save_shot(win, artifacts / "roi_1_fitted.png")
    before_px = vp.render_image()

    # the face handle whose normal is longest on screen, dragged 50 px outward
    from studio.viewport.region_box import FACES
    best = None
    for axis, sign in FACES:
        c = fitted.face_center(axis, sign)
        a, b = vp._screen(np.stack([c, c + sign * box[:3, axis] * 0.1]))
        w, h = vp.canvas.size
        if np.isfinite(a).all() and 20 < a[0] < w - 20 and 20 < a[1] < h - 20:
            if best is None or np.linalg.norm(b - a) > best[2]:
                best = (axis, sign, float(np.linalg.norm(b - a)), a, (b - a) / np.linalg.norm(b - a))
    axis, sign, _, start, direction = best
    assert vp.region.hit(start, vp._screen) == (axis, sign)
    undo_count = win.ctl.undo.count()
    _drag(qtbot, vp, [start + t * 50.0 * direction for t in np.linspace(0, 1, 6)])
    wait_idle(qtbot, win)
    dragged = region.state
    assert win.ctl.undo.count() == undo_count + 1                          # the drag is one undo step
    new_box, new_half = dragged.box()
    grown = new_half[axis] - half[axis]
    assert grown > 0.01 * half[axis], (new_half, half)
    others = [i for i in range(3) if i != axis]
    assert np.allclose(new_half[others], half[others]) and np.allclose(new_box[:3, :3], box[:3, :3])
    # the opposite face stayed where it was; the dragged one followed the cursor (~50 px)
    assert np.allclose(dragged.face_center(axis, -sign), fitted.face_center(axis, -sign), atol=1e-6)
    shift = vp._screen(dragged.face_center(axis, sign)[None])[0] - start
    assert abs(float(shift @ direction) - 50.0) < 8.0, shift
    eb, eh, on = _engine_box(win)                                         # the engine's scene frame has it
    assert np.allclose(eb, new_box) and np.allclose(eh, new_half) and on
    after_px = vp.render_image()
    assert _changed_pixels(before_px, after_px) > 0.001
    save_shot(win, artifacts / "roi_2_face_dragged.png")

    # Shift+drag on the same face moves the whole box along that axis, sizes kept
    face_px = vp._screen(dragged.face_center(axis, sign)[None])[0]
    native = vp.canvas.native
    shift_mod = Qt.KeyboardModifier.ShiftModifier
    _mouse(native, QEvent.Type.MouseButtonPress, face_px, HELD, shift_mod)
    for t in np.linspace(0.25, 1, 4):
        _mouse(native, QEvent.Type.MouseMove, face_px + t * 30.0 * direction, HELD, shift_mod)
    _mouse(native, QEvent.Type.MouseButtonRelease, face_px + 30.0 * direction, NONE, shift_mod)
    wait_idle(qtbot, win)
    moved_box, moved_half = region.state.box()
    step = moved_box[:3, 3] - new_box[:3, 3]
    assert np.allclose(moved_half, new_half) and step @ (sign * box[:3, axis]) > 0.01 * half[axis]
    assert np.allclose(step - (step @ box[:3, axis]) * box[:3, axis], 0.0, atol=1e-9)   # along that axis only
    win.ctl.undo.undo()
    wait_idle(qtbot, win)
    assert region.state == dragged

    win.ctl.undo.undo()
    wait_idle(qtbot, win)
    assert region.state == fitted and np.allclose(_engine_box(win)[1], half)
    win.ctl.undo.redo()
    wait_idle(qtbot, win)
    win.ctl.save_project(tmp_path / "proj")
    wait_idle(qtbot, win)
    saved = json.loads((tmp_path / "proj" / "project.json").read_text())["scene_frame"]["roi"]
    assert np.allclose(saved["half_extent"], new_half) and np.allclose(saved["world_from_box"], new_box)

    # switched off: drawn grey, saved as such; cleared: gone
    win.actions_.region_menu.enabled.trigger()
    wait_idle(qtbot, win)
    assert not region.state.enabled and _engine_box(win)[2] is False
    off_px = vp.render_image()
    assert _changed_pixels(after_px, off_px) > 0.0005
    win.actions_.region_menu.enabled.trigger()
    wait_idle(qtbot, win)

    # an empty region: the export is refused with a clear message, nothing is written
    from studio.panels.export_dialog import ExportDialog

    far = new_box.copy()
    far[:3, 3] += 100.0
    region.set_box(far, [0.1, 0.1, 0.1], "Move region away")
    wait_idle(qtbot, win)
    dialog = ExportDialog(win)
    dialog.format.setCurrentText("points-ply")
    dialog.out.setText(str(tmp_path / "empty.ply"))
    dialog._run()
    wait_idle(qtbot, win)
    assert "region of interest holds none" in win.banner.text and win.banner.level == "error"
    assert not list(tmp_path.glob("*empty*"))
    assert not win.ctl.generate_options().fuse_in_roi
    win.actions_.region_menu.fuse.trigger()                               # Region > Generate Fuses Only Inside
    assert win.ctl.generate_options().fuse_in_roi
    win.actions_.region_menu.clear.trigger()
    wait_idle(qtbot, win)
    assert not region.state.has_box and win.bridge.session.state.project.scene_frame.roi_world_from_box is None
    assert not vp.region.edges.visible
    assert win.open_path(tmp_path / "proj")                               # the saved box comes back drawn
    wait_idle(qtbot, win)
    assert region.state == dragged and vp.region.edges.visible and win.ctl.undo.count() == 0


def _ring_screen(vp, axis, rotation, angles):
    """Canvas pixels of the gizmo ring of camera ``axis`` at parametric ``angles`` (radians)."""
    from studio.viewport.gizmo import ring_axes

    u, v = ring_axes(rotation, axis)
    g = vp.gizmo
    pts = g.anchor[None] + g.radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)
    return vp._screen(pts)


def _grab_point(vp, axis, rotation):
    """A parametric angle on the ring far from the move handles and the other rings."""
    g = vp.gizmo
    from studio.viewport.gizmo import _distance_to_segment

    for t in np.linspace(0, 2 * np.pi, 72, endpoint=False):
        p = _ring_screen(vp, axis, rotation, np.array([t]))[0]
        handles = [_distance_to_segment(p, *g.handle_screen(vp._screen, i)) for i in range(3)]
        rings = [np.min(np.linalg.norm(vp._screen(g.ring_points(i)) - p, axis=1)) for i in range(3) if i != axis]
        if min(handles) > 14 and min(rings) > 14 and g.hit(p, vp._screen) == ("rotate", axis):
            return t
    raise AssertionError("no clear point on the ring")


def _zoom_pair(before, after, center, drag_px, path, half: int = 110) -> None:
    """Side by side, 2x: the canvas around the gizmo before and after the drag (its path in white)."""
    import cv2

    x, y = int(center[0]), int(center[1])
    tiles = []
    for image in (before, after):
        rgb = np.ascontiguousarray(image[..., :3])
        for p in drag_px:
            cv2.circle(rgb, (int(p[0]), int(p[1])), 2, (255, 255, 255), -1)
        pad = np.pad(rgb, ((half, half), (half, half), (0, 0)))
        tiles.append(cv2.resize(pad[y:y + 2 * half, x:x + 2 * half], None, fx=2, fy=2,
                                interpolation=cv2.INTER_NEAREST))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR))


def test_drag_a_gizmo_ring_rotates_the_keyframe_about_its_axis(qtbot, make_window, artifacts):
    win = make_window()
    load_demo(qtbot, win, num_views=6, width=96, height=54)
    vp, ctl = win.viewport, win.ctl
    ctl.selection.select_keyframes([2])
    pos = ctl.path.state.keyframes[2].world_from_cam[:3, 3].copy()
    center = np.asarray(vp.view.camera.center)
    vp.look_from(pos + 0.6 * (pos - center) + np.array([0.0, -1.2, 0.0]), pos)
    ctl.selection.select_keyframes([2])
    wait_idle(qtbot, win)
    assert vp.gizmo.rings.visible
    before = ctl.path.state.keyframes[2].world_from_cam.copy()
    rot0 = before[:3, :3]
    # the ring seen most face-on (the turn is best defined there)
    c = vp._screen(vp.gizmo.anchor[None])[0]
    dets = []
    for axis in range(3):
        su, sv = _ring_screen(vp, axis, rot0, np.array([0.0, np.pi / 2])) - c
        dets.append(abs(np.linalg.det(np.stack([su, sv], 1))) if np.isfinite(su).all() else 0.0)
    axis = int(np.argmax(dets))
    t0 = _grab_point(vp, axis, rot0)
    turn = np.radians(40.0)
    path_px = _ring_screen(vp, axis, rot0, t0 + np.linspace(0, turn, 8))
    shot_before = vp.render_image()
    undo_count = ctl.undo.count()
    _drag(qtbot, vp, list(path_px))
    wait_idle(qtbot, win)
    after = ctl.path.state.keyframes[2].world_from_cam.copy()
    assert ctl.undo.count() == undo_count + 1                       # one undo step for the whole drag
    assert np.allclose(after[:3, 3], before[:3, 3])                 # turned in place
    assert np.allclose(after[:3, axis], before[:3, axis], atol=1e-6)   # about its own camera axis
    relative = rot0.T @ after[:3, :3]                                # = exp(angle * e_axis)
    angle = se3.so3_log(relative)
    assert np.allclose(angle / np.linalg.norm(angle), np.eye(3)[axis], atol=1e-6)
    assert abs(np.degrees(angle[axis]) - 40.0) < 6.0, np.degrees(angle)   # the ring point followed the cursor
    assert _changed_pixels(shot_before, vp.render_image()) > 0.0005   # the path and its frusta turned
    save_shot(win, artifacts / "gizmo_rotate_ring.png")
    _zoom_pair(shot_before, vp.render_image(), c, path_px, artifacts / "gizmo_rotate_ring_zoom.png")

    # a second drag is a second undo step; undo restores each pose exactly
    ring = _ring_screen(vp, axis, after[:3, :3], t0 + np.linspace(0, -np.radians(15.0), 5))
    _drag(qtbot, vp, list(ring))
    wait_idle(qtbot, win)
    assert not np.allclose(ctl.path.state.keyframes[2].world_from_cam, after)
    ctl.undo.undo()
    assert np.allclose(ctl.path.state.keyframes[2].world_from_cam, after)
    ctl.undo.undo()
    assert np.allclose(ctl.path.state.keyframes[2].world_from_cam, before)
