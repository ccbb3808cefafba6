"""Save the open scene as a project folder (the studio's Save / autosave, the CLI's writes)."""
from __future__ import annotations

import shutil
from pathlib import Path

from engine.events import Progress


def save_project(ws, root: Path | str | None = None, name: str | None = None, autosave: bool = False) -> Path:
    """Write the open project to ``root`` (default: its own folder). Frames generated before it
    had a folder are written; when a saved project moves to a new folder its generated frames
    are copied. ``autosave`` writes a copy and leaves the open project's folder as it was."""
    project = ws.require_scene("Save")
    old_root, root = Path(project.root), Path(root or project.root)
    if name:
        project.name = name
    project.root = root
    try:
        if ws.pending_frames:
            project.write_pending_frames(ws.pending_frames)
        if ws.saved and old_root.resolve() != root.resolve():
            for seg in project.segments:
                src = old_root / project.segment_folder(seg.segment_id).relative_to(root)
                if src.is_dir():
                    shutil.copytree(src, project.segment_folder(seg.segment_id), dirs_exist_ok=True)
        project.save(root)
    finally:
        if autosave:
            project.root = old_root
    if not autosave:
        if ws.pending_frames:
            ws.pending_frames.clear()
        if not ws.saved or old_root.resolve() != root.resolve():
            ws.generators.clear()       # generators built for another folder (splat checkpoints)
        ws.saved = True
    return root


def save_project_job(root: Path | str | None = None, trajectory=None, trajectory_name: str = "main",
                     name: str | None = None, autosave: bool = False):
    """Session job around :func:`save_project`; ``trajectory`` is stored under
    ``trajectory_name`` first (the studio's edited path). Returns the folder as a string."""
    def job(ws, cancel):
        if trajectory is not None:
            ws.require_scene("Save").trajectories[trajectory_name] = trajectory
        target = Path(root) if root is not None else Path(ws.require_scene("Save").root)
        yield Progress(0.1, f"saving {target.name}")
        out = save_project(ws, target, name, autosave)
        yield Progress(1.0, f"saved {target.name}")
        return str(out)
    return job
