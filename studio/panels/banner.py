"""A message banner above the viewport: clear, non-modal feedback (errors, offers)."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

STYLES = {"error": "background:#5a1f1f; color:#ffd9d4;", "info": "background:#1f3a5a; color:#d8ecff;",
          "warning": "background:#5a4a1f; color:#fff2cc;"}


class MessageBanner(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.action = QPushButton("")
        self.action.setVisible(False)
        close = QPushButton("×")
        close.setFixedWidth(28)
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.action)
        row.addWidget(close)
        self.level = ""
        self._callback = None
        self.action.clicked.connect(self._act)
        self.hide()

    def show_message(self, level: str, text: str, action: str | None = None, callback=None) -> None:
        self.level = level
        self.label.setText(text)
        self.setStyleSheet(f"QWidget#messageBanner, QLabel {{{STYLES.get(level, STYLES['info'])}}}")
        self.setAttribute(__import__("PySide6.QtCore", fromlist=["Qt"]).Qt.WidgetAttribute.WA_StyledBackground, True)
        self.action.setVisible(action is not None)
        self.action.setText(action or "")
        self._callback = callback
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def _act(self) -> None:
        cb, self._callback = self._callback, None
        self.hide()
        if cb is not None:
            cb()
