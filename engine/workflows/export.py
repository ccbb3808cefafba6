"""Export the open project (CLI ``export``, the studio's Export dialog)."""
from __future__ import annotations

from pathlib import Path


def export_job(fmt: str, out: Path | str, options=None):
    """Session job: engine.export.export of the open, saved project (exports read its folder)."""
    def job(ws, cancel):
        from engine.export import export

        project = ws.require_scene("Export")
        if not ws.saved:
            raise ValueError("save the project first (File > Save): exports read the project folder")
        return export(project, fmt, Path(out), options)
    return job
