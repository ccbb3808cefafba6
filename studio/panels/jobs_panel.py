"""Progress bars with ETA and a Cancel button, one row per running engine job."""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


def format_eta(eta_s) -> str:
    if eta_s is None:
        return ""
    eta_s = max(0.0, float(eta_s))
    return f"ETA {int(eta_s // 60)}:{int(eta_s % 60):02d}" if eta_s >= 60 else f"ETA {eta_s:.0f} s"


class _JobRow(QWidget):
    def __init__(self, job, on_cancel) -> None:
        super().__init__()
        self.name = QLabel(job.name)
        self.name.setMinimumWidth(110)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(70)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName(f"cancelJob{job.job_id}")
        self.cancel.clicked.connect(lambda: on_cancel(job.job_id))
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 0, 2, 0)
        for w in (self.name, self.bar, self.eta, self.cancel):
            row.addWidget(w)
        row.setStretch(1, 1)

    def update_from(self, job) -> None:
        self.bar.setValue(int(round(job.fraction * 1000)))
        self.bar.setFormat(job.message or job.state)
        self.bar.setTextVisible(True)
        self.eta.setText(format_eta(job.eta_s))


class JobsPanel(QWidget):
    cancelRequested = Signal(int)

    def __init__(self, jobs_model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = jobs_model
        self.rows: dict[int, _JobRow] = {}
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.idle = QLabel("engine idle")
        self.layout_.addWidget(self.idle)
        self.layout_.addStretch(1)
        self._dirty: set[int] = set()
        self._timer = QTimer(self)        # progress redraws coalesced to ~8 per second
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self._flush)
        jobs_model.job_changed.connect(self._queue)
        jobs_model.job_removed.connect(self._removed)

    def _queue(self, job_id: int) -> None:
        if job_id not in self.rows:
            self._changed(job_id)        # a new job shows at once (with its Cancel button)
            return
        self._dirty.add(job_id)
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for job_id in dirty:
            self._changed(job_id)

    def _changed(self, job_id: int) -> None:
        job = self.model.jobs.get(job_id)
        if job is None:
            return
        row = self.rows.get(job_id)
        if row is None:
            row = self.rows[job_id] = _JobRow(job, self.cancelRequested.emit)
            self.layout_.insertWidget(self.layout_.count() - 1, row)
        row.update_from(job)
        self.idle.setVisible(False)

    def _removed(self, job_id: int) -> None:
        row = self.rows.pop(job_id, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
        self.idle.setVisible(not self.rows)
