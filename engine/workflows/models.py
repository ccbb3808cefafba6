"""The learned models a user can point the engine at: where they are looked for, what was
found, what is missing (exact file names) and their licenses. One report for the
``anyrecon models`` command and the studio's Models settings dialog. Never downloads.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class ModelStatus:
    """One learned model. found: absolute paths of the files found; missing: the expected
    files that are not there (``folder/name`` relative to the models folder, alternatives
    joined by " or "); problems: files that are there but unusable (e.g. wrong keys);
    licenses: (component, license, where it comes from); use: how to select it."""

    name: str
    role: str
    ready: bool
    found: tuple[str, ...]
    missing: tuple[str, ...]
    problems: tuple[str, ...]
    licenses: tuple[tuple[str, str, str], ...]
    use: str


@dataclass(frozen=True)
class ModelsReport:
    """models_dir: the folder searched; exists: whether it is a folder; models: one status
    each; pose_backend: how the engine tracks new captures (its settings)."""

    models_dir: Path
    exists: bool
    models: tuple[ModelStatus, ...]
    pose_backend: str = "colmap"

    @property
    def any_ready(self) -> bool:
        return any(m.ready for m in self.models)


def resolved_models_dir(models_dir: Path | str | None) -> Path:
    """``models_dir``, else ``$ANYRECON_MODELS``, else ``~/.anyrecon/models``."""
    from engine.generate.registry import GeneratorContext

    return GeneratorContext(models_dir=Path(models_dir) if models_dir else None).resolved_models_dir


def _anyrecon(root: Path) -> ModelStatus:
    from engine.generate.anyrecon import files as mf

    found = mf.discover(root)
    lic = tuple((m, lic, src) for m, (lic, src) in mf.LICENSES.items())
    return ModelStatus("anyrecon", "novel-view generator (Wan2.1-I2V-14B-720P + AnyRecon LoRA)", found.complete,
                       tuple(str(p) for p in found.found.values()), tuple(found.missing), (), lic,
                       "anyrecon generate --generator anyrecon; studio: Generate > generator 'anyrecon'")


def _pi3(root: Path) -> ModelStatus:
    from engine.tracking.pi3 import weights as pw

    f = pw.discover(root)
    present = f.path.is_file()
    return ModelStatus("pi3", "feed-forward cameras + depth for tracking (Pi3)", f.ready,
                       (str(f.path),) if present else (), () if present else (f.label,),
                       (f.problem,) if present and f.problem else (),
                       (("Pi3 weights", pw.PI3_LICENSE, pw.PI3_SOURCE),),
                       "anyrecon track --pose-backend pi3 --models DIR")


def models_report(models_dir: Path | str | None = None) -> ModelsReport:
    """What every learned model finds under ``models_dir`` (see :func:`resolved_models_dir`)."""
    root = resolved_models_dir(models_dir)
    return ModelsReport(root, root.is_dir(), (_anyrecon(root), _pi3(root)))


def workspace_report(ws) -> ModelsReport:
    """Engine thread: the report of the workspace's models folder and its pose backend."""
    return replace(models_report(ws.settings.models_dir), pose_backend=ws.settings.pose_backend)


def set_pose_backend(ws, name: str) -> ModelsReport:
    """Engine thread: track new captures with pose backend ``name`` (ValueError if unknown, or
    if it is a learned one whose files are not usable in the models folder)."""
    from engine.tracking.pose_backend import POSE_BACKENDS

    if name not in POSE_BACKENDS:
        raise ValueError(f"unknown pose backend {name!r}; known: {', '.join(sorted(POSE_BACKENDS))}")
    report = models_report(ws.settings.models_dir)
    status = {m.name: m for m in report.models}.get(name)
    if status is not None and not status.ready:
        raise ValueError(f"pose backend {name!r} needs {', '.join(status.missing + status.problems)} "
                         f"in {report.models_dir}")
    ws.settings = replace(ws.settings, pose_backend=name)
    return replace(report, pose_backend=name)


def set_models_dir(ws, models_dir: Path | str | None) -> ModelsReport:
    """Engine thread: use ``models_dir`` from now on (None: the default); generators built
    from the previous folder are dropped. Returns the new folder's report."""
    path = Path(models_dir) if models_dir else None
    if path != ws.settings.models_dir:
        ws.settings = replace(ws.settings, models_dir=path)
        ws.generators.clear()
    report = workspace_report(ws)
    learned = {m.name: m for m in report.models}.get(ws.settings.pose_backend)
    if learned is not None and not learned.ready:      # its files are not in the new folder
        ws.settings = replace(ws.settings, pose_backend="colmap")
        report = replace(report, pose_backend="colmap")
    return report
