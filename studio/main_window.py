"""The main window: viewport (center, with a jobs strip over its bottom edge while jobs run),
preview and inspector (right), timeline with the log as a tab behind it (bottom). Menus,
shortcuts, drag and drop, QSettings (maximised on first start, then the last geometry),
autosave and recovery. Before a path exists the preview follows the viewport camera."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from engine.workflows.preview import generator_choices, nearest_photo_request, preview_render, view_image_request
from studio import open_input
from studio.autosave import Autosave
from studio.controller import StudioController
from studio.panels.banner import MessageBanner
from studio.panels.inspector import Inspector
from studio.panels.jobs_panel import JobsPanel
from studio.panels.log_panel import LogPanel
from studio.panels.preview import PreviewPane
from studio.timeline.timeline import TimelineWidget
from studio.timers import single_shot
from studio.viewport.adapters import PointsAdapter
from studio.viewport.viewport import Viewport3D
from studio.window_actions import WindowActions

MAX_RECENT = 8
LAYOUT_VERSION = 2      # dock layout; 2: no jobs dock (a strip floats over the viewport), log behind the timeline
VIEWPORT_PREVIEW_MS = 120   # the memory from the viewport camera, after it stops moving (no path yet)
PREVIEW_FIRST_S = 0.15      # a playhead move: the viewport's redraw waits this long for the preview


class MainWindow(QMainWindow):
    def __init__(self, bridge, settings: QSettings | None = None, autosave_dir: Path | None = None,
                 autosave_interval_s: float = 60.0) -> None:
        super().__init__()
        self.setWindowTitle("AnyRecon Studio")
        self.setObjectName("AnyReconStudio")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("AnyRecon", "Studio")
        self.bridge = bridge
        self.ctl = StudioController(bridge, self)
        self._build_widgets()
        self._build_docks()
        self.actions_ = WindowActions(self)
        self._wire()
        self.autosave = Autosave(self, autosave_dir, autosave_interval_s)
        self.resize(1280, 760)
        self._restore_settings()

    # ------------------------------------------------------------------ layout
    def _build_widgets(self) -> None:
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        self.banner = MessageBanner()
        self.viewport = Viewport3D()
        col.addWidget(self.banner)
        col.addWidget(self.viewport, 1)
        self.setCentralWidget(central)
        self.jobs_panel = JobsPanel(self.ctl.jobs)     # a slim strip over the viewport's bottom edge,
        self.jobs_panel.float_over(central)            # shown only while jobs run
        self.inspector = Inspector()
        self.preview = PreviewPane()
        self.timeline = TimelineWidget(self.ctl.playback)
        self.log = LogPanel()

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        right = Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.preview_dock = self._dock("Preview", self.preview, right)
        scroll = QScrollArea()
        scroll.setWidget(self.inspector)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(self.inspector.sizeHint().width() + 18)
        self.inspector_dock = self._dock("Inspector", scroll, right)
        self.timeline_dock = self._dock("Timeline", self.timeline, bottom)
        self.log_dock = self._dock("Log", self.log, bottom)      # a tab behind the timeline
        self.tabifyDockWidget(self.timeline_dock, self.log_dock)
        self.timeline_dock.raise_()
        self.resizeDocks([self.preview_dock, self.inspector_dock], [320, 360], Qt.Orientation.Vertical)
        self.resizeDocks([self.timeline_dock], [190], Qt.Orientation.Vertical)
        self.resizeDocks([self.preview_dock], [360], Qt.Orientation.Horizontal)

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        ctl, vp, insp = self.ctl, self.viewport, self.inspector
        ctl.message.connect(self.show_message)
        ctl.jobs.log.connect(self.log.add)
        pv = ctl.project
        self.points_adapter = PointsAdapter(pv, vp.points, parent=self, tasks=ctl.gui_tasks)
        pv.points_appended.connect(self._maybe_frame)
        pv.points_reset.connect(lambda: self._maybe_frame(0, 0))
        pv.cameras_changed.connect(lambda: vp.set_captured_cameras(pv.cameras))
        pv.project_changed.connect(self._update_title)
        ctl.path.changed.connect(lambda _s: self._redraw_path())
        ctl.coverageChanged.connect(self._redraw_path)
        ctl.selection.keyframes_changed.connect(self._redraw_path)
        ctl.selection.view_changed.connect(self._show_view)
        ctl.playback.frame_changed.connect(lambda _f: self._playhead_moved())
        ctl.segments.changed.connect(self._redraw_segments)
        ctl.segments.frame_added.connect(lambda _i: self._film_timer.start())
        ctl.bridge.previewRendered.connect(self._preview_rendered)   # the viewport camera's previews
        ctl.previewReady.connect(self._path_preview)                 # the playhead's (engine or local)
        ctl.previewShown.connect(lambda _lat: self._show_generated_if_any())
        ctl.sceneLoaded.connect(self._scene_loaded)
        ctl.overwriteAsked.connect(self._ask_overwrite)
        vp.keyframeClicked.connect(lambda i: ctl.selection.select_keyframes([i]))
        vp.keyframeDragged.connect(lambda delta: ctl.nudge_selected(delta, merge=f"drag{vp.drag_number % 2}"))
        vp.keyframeRotated.connect(lambda axis, deg, drag: ctl.rotate_selected(axis, deg, merge=f"drag{drag % 2}"))
        vp.regionEdited.connect(lambda state: ctl.region.edit(state, "Drag region face"))
        ctl.region.model.changed.connect(vp.set_region)
        self.bridge.splatProgress.connect(self._splat_progress)
        vp.viewClicked.connect(ctl.selection.select_view)
        vp.emptyClicked.connect(lambda: ctl.selection.select_keyframes([]))
        self.timeline.keyframeClicked.connect(self._timeline_keyframe)
        insp.keyframeEdited.connect(ctl.set_keyframe_field)
        insp.deleteKeyframes.connect(ctl.delete_selected)
        insp.settingEdited.connect(ctl.set_setting)
        insp.presetRequested.connect(ctl.apply_preset)
        insp.displayChanged.connect(self._display_changed)
        insp.generateRequested.connect(lambda: ctl.generate())
        insp.cancelRequested.connect(ctl.cancel_generation)
        insp.regenerateRequested.connect(lambda s: ctl.generate(only_segment=s))
        insp.segment_length.valueChanged.connect(self._segment_length)
        insp.generatorChosen.connect(lambda name: setattr(ctl, "generator", name))
        self.bridge.request(generator_choices, lambda choices, _err: insp.set_generators(choices or [], ctl.generator))
        self.jobs_panel.cancelRequested.connect(ctl.cancel)
        self._film_timer = QTimer(self)
        self._film_timer.setSingleShot(True)
        self._film_timer.setInterval(150)
        self._film_timer.timeout.connect(self._redraw_filmstrip)
        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(ctl.playback.advance)
        ctl.playback.playing_changed.connect(self._playing_changed)
        self._vp_timer = single_shot(self, VIEWPORT_PREVIEW_MS, self._request_viewport_preview)
        self._vp_preview_id: int | None = None      # the latest viewport-camera preview request
        self._vp_pose: np.ndarray | None = None      # the viewport pose that request was for
        vp.canvas.events.draw.connect(self._viewport_drawn)
        pv.points_appended.connect(lambda _a, _b: self._viewport_moved())    # the memory grew: render again
        ctl.path.changed.connect(lambda _s: self._viewport_moved())
        self._ref_timer = single_shot(self, 60, self._request_reference)
        self._ref_request = 0
        self.preview.compareChanged.connect(lambda _mode: self._ref_timer.start())
        ctl.playback.frame_changed.connect(lambda _f: self._ref_timer.start() if self.preview.mode != "off" else None)
        ctl.path.changed.connect(lambda _s: self._ref_timer.start() if self.preview.mode != "off" else None)
        self._framed = False
        # framing the scene (percentiles, a camera move whose transform update reaches every
        # visual) runs as a task of its own (ctl.gui_tasks: one per event-loop pass), after the
        # points or the scene arrived
        insp.refresh(ctl.path.state, -1)           # the path's settings from the start (fps, tension)
        self.demo_ground_truth = str(self.settings.value("ingest/demoGroundTruth", "false")).lower() == "true"

    @property
    def busy_timers(self) -> bool:
        """A preview or compare request is about to be sent, or a paced viewport frame is due
        (tests and --exit-when-idle wait)."""
        return (self._vp_timer.isActive() or self._ref_timer.isActive() or self._film_timer.isActive()
                or self.viewport.canvas.pending or self.ctl.points_pending or self.ctl.gui_tasks.busy)

    # ------------------------------------------------------------------ preview before a path
    def viewport_camera(self, width: int = 320):
        """The viewport camera as an engine Camera (plain data) ``width`` pixels wide."""
        from engine.geometry.camera import Camera, intrinsics_from_fov

        w_px, h_px = self.viewport.canvas.size
        height = max(1, round(width * h_px / max(w_px, 1)))
        return Camera(intrinsics_from_fov(self.viewport.fov_y_deg, width, height), width, height,
                      self.viewport.view_world_from_cam())

    def _viewport_drawn(self, _event=None) -> None:
        """While there is no path, the preview follows the viewport camera (once it rests)."""
        if self.ctl.path.cameras() or not self.ctl.project.points.size:
            return
        pose = self.viewport.view_world_from_cam()
        if self._vp_pose is None or not np.allclose(pose, self._vp_pose, atol=1e-9):
            self._vp_pose = pose
            self._vp_timer.start()

    def _viewport_moved(self) -> None:
        self._vp_pose = None
        self._viewport_drawn()

    def _request_viewport_preview(self) -> None:
        if self.ctl.path.cameras() or not self.ctl.project.points.size:
            return
        self._vp_preview_id = self.bridge.request_preview(preview_render(self.viewport_camera()))
        if self.preview.mode != "off":
            self._ref_timer.start()

    # ------------------------------------------------------------------ compare with a photo
    def _request_reference(self) -> None:
        """Ask the engine for the captured photo nearest (by pose) to the camera shown."""
        if self.preview.mode == "off" or not self.ctl.project.cameras:
            return
        cam = self.ctl.current_camera()
        pose = cam.world_from_cam if cam is not None else self.viewport.view_world_from_cam()
        self._ref_request += 1
        asked = self._ref_request

        def answered(photo, error) -> None:
            if asked != self._ref_request:
                return                      # the playhead moved on: a newer request is out
            if photo is None:
                self.preview.set_reference(None, "", f"no captured photo to compare with{': ' + error if error else ''}")
                return
            self.preview.set_reference(photo.image, photo.name,
                                       f"vs. photo {photo.name}, nearest by pose: {photo.distance:.2f} away, "
                                       f"{photo.angle_deg:.0f}° apart")
        self.bridge.request(nearest_photo_request(pose), answered)

    # ------------------------------------------------------------------ model -> views
    def _redraw_path(self) -> None:
        ctl = self.ctl
        state = ctl.path.state
        kf_pos = np.array([k.world_from_cam[:3, 3] for k in state.keyframes]).reshape(-1, 3)
        sel = ctl.selection.keyframes
        self.viewport.set_path(ctl.path.cameras(), ctl.coverage, kf_pos, sel,
                               np.array([k.world_from_cam for k in state.keyframes]).reshape(-1, 4, 4))
        frames = [ctl.path.frame_of_keyframe(i) for i in range(len(state.keyframes))] if ctl.path.cameras() else []
        self.timeline.set_keyframes(frames, sel)
        self.timeline.set_coverage(ctl.coverage)
        self.inspector.refresh(state, ctl.selection.keyframe)
        self._redraw_playhead()

    def _playhead_moved(self) -> None:
        """The preview (already asked for by the controller) goes first: the viewport's redraw
        of the playhead camera waits for it (at most PREVIEW_FIRST_S)."""
        if self.ctl.playback.frame not in self.ctl.segments.frames:
            self.viewport.canvas.hold(PREVIEW_FIRST_S)
        self._redraw_playhead()

    def _redraw_playhead(self) -> None:
        self.viewport.set_playhead_camera(self.ctl.current_camera())

    def _redraw_segments(self) -> None:
        self.timeline.set_segments(self.ctl.segments.segments.values())
        self._film_timer.start()

    def _redraw_filmstrip(self) -> None:
        self.timeline.set_filmstrip(self.ctl.segments.thumbs, self.ctl.playback.num_frames)

    def _preview_rendered(self, rid: int, color, coverage: float) -> None:
        if rid == self._vp_preview_id and not self.ctl.path.cameras():
            self.preview.show_image(color, "viewport", f"memory from the viewport camera · coverage {coverage:.0%}"
                                    " · no path yet: K adds a keyframe from this view")

    def _path_preview(self, rid: int, color, coverage: float) -> None:
        if self.ctl.playback.frame not in self.ctl.segments.frames:
            self.preview.show_image(color, "memory", f"memory render · frame {self.ctl.playback.frame} · "
                                    f"coverage {coverage:.0%}")
        self.viewport.canvas.release(after_s=0.02)     # the preview's repaint first, then the 3D view

    def _show_generated_if_any(self) -> None:
        frame = self.ctl.playback.frame
        color = self.ctl.segments.frames.get(frame)
        if color is not None:
            seg = self.ctl.segments.segment_of_frame(frame)
            self.preview.show_image(color, "generated", f"generated · frame {frame} · segment {seg}")

    def _show_view(self, index: int) -> None:
        self.viewport.set_selected_view(index)
        cams = self.ctl.project.cameras
        if 0 <= index < len(cams):
            name = cams[index].name

            def show(answer, error) -> None:
                if answer is not None and answer[1] is not None:
                    self.preview.show_image(answer[1], "captured", f"captured photo · {name}")
            self.bridge.request(view_image_request(index), show)

    def _splat_progress(self, event) -> None:
        if event.preview is not None:
            psnr = f" · held-out PSNR {event.psnr:.2f} dB" if event.psnr is not None else ""
            self.preview.show_image(event.preview, "splats", f"splats · step {event.iteration}{psnr}")

    def _maybe_frame(self, _a: int, _b: int) -> None:
        # points cover their voxel on screen (as the engine splats them), never below 3 px;
        # when only a share of the points is shown, each stands for 1/share of the surface
        points = self.ctl.project.points
        self.viewport.set_point_world_size(1.5 * self.ctl.project.voxel_size / np.sqrt(points.keep_fraction))
        if points.budget is None and points.size:
            # a display budget keeps repaints short: software GL draws ~1 M points/s
            default = 40_000 if self.viewport.software_gl else 4_000_000
            points.budget = int(self.settings.value("display/point_budget", default))
            if points.num_alive > points.budget:
                points.thin()
                self.ctl.project.points_reset.emit()
                return
        if not self._framed and self.ctl.project.points.size > 500:
            self.ctl.gui_tasks.request("frame", self._frame_due)   # a later pass, not this one

    def _frame_due(self) -> None:
        self._frame_scene()
        self._viewport_moved()

    def _frame_scene(self) -> None:
        xyz = self.ctl.project.points.live_xyz()
        xyz = xyz[:: max(1, len(xyz) // 20000)]      # framing needs no more (percentiles, median)
        if len(xyz):
            lo, center, hi = np.percentile(xyz, [2, 50, 98], axis=0)     # (50: the median)
            cams = self.ctl.project.cameras
            if cams:
                # start where the capture was shot from, a little behind it, looking at the
                # middle of what it saw: the inside of a room, not the back of its walls
                eye = np.mean([c.world_from_cam[:3, 3] for c in cams], axis=0)
                self.viewport.look_from(center + 1.3 * (eye - center), center)
            else:
                self.viewport.frame_points(lo, hi)
            self.viewport.set_captured_cameras(self.ctl.project.cameras)
            self._framed = True

    def _scene_loaded(self, result) -> None:
        self.inspector.segment_length.blockSignals(True)
        self.inspector.segment_length.setValue(self.ctl.segment_length)
        self.inspector.segment_length.blockSignals(False)
        self.viewport.set_world_up(self.ctl.scene_up)
        self.ctl.gui_tasks.request("frame", self._frame_due)   # a later pass (a camera move is 5-10 ms)
        if result.root:
            self.actions_.add_recent(result.root)
        self._redraw_path()

    def screenshot(self):
        """The window as a QPixmap, the 3D viewport included (``grab()`` misses its GL window)."""
        from studio.viewport.snapshot import grab_window

        return grab_window(self)

    def confirm(self, title: str, text: str) -> bool:
        """Ask the artist a yes/no question (tests replace this)."""
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_overwrite(self, folder: str, why: str) -> None:
        if self.confirm("Replace folder?", f"{why}\n\nReplace what {folder} holds with this project?"):
            self.ctl.save_project(folder, overwrite=True)
        else:
            self.show_message("warning", f"not saved: {folder} was left as it was")

    def _timeline_keyframe(self, index: int) -> None:
        self.ctl.selection.select_keyframes([index])
        self.ctl.playback.set_frame(self.ctl.path.frame_of_keyframe(index))

    def _display_changed(self, what: str, value) -> None:
        pts = self.viewport.points
        if what == "size":
            pts.set_style(size=value)
        elif what == "captured":
            pts.set_style(show_captured=value)
        elif what == "generated":
            pts.set_style(show_generated=value)
        elif what == "color":
            pts.set_style(mode=value)
        self.settings.setValue(f"display/{what}", value)

    def _segment_length(self, value: int) -> None:
        self.ctl.segment_length = int(value)
        if self.ctl.generate_job_id is None:
            self.ctl._replan_segments()

    def _playing_changed(self, playing: bool) -> None:
        if playing:
            self._play_timer.start(int(1000 / max(self.ctl.playback.fps, 1)))
        else:
            self._play_timer.stop()

    def _update_title(self) -> None:
        p = self.ctl.project
        self.setWindowTitle(f"{p.name}{' *' if p.dirty else ''} — AnyRecon Studio")

    # ------------------------------------------------------------------ messages & input
    def show_message(self, level: str, text: str) -> None:
        self.log.add(level, text)
        if level in ("error", "warning"):
            self.banner.show_message(level, text)

    def open_path(self, path: str | Path) -> bool:
        """Open a video, image folder, dataset, project or camera path; False (with a message
        in the window) when it cannot be opened. The current project stays as it is then."""
        plan = open_input.classify(path, self.demo_ground_truth)
        if plan.kind == "error":
            self.show_message("error", plan.message)
            return False
        if plan.kind == "camera-path":
            return self.actions_.import_camera_path(plan.path)
        self._framed = False
        self.ctl.open_scene_job(f"open {plan.path.name}", plan.job)
        self.show_message("info", f"opening {plan.path} ({plan.kind})")
        return True

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            self.show_message("error", "Only local files and folders can be dropped here.")
            return
        event.acceptProposedAction()
        if all(Path(u).suffix.lower() in open_input.IMAGE_EXT and Path(u).is_file() for u in urls):
            self.add_photos(urls)
            return
        self.open_path(urls[0])

    def add_photos(self, paths: list[str]) -> bool:
        """Dropped photo files join the open scene (registered by render-and-match); without a
        scene there is nothing to register them against."""
        if self.ctl.project.points.num_alive == 0:
            self.show_message("error", "Single photos are added to a tracked scene: open or track one first "
                                       "(drop a folder of photos or a video to reconstruct a new scene).")
            return False
        self.ctl.register_photos(paths)
        self.show_message("info", f"registering {len(paths)} photo(s) into the scene")
        return True

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        """The last geometry and dock layout; on first start (none saved) the whole screen."""
        s = self.settings
        geo, state = s.value("window/geometry"), s.value("window/state")
        if geo is None or not self.restoreGeometry(geo):
            self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)
        size = s.value("display/size")
        if size is not None:
            self.inspector.point_size.setValue(int(size))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()
        self.ctl.playback.set_playing(False)
        self.ctl.local_preview.close()
        self.autosave.clean_exit()
        super().closeEvent(event)
