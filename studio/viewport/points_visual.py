"""A point-cloud visual that grows by appending: one preallocated GPU buffer, uploads of
only the touched row span (``set_subdata``), capacity doubling when full.

Visibility (captured / generated), color mode (RGB / provenance / confidence) and point size
are shader uniforms, so toggling them uploads nothing. Unused and removed rows carry
``alive = 0`` and are clipped in the vertex shader.
"""
from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.gloo.context import get_current_canvas
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

from studio.models.project_view import ROW_DTYPE

COLOR_MODES = {"rgb": 0.0, "provenance": 1.0, "confidence": 2.0}

_VERT = """
uniform float u_size;
uniform float u_world_size;
uniform float u_focal_px;
uniform float u_mode;
uniform float u_show_captured;
uniform float u_show_generated;
attribute vec3 a_position;
attribute vec3 a_color;
attribute float a_conf;
attribute float a_segment;
attribute float a_alive;
varying vec4 v_color;
void main() {
    float gen = step(-0.5, a_segment);
    float visible = a_alive * mix(u_show_captured, u_show_generated, gen);
    if (visible < 0.5) {
        gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
        gl_PointSize = 1.0;
        v_color = vec4(0.0);
        return;
    }
    gl_Position = $transform(vec4(a_position, 1.0));
    // a point covers its voxel on screen (perspective), at least u_size pixels
    float world_px = u_world_size * u_focal_px / max(gl_Position.w, 1e-3);
    // generated points that nothing observed (low confidence) are drawn small: they are
    // guesses, and should not cover what the capture saw
    float sure = mix(1.0, clamp(a_conf, 0.25, 1.0), gen);
    gl_PointSize = clamp(world_px * sure, u_size * sure, 24.0);
    vec3 c = a_color;
    if (u_mode > 1.5) {
        float t = a_conf / (a_conf + 3.0);
        c = mix(vec3(0.85, 0.15, 0.1), vec3(0.1, 0.9, 0.35), t);
    } else if (u_mode > 0.5) {
        c = mix(vec3(0.3, 0.65, 1.0), vec3(1.0, 0.5, 0.1), gen);
    }
    v_color = vec4(c, 1.0);
}
"""

_FRAG = """
varying vec4 v_color;
void main() {
    // no discard: hidden points never reach the rasterizer (the vertex shader puts them
    // outside the clip volume), and without one a software rasterizer can test depth early
    gl_FragColor = v_color;
}
"""

# the vertex layout is the point buffer's row layout with the shader's attribute names
_ATTRIBUTE = {"xyz": "a_position", "rgb": "a_color", "conf": "a_conf", "segment": "a_segment", "alive": "a_alive"}
_DTYPE = np.dtype([(_ATTRIBUTE[name], ROW_DTYPE.fields[name][0]) for name in ROW_DTYPE.names])


