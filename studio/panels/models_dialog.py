"""Models settings dialog: the models folder, what each learned model found there, what is
missing (exact file names), unusable files, licences and how to use each model; and which
pose backend tracks new captures (Pi3 offered only when its checkpoint is usable).

The report is computed on the engine thread (``bridge.request``); changing the folder is an
engine command too (``engine.workflows.models.set_models_dir``: the engine settings change and
generators built from the old folder are dropped). The dialog only shows the answers; with a
QSettings it remembers the folder under ``models_dir``.
"""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QTextBrowser, QVBoxLayout)

SETTINGS_KEY = "models_dir"
POSE_KEY = "pose_backend"
TRACKERS = (("colmap", "COLMAP (SIFT + mapper; no weights)"), ("pi3", "Pi3 (feed-forward cameras + depth)"))


def _rel(path: str, root: Path) -> str:
    """``path`` relative to the models folder when it lies inside it."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _state(m) -> str:
    if m.ready:
        return "<span style='color:#3fb950'><b>ready</b></span>"
    n = len(m.missing) + len(m.problems)
    return f"<span style='color:#f85149'><b>{n} file(s) missing or unusable</b></span>"


def report_html(report) -> str:
    """``engine.workflows.models.ModelsReport`` as HTML: a summary table, then per model the
    files found, the files missing (exact names, relative to the folder), unusable files,
    licences and how to use it."""
    root = Path(report.models_dir)
    e = html.escape
    out = [f"<p><b>Folder:</b> {e(str(root))}"
           + ("" if report.exists else " <span style='color:#d9822b'>(does not exist)</span>")
           + "<br><i>Nothing is ever downloaded: copy the files listed below into this folder.</i></p>",
           "<table cellspacing=0 cellpadding=3>"]
    out += [f"<tr><td><b>{e(m.name)}</b></td><td>{_state(m)}</td><td>{e(m.role)}</td></tr>" for m in report.models]
    out.append("</table>")
    for m in report.models:
        out.append(f"<h3>{e(m.name)}: {_state(m)}</h3><ul>")
        out += [f"<li>found <code>{e(_rel(p, root))}</code></li>" for p in m.found]
        out += [f"<li><b>missing</b> <code>{e(label)}</code></li>" for label in m.missing]
        out += [f"<li><b>unusable</b> {e(p)}</li>" for p in m.problems]
        out.append("</ul><p>")
        out += [f"Licence of {e(c)}: <b>{e(lic)}</b> [{e(src)}]<br>" for c, lic, src in m.licenses]
        out.append(f"Use: <code>{e(m.use)}</code></p>")
    return "".join(out)


class ModelsDialog(QDialog):
    """``bridge``: studio.bridge.EngineBridge. ``modelsDirChanged`` carries the new folder
    (str) once the engine has switched to it (e.g. to refresh the generator list)."""

    modelsDirChanged = Signal(str)
    reportShown = Signal(object)

    def __init__(self, bridge, parent=None, settings=None) -> None:
        super().__init__(parent)
        self.bridge, self.settings = bridge, settings
        self.report = None
        self.setWindowTitle("Models")
        self.resize(760, 560)
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Models folder"))
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("default: $ANYRECON_MODELS or ~/.anyrecon/models")
        row.addWidget(self.folder, 1)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        row.addWidget(self.browse)
        self.apply = QPushButton("Use Folder")
        self.apply.clicked.connect(lambda: self.set_folder(self.folder.text().strip()))
        row.addWidget(self.apply)
        col.addLayout(row)
        track = QHBoxLayout()
        track.addWidget(QLabel("Track new captures with"))
        self.tracker = QComboBox()
        for name, label in TRACKERS:
            self.tracker.addItem(label, name)
        self.tracker.activated.connect(lambda i: self.set_pose_backend(self.tracker.itemData(i)))
        track.addWidget(self.tracker, 1)
        col.addLayout(track)
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        col.addWidget(self.view, 1)
        self.status = QLabel("asking the engine…")
        col.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        col.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        """Ask the engine for the current folder's report."""
        from engine.workflows.models import workspace_report

        self.bridge.request(workspace_report, self._answer)

    def set_pose_backend(self, name: str) -> None:
        """Make the engine track new captures with ``name`` (refused when its files are missing)."""
        from engine.workflows.models import set_pose_backend

        self.bridge.request(lambda ws: set_pose_backend(ws, name), self._answer)

    def set_folder(self, folder: str) -> None:
        """Make the engine use ``folder`` ('' = the default) and show its report."""
        from engine.workflows.models import set_models_dir

        path = Path(folder).expanduser() if folder else None
        self.status.setText("switching the models folder…")
        self.bridge.request(lambda ws: set_models_dir(ws, path), lambda r, e: self._answer(r, e, changed=True))

    def _browse(self) -> None:
        start = self.folder.text() or (str(self.report.models_dir) if self.report else str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Models folder", start)
        if path:
            self.folder.setText(path)
            self.set_folder(path)

    def _answer(self, report, error, changed: bool = False) -> None:
        if error or report is None:
            self.status.setText(f"the engine refused: {error}")
            if self.report is not None:
                self.tracker.setCurrentIndex(max(0, self.tracker.findData(self.report.pose_backend)))
            return
        self.report = report
        if not self.folder.hasFocus():
            self.folder.setText(str(report.models_dir))
        self.view.setHtml(report_html(report))
        ready = {m.name for m in report.models if m.ready}
        self.status.setText(f"ready: {', '.join(sorted(ready))}" if ready else "no learned model is usable in this folder")
        model = self.tracker.model()
        for i in range(self.tracker.count()):   # a learned tracker is offered only when its files are there
            name = self.tracker.itemData(i)
            model.item(i).setEnabled(name == "colmap" or name in ready)
        self.tracker.setCurrentIndex(max(0, self.tracker.findData(report.pose_backend)))
        if self.settings is not None:
            self.settings.setValue(POSE_KEY, report.pose_backend)
        if changed:
            if self.settings is not None:
                self.settings.setValue(SETTINGS_KEY, str(report.models_dir))
            self.modelsDirChanged.emit(str(report.models_dir))
        self.reportShown.emit(report)


def restore_models_dir(bridge, settings) -> None:
    """At start-up: send the folder and tracker saved in ``settings`` (if any) to the engine
    (queued before later requests, e.g. the generator list); a saved learned tracker whose
    files are gone is not restored."""
    from engine.workflows.models import set_models_dir, set_pose_backend

    if settings is None:
        return
    saved, tracker = settings.value(SETTINGS_KEY, ""), settings.value(POSE_KEY, "")

    def restore(ws):
        if saved:
            set_models_dir(ws, Path(str(saved)))
        if tracker and tracker != ws.settings.pose_backend:
            set_pose_backend(ws, str(tracker))

    if saved or tracker:
        bridge.request(restore, lambda _r, _e: None)
