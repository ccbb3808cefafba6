"""Static registry of novel-view generators: one ``GeneratorSpec`` per backend.

A spec names the backend, its options dataclass and a factory ``factory(options, context)``;
the context carries what any backend may need (compute device, project folder, models folder),
so callers never special-case a backend. ``GeneratorCache`` keeps built generators across jobs
(a diffusion model loads its weights once per session, not once per Generate).

Adding a backend is one module plus one ``GeneratorSpec`` line in ``_SPECS``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

DEFAULT_GENERATOR = "auto"


@dataclass(frozen=True)
class GeneratorContext:
    """device: torch device or its name (None: CUDA when present); project_root: the open
    project's folder on disk (None when unsaved); models_dir: the user's local checkpoints."""

    device: Any = None
    project_root: Path | None = None
    models_dir: Path | None = None

    @property
    def resolved_models_dir(self) -> Path:
        if self.models_dir is not None:
            return Path(self.models_dir)
        return Path(os.environ.get("ANYRECON_MODELS", Path.home() / ".anyrecon" / "models"))


@dataclass(frozen=True)
class GeneratorSpec:
    """name: registry key; summary: one line for --help and menus; options_type: the frozen
    options dataclass; factory(options, context) -> a NovelViewGenerator."""

    name: str
    summary: str
    options_type: type
    factory: Callable[[Any, GeneratorContext], object]
    check: Callable[[GeneratorContext], list] | None = None  # -> missing files ([] = usable)
    project_bound: bool = False   # built from the project's folder (a cache builds it per project);
                                  # False: one build serves every project (weights load once)

    def missing(self, context: GeneratorContext | None = None) -> list[str]:
        """Files this backend needs that are not there (weight-free backends: none)."""
        return list(self.check(context or GeneratorContext())) if self.check is not None else []

    def options_from(self, values: dict | None = None):
        """The options dataclass from a plain dict (unknown keys raise ValueError naming them)."""
        values = dict(values or {})
        known = {f.name for f in fields(self.options_type)} if is_dataclass(self.options_type) else set()
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"generator {self.name!r} has no option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known)) or 'none'}")
        return self.options_type(**values)


def _ibr_spec() -> GeneratorSpec:
    from engine.generate.ibr import IBRGenerator, IBROptions

    return GeneratorSpec("ibr", "forward-warped references, backward-sampled colours, push-pull fill",
                         IBROptions, lambda o, ctx: IBRGenerator(o, device=ctx.device))


def _splat_spec() -> GeneratorSpec:
    """engine.splat.generator, imported on use (it pulls in the splat trainer)."""
    from engine.splat.generator import SplatGenerator, SplatGeneratorOptions

    return GeneratorSpec("splat", "Gaussian splats trained on the captured views (resumes the project's)",
                         SplatGeneratorOptions,
                         lambda o, ctx: SplatGenerator(o, device=ctx.device, project_root=ctx.project_root),
                         project_bound=True)


def _surface_spec() -> GeneratorSpec:
    from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions

    return GeneratorSpec("surface", "captured photos sampled onto the memory's surface, PatchMatch fill",
                         SurfaceGeneratorOptions, lambda o, ctx: SurfaceGenerator(o, device=ctx.device))


def _auto_spec() -> GeneratorSpec:
    from engine.generate.auto import AutoGenerator, AutoGeneratorOptions

    return GeneratorSpec("auto", "trained splats where confident + photos on the surface + fill on CUDA; "
                         "the surface generator without splats or on the CPU (default)",
                         AutoGeneratorOptions,
                         lambda o, ctx: AutoGenerator(o, device=ctx.device, project_root=ctx.project_root))


def _anyrecon_spec() -> GeneratorSpec:
    """engine.generate.anyrecon: Wan2.1-I2V-14B + AnyRecon LoRA from the models folder
    (imports torch only; diffusers when the weights load)."""
    from engine.generate.anyrecon import AnyReconGenerator, AnyReconOptions, missing_files

    return GeneratorSpec("anyrecon", "AnyRecon video diffusion (Wan2.1-I2V-14B + LoRA, 4 steps; needs the model files)",
                         AnyReconOptions,
                         lambda o, ctx: AnyReconGenerator(o, ctx.resolved_models_dir, device=ctx.device),
                         check=lambda ctx: missing_files(ctx.resolved_models_dir))


# name -> spec builder (specs are built on first use: a backend's imports stay lazy)
_SPECS: dict[str, Callable[[], GeneratorSpec]] = {
    "auto": _auto_spec,
    "surface": _surface_spec,
    "ibr": _ibr_spec,
    "splat": _splat_spec,
    "anyrecon": _anyrecon_spec,
}
GENERATORS = tuple(_SPECS)


def generator_spec(name: str) -> GeneratorSpec:
    """The spec of ``name``; unknown names raise ValueError listing the valid ones."""
    try:
        return _SPECS[name]()
    except KeyError:
        raise ValueError(f"unknown generator {name!r}; available: {', '.join(sorted(_SPECS))}") from None


def available_generators(context: GeneratorContext | None = None) -> tuple[str, ...]:
    """Names of the generators usable now: weight-free ones always, learned ones only when
    their files are found under ``context``'s models folder (menus list only these)."""
    context = context or GeneratorContext()
    return tuple(name for name in _SPECS if not generator_spec(name).missing(context))


def make_generator(name: str, context: GeneratorContext | None = None, options=None, *, device=None):
    """Build a generator by name. ``options``: its options dataclass or a dict of its fields;
    ``device`` is a shortcut for a context with only a device."""
    spec = generator_spec(name)
    if options is None or isinstance(options, dict):
        options = spec.options_from(options)
    context = context or GeneratorContext()
    if device is not None:
        context = replace(context, device=device)
    _require_files(spec, context)
    return spec.factory(options, context)


def _require_files(spec: GeneratorSpec, context: GeneratorContext) -> None:
    """FileNotFoundError naming every missing file of ``spec`` (never a download)."""
    missing = spec.missing(context)
    if missing:
        raise FileNotFoundError(f"generator {spec.name!r} cannot start: missing under "
                                f"{context.resolved_models_dir}: {', '.join(missing)} "
                                f"(see `anyrecon models`; nothing is downloaded)")


@dataclass
class GeneratorCache:
    """Generators built so far, keyed by (name, options, context). Lives in the workspace."""

    _built: dict[tuple, object] = field(default_factory=dict)
    builds: int = 0   # how many generators this cache has built (tests and logs)

    def get(self, name: str, context: GeneratorContext, options=None):
        spec = generator_spec(name)
        if options is None or isinstance(options, dict):
            options = spec.options_from(options)
        key = (name, options, str(context.device), context.project_root if spec.project_bound else None,
               context.models_dir)
        if key not in self._built:
            _require_files(spec, context)
            self._built[key] = spec.factory(options, context)
            self.builds += 1
        return self._built[key]

    def invalidate(self, name: str | None = None) -> None:
        """Forget built generators (all, or those of ``name``): e.g. after retraining splats."""
        self._built = {k: v for k, v in self._built.items() if name is not None and k[0] != name}

    def clear(self) -> None:
        self._built.clear()
