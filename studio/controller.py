"""The studio controller: owns the Qt-free models, turns engine events into model changes,
and user intents into engine jobs and undoable edits. Views observe the models."""
from __future__ import annotations

import collections
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from engine import workflows
from engine.tracking.depth_check import DEPTH_WARNING   # tracking's depth disagreement: a warning (numpy only)
from engine.workflows.scene import SceneLoaded, thumbnail
from studio.models import (JobsModel, Playback, ProjectView, SegmentsModel, SegmentState, Selection,
                           TrajectoryEdits)
from studio.models import trajectory_edits as edits
from studio.local_preview import LocalPreview
from studio.models.project_view import split_delta
from studio.models.segments import unchanged_frames
from studio.region_control import RegionControl
from studio.timers import OnePerPass, single_shot
from studio.undo import PathEditCommand

QUIET_JOBS = {"coverage", "autosave", "warm-up"}
POINTS_PER_PART = 4096     # a memory delta reaches the viewport's buffer in parts this large ...
PARTS_TURN_S = 0.004       # ... applied for at most about this long per event-loop turn


class StudioController(QObject):
    message = Signal(str, str)          # level, text: shown in the banner and the log
    sceneLoaded = Signal(object)        # engine.workflows.SceneLoaded
    previewShown = Signal(float)        # latency seconds from playhead move to preview shown
    previewReady = Signal(int, object, float)   # the playhead's memory render: request id, color uint8 [H,W,3], coverage
    coverageChanged = Signal()
    overwriteAsked = Signal(str, str)   # folder, why: a Save into a folder holding other work

    def __init__(self, bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.project = ProjectView()
        self.path = TrajectoryEdits()
        self.playback = Playback(self.path.state.settings.fps)
        self.selection = Selection()
        self.segments = SegmentsModel()
        self.jobs = JobsModel()
        self.undo = QUndoStack(self)
        self.region = RegionControl(self, self)       # the region of interest (scene frame), undoable
        self.fuse_in_roi = False                      # Generate fuses back only inside the region
        self.coverage: np.ndarray | None = None
        self.scene_up = np.array([0.0, -1.0, 0.0])   # world up of the open scene (its scene frame)
        self._saves: dict[int, str] = {}                 # save job id -> folder
        self.generate_job_id: int | None = None
        self.scene_job_id: int | None = None
        self.segment_length = workflows.GenerateOptions().segment_length
        self.generator = workflows.GenerateOptions().generator   # registry name (inspector's choice)
        self.preview_latencies: list[float] = []
        self._preview_t0: float | None = None
        self._preview_rid: int | None = None   # the playhead preview asked for last (engine or local)
        self.local_preview = LocalPreview(self)   # previews while a job keeps the engine busy
        self.local_preview.rendered.connect(self._preview_rendered)
        self.local_preview.declined.connect(self._local_declined)
        self._coverage_job: int | None = None
        self._warm_job: int | None = None      # the generator's warm-up while it runs (warm_generator)
        self._loading_path = False
        self._planned_cameras: list = []     # the path cameras the segments were last planned for
        self._coverage_timer = single_shot(self, 300, self.update_coverage)
        self._delta_parts: collections.deque = collections.deque()   # memory-delta parts not applied yet
        self.gui_tasks = OnePerPass(self)      # deferred GUI work, one task per event-loop pass
        self._preview_timer = single_shot(self, 0, self._request_preview)
        self.path.changed.connect(self._path_changed)
        self.playback.frame_changed.connect(self._frame_changed)
        self._connect_bridge()

    def _connect_bridge(self) -> None:
        b = self.bridge
        b.jobStarted.connect(lambda j, n: self.jobs.update(j, state="running"))
        b.progress.connect(lambda j, f, m, e: self.jobs.update(j, fraction=f, message=m, eta_s=e))
        b.jobFinished.connect(self._job_finished)
        b.jobFailed.connect(self._job_failed)
        b.jobCancelled.connect(self._job_cancelled)
        b.memoryChanged.connect(self._memory_changed)
        b.camerasChanged.connect(self._cameras_changed)
        b.segmentStarted.connect(lambda e: self.segments.set_status(e.segment_id, "running", e.frame_start, e.frame_stop))
        b.segmentFinished.connect(self._segment_finished)
        b.frameGenerated.connect(self._frame_generated)
        b.previewRendered.connect(self._preview_rendered)

    # ------------------------------------------------------------------ jobs
    def submit(self, name: str, fn) -> int:
        job_id = self.bridge.submit(name, fn)
        if name not in QUIET_JOBS:
            self.jobs.add(job_id, name)
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        self.bridge.cancel(job_id)

    def open_scene_job(self, name: str, fn) -> int:
        if self._warm_job is not None:
            self.cancel(self._warm_job)     # the generator it warms goes with the scene it replaces
        self.scene_job_id = self.submit(name, fn)
        return self.scene_job_id

    def _job_finished(self, job_id: int, name: str, result) -> None:
        self.jobs.finish(job_id, "finished")
        self._forget_warm(job_id)
        if job_id == self._coverage_job:
            self._coverage_job = None
            self.coverage = np.asarray(result, dtype=np.float32)
            self.coverageChanged.emit()
        elif isinstance(result, SceneLoaded):
            self._scene_loaded(result)
        elif job_id == self.generate_job_id:
            self.generate_job_id = None
            self.message.emit("info", f"generated {result.frames} frames in {len(result.segments)} segments; "
                                      f"memory now {result.memory_points:,} points")
            self.project.mark_dirty()
            self.update_coverage()
        elif name == "register photos":
            self._photos_registered(result)
        elif name == "train splats":
            self.warm_generator()    # the generators were rebuilt for the new splats
        elif name == "save":
            self._saves.pop(job_id, None)
            self.project.set_project(self.project.name, str(result), dirty=False)
            self.message.emit("info", f"saved project to {result}")

    def register_photos(self, paths: list[str | Path]) -> int:
        """Add photos to the open scene (render-and-match); the outcome arrives as a message."""
        return self.submit("register photos", workflows.register_photos_job([Path(p) for p in paths]))

    def _photos_registered(self, result) -> None:
        results, unreadable = result
        added = [r.name for r in results if r.registered]
        missed = [f"{r.name} ({r.reason})" for r in results if not r.registered]
        if added:
            self.project.mark_dirty()
        text = f"registered {len(added)} of {len(results)} photos" + (f": {', '.join(added)}" if added else "")
        if missed:
            text += "; not registered: " + "; ".join(missed)
        if unreadable:
            text += "; " + " ".join(unreadable)
            missed.extend(unreadable)
        self.message.emit("info" if not missed else "warning", text)

    def _job_failed(self, job_id: int, name: str, error: str, kind: str = "") -> None:
        self.jobs.finish(job_id, "failed")
        self._forget_warm(job_id)
        folder = self._saves.pop(job_id, None)
        if folder is not None and kind == "DestinationOccupied":
            self.overwriteAsked.emit(folder, error.split(": ", 1)[-1])
            return
        if job_id == self.generate_job_id:
            self.generate_job_id = None
            self.segments.mark_unfinished("failed")
        if job_id == self._coverage_job:
            self._coverage_job = None
            return
        self.message.emit("error", f"{name} failed: {error}" + (" (the current project is untouched)"
                                                                 if job_id == self.scene_job_id else ""))

    def _job_cancelled(self, job_id: int, name: str) -> None:
        self.jobs.finish(job_id, "cancelled")
        self._forget_warm(job_id)
        if job_id == self.generate_job_id:
            self.generate_job_id = None
            self.segments.mark_unfinished("cancelled")
        if name not in QUIET_JOBS:
            self.message.emit("warning", f"{name} cancelled")

    # ------------------------------------------------------------------ engine -> models
    def _memory_changed(self, event) -> None:
        """A memory delta goes to the project view in parts (``split_delta``), a few per
        event-loop turn: a view's fusion changes ~20k points, whose rows, display share and
        upload cost the GUI thread 5-20 ms at once on a loaded 2-core machine."""
        self.local_preview.memory_changed(event)
        if event.delta is None:
            return
        self._delta_parts.extend(split_delta(event.delta, POINTS_PER_PART))
        self.gui_tasks.request("delta parts", self._apply_delta_parts)

    def _apply_delta_parts(self) -> None:
        t0 = time.perf_counter()
        while self._delta_parts:
            self.project.apply_delta(self._delta_parts.popleft())
            if time.perf_counter() - t0 > PARTS_TURN_S:
                break
        if self._delta_parts:                 # the rest on a later pass, after what is queued
            self.gui_tasks.request("delta parts", self._apply_delta_parts)

    @property
    def points_pending(self) -> bool:
        """Parts of a memory delta still wait to reach the project view."""
        return bool(self._delta_parts)

    def _cameras_changed(self, cameras) -> None:
        thumbs = self.project.thumbnails
        self.project.set_cameras(cameras, thumbs)

    def _scene_loaded(self, result: SceneLoaded) -> None:
        self.undo.clear()
        self.region.load(result.scene_frame)
        self._planned_cameras = []
        if result.scene_frame is not None:
            self.scene_up = result.scene_frame.up_vector
        self.project.set_project(result.name, result.root, dirty=result.root is None)
        traj = result.trajectories.get("main") or next(iter(result.trajectories.values()), None)
        self._loading_path = True
        try:
            if traj is not None:
                self.path.set_state(edits.from_trajectory(traj))
            else:
                self.path.set_state(edits.TrajectoryState(settings=self.path.state.settings))
        finally:
            self._loading_path = False
        self._replan_segments()
        if result.segments:
            recs = sorted(result.segments, key=lambda r: r.frame_start)
            self.segment_length = max(r.frame_stop - r.frame_start for r in recs)
            self._replan_segments()
            loaded = {r.segment_id: SegmentState(r.segment_id, r.frame_start, r.frame_stop, r.status) for r in recs}
            planned = [s for s in self.segments.segments.values() if s.segment_id not in loaded]
            self.segments.replace(sorted([*loaded.values(), *planned], key=lambda s: s.frame_start))
        for index, color in sorted(result.generated.items()):
            self.segments.add_frame(index, color, thumbnail(color))
        self.sceneLoaded.emit(result)
        self.message.emit("warning" if DEPTH_WARNING in result.note else "info",
                          f"opened {result.name}: {result.num_views} views, {result.num_points:,} points"
                          + (f" ({result.note})" if result.note else ""))
        self.update_coverage()
        self.schedule_preview()
        if result.train_splats:
            self.train_splats()      # warms the generator when it ends
        else:
            self.warm_generator()

    def train_splats(self, iterations: int | None = None) -> int:
        """Train (or resume) the scene's Gaussian splats on the engine thread (started by itself
        after a capture / dataset is loaded on CUDA); progress, the held-out preview and PSNR
        show as it goes. Unsaved scenes train into a scratch folder; Save carries the splats."""
        return self.submit("train splats", workflows.train_splats_job(iterations))

    def warm_generator(self) -> int:
        """The generator Generate would use pays its one-time costs now, on the engine thread
        (a quiet job: on CUDA with trained splats the first Generate is then as fast as the
        next; elsewhere it does nothing)."""
        self._warm_job = self.submit("warm-up", workflows.warm_generator_job(self.generate_options()))
        return self._warm_job

    def _forget_warm(self, job_id: int) -> None:
        if job_id == self._warm_job:
            self._warm_job = None

    def _segment_finished(self, event) -> None:
        self.segments.set_status(event.segment_id, "done", event.frame_start, event.frame_stop)

    def _frame_generated(self, event) -> None:
        color, thumb = event.color_u8, event.thumbnail
        if color is None:   # a job that does not make viewer images (not the generate workflow)
            color = event.frame.color
            color = (np.clip(color, 0, 1) * 255 + 0.5).astype(np.uint8) if color.dtype != np.uint8 else color
            thumb = thumbnail(color)
        self.segments.add_frame(event.frame_index, color, thumb)
        if event.frame_index == self.playback.frame:
            self.schedule_preview()

    # ------------------------------------------------------------------ path edits
    def edit(self, after, text: str, merge_key: str | None = None) -> None:
        """Apply an undoable path edit (a no-op when nothing changes)."""
        if after is self.path.state or after == self.path.state:
            return
        self.undo.push(PathEditCommand(self.path, self.path.state, after, text, merge_key))

    def add_keyframe(self, world_from_cam: np.ndarray, fov_y_deg: float) -> None:
        self.edit(edits.add_keyframe(self.path.state, world_from_cam, fov_y_deg), "Add keyframe")
        self.selection.select_keyframes([len(self.path.state.keyframes) - 1])

    def delete_selected(self) -> None:
        if self.selection.keyframes:
            self.edit(edits.remove_keyframes(self.path.state, self.selection.keyframes), "Delete keyframe")
            self.selection.select_keyframes([])

    def nudge_selected(self, delta_world, merge: str = "") -> None:
        """Move the selected keyframes by delta [3] world; consecutive moves with the same
        ``merge`` (key nudges, or one gizmo drag) are one undo step."""
        sel = [i for i in self.selection.keyframes if i < len(self.path.state.keyframes)]
        if sel:
            self.edit(edits.translate_keyframes(self.path.state, sel, delta_world), "Move keyframe",
                      merge_key=f"move{sel}{merge}")

    def rotate_selected(self, axis_cam, angle_deg: float, merge: str = "") -> None:
        """Turn the selected keyframes about their own camera axis (OpenCV camera frame);
        consecutive turns with the same ``merge`` (one gizmo drag) are one undo step."""
        sel = [i for i in self.selection.keyframes if i < len(self.path.state.keyframes)]
        if sel:
            self.edit(edits.rotate_keyframes(self.path.state, sel, axis_cam, angle_deg), "Rotate keyframe",
                      merge_key=f"rotate{sel}{merge}")

    def set_keyframe_field(self, field: str, value) -> None:
        i = self.selection.keyframe
        if not 0 <= i < len(self.path.state.keyframes):
            return
        try:
            if field in ("x", "y", "z"):
                pos = self.path.state.keyframes[i].world_from_cam[:3, 3].copy()
                pos["xyz".index(field)] = float(value)
                after = edits.set_keyframe(self.path.state, i, position=pos)
            elif field == "fov":
                after = edits.set_keyframe(self.path.state, i, fov_y_deg=float(value))
            else:
                after = edits.set_keyframe(self.path.state, i, time=float(value))
        except ValueError as exc:
            self.message.emit("error", str(exc))
            self.path.changed.emit(self.path.state)   # refresh the inspector to the valid value
            return
        self.edit(after, f"Set keyframe {field}", merge_key=f"{field}{i}")

    def set_setting(self, field: str, value) -> None:
        after = edits.with_settings(self.path.state, **{field: value})
        if after.trajectory() is None and len(after.keyframes) >= 2:
            self.message.emit("error", f"{field} = {value} makes the path invalid")
            self.path.changed.emit(self.path.state)
            return
        self.edit(after, f"Set {field}")

    def apply_preset(self, name: str) -> None:
        from engine.trajectory import make_preset

        points = self.project.points.live_xyz()
        cams = self.project.cameras
        captured = np.stack([c.world_from_cam for c in cams]) if cams else None
        s = self.path.state.settings
        try:
            traj = make_preset(name, points=points if len(points) else None, captured_world_from_cam=captured,
                               fov_y_deg=55.0, width=s.width, height=s.height, fps=s.fps)
        except ValueError as exc:
            self.message.emit("error", f"preset {name}: {exc}")
            return
        self.edit(edits.from_trajectory(traj, keep=s), f"Preset {name}")
        self.selection.select_keyframes([])

    def _path_changed(self, state) -> None:
        self.playback.fps = state.settings.fps
        self.playback.set_num_frames(len(self.path.cameras()))
        self.coverage = None
        self.coverageChanged.emit()
        if not self._loading_path:
            self._replan_segments()
            self.project.mark_dirty()
        self._coverage_timer.start()
        self.schedule_preview()

    def _replan_segments(self, keep: bool = True) -> None:
        """Segments of the current path; with ``keep``, generated segments whose cameras the
        last edit did not change keep their frames and thumbnails."""
        cams = self.path.cameras()
        same = unchanged_frames(self._planned_cameras, cams) if keep else set()
        self._planned_cameras = cams
        self.segments.plan(len(cams), self.segment_length, keep_frames=same)

    # ------------------------------------------------------------------ preview & coverage
    def _frame_changed(self, frame: int) -> None:
        """The playhead moved: ask for its preview at once (not from a timer, which would fire
        only after the viewport's repaint of the playhead camera)."""
        self._preview_t0 = time.perf_counter()
        self._preview_timer.stop()
        self._request_preview()

    def schedule_preview(self) -> None:
        if self._preview_t0 is None:
            self._preview_t0 = time.perf_counter()
        self._preview_timer.start()

    def current_camera(self):
        cams = self.path.cameras()
        if not cams:
            return None
        return cams[min(self.playback.frame, len(cams) - 1)]

    def _request_preview(self) -> None:
        cam = self.current_camera()
        if cam is None:
            self._preview_t0 = None
            return
        if self.playback.frame in self.segments.frames:
            self._emit_latency()
            return
        if self.bridge.job_running and self.local_preview.complete():
            # the engine would serve it only at the running job's next yield
            self._preview_rid = self.local_preview.request(cam)
        else:
            self._preview_rid = self.bridge.request_preview(workflows.preview_render(cam))

    def _local_declined(self, request_id: int) -> None:
        if request_id == self._preview_rid and (cam := self.current_camera()) is not None:
            self._preview_rid = self.bridge.request_preview(workflows.preview_render(cam))

    def _preview_rendered(self, request_id: int, color, coverage: float) -> None:
        if request_id != self._preview_rid:
            return          # a viewport-camera preview, or an older playhead one
        self.last_preview = (color, coverage)
        self._emit_latency()
        self.previewReady.emit(request_id, color, coverage)

    def _emit_latency(self) -> None:
        latency = time.perf_counter() - self._preview_t0 if self._preview_t0 is not None else 0.0
        self._preview_t0 = None
        self.preview_latencies.append(latency)
        self.previewShown.emit(latency)

    def update_coverage(self) -> None:
        cams = self.path.cameras()
        if self._coverage_job is not None:
            self.cancel(self._coverage_job)
            self._coverage_job = None
        if cams and self.project.points.size:
            self._coverage_job = self.submit("coverage", workflows.coverage_job(cams))

    # ------------------------------------------------------------------ generation
    def generate(self, only_segment: int | None = None) -> int | None:
        cams = self.path.cameras()
        if len(cams) < 2:
            self.message.emit("error", "Generate needs a camera path: add at least two keyframes (K) or a preset.")
            return None
        if not self.project.points.size:
            self.message.emit("error", "Generate needs a scene: open a video, a project or the demo first.")
            return None
        if self.generate_job_id is not None:
            self.message.emit("warning", "a generation is already running")
            return None
        opts = self.generate_options()
        if only_segment is None:
            self._replan_segments(keep=False)
            only = None
        else:
            if only_segment not in self.segments.segments:
                self.message.emit("error", f"segment {only_segment} does not exist")
                return None
            self.segments.clear_segment_frames(only_segment)
            self.segments.set_status(only_segment, "pending")
            only = {only_segment}
        name = "generate" if only is None else f"regenerate segment {only_segment}"
        job = workflows.generate_job("main", self.path.trajectory(), opts, only)
        self.generate_job_id = self.submit(name, job)
        return self.generate_job_id

    def generate_options(self):
        """What Generate runs: the inspector's generator and segment length."""
        return workflows.GenerateOptions(generator=self.generator, segment_length=self.segment_length,
                                         fuse_in_roi=self.fuse_in_roi and self.region.state.has_box
                                         and self.region.state.enabled)

    def cancel_generation(self) -> None:
        if self.generate_job_id is not None:
            self.cancel(self.generate_job_id)

    # ------------------------------------------------------------------ project files
    def save_project(self, root: str | Path, autosave: bool = False, overwrite: bool = False) -> int:
        """Save into ``root``; a folder holding another project or other files is refused by
        the engine and ``overwriteAsked`` is emitted (the window asks; yes saves with
        ``overwrite``). Nothing is replaced without that answer."""
        traj = self.path.trajectory()
        name = Path(root).name if not autosave else None
        job = workflows.save_project_job(Path(root), traj, "main", name, autosave, overwrite)
        if autosave:
            return self.submit("autosave", job)
        job_id = self.submit("save", job)
        self._saves[job_id] = str(root)
        return job_id
