"""Static registry of novel-view generators, chosen by name."""
from __future__ import annotations

from typing import Callable

from engine.generate.ibr import IBRGenerator
from engine.generate.surface import SurfaceGenerator


def _splat_generator(**options):
    """engine.splat.generator.SplatGenerator, imported on use (it pulls in the splat trainer)."""
    from engine.splat.generator import SplatGenerator

    return SplatGenerator(**options)


GENERATORS: dict[str, Callable[..., object]] = {
    "ibr": IBRGenerator,
    "splat": _splat_generator,
    "surface": SurfaceGenerator,
}


def make_generator(name: str, **options):
    """Build a generator by name (``ibr``, ...); unknown names list the valid ones."""
    try:
        factory = GENERATORS[name]
    except KeyError:
        raise ValueError(f"unknown generator {name!r}; available: {', '.join(sorted(GENERATORS))}") from None
    return factory(**options)