def _column_bounds(xyz: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(min [3], max [3]) of xyz [N,3] (over ``rows`` [N] bool if given), a column at a time:
    numpy's axis-0 min over a 3-wide array is ~20x slower (3 ms for 40k points on the GUI thread)."""
    cols = [xyz[:, i] if rows is None else xyz[:, i][rows] for i in range(3)]
    return np.array([c.min() for c in cols]), np.array([c.max() for c in cols])


class GrowingPointsVisual(Visual):
    """Points drawn from a capacity-sized vertex buffer; rows [0, size) in use."""

    def __init__(self, capacity: int = 1024) -> None:
        Visual.__init__(self, vcode=_VERT, fcode=_FRAG)
        self._draw_mode = "points"
        self.set_gl_state("opaque", depth_test=True)
        self.uploaded_rows = 0          # rows sent by partial uploads (for tests/bench)
        self.full_uploads = 0
        self.full_upload_rows = 0
        self._bounds = None
        self._vbo = gloo.VertexBuffer(np.zeros(capacity, _DTYPE))
        self._capacity = capacity
        self.rows = 0                   # rows [0, rows) are drawn (rows past it are unused)
        self.shared_program.bind(self._vbo)
        self.set_style(size=3.0, mode="rgb", show_captured=True, show_generated=True)
        self.set_perspective(0.0, 1.0)

    def set_perspective(self, world_size: float, focal_px: float) -> None:
        """Draw points world_size (meters, e.g. 1.5 voxels) wide under a perspective camera
        whose focal length is focal_px (pixels); 0 keeps the fixed pixel size."""
        if (world_size, focal_px) == getattr(self, "_perspective", None):
            return
        self._perspective = (world_size, focal_px)
        self.shared_program["u_world_size"] = float(world_size)
        self.shared_program["u_focal_px"] = float(focal_px)
        self.update()

    def set_style(self, size=None, mode=None, show_captured=None, show_generated=None) -> None:
        p = self.shared_program
        if size is not None:
            p["u_size"] = float(size)
        if mode is not None:
            p["u_mode"] = COLOR_MODES[mode]
        if show_captured is not None:
            p["u_show_captured"] = 1.0 if show_captured else 0.0
        if show_generated is not None:
            p["u_show_generated"] = 1.0 if show_generated else 0.0
        self.update()

    @staticmethod
    def _pack(buf, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) of a PointBuffer as vertices: its records have the vertex layout, so this
        is one copy (the copy, because the upload runs later, on the render thread, while the
        GUI thread may write the buffer again)."""
        return buf.rows[lo:hi].view(_DTYPE).copy()

    def upload_all(self, buf) -> None:
        """Re-create the GPU buffer at the buffer's capacity (only after it grew or reset)."""
        data = self._pack(buf, 0, buf.capacity)
        self._vbo.set_data(data)
        # the program's attribute views keep the size they were bound with: rebind so that
        # draw() covers the whole (grown) buffer, not the first capacity it ever had
        self.shared_program.bind(self._vbo)
        self._capacity = buf.capacity
        self.rows = buf.size
        self.full_upload_rows += buf.capacity
        self.full_uploads += 1
        self._update_bounds(buf)
        self.update()

    def upload_rows(self, buf, lo: int, hi: int) -> None:
        """Upload rows [lo, hi) of a PointBuffer (appended or refined points)."""
        if hi <= lo:
            return
        if buf.capacity != self._capacity:
            self.upload_all(buf)
            return
        self._vbo.set_subdata(self._pack(buf, lo, hi), offset=lo)
        self.rows = max(self.rows, buf.size, hi)
        self.uploaded_rows += hi - lo
        self._grow_bounds(buf.xyz[lo:hi][buf.alive[lo:hi] > 0])
        self.update()

    def _grow_bounds(self, xyz) -> None:
        """Bounds only grow on partial uploads (removed points keep them: cheap, conservative)."""
        if len(xyz) == 0:
            return
        lo, hi = _column_bounds(xyz)
        self._bounds = (lo, hi) if self._bounds is None else (np.minimum(self._bounds[0], lo),
                                                              np.maximum(self._bounds[1], hi))

    def _update_bounds(self, buf) -> None:
        live = buf.alive[: buf.size] > 0
        self._bounds = _column_bounds(buf.xyz[: buf.size], live) if live.any() else None

    def _compute_bounds(self, axis, view):
        if self._bounds is None:
            return None
        return float(self._bounds[0][axis]), float(self._bounds[1][axis])

    def draw(self) -> None:
        """Visual.draw, but only rows [0, rows) go to the rasterizer: the buffer is sized to
        its capacity (up to twice the rows in use), and on a software rasterizer each row
        costs vertex work even when the shader drops it. (gloo's Program.draw always draws
        every row; this issues its GLIR DRAW with a (first, count) selection instead.)"""
        if not self.visible or self.rows <= 0:
            return
        if self._prepare_draw(view=self) is False:
            return
        self._configure_gl_state()
        prog = self._program
        prog.build_if_needed()
        prog.update_variables()
        prog._buffer = None                  # as Program.draw: the data went out with the commands
        prog._pending_variables = {}
        context = get_current_canvas().context
        context.glir.associate(prog.glir)
        context.glir.command("DRAW", prog._id, "points", (0, int(min(self.rows, self._capacity))), 1)
        context.flush_commands()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool:
        return True


GrowingPoints = create_visual_node(GrowingPointsVisual)
