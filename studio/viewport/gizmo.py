"""The keyframe gizmo: three world-axis move handles and three rotate rings around the
selected keyframe's own camera axes (OpenCV: x right, y down, z forward), dragged with the mouse.

Handles and rings are drawn on top (no depth test). A drag along a move handle moves the
keyframe along that world axis by the mouse motion projected onto the handle's screen
direction, converted to meters with the handle's on-screen length, so the keyframe stays under
the cursor. A drag on a ring turns the keyframe about that camera axis by the change of the
ring's parametric angle under the cursor: the ring's two in-plane axes u, v (u x v = the axis)
are projected to screen vectors su, sv and the mouse offset from the ring's centre is solved
as a*su + b*sv, angle = atan2(b, a); so the ring point under the cursor follows it (exact for
an affine view, close under perspective). A ring seen edge-on does not turn.
"""
from __future__ import annotations

import numpy as np
from vispy import scene

AXIS_COLORS = ((0.95, 0.3, 0.3, 1.0), (0.35, 0.9, 0.35, 1.0), (0.35, 0.55, 1.0, 1.0))
RING_COLORS = ((1.0, 0.55, 0.55, 0.95), (0.6, 1.0, 0.6, 0.95), (0.6, 0.75, 1.0, 0.95))
HIT_PX = 8.0
RING_SEGMENTS = 64
RING_RADIUS = 0.75          # ring radius as a fraction of the move handles' length
EDGE_ON = 0.08              # |det(su, sv)| / r_px^2 below this: the ring is seen edge-on


