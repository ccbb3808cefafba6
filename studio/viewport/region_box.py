"""The region of interest drawn in the viewport: the oriented box's 12 edges and a handle at
the centre of each of its 6 faces. Dragging a face handle moves that face along its box axis
(the box grows or shrinks, the opposite face stays); with Shift held it moves the whole box
along that axis. The mouse motion since the press, projected onto the face normal's screen
direction and converted to meters with its on-screen length, gives the distance, so the face
stays under the cursor. The drag is shown live here; the owner commits the final box once, on
release (one undo step per drag).
"""
from __future__ import annotations

import numpy as np
from vispy import scene

from studio.models.region import RegionState, move_box, resize_face

EDGE_COLOR = (1.0, 0.62, 0.1, 0.95)         # orange: far from the axis and coverage colours
OFF_COLOR = (0.6, 0.6, 0.6, 0.55)           # a switched-off box: grey
HANDLE_PX = 12.0
HIT_PX = 10.0
EDGES = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
FACES = [(a, s) for a in range(3) for s in (-1, 1)]


class RegionBox:
    """Owns the box visuals. ``state`` is what is drawn (during a drag: the dragged box)."""

    def __init__(self, parent) -> None:
        self.edges = scene.visuals.Line(pos=np.zeros((2, 3), np.float32), connect="segments", width=2,
                                        color=EDGE_COLOR, parent=parent)
        self.handles = scene.visuals.Markers(parent=parent)
        # data of the kind it shows (hidden): its program can be built before the first box
        self.handles.set_data(np.zeros((1, 3), np.float32), face_color=np.ones((1, 4), np.float32), size=HANDLE_PX,
                              edge_color="black", symbol="square")
        for order, vis in ((7, self.edges), (8, self.handles)):
            vis.set_gl_state("translucent", depth_test=False)
            vis.order = order
            vis.visible = False
        self.state = RegionState()
        self.drag_face: tuple[int, int] | None = None
        self._start: RegionState | None = None
        self._press_px: np.ndarray | None = None
        self._px_dir: np.ndarray | None = None       # unit screen direction of the face normal
        self._px_per_m = 0.0
        self._move = False

    def set_state(self, state: RegionState) -> None:
        self.state = state
        show = state.has_box
        self.edges.visible = self.handles.visible = show
        if not show:
            return
        corners = state.corners()
        color = EDGE_COLOR if state.enabled else OFF_COLOR
        self.edges.set_data(pos=corners[np.array(EDGES).ravel()].astype(np.float32), color=color)
        centers = np.array([state.face_center(a, s) for a, s in FACES], np.float32)
        faces = np.array([EDGE_COLOR[:3] + (1.0,)] * 6 if state.enabled else [OFF_COLOR[:3] + (1.0,)] * 6, np.float32)
        if self.drag_face is not None:
            faces[FACES.index(self.drag_face)] = (1.0, 1.0, 1.0, 1.0)
        self.handles.set_data(centers, face_color=faces, size=HANDLE_PX, edge_color="black", symbol="square")

    def hit(self, pos_px: np.ndarray, to_screen) -> tuple[int, int] | None:
        """The face (axis, sign) whose handle lies under canvas pixel ``pos_px``, or None."""
        if not self.state.has_box or not self.handles.visible:
            return None
        centers = to_screen(np.array([self.state.face_center(a, s) for a, s in FACES]))
        d = np.linalg.norm(centers - np.asarray(pos_px, float)[None], axis=1)
        d = np.where(np.isfinite(d), d, np.inf)
        i = int(np.argmin(d))
        return FACES[i] if d[i] < HIT_PX else None

    def begin(self, face: tuple[int, int], pos_px: np.ndarray, to_screen, move: bool = False) -> bool:
        """Start dragging ``face``; False when its normal is seen end-on (nothing to drag along)."""
        axis, sign = face
        w, _ = self.state.box()
        c = self.state.face_center(axis, sign)
        a, b = to_screen(np.stack([c, c + sign * w[:3, axis]]))          # 1 m along the outward normal
        d = b - a
        if not np.isfinite(d).all() or np.linalg.norm(d) < 1e-6:
            return False
        self.drag_face, self._start, self._move = face, self.state, bool(move)
        self._press_px, self._px_per_m = np.asarray(pos_px, float), float(np.linalg.norm(d))
        self._px_dir = d / self._px_per_m
        return True

    def drag(self, pos_px: np.ndarray) -> RegionState | None:
        """The box with the dragged face (or the whole box) at the cursor; drawn at once."""
        if self.drag_face is None:
            return None
        meters = float(np.dot(np.asarray(pos_px, float) - self._press_px, self._px_dir)) / self._px_per_m
        axis, sign = self.drag_face
        new = move_box(self._start, axis, sign * meters) if self._move else resize_face(self._start, axis, sign, meters)
        self.set_state(new)
        return new

    def end(self) -> tuple[RegionState, RegionState] | None:
        """(box at the press, box now), or None when no drag was going on."""
        if self.drag_face is None:
            return None
        start, self.drag_face, self._start = self._start, None, None
        self.set_state(self.state)
        return start, self.state
