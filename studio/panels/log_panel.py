"""The log: engine and studio messages, newest last."""
from __future__ import annotations

import time

from PySide6.QtWidgets import QPlainTextEdit

LEVEL_COLORS = {"info": "#c8c8c8", "warning": "#f0c040", "error": "#ff6b5b"}


class LogPanel(QPlainTextEdit):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(2000)
        self.lines: list[str] = []

    def add(self, level: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.lines.append(f"{level}: {message}")
        color = LEVEL_COLORS.get(level, "#c8c8c8")
        self.appendHtml(f'<span style="color:#777">{stamp}</span> <span style="color:{color}">{_escape(message)}</span>')


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
