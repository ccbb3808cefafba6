"""A VisPy SceneCanvas whose redraws are paced, so that the 3D view cannot eat the GUI thread.

On a software rasterizer (llvmpipe) one frame of the viewport costs tens of milliseconds (the
point sprites' fill, then Qt composing the window). Every model change (a memory delta, a
playhead move, a progress tick that moves a visual) asks for a redraw; unpaced, a stream of
them keeps the event loop painting. Here every ``update()`` is coalesced into at most one frame
per *gap*: after a frame, the next one waits ``max(min_gap_s, cost_factor * cost of the last
frame)`` (at most ``1 / (1 + cost_factor)`` of the GUI thread's time goes to the 3D view),
except while the artist drags or zooms in the view, when frames follow as fast as they draw.

``hold(seconds)`` postpones the next frame (until ``release()`` or the time runs out): the
main window holds the view while a preview render is on its way, so that the preview is not
queued behind a full 3D redraw of the playhead camera.
"""
from __future__ import annotations

import contextlib
import math
import time

from PySide6.QtCore import QTimer
from vispy import scene

MIN_GAP_S = 0.1          # paced frames: at most 10 per second ...
COST_FACTOR = 2.0        # ... and at most a third of the GUI thread's time
INTERACTIVE_GAP_S = 1.0 / 60.0
INTERACTIVE_LINGER_S = 0.4   # a wheel step counts as interaction this long
FRAME_LOG = 2000             # frames whose cost is kept (benchmarks)


class PacedCanvas(scene.SceneCanvas):
    """SceneCanvas with paced redraws. ``requested`` / ``drawn`` count update() calls and
    frames presented (tests, benchmarks); ``last_cost_s`` is the wall time of the last frame,
    from the start of its draw to its presentation."""

    def __init__(self, *args, min_gap_s: float = MIN_GAP_S, cost_factor: float = COST_FACTOR, **kwargs) -> None:
        self._ready = False
        super().__init__(*args, **kwargs)
        self.unfreeze()                          # VisPy freezes its canvases' attributes
        self.min_gap_s, self.cost_factor = float(min_gap_s), float(cost_factor)
        self.requested = 0
        self.drawn = 0
        self.last_cost_s = 0.0
        self._last_end = -math.inf
        self._draw_t0 = 0.0
        self._draw_cpu0 = 0.0
        self.frame_costs: list[tuple[float, float, float]] = []   # (start, wall s, GUI-thread CPU s), last FRAME_LOG
        self._held_until = 0.0
        self._dragging = False
        self._interactive_until = 0.0
        self._timer = QTimer(self.native)        # dies with the widget: never fires on a deleted canvas
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._due)
        self.events.draw.connect(self._draw_started, position="first")
        self.events.draw.connect(self._draw_ended, position="last")
        self.events.mouse_press.connect(self._mouse_press)
        self.events.mouse_release.connect(self._mouse_release)
        self.events.mouse_wheel.connect(self._mouse_wheel)
        self._ready = True
        self.freeze()

    def create_native(self) -> None:
        """VisPy's Canvas.create_native with the window-container backend instead of the
        QOpenGLWidget one (studio.viewport.gl_window: keeps the widgets on the raster path)."""
        from studio.viewport.gl_window import window_canvas_backend

        if self._backend is not None:
            return
        assert self._app.native
        window_canvas_backend()(self, **self._backend_kwargs)
        self._backend_kwargs = None
        self.events.draw.connect(self.context.flush_commands, position="last")
        if self._autoswap:
            self.events.draw.connect((self, "swap_buffers"), ref=True, position="last")

    def render(self, *args, **kwargs):
        """SceneCanvas.render (off-screen, read back) with the GL context on this thread."""
        borrowed = getattr(self.native, "gl_borrowed", None)
        with borrowed() if borrowed is not None else contextlib.nullcontext():
            return super().render(*args, **kwargs)

    # ------------------------------------------------------------------ pacing
    @property
    def interactive(self) -> bool:
        return self._dragging or time.perf_counter() < self._interactive_until

    def next_frame_at(self) -> float:
        """perf_counter() time before which no paced frame is drawn."""
        if self.interactive:
            return self._last_end + INTERACTIVE_GAP_S
        gap = max(self.min_gap_s, self.cost_factor * self.last_cost_s)
        return max(self._last_end + gap, self._held_until)

    @property
    def pending(self) -> bool:
        """A frame is asked for and not drawn yet (a hidden canvas draws nothing: never pending)."""
        try:
            if not self.native.isVisible():
                return False
            return bool(self._timer.isActive() or getattr(self, "_update_pending", False)
                        or getattr(self.native, "frame_in_flight", False))
        except RuntimeError:                     # the widget is gone
            return False

    def update(self, node=None) -> None:
        if not self._ready:
            super().update(node)
            return
        if self._drawing:
            return
        self.requested += 1
        self._schedule()

    def _schedule(self) -> None:
        if getattr(self, "_update_pending", False):
            return                               # Qt already has a paint queued
        wait = self.next_frame_at() - time.perf_counter()
        if wait <= 0:
            self._timer.stop()
            super().update()
        elif not self._timer.isActive() or self._timer.remainingTime() > wait * 1000:
            self._timer.start(max(1, math.ceil(wait * 1000)))

    def redo_frame(self) -> None:
        """The backend skipped a frame (the last one was still being drawn): schedule it
        again, under the same pacing and hold."""
        self._update_pending = False
        self._schedule()

    def _due(self) -> None:
        try:
            if self.next_frame_at() - time.perf_counter() > 0.001:
                self._schedule()                 # a hold or a slower frame moved the time on
                return
            super().update()
        except RuntimeError:                     # the widget was deleted meanwhile
            pass

    def hold(self, seconds: float) -> None:
        """Draw no paced frame for ``seconds`` (or until ``release()``)."""
        self._held_until = max(self._held_until, time.perf_counter() + float(seconds))

    def release(self, after_s: float = 0.0) -> None:
        """End a ``hold`` (``after_s`` from now: e.g. once the preview's own repaint went
        out): a frame asked for meanwhile is drawn as soon as the pacing allows."""
        if self._held_until:
            self._held_until = time.perf_counter() + after_s if after_s > 0 else 0.0
            if self._timer.isActive():
                self._timer.stop()
                self._schedule()

    # ------------------------------------------------------------------ bookkeeping
    def _draw_started(self, event=None) -> None:
        self._draw_t0 = time.perf_counter()
        self._draw_cpu0 = time.thread_time()

    def _draw_ended(self, event=None) -> None:
        self._last_end = time.perf_counter()
        self.last_cost_s = self._last_end - self._draw_t0

    def frame_presented(self) -> None:
        """Called by the backend after the frame's swapBuffers (which, on a software
        rasterizer, is where much of the frame's time goes): the cost counts it too."""
        self._last_end = time.perf_counter()
        self.last_cost_s = self._last_end - self._draw_t0
        self.drawn += 1                          # counted when shown (the render thread presents later)
        self.frame_costs.append((self._draw_t0, self.last_cost_s, time.thread_time() - self._draw_cpu0))
        del self.frame_costs[:-FRAME_LOG]

    def _mouse_press(self, event=None) -> None:
        self._dragging = True

    def _mouse_release(self, event=None) -> None:
        self._dragging = False
        self._interactive_until = time.perf_counter() + INTERACTIVE_LINGER_S

    def _mouse_wheel(self, event=None) -> None:
        self._interactive_until = time.perf_counter() + INTERACTIVE_LINGER_S
