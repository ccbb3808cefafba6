"""The jobs strip: one slim row per running engine job (name, progress with its message, ETA,
Cancel). It takes no room while the engine is idle and grows by one row per job, floating
over the bottom edge of its host (the viewport): showing it resizes nothing, since a resize
of the GL viewport costs a full re-render on the GUI thread."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

ROW_HEIGHT = 26


def format_eta(eta_s) -> str:
    if eta_s is None:
        return ""
    eta_s = max(0.0, float(eta_s))
    return f"ETA {int(eta_s // 60)}:{int(eta_s % 60):02d}" if eta_s >= 60 else f"ETA {eta_s:.0f} s"


class ProgressBar(QWidget):
    """A progress bar that repaints with the next frame (``update``). QProgressBar.setValue
    repaints at once, and in a window holding the GL viewport every immediate repaint
    re-composites the window: 60-80 ms on software GL, per progress event."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fraction, self._text = 0.0, ""

    def set_progress(self, fraction: float, text: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        if (fraction, text) != (self._fraction, self._text):
            self._fraction, self._text = fraction, text
            self.update()

    def value(self) -> int:
        """Progress in thousandths."""
        return int(round(self._fraction * 1000))

    def text(self) -> str:
        return f"{self._text} · {self._fraction:.0%}"

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        r = self.rect().adjusted(0, 0, -1, -1)
        p.fillRect(r, QColor(38, 41, 47))
        p.fillRect(1, 1, int(round((r.width() - 1) * self._fraction)), r.height() - 1, QColor(47, 111, 196))
        p.setPen(QColor(70, 74, 82))
        p.drawRect(r)
        p.setPen(QColor(230, 232, 236))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.text())
        p.end()


class _JobRow(QWidget):
    def __init__(self, job, on_cancel) -> None:
        super().__init__()
        self.name = QLabel(job.name)
        self.name.setMinimumWidth(110)
        self.bar = ProgressBar()
        self.bar.setFixedHeight(ROW_HEIGHT - 6)
        self.eta = QLabel("")
        self.eta.setMinimumWidth(70)
        self.eta.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.cancel = QPushButton("Cancel")
        self.cancel.setMaximumHeight(ROW_HEIGHT - 2)
        self.setFixedHeight(ROW_HEIGHT)
        self.cancel.setObjectName(f"cancelJob{job.job_id}")
        self.cancel.clicked.connect(lambda: on_cancel(job.job_id))
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 0)
        for w in (self.name, self.bar, self.eta, self.cancel):
            row.addWidget(w)
        row.setStretch(1, 1)

    def update_from(self, job) -> None:
        self.bar.set_progress(job.fraction, job.message or job.state)
        eta = format_eta(job.eta_s)
        if eta != self.eta.text():
            self.eta.setText(eta)


class JobsPanel(QWidget):
    cancelRequested = Signal(int)

    def __init__(self, jobs_model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = jobs_model
        self.rows: dict[int, _JobRow] = {}
        self.setObjectName("jobsStrip")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet("QWidget#jobsStrip { background: #1b1d21; border-top: 1px solid #333; }")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 2, 0, 2)
        self.layout_.setSpacing(0)
        self.setVisible(False)               # nothing running: no strip at all
        self._host: QWidget | None = None
        self._dirty: set[int] = set()
        self._timer = QTimer(self)        # progress redraws coalesced to ~4 per second: each repaint
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)       # re-composites the window with the GL viewport (software GL: 10-60 ms)
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
            self.layout_.addWidget(row)
            self._place()
        row.update_from(job)
        self.setVisible(True)

    def _removed(self, job_id: int) -> None:
        row = self.rows.pop(job_id, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
        self.setVisible(bool(self.rows))
        self._place()

    def float_over(self, host: QWidget) -> None:
        """Float over the bottom edge of ``host`` (kept there as it resizes)."""
        self.setParent(host)
        # the viewport draws into a native GL window (studio.viewport.gl_window): a widget
        # painted in its parent's backing store would stay hidden under it, a native one is
        # stacked above the viewport's native window (raise_ in _place)
        self.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)
        self._host = host
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt API)
        if obj is self._host and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        if self._host is None or not self.rows:
            return
        h = ROW_HEIGHT * len(self.rows) + 4
        self.setGeometry(0, self._host.height() - h, self._host.width(), h)
        self.raise_()
