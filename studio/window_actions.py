"""Menus and keyboard shortcuts of the main window, and the file commands behind them.

Keys: K add keyframe from the view · Space play/pause · Left/Right step · Home/End ·
Delete remove keyframe · Alt+arrows pan/tilt the selected keyframe 5° ·
Shift+Left/Right, Shift+Up/Down, Shift+PgUp/PgDn move the selected
keyframe along world x / up / z · Ctrl+Z / Ctrl+Shift+Z undo/redo · Ctrl+G generate ·
Esc cancel generation.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from studio.models import trajectory_edits as edits

MAX_RECENT = 8


class WindowActions:
    def __init__(self, win) -> None:
        self.win = win
        self.ctl = win.ctl
        self.recent_menu = None
        self._build_menus()

    def _act(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self.win)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if menu is not None:
            menu.addAction(action)
        self.win.addAction(action)
        return action

    def _build_menus(self) -> None:
        win, ctl = self.win, self.ctl
        bar = win.menuBar()
        f = bar.addMenu("&File")
        self._act(f, "&Open…", self.open_dialog, "Ctrl+O")
        self._act(f, "Open &Folder / Project…", self.open_folder_dialog, "Ctrl+Shift+O")
        self._act(f, "Open &Demo Scene", self.open_demo)
        self._act(f, "&Add Photos to Scene…", self.add_photos_dialog,
                  tip="register new photos into the open scene (render-and-match against its memory)")
        self.recent_menu = f.addMenu("Open &Recent")
        self._refresh_recent()
        f.addSeparator()
        self._act(f, "&Save Project", self.save, "Ctrl+S")
        self._act(f, "Save Project &As…", self.save_as, "Ctrl+Shift+S")
        f.addSeparator()
        self._act(f, "Import Camera Path…", self.import_path_dialog)
        self._act(f, "Export Camera Path…", self.export_path_dialog)
        self.export_action = self._act(f, "&Export…", self.export_dialog)
        f.addSeparator()
        self._act(f, "&Quit", win.close, "Ctrl+Q")
        e = bar.addMenu("&Edit")
        undo = ctl.undo.createUndoAction(win, "&Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = ctl.undo.createRedoAction(win, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addAction(undo)
        e.addAction(redo)
        win.addAction(undo)
        win.addAction(redo)
        self.undo_action, self.redo_action = undo, redo
        e.addSeparator()
        self._act(e, "Add &Keyframe from View", self.add_keyframe, "K")
        self._act(e, "&Delete Keyframe", ctl.delete_selected, "Delete")
        e.addSeparator()   # learned models: folder, found / missing files, licences (studio/panels/models_dialog.py)
        self.models_action = self._act(e, "&Models…", self.models_dialog, tip="where learned models are looked for")
        from studio.panels.models_dialog import restore_models_dir
        restore_models_dir(win.bridge, win.settings)
        for key, name in (("Shift+Left", "left"), ("Shift+Right", "right"), ("Shift+Up", "up"),
                          ("Shift+Down", "down"), ("Shift+PgUp", "forward"), ("Shift+PgDown", "back")):
            self._act(None, f"Move keyframe {name}", lambda n=name: self.nudge(n), key)
        for key, axis, deg, name in (("Alt+Left", (0, 1, 0), -5.0, "pan left"), ("Alt+Right", (0, 1, 0), 5.0, "pan right"),
                                     ("Alt+Up", (1, 0, 0), 5.0, "tilt up"), ("Alt+Down", (1, 0, 0), -5.0, "tilt down")):
            self._act(None, f"Rotate keyframe ({name})", lambda a=axis, d=deg: ctl.rotate_selected(a, d), key)
        p = bar.addMenu("&Playback")
        self._act(p, "Play / Pause", ctl.playback.toggle, "Space")
        self._act(p, "Next Frame", lambda: ctl.playback.step(1), "Right")
        self._act(p, "Previous Frame", lambda: ctl.playback.step(-1), "Left")
        self._act(p, "First Frame", lambda: ctl.playback.set_frame(0), "Home")
        self._act(p, "Last Frame", lambda: ctl.playback.set_frame(ctl.playback.num_frames - 1), "End")
        g = bar.addMenu("&Generate")
        self._act(g, "&Generate Path", lambda: ctl.generate(), "Ctrl+G")
        self._act(g, "&Cancel", ctl.cancel_generation, "Esc")
        self.track_action = self._act(g, "Track Video…", self.open_dialog)
        self._act(g, "Train Gaussian &Splats", lambda: self.train_splats())
        v = bar.addMenu("&View")
        for dock in (win.preview_dock, win.inspector_dock, win.timeline_dock, win.log_dock):
            v.addAction(dock.toggleViewAction())
        from studio.viewport.region_menu import RegionMenu
        self.region_menu = RegionMenu(bar.addMenu("&Region"), win, ctl)

    # ------------------------------------------------------------------ edits
    def add_keyframe(self) -> None:
        vp = self.win.viewport
        self.ctl.add_keyframe(vp.view_world_from_cam(), vp.fov_y_deg)

    def nudge(self, direction: str) -> None:
        """Move the selected keyframes one step along the scene frame: up/down along its up,
        left/right/forward/back along the two horizontal axes (world x / z for a y-down world)."""
        from engine.trajectory.scene_summary import plane_basis

        up = self.ctl.scene_up
        e1, e2 = plane_basis(up)
        vectors = {"left": -e1, "right": e1, "up": up, "down": -up, "forward": e2, "back": -e2}
        step = max(self.win.viewport.frustum_depth * 0.5, 0.02)
        self.ctl.nudge_selected(vectors[direction] * step)

    # ------------------------------------------------------------------ files
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.win, "Open video, camera path or project.json", "",
                                              "Videos and paths (*.mp4 *.mov *.avi *.mkv *.webm *.json);;All files (*)")
        if path:
            self.win.open_path(path)

    def add_photos_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.win, "Add photos to the scene", "",
                                                "Photos (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp)")
        if paths:
            self.win.add_photos(paths)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.win, "Open image folder, dataset or project")
        if path:
            self.win.open_path(path)

    def open_demo(self) -> None:
        from studio.jobs import demo_job

        self.win._framed = False
        self.ctl.open_scene_job("demo scene", demo_job())

    def save(self) -> None:
        root = self.ctl.project.root
        if root and not self.win.autosave.is_autosave_root(root):
            self.ctl.save_project(root)
        else:
            self.save_as()

    def save_as(self) -> None:
        path = QFileDialog.getExistingDirectory(self.win, "Save project into folder")
        if path:
            self.ctl.save_project(path)

    def add_recent(self, root: str) -> None:
        s = self.win.settings
        recent = [r for r in (s.value("recentProjects") or []) if r != root]
        s.setValue("recentProjects", [root] + recent[: MAX_RECENT - 1])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        if self.recent_menu is None:
            return
        self.recent_menu.clear()
        for root in self.win.settings.value("recentProjects") or []:
            action = self.recent_menu.addAction(str(root))
            action.triggered.connect(lambda _=False, r=root: self.win.open_path(r))

    def import_camera_path(self, path: Path) -> bool:
        from engine.trajectory import read_camera_path

        try:
            traj = read_camera_path(path)
        except Exception as exc:
            self.win.show_message("error", f"Cannot read camera path {Path(path).name}: {exc}")
            return False
        self.ctl.edit(edits.from_trajectory(traj, keep=self.ctl.path.state.settings), "Import camera path")
        self.win.show_message("info", f"camera path {Path(path).name}: {len(traj.keyframes)} keyframes")
        return True

    def import_path_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.win, "Import camera_path.json", "", "Camera path (*.json)")
        if path:
            self.import_camera_path(Path(path))

    def export_camera_path(self, path: Path) -> bool:
        from engine.trajectory import write_camera_path

        traj = self.ctl.path.trajectory()
        if traj is None:
            self.win.show_message("error", "No camera path to export: add at least two keyframes.")
            return False
        write_camera_path(path, traj)
        self.win.show_message("info", f"wrote {path}")
        return True

    def export_path_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.win, "Export camera_path.json", "camera_path.json",
                                              "Camera path (*.json)")
        if path:
            self.export_camera_path(Path(path))

    def train_splats(self, iterations: int | None = None) -> int | None:
        """Train (or resume) the project's Gaussian splats on the engine thread; progress and
        the held-out preview show as it goes (StudioController.train_splats)."""
        return self.win.ctl.train_splats(iterations)

    def models_dialog(self) -> None:
        from engine.workflows import generator_choices
        from studio.panels.models_dialog import ModelsDialog

        dlg = ModelsDialog(self.win.bridge, self.win, self.win.settings)
        dlg.modelsDirChanged.connect(lambda _d: self.win.bridge.request(
            generator_choices, lambda c, _e: self.win.inspector.set_generators(c or [], self.ctl.generator)))
        dlg.exec()

    def export_dialog(self) -> None:
        from studio.panels.export_dialog import ExportDialog

        ExportDialog(self.win).exec()
