"""Small Qt timer helpers shared by the controller and the main window."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer


def single_shot(parent: QObject, ms: int, slot) -> QTimer:
    """A single-shot QTimer owned by ``parent`` that calls ``slot`` ``ms`` milliseconds after its
    last ``start()`` (restarting it debounces: only the last of a burst fires)."""
    t = QTimer(parent)
    t.setSingleShot(True)
    t.setInterval(ms)
    t.timeout.connect(slot)
    return t
