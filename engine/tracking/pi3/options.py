"""Options of the Pi3 tracking backend (no torch import: TrackOptions holds them)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pi3Options:
    batch: int = 48             # frames per forward pass (overlap included)
    overlap: int = 8            # frames already placed that lead each later batch
    max_pixels: int = 255_000   # working size (the original demo's limit)
    min_confidence: float = 0.1  # depth below this sigmoid confidence is left out
    sparse_per_view: int = 200  # confident depth samples per frame in the sparse points
