"""Export dialog: lists engine.export's EXPORTERS and runs one as an engine job."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QLabel,
                               QLineEdit, QPushButton)


class ExportDialog(QDialog):
    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self.setWindowTitle("Export")
        form = QFormLayout(self)
        try:
            from engine.export import EXPORTERS  # lazily: written by the exports issue
        except ImportError as exc:
            form.addRow(QLabel(f"exporters are not available: {exc}"))
            self.exporters = {}
        else:
            self.exporters = dict(EXPORTERS)
        self.format = QComboBox()
        self.format.addItems(sorted(self.exporters))
        self.out = QLineEdit(str(Path.home() / "anyrecon_export"))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        form.addRow("Format", self.format)
        form.addRow("Output", self.out)
        form.addRow(browse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._run)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.out.text())
        if path:
            self.out.setText(path)

    def _run(self) -> None:
        fmt, out = self.format.currentText(), Path(self.out.text())
        if not fmt:
            self.reject()
            return

        from engine.workflows import export_job

        self.win.ctl.submit(f"export {fmt}", export_job(fmt, out))
        self.accept()
