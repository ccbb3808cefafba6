"""A translate gizmo: three world-axis handles at the selected keyframe, dragged with the mouse.

The handles are drawn on top (no depth test). A drag along a handle moves the keyframe along
that world axis by the mouse motion projected onto the handle's screen direction, converted
to meters with the handle's on-screen length, so the keyframe stays under the cursor.
"""
from __future__ import annotations

import numpy as np
from vispy import scene

AXIS_COLORS = ((0.95, 0.3, 0.3, 1.0), (0.35, 0.9, 0.35, 1.0), (0.35, 0.55, 1.0, 1.0))
HIT_PX = 8.0


def _distance_to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


class TranslateGizmo:
    """Owns its Line visual; the viewport forwards mouse events and a world->screen mapper."""

    def __init__(self, parent) -> None:
        self.lines = scene.visuals.Line(pos=np.zeros((6, 3), np.float32), connect="segments", width=4,
                                        color=np.repeat(np.array(AXIS_COLORS, np.float32), 2, axis=0),
                                        parent=parent)
        self.lines.set_gl_state("translucent", depth_test=False)
        self.lines.order = 20
        self.lines.visible = False
        self.anchor: np.ndarray | None = None
        self.length = 0.5
        self.drag_axis: int | None = None
        self._last_px: np.ndarray | None = None

    def set_anchor(self, anchor: np.ndarray | None, length: float) -> None:
        """Show the handles at ``anchor`` [3] world (None hides them), ``length`` meters long."""
        self.anchor = None if anchor is None else np.asarray(anchor, np.float64)
        self.length = float(length)
        self.lines.visible = self.anchor is not None
        if self.anchor is not None:
            ends = self.anchor[None] + np.eye(3) * self.length
            segs = np.stack([np.repeat(self.anchor[None], 3, 0), ends], axis=1).reshape(6, 3)
            self.lines.set_data(pos=segs.astype(np.float32))

    def handle_screen(self, to_screen, axis: int) -> tuple[np.ndarray, np.ndarray]:
        ends = to_screen(np.stack([self.anchor, self.anchor + np.eye(3)[axis] * self.length]))
        return ends[0], ends[1]

    def hit(self, pos_px: np.ndarray, to_screen) -> int | None:
        """The handle under canvas pixel ``pos_px``, or None."""
        if self.anchor is None:
            return None
        best, axis = HIT_PX, None
        for i in range(3):
            a, b = self.handle_screen(to_screen, i)
            d = _distance_to_segment(pos_px, a, b)
            if d < best:
                best, axis = d, i
        return axis

    def begin(self, axis: int, pos_px: np.ndarray) -> None:
        self.drag_axis, self._last_px = axis, np.asarray(pos_px, float)

    def drag(self, pos_px: np.ndarray, to_screen) -> np.ndarray | None:
        """World displacement [3] (meters) for the mouse moving to ``pos_px`` since the last call."""
        if self.drag_axis is None or self.anchor is None:
            return None
        a, b = self.handle_screen(to_screen, self.drag_axis)
        screen_dir = b - a
        px_per_m = np.linalg.norm(screen_dir) / self.length
        if px_per_m < 1e-6:
            return None
        moved = np.asarray(pos_px, float) - self._last_px
        self._last_px = np.asarray(pos_px, float)
        meters = float(np.dot(moved, screen_dir / np.linalg.norm(screen_dir))) / px_per_m
        return np.eye(3)[self.drag_axis] * meters

    def end(self) -> None:
        self.drag_axis, self._last_px = None, None
