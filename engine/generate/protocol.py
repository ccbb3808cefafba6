"""The one protocol every novel-view generator implements.

A generator receives a *segment*: the target cameras, the geometry memory rendered into each
of them (guidance: color, depth, mask, confidence), the retrieved captured views (image,
camera, depth) and the last frames of the previous segment (context). It yields one
``GeneratedFrame`` per target, in order, so that a cancel takes effect within one frame.

The shape fits the planned backends without change:
- ``ibr`` (default, weight-free): warps the references, falls back to the guidance, fills.
- a multi-step video diffusion model (AnyRecon on Wan2.1): the references are the prefix of
  context frames, guidance colors and masks are the conditions; it may compute the whole
  segment at once and then yield its frames.
- ``splat``: renders trained Gaussian splats at the targets (references unused).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Protocol, Sequence

import numpy as np

from engine.geometry import Camera


class Cancelled(Exception):
    """Raised inside a job when its cancel token was set."""


class CancelToken:
    """Thread-safe flag checked by long jobs between yields."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class ReferenceView:
    """A retrieved captured view. image [H,W,3] float32 [0,1]; depth [H,W] float32 z-depth
    in meters (0 = unknown) or None; weight = its retrieval gain (>= 0); completed [H,W] bool,
    True where the depth was completed (filled between matched pixels) rather than matched,
    or None (all matched or unknown)."""

    view_id: int
    camera: Camera
    image: np.ndarray
    depth: np.ndarray | None
    weight: float = 1.0
    completed: np.ndarray | None = None


@dataclass(frozen=True)
class GeneratedFrame:
    """One generated target view (numpy, image size of its camera).

    color       [H,W,3] float32 in [0,1]
    depth       [H,W] float32 z-depth in meters along +z (0 = unknown)
    confidence  [H,W] float32 in [0,1]: how much the pixel is backed by observations
    invented    [H,W] bool: True where nothing observed the surface (hallucinated / filled)
    """

    camera: Camera
    color: np.ndarray
    depth: np.ndarray
    confidence: np.ndarray
    invented: np.ndarray

    @property
    def invented_fraction(self) -> float:
        return float(self.invented.mean())


@dataclass
class SegmentRequest:
    """Everything a generator gets for one segment. ``guidance[i]`` is the memory's
    RenderResult (torch tensors on the engine device) at ``targets[i]``."""

    segment_id: int
    targets: Sequence[Camera]
    guidance: Sequence  # [RenderResult]
    references: Sequence[ReferenceView]
    context: Sequence[GeneratedFrame] = field(default_factory=list)
    voxel_size: float = 0.02


class NovelViewGenerator(Protocol):
    name: str

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        ...
