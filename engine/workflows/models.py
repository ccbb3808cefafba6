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
    """models_dir: the folder searched; exists: whether it is a folder; models: one status each."""

    models_dir: Path
    exists: bool
    models: tuple[ModelStatus, ...]

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


def set_models_dir(ws, models_dir: Path | str | None) -> ModelsReport:
    """Engine thread: use ``models_dir`` from now on (None: the default); generators built
    from the previous folder are dropped. Returns the new folder's report."""
    path = Path(models_dir) if models_dir else None
    if path != ws.settings.models_dir:
        ws.settings = replace(ws.settings, models_dir=path)
        ws.generators.clear()
    return models_report(ws.settings.models_dir)