def _distance_to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def ring_axes(rotation: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """In-plane unit vectors u, v [3] world of the ring about camera ``axis`` (u x v = axis)."""
    j, k = (axis + 1) % 3, (axis + 2) % 3
    return rotation[:, j], rotation[:, k]


class TranslateGizmo:
    """Owns its visuals; the viewport forwards mouse events and a world->screen mapper
    ``to_screen(points [N,3] world) -> [N,2] canvas pixels``. ``drag_axis`` is the handle
    being dragged (``drag_kind`` "move" or "rotate"), None when idle."""

    def __init__(self, parent) -> None:
        self.lines = scene.visuals.Line(pos=np.zeros((6, 3), np.float32), connect="segments", width=4,
                                        color=np.repeat(np.array(AXIS_COLORS, np.float32), 2, axis=0),
                                        parent=parent)
        ring_colors = np.repeat(np.array(RING_COLORS, np.float32), 2 * RING_SEGMENTS, axis=0)
        self.rings = scene.visuals.Line(pos=np.zeros((6 * RING_SEGMENTS, 3), np.float32), connect="segments",
                                        width=3, color=ring_colors, parent=parent)
        for order, vis in ((20, self.lines), (19, self.rings)):
            vis.set_gl_state("translucent", depth_test=False)
            vis.order = order
            vis.visible = False
        self.anchor: np.ndarray | None = None
        self.rotation = np.eye(3)            # world_from_cam rotation of the keyframe the rings follow
        self.length = 0.5
        self.drag_axis: int | None = None
        self.drag_kind: str | None = None
        self._last_px: np.ndarray | None = None
        self._last_angle: float | None = None
        self._drag_rotation = np.eye(3)

    @property
    def radius(self) -> float:
        return RING_RADIUS * self.length

    def set_anchor(self, anchor: np.ndarray | None, length: float, rotation: np.ndarray | None = None) -> None:
        """Show the handles at ``anchor`` [3] world (None hides them), ``length`` meters long,
        the rings around the camera axes of ``rotation`` [3,3] (world_from_cam; None: world axes)."""
        self.anchor = None if anchor is None else np.asarray(anchor, np.float64)
        self.length = float(length)
        self.rotation = np.eye(3) if rotation is None else np.asarray(rotation, np.float64)
        self.lines.visible = self.rings.visible = self.anchor is not None
        if self.anchor is not None:
            ends = self.anchor[None] + np.eye(3) * self.length
            segs = np.stack([np.repeat(self.anchor[None], 3, 0), ends], axis=1).reshape(6, 3)
            self.lines.set_data(pos=segs.astype(np.float32))
            rings = [np.stack([p[:-1], p[1:]], axis=1).reshape(-1, 3) for p in
                     (self.ring_points(i, RING_SEGMENTS + 1) for i in range(3))]
            self.rings.set_data(pos=np.concatenate(rings).astype(np.float32))

    def ring_points(self, axis: int, n: int = RING_SEGMENTS + 1) -> np.ndarray:
        """[n, 3] world points around the ring of camera ``axis`` (closed: first = last)."""
        u, v = ring_axes(self.rotation, axis)
        t = np.linspace(0.0, 2 * np.pi, n)[:, None]
        return self.anchor[None] + self.radius * (np.cos(t) * u + np.sin(t) * v)

    def handle_screen(self, to_screen, axis: int) -> tuple[np.ndarray, np.ndarray]:
        ends = to_screen(np.stack([self.anchor, self.anchor + np.eye(3)[axis] * self.length]))
        return ends[0], ends[1]

    def hit(self, pos_px: np.ndarray, to_screen) -> tuple[str, int] | None:
        """("move", world axis) or ("rotate", camera axis) under canvas pixel ``pos_px``, or None.
        A move handle wins where it crosses a ring (the rings are easy to grab elsewhere)."""
        if self.anchor is None:
            return None
        best, found = HIT_PX, None
        for i in range(3):
            a, b = self.handle_screen(to_screen, i)
            d = _distance_to_segment(pos_px, a, b)
            if d < best:
                best, found = d, ("move", i)
        if found is not None:
            return found
        for i in range(3):
            ring = to_screen(self.ring_points(i))
            for a, b in zip(ring[:-1], ring[1:]):
                if np.isfinite(a).all() and np.isfinite(b).all():
                    d = _distance_to_segment(pos_px, a, b)
                    if d < best:
                        best, found = d, ("rotate", i)
        return found

    def begin(self, handle, pos_px: np.ndarray, to_screen=None) -> None:
        """Start dragging ``handle`` (from ``hit``; a bare int is a move axis)."""
        kind, axis = handle if isinstance(handle, tuple) else ("move", int(handle))
        self.drag_kind, self.drag_axis, self._last_px = kind, axis, np.asarray(pos_px, float)
        self._drag_rotation = self.rotation.copy()     # the ring's frame while it turns (its u, v turn too)
        self._last_angle = self._ring_angle(pos_px, to_screen) if kind == "rotate" and to_screen else None

    def _ring_angle(self, pos_px, to_screen) -> float | None:
        """The parametric angle (radians) of the ring point under ``pos_px``; None edge-on."""
        u, v = ring_axes(self._drag_rotation, self.drag_axis)
        c, su, sv = to_screen(np.stack([self.anchor, self.anchor + self.radius * u, self.anchor + self.radius * v]))
        basis = np.stack([su - c, sv - c], axis=1)                        # [2,2] columns su, sv
        scale = max(np.linalg.norm(su - c), np.linalg.norm(sv - c), 1e-9) ** 2
        if not np.isfinite(basis).all() or abs(np.linalg.det(basis)) < EDGE_ON * scale:
            return None
        a, b = np.linalg.solve(basis, np.asarray(pos_px, float) - c)
        return float(np.arctan2(b, a))

    def drag(self, pos_px: np.ndarray, to_screen):
        """For the mouse moving to ``pos_px`` since the last call: a move handle gives the world
        displacement [3] (meters); a ring gives the turn about its camera axis in degrees (float)."""
        if self.drag_axis is None or self.anchor is None:
            return None
        if self.drag_kind == "rotate":
            angle = self._ring_angle(pos_px, to_screen)
            if angle is None or self._last_angle is None:
                self._last_angle = angle
                return None
            turn = (angle - self._last_angle + np.pi) % (2 * np.pi) - np.pi
            self._last_angle = angle
            return float(np.degrees(turn))
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
        self.drag_axis, self.drag_kind, self._last_px, self._last_angle = None, None, None, None


KeyframeGizmo = TranslateGizmo
