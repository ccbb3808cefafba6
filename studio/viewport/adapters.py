"""Adapters from Qt-free models to VisPy visuals (one per model type)."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer


class PointsAdapter(QObject):
    """ProjectView points -> GrowingPoints visual.

    Appended rows upload at once (only those rows). Rows refined in place (the memory fused a
    new observation into an existing voxel) are batched: their span is uploaded at most every
    ``refine_ms`` milliseconds, so an update never re-sends the whole buffer.
    """

    def __init__(self, project_view, visual, refine_ms: int = 700, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pv, self.visual = project_view, visual
        self._dirty: tuple[int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(refine_ms)
        self._timer.timeout.connect(self.flush)
        project_view.points_reset.connect(self._reset)
        project_view.points_appended.connect(self._appended)
        project_view.points_updated.connect(self._updated)

    def _reset(self) -> None:
        self._dirty = None
        self.visual.upload_all(self.pv.points)

    def _appended(self, start: int, stop: int) -> None:
        self.visual.upload_rows(self.pv.points, start, stop)

    def _updated(self, lo: int, hi: int) -> None:
        d = self._dirty
        self._dirty = (lo, hi) if d is None else (min(d[0], lo), max(d[1], hi))
        if not self._timer.isActive():
            self._timer.start()

    @property
    def pending(self) -> bool:
        return self._dirty is not None

    def flush(self) -> None:
        if self._dirty is not None:
            lo, hi = self._dirty
            self._dirty = None
            self.visual.upload_rows(self.pv.points, lo, min(hi, self.pv.points.size))
