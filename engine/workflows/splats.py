"""Train (or resume) the open project's Gaussian splats (CLI ``splat`` and ``track``, the
studio's menu and its automatic run after a capture or dataset is loaded, batch runs).

On CUDA, splats are part of the default: after tracking or an import, ``auto_splats_job``
trains them (``splats_by_default``); on the CPU it does not (a few hundred steps of the torch
rasterizer take minutes and give little) and says how to ask for it.

Where the checkpoints live: a saved project's own folder (``PROJECT/splats/``). A scene not
saved yet (a video just tracked in the studio) trains into a scratch folder keyed by the
project's id (``splat_folder``); ``save_project`` copies those splats into the project folder
on its first save (and autosaves carry them too), so nothing trained is lost and the
training never waits for the artist to pick a folder.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

CPU_HINT = ("splat training is off by default on the CPU (slow); ask for it with `anyrecon splat PROJECT` "
            "(or `anyrecon track ... --splats`, studio: Generate > Train Gaussian Splats)")


def default_iterations(device) -> int:
    """Steps a Train Splats run takes by default: 7k on CUDA (under a minute on an H200),
    a few hundred on a CPU."""
    from engine.device import resolve_device

    return 7000 if resolve_device(device).type == "cuda" else 300


def scratch_root() -> Path:
    """Folder for the splats of scenes not saved yet: ``$ANYRECON_SCRATCH`` or the system's
    temporary folder / anyrecon-scratch."""
    return Path(os.environ.get("ANYRECON_SCRATCH") or Path(tempfile.gettempdir()) / "anyrecon-scratch")


def splat_folder(ws) -> Path:
    """Where the open project's splats live (``<folder>/splats/``): the project folder once
    saved, else a scratch folder of this project (its id)."""
    if ws.project is None:
        raise ValueError("no project is open")
    return Path(ws.project.root) if ws.saved else scratch_root() / ws.project.id


def _device(ws):
    return ws.memory.device if ws.memory is not None else ws.settings.device


def splats_by_default(ws) -> bool:
    """Whether the open scene's splats train by themselves after tracking / import: on CUDA."""
    from engine.device import resolve_device

    return resolve_device(_device(ws)).type == "cuda"


def train_splats_job(iterations: int | None = None, options=None, resume: bool = True, scale: float | None = None,
                     holdout_every: int = 8):
    """Session job: engine.splat.job.splat_train_job on the open project, checkpoints in
    :func:`splat_folder`; generators built on the old splats are dropped afterwards."""
    if iterations is not None and iterations <= 0:
        raise ValueError(f"iterations must be positive, got {iterations}")

    def job(ws, cancel):
        from engine.splat.job import splat_train_job

        if ws.project is None:
            raise ValueError("Training splats needs a project: open or save one first")
        device = _device(ws)
        steps = iterations or default_iterations(device)
        try:
            return (yield from splat_train_job(steps, options, device=device, resume=resume, scale=scale,
                                               holdout_every=holdout_every, root=splat_folder(ws))(ws, cancel))
        finally:
            ws.generators.invalidate("splat")
            ws.generators.invalidate("auto")
    return job


def auto_splats_job(requested: bool | None = None, iterations: int | None = None):
    """Session job run after tracking / an import: trains the splats when ``requested`` (None:
    :func:`splats_by_default`), else returns None and says why in a Progress message
    (:data:`CPU_HINT`). Returns the SplatTrainSummary or None."""
    def job(ws, cancel):
        from engine.events import Progress

        ws.require_scene("Training splats")
        wanted = splats_by_default(ws) if requested is None else requested
        if not wanted:
            yield Progress(1.0, CPU_HINT if requested is None else "splat training skipped (asked not to)")
            return None
        return (yield from train_splats_job(iterations)(ws, cancel))
    return job


def carry_splats(source: Path, root: Path) -> bool:
    """Copy ``source``/splats into ``root``/splats when ``root`` is another folder that has none
    (a scene's first save, Save As); returns whether something was copied."""
    import shutil

    from engine.splat.checkpoint import SPLAT_PLY

    src, dst = Path(source) / SPLAT_PLY.parent, Path(root) / SPLAT_PLY.parent
    if not (Path(source) / SPLAT_PLY).is_file() or Path(source).resolve() == Path(root).resolve() or dst.exists():
        return False
    shutil.copytree(src, dst)
    return True
