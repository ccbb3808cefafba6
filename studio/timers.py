"""Small Qt timer helpers shared by the controller and the main window."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer


class OnePerPass(QObject):
    """Deferred GUI-thread tasks, run one per event-loop pass (FIFO by key; a key asked for again
    while queued keeps its place). Qt runs every due timer in one pass, so separate 0 ms timers
    (a delta's part, the upload it queued, the framing) ran back to back as one long stall; one
    0 ms timer fires once per pass, and input, paints and engine events get the loop in between."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict = {}
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run_one)

    def request(self, key, fn) -> None:
        if key not in self._tasks:
            self._tasks[key] = fn
        if not self._timer.isActive():
            self._timer.start()

    def is_due(self, key) -> bool:
        return key in self._tasks

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def _run_one(self) -> None:
        if self._tasks:
            key = next(iter(self._tasks))
            self._tasks.pop(key)()
        if not self._tasks:
            self._timer.stop()


def single_shot(parent: QObject, ms: int, slot) -> QTimer:
    """A single-shot QTimer owned by ``parent`` that calls ``slot`` ``ms`` milliseconds after its
    last ``start()`` (restarting it debounces: only the last of a burst fires)."""
    t = QTimer(parent)
    t.setSingleShot(True)
    t.setInterval(ms)
    t.timeout.connect(slot)
    return t
