"""Dark theme: Fusion with a dark palette, the shipped stylesheet, pyqtgraph colors."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QPalette

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def stylesheet() -> str:
    for base in (RESOURCES, Path(__file__).resolve().parent / "resources"):
        qss = base / "studio.qss"
        if qss.exists():
            return qss.read_text()
    return ""


def apply_dark_theme(app) -> None:
    import pyqtgraph as pg

    app.setStyle("Fusion")
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#1e2024", QPalette.ColorRole.WindowText: "#d6d9df",
        QPalette.ColorRole.Base: "#17181b", QPalette.ColorRole.AlternateBase: "#23252a",
        QPalette.ColorRole.Text: "#d6d9df", QPalette.ColorRole.Button: "#2b2e34",
        QPalette.ColorRole.ButtonText: "#d6d9df", QPalette.ColorRole.Highlight: "#3c78c8",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b2e34",
        QPalette.ColorRole.ToolTipText: "#d6d9df", QPalette.ColorRole.PlaceholderText: "#80848c",
    }
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6a6e76"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6a6e76"))
    app.setPalette(p)
    app.setStyleSheet(stylesheet())
    pg.setConfigOptions(background=(30, 32, 36), foreground=(200, 204, 212), antialias=False)
