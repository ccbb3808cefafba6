"""Autosave and crash recovery.

Every ``interval`` seconds, when the project has unsaved changes and the engine is idle, a
copy is written to ``<autosave_dir>/project``. A ``session.json`` marker holds this process's
pid while the studio runs; a marker left by a process that is gone means the last session
crashed, and the window offers (non-modal banner) to recover the autosaved copy.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QTimer

from engine.atomic_io import pid_alive


def default_autosave_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".anyrecon-studio") / "autosave"


class Autosave:
    def __init__(self, win, folder: Path | None, interval_s: float) -> None:
        self.win = win
        self.folder = Path(folder) if folder is not None else default_autosave_dir()
        self.project_dir = self.folder / "project"
        self.marker = self.folder / "session.json"
        self.crashed_before = self._check_marker()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(json.dumps({"pid": os.getpid()}))
        self.timer = QTimer(win)
        self.timer.timeout.connect(self.tick)
        if interval_s > 0:
            self.timer.start(int(interval_s * 1000))
        self.saves = 0

    def _check_marker(self) -> bool:
        try:
            pid = int(json.loads(self.marker.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return pid != os.getpid() and not pid_alive(pid) and (self.project_dir / "project.json").exists()

    def offer_recovery(self) -> bool:
        """Show the recovery offer if the last session crashed; True when offered."""
        if not self.crashed_before:
            return False
        self.win.banner.show_message("warning", "AnyRecon Studio did not close cleanly last time. "
                                     "Recover the autosaved project?", "Recover", self.recover)
        return True

    def recover(self) -> None:
        self.win.open_path(self.project_dir)

    def is_autosave_root(self, root) -> bool:
        return Path(root).resolve() == self.project_dir.resolve()

    def tick(self) -> None:
        ctl = self.win.ctl
        if not ctl.project.dirty or ctl.generate_job_id is not None or not ctl.project.points.size:
            return
        if ctl.bridge.jobs_named("autosave"):
            return
        ctl.save_project(self.project_dir, autosave=True)
        self.saves += 1

    def clean_exit(self) -> None:
        self.timer.stop()
        try:
            self.marker.unlink()
        except OSError:
            pass
