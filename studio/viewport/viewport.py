"""The 3D viewport widget: a VisPy SceneCanvas with a turntable camera.

Everything is drawn under one ``world`` node whose transform turns the scene's world up (the
project's scene frame) onto the turntable's up axis (-y), so an arbitrary COLMAP world is
shown upright; every method here takes and returns world coordinates.

Adapters (one per model type) keep the visuals in sync with the Qt-free models:
points (ProjectView), captured frusta (ProjectView), the path (TrajectoryEdits + coverage +
Selection), the playhead camera (Playback) and the region of interest (RegionModel, drawn by
RegionBox). Picking: a click without drag selects the nearest keyframe or captured camera within
PICK_PX pixels. A press on a gizmo handle or ring drags the keyframe, on a face handle of the
region box drags that face; the view only orbits when neither is hit.

Redraws are paced (``PacedCanvas``): model changes coalesce into a few frames per second, so
that streaming points or a generation do not keep the GUI thread painting.

Shader programs are composed ahead of use (``prebuild_programs``): VisPy builds a visual's
program in Python on its first draw (10-25 ms of GUI-thread CPU each, the first one more while
Python's regex cache fills), which made the first frames after a scene or a path arrived the
longest GUI stalls. Every visual is made with data of the kind it will show (per-vertex colours
where they come later), so that its first real draw finds the program built; the builds run one
per event-loop turn after the viewport is made, before any scene geometry arrives.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vispy import scene
from vispy.visuals.transforms import MatrixTransform

from engine.geometry.conventions import world_from_cam_opencv_from_opengl
from studio.viewport.geometry import coverage_colors, frustum_segments
from studio.viewport.gizmo import TranslateGizmo
from studio.viewport.paced_canvas import PacedCanvas
from studio.viewport.points_visual import GrowingPoints
from studio.viewport.region_box import RegionBox

BACKGROUND = (0.11, 0.12, 0.14, 1.0)
PICK_PX = 14.0
GIZMO_SIZE = 0.2          # move handles this fraction of the orbit distance long (~85 px at 55 deg FOV)


def leaf_visuals(root) -> list:
    """The drawable visuals under scene node ``root``: compound visuals (a Line) give their
    parts, each with a program of its own."""
    from vispy.visuals.visual import CompoundVisual, Visual

    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if isinstance(node, CompoundVisual):
            out.extend(v for v in node._subvisuals if not isinstance(v, CompoundVisual))
        elif isinstance(node, Visual):
            out.append(node)
        stack.extend(reversed(node.children))
    return out


def prebuild_program(visual) -> bool:
    """Compose ``visual``'s shader program as its first draw would (VisPy's Python shader
    compiler; the GL compile itself happens with the next frame's commands, on the render
    thread). False when there was nothing to build (built already, or no data to prepare)."""
    program = visual._program
    if not getattr(program, "_need_build", False):
        return False
    try:
        if visual._prepare_draw(view=visual) is False:
            return False
        program.build_if_needed()
    except Exception:  # noqa: BLE001 (a warm-up: the first draw builds it then, as before)
        return False
    return True


class Viewport3D(QWidget):
    """Emits ``keyframeClicked(index)`` / ``viewClicked(index)`` / ``emptyClicked()``."""

    keyframeClicked = Signal(int)
    keyframeDragged = Signal(object)      # world displacement [3] of the selected keyframes
    keyframeRotated = Signal(object, float, int)   # camera axis [3] (OpenCV), degrees, drag number
    regionEdited = Signal(object)         # the region box (studio.models.region.RegionState) after a drag
    viewClicked = Signal(int)
    emptyClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # the canvas draws into a native GL window in a window container (no QOpenGLWidget:
        # one would make Qt compose the *whole* main window with OpenGL on every repaint of any
        # widget, ~25 ms each on llvmpipe); the backend presents each frame itself (autoswap off)
        self.canvas = PacedCanvas(keys=None, bgcolor=BACKGROUND, show=False, parent=self, autoswap=False)
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = scene.TurntableCamera(up="-y", fov=55.0, distance=6.0, elevation=20.0,
                                                 azimuth=180.0, center=(0.0, 0.9, 0.0))
        self.world = scene.Node(parent=self.view.scene)
        self.world.transform = MatrixTransform()     # world -> turntable frame (set_world_up)
        self.display_from_world = np.eye(3)          # rotation world -> the turntable's frame
        self.points = GrowingPoints(parent=self.world)
        self.captured = scene.visuals.Line(pos=np.zeros((2, 3)), color=(0.6, 0.7, 0.8, 0.9), connect="segments",
                                           parent=self.world)
        self.selected_view = scene.visuals.Line(pos=np.zeros((2, 3)), color=(1.0, 1.0, 0.3, 1.0),
                                                connect="segments", width=2, parent=self.world)
        # the path and its frusta get per-vertex colours (coverage): made with them, so that their
        # programs (a colour attribute, not a constant) can be built before the first path
        self.path = scene.visuals.Line(pos=np.zeros((2, 3)), color=np.ones((2, 4), np.float32), width=3,
                                       parent=self.world)
        self.path_frusta = scene.visuals.Line(pos=np.zeros((2, 3)), color=np.ones((2, 4), np.float32),
                                              connect="segments", parent=self.world)
        self.keyframes = scene.visuals.Markers(parent=self.world)
        self.keyframes.set_data(np.zeros((1, 3), np.float32), face_color=np.ones((1, 4), np.float32),
                                size=np.full(1, 11.0), edge_color="black")     # hidden until a path
        self.playhead = scene.visuals.Line(pos=np.zeros((2, 3)), color=(1.0, 0.85, 0.2, 1.0), connect="segments",
                                           width=2, parent=self.world)
        for vis in (self.captured, self.selected_view, self.path, self.path_frusta, self.playhead):
            vis.visible = False
        # the path, its keyframes and the playhead camera stay visible through walls: they are
        # what the artist is editing (drawn last, without the depth test)
        for order, vis in enumerate((self.path, self.path_frusta, self.keyframes, self.playhead), start=10):
            vis.set_gl_state("translucent", depth_test=False)
            vis.order = order
        self.keyframes.visible = False
        self._cameras: list = []
        self._kf_positions = np.zeros((0, 3))
        self._press = None
        self.point_world_size = 0.0
        self.renderer = ""                   # the GL renderer's name, once the context exists
        self.canvas.events.initialize.connect(self._on_initialize)
        self.canvas.events.resize.connect(self._update_point_scale)
        self.gizmo = TranslateGizmo(self.world)
        self.region = RegionBox(self.world)
        self.drag_number = 0                 # counts gizmo drags: one undo step each
        self.view.camera.transform.changed.connect(self._camera_moved)
        self.canvas.events.mouse_press.connect(self._on_press)
        self.canvas.events.mouse_move.connect(self._on_move)
        self.canvas.events.mouse_release.connect(self._on_release)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas.native)
        self.frustum_depth = 0.25
        self._unbuilt = leaf_visuals(self.view.scene)
        self._prebuild_timer = QTimer(self)
        self._prebuild_timer.setInterval(0)
        self._prebuild_timer.timeout.connect(self._prebuild_next)
        self._prebuild_timer.start()

    def _prebuild_next(self) -> None:
        """One visual's program per event-loop turn (a build is 10-25 ms of CPU)."""
        while self._unbuilt:
            if prebuild_program(self._unbuilt.pop(0)):
                return
        self._prebuild_timer.stop()

    def prebuild_programs(self) -> int:
        """Build every visual's program not built yet, now (returns how many were built)."""
        built = 0
        while self._unbuilt:
            built += prebuild_program(self._unbuilt.pop(0))
        self._prebuild_timer.stop()
        return built

    def _on_initialize(self, event=None) -> None:
        from vispy.gloo import gl

        try:
            self.renderer = str(gl.glGetParameter(gl.GL_RENDERER))
        except Exception:  # no context yet: keep the default budget
            self.renderer = ""

    @property
    def software_gl(self) -> bool:
        """True on a software rasterizer (llvmpipe, softpipe, swrast): ~1 M points/s."""
        name = self.renderer.lower()
        return any(k in name for k in ("llvmpipe", "softpipe", "swrast", "software"))

    def set_point_world_size(self, meters: float) -> None:
        """Points cover this many meters on screen (the memory's splat size); 0 = fixed pixels."""
        self.point_world_size = float(meters)
        self._update_point_scale()

    def _update_point_scale(self, event=None) -> None:
        h = self.canvas.physical_size[1]
        focal_px = 0.5 * h / np.tan(np.radians(self.view.camera.fov) / 2.0)
        self.points.set_perspective(self.point_world_size, focal_px)

    # ------------------------------------------------------------------ camera sync
    def view_world_from_cam(self) -> np.ndarray:
        """The viewport camera as world_from_cam [4,4] with OpenCV axes."""
        gl = np.asarray(self.view.camera.transform.matrix, dtype=np.float64).T  # row-vector -> column
        w = world_from_cam_opencv_from_opengl(gl)               # display_from_cam
        w[:3] = self.display_from_world.T @ w[:3]
        u, _, vt = np.linalg.svd(w[:3, :3])
        w[:3, :3] = u @ vt
        return w

    @property
    def fov_y_deg(self) -> float:
        return float(self.view.camera.fov)

    def look_from(self, eye: np.ndarray, center: np.ndarray) -> None:
        """Orbit camera at ``eye`` [3] looking at ``center`` [3] (world). For VisPy's turntable
        with up = -y, the eye sits at center + d * (-cos(el)cos(az), -sin(el), -cos(el)sin(az))."""
        eye = self.display_from_world @ np.asarray(eye, float)
        center = self.display_from_world @ np.asarray(center, float)
        offset = eye - center
        dist = float(np.linalg.norm(offset))
        if dist < 1e-9:
            return
        d = offset / dist
        cam = self.view.camera
        with cam._block_updates():       # VisPy: one transform update for the four, not four
            cam.center = tuple(float(v) for v in center)
            cam.distance = dist
            cam.elevation = float(np.degrees(np.arcsin(np.clip(-d[1], -1.0, 1.0))))
            cam.azimuth = float(np.degrees(np.arctan2(-d[2], -d[0])))
        cam.view_changed()

    def frame_points(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Aim the turntable at the middle of world bounds lo/hi [3]."""
        center = self.display_from_world @ (0.5 * (np.asarray(lo) + np.asarray(hi)))
        cam = self.view.camera
        with cam._block_updates():       # one transform update for both
            cam.center = tuple(float(v) for v in center)
            cam.distance = float(np.linalg.norm(np.asarray(hi) - np.asarray(lo))) * 0.75
        cam.view_changed()
        self.frustum_depth = max(0.05, 0.04 * float(np.linalg.norm(np.asarray(hi) - np.asarray(lo))))

    def set_world_up(self, up) -> None:
        """Show the world with ``up`` [3] (world) pointing up on screen."""
        from engine.geometry.scene_frame import DEFAULT_UP, rotation_taking

        rot = rotation_taking(np.asarray(up, float), DEFAULT_UP)
        if np.allclose(rot, self.display_from_world):
            return
        self.display_from_world = rot
        matrix = np.eye(4)
        matrix[:3, :3] = rot.T                                  # VisPy maps row vectors: p @ M
        # the node's MatrixTransform (made in __init__) changes in place: assigning a new
        # transform rebuilds every visual's transform chain (~25 ms on the GUI thread)
        self.world.transform.matrix = matrix
        self.canvas.update()

    # ------------------------------------------------------------------ visuals
    def set_captured_cameras(self, cameras) -> None:
        self._cameras = list(cameras)
        self.captured.visible = bool(self._cameras)
        if self._cameras:
            self.captured.set_data(pos=frustum_segments(self._cameras, self.frustum_depth))

    def set_selected_view(self, index: int) -> None:
        ok = 0 <= index < len(self._cameras)
        self.selected_view.visible = ok
        if ok:
            self.selected_view.set_data(pos=frustum_segments([self._cameras[index]], self.frustum_depth * 1.3))

    def set_path(self, cameras, coverage: np.ndarray | None, keyframe_positions: np.ndarray,
                 selected: tuple[int, ...], keyframe_rotations: np.ndarray | None = None) -> None:
        """Path curve [N] cameras colored by coverage, small frusta every few frames, keyframes
        (positions [K,3] world; rotations [K,3,3] world_from_cam orient the gizmo's rings)."""
        self._kf_positions = np.asarray(keyframe_positions, dtype=np.float64).reshape(-1, 3)
        has_path = len(cameras) >= 2
        self.path.visible = self.path_frusta.visible = has_path
        if has_path:
            centers = np.stack([c.world_from_cam[:3, 3] for c in cameras]).astype(np.float32)
            cov = coverage if coverage is not None and len(coverage) == len(cameras) else None
            colors = coverage_colors(cov) if cov is not None else np.tile([[0.95, 0.95, 0.95, 1.0]], (len(cameras), 1))
            self.path.set_data(pos=centers, color=colors.astype(np.float32))
            step = max(1, len(cameras) // 16)
            picks = list(range(0, len(cameras), step))
            segs = frustum_segments([cameras[i] for i in picks], self.frustum_depth * 0.7)
            seg_colors = np.repeat(colors[picks], 18, axis=0)
            self.path_frusta.set_data(pos=segs, color=seg_colors)
        self.keyframes.visible = len(self._kf_positions) > 0
        if len(self._kf_positions):
            face = np.tile([[0.2, 0.6, 1.0, 1.0]], (len(self._kf_positions), 1))
            size = np.full(len(self._kf_positions), 11.0)
            for i in selected:
                if i < len(face):
                    face[i] = (1.0, 0.85, 0.2, 1.0)
                    size[i] = 16.0
            self.keyframes.set_data(self._kf_positions.astype(np.float32), face_color=face, size=size,
                                    edge_color="black")
        sel = [i for i in selected if i < len(self._kf_positions)]
        anchor = self._kf_positions[sel].mean(axis=0) if sel else None
        rotation = None
        if sel and keyframe_rotations is not None and len(keyframe_rotations) > sel[0]:
            rotation = np.asarray(keyframe_rotations[sel[0]], dtype=np.float64)[:3, :3]
        self.gizmo.set_anchor(anchor, self._gizmo_length(), rotation)

    def _gizmo_length(self) -> float:
        return GIZMO_SIZE * float(self.view.camera.distance)

    def _camera_moved(self, event=None) -> None:
        """Zooming keeps the gizmo the same size on screen."""
        g = self.gizmo
        if g.anchor is not None and g.drag_axis is None and abs(self._gizmo_length() - g.length) > 0.02 * g.length:
            g.set_anchor(g.anchor, self._gizmo_length(), g.rotation)

    def set_region(self, state) -> None:
        """Draw the region of interest (studio.models.region.RegionState; no box hides it)."""
        if self.region.drag_face is None:
            self.region.set_state(state)
            self.canvas.update()

    def set_playhead_camera(self, camera) -> None:
        self.playhead.visible = camera is not None
        if camera is not None:
            self.playhead.set_data(pos=frustum_segments([camera], self.frustum_depth * 1.6))

    # ------------------------------------------------------------------ picking
    def _screen(self, points: np.ndarray) -> np.ndarray:
        tr = self.world.node_transform(self.canvas.scene)
        mapped = tr.map(np.asarray(points, dtype=np.float64))
        screen = mapped[:, :2] / mapped[:, 3:4]
        # points behind the eye have no place on screen (NaN never wins a pick)
        return np.where(self._in_front(points)[:, None], screen, np.nan)

    def _in_front(self, points: np.ndarray) -> np.ndarray:
        world_from_display = self.display_from_world.T
        eye = world_from_display @ self.view.camera.transform.map([0.0, 0.0, 0.0])[:3]
        center = world_from_display @ np.asarray(self.view.camera.center, dtype=np.float64)
        forward = (center - eye) / max(np.linalg.norm(center - eye), 1e-9)
        return (np.asarray(points, dtype=np.float64) - eye) @ forward > 1e-3

    def _on_press(self, event) -> None:
        self._press = np.asarray(event.pos, dtype=float)
        if event.button != 1:
            return
        handle = self.gizmo.hit(self._press, self._screen)
        if handle is not None:
            self.gizmo.begin(handle, self._press, self._screen)
            self.drag_number += 1
            self.view.camera.interactive = False     # the drag moves the keyframe, not the view
            return
        face = self.region.hit(self._press, self._screen)
        shift = "Shift" in [getattr(k, "name", str(k)) for k in (event.modifiers or ())]
        if face is not None and self.region.begin(face, self._press, self._screen, move=shift):
            self.view.camera.interactive = False     # the drag moves the box's face, not the view

    def _on_move(self, event) -> None:
        pos = np.asarray(event.pos, dtype=float)
        if self.region.drag_face is not None:
            if self.region.drag(pos) is not None:
                self.canvas.update()
            return
        if self.gizmo.drag_axis is None:
            return
        kind, axis = self.gizmo.drag_kind, self.gizmo.drag_axis
        delta = self.gizmo.drag(pos, self._screen)
        if kind == "rotate":
            if delta:
                self.keyframeRotated.emit(np.eye(3)[axis], float(delta), self.drag_number)
        elif delta is not None and np.any(delta):
            self.keyframeDragged.emit(delta)

    def _on_release(self, event) -> None:
        if self.region.drag_face is not None:
            self._on_move(event)
            start, end = self.region.end()
            self.view.camera.interactive = True
            self._press = None
            if end != start:
                self.regionEdited.emit(end)
            return
        if self.gizmo.drag_axis is not None:
            self.gizmo.end()
            self.view.camera.interactive = True
            self._press = None
            return
        if self._press is None or event.button != 1:
            return
        moved = np.linalg.norm(np.asarray(event.pos, dtype=float) - self._press)
        self._press = None
        if moved > 4:
            return
        self.pick(np.asarray(event.pos, dtype=float))

    def pick(self, pos_px: np.ndarray) -> None:
        """Select what lies under canvas pixel ``pos_px`` (x, y)."""
        best = (PICK_PX, None, -1)
        for kind, pts in (("keyframe", self._kf_positions),
                          ("view", np.array([c.world_from_cam[:3, 3] for c in self._cameras]).reshape(-1, 3))):
            if len(pts) == 0:
                continue
            d = np.linalg.norm(self._screen(pts) - pos_px[None], axis=1)
            i = int(np.argmin(d))
            if d[i] < best[0]:
                best = (float(d[i]), kind, i)
        if best[1] == "keyframe":
            self.keyframeClicked.emit(best[2])
        elif best[1] == "view":
            self.viewClicked.emit(best[2])
        else:
            self.emptyClicked.emit()

    def render_image(self) -> np.ndarray:
        """The canvas rendered off-screen: [H,W,4] uint8."""
        return self.canvas.render()
