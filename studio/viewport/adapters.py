"""Adapters from Qt-free models to VisPy visuals (one per model type)."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer


class PointsAdapter(QObject):
    """ProjectView points -> GrowingPoints visual.

    Appended rows (only those) and whole-buffer re-uploads (the buffer grew or was thinned) are
    sent on the next event-loop turn, not inside the change: the GUI thread's turn that applied
    a memory delta's part is not also the one that copies it out (and the appends of several
    parts in one turn go out as one span). Rows refined in place (the memory fused a new
    observation into an existing voxel) are batched: their span is uploaded at most every
    ``refine_ms`` milliseconds, so an update never re-sends the whole buffer.
    """

    def __init__(self, project_view, visual, refine_ms: int = 700, parent: QObject | None = None,
                 tasks=None) -> None:
        super().__init__(parent)
        self._tasks = tasks                          # studio.timers.OnePerPass (else a 0 ms timer)
        self.pv, self.visual = project_view, visual
        self._dirty: tuple[int, int] | None = None
        self._whole = False                          # the whole buffer goes out next turn
        self._appends: tuple[int, int] | None = None  # appended rows going out next turn
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(refine_ms)
        self._timer.timeout.connect(self.flush)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self._send)
        project_view.points_reset.connect(self._reset)
        project_view.points_appended.connect(self._appended)
        project_view.points_updated.connect(self._updated)

    def _reset(self) -> None:
        self._dirty = None
        self._whole, self._appends = True, None
        self._send_soon()

    def _appended(self, start: int, stop: int) -> None:
        if not self._whole:
            a = self._appends
            self._appends = (start, stop) if a is None else (min(a[0], start), max(a[1], stop))
        self._send_soon()

    def _send_soon(self) -> None:
        if self._tasks is not None:
            self._tasks.request(("upload", id(self)), self._send)
        else:
            self._soon.start()

    def _send(self) -> None:
        if self._whole:
            self._whole = False
            self.visual.upload_all(self.pv.points)
        elif self._appends is not None:
            lo, hi = self._appends
            self.visual.upload_rows(self.pv.points, lo, min(hi, self.pv.points.size))
        self._appends = None

    def _updated(self, lo: int, hi: int) -> None:
        d = self._dirty
        self._dirty = (lo, hi) if d is None else (min(d[0], lo), max(d[1], hi))
        if not self._timer.isActive():
            self._timer.start()

    @property
    def upload_due(self) -> bool:
        """Appends or a whole-buffer upload go out on the next turn."""
        return self._soon.isActive() or (self._tasks is not None and self._tasks.is_due(("upload", id(self))))

    @property
    def pending(self) -> bool:
        return self._dirty is not None or self._whole or self._appends is not None

    def flush(self) -> None:
        """Send everything waiting (appends, a whole-buffer upload, the refined span) now."""
        self._soon.stop()
        self._send()
        if self._dirty is not None:
            lo, hi = self._dirty
            self._dirty = None
            self.visual.upload_rows(self.pv.points, lo, min(hi, self.pv.points.size))
