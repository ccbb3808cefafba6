"""Save the open scene as a project folder (the studio's Save / autosave, the CLI's writes)."""
from __future__ import annotations

from pathlib import Path

from engine.events import Progress


def save_project(ws, root: Path | str | None = None, name: str | None = None, autosave: bool = False,
                 overwrite: bool = False) -> Path:
    """Write the open project to ``root`` (default: its own folder) as one transaction
    (engine.project.Project.save). Frames generated before it had a folder are written; when
    a saved project moves to a new folder its generated frames are copied. ``autosave``
    writes a copy (replacing what the autosave folder held) and leaves the open project's
    folder as it was. A folder that holds another project, or other files, is refused
    (ProjectError) unless ``overwrite``: the caller asks the user first."""
    from engine.workflows.splats import carry_splats, splat_folder

    project = ws.require_scene("Save")
    old_root, root = Path(project.root), Path(root or project.root)
    splats_from = splat_folder(ws)
    if name:
        project.name = name
    project.save(root, overwrite=overwrite or autosave, as_copy=autosave, pending_frames=ws.pending_frames)
    carry_splats(splats_from, root)     # splats trained before this folder existed go with it
    if not autosave:
        if ws.pending_frames:
            ws.pending_frames.clear()
        if not ws.saved or old_root.resolve() != root.resolve():
            ws.generators.clear()       # generators built for another folder (splat checkpoints)
        ws.saved = True
    return root


def save_project_job(root: Path | str | None = None, trajectory=None, trajectory_name: str = "main",
                     name: str | None = None, autosave: bool = False, overwrite: bool = False):
    """Session job around :func:`save_project`; ``trajectory`` is stored under
    ``trajectory_name`` first (the studio's edited path); ``overwrite``: the user agreed to
    replace what the folder holds. Returns the folder as a string."""
    def job(ws, cancel):
        if trajectory is not None:
            ws.require_scene("Save").trajectories[trajectory_name] = trajectory
        target = Path(root) if root is not None else Path(ws.require_scene("Save").root)
        yield Progress(0.1, f"saving {target.name}")
        out = save_project(ws, target, name, autosave, overwrite)
        yield Progress(1.0, f"saved {target.name}")
        return str(out)
    return job
