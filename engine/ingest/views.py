"""The captured view bank: every keyframe's camera, image and (when known) depth."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.geometry import Camera


@dataclass
class CapturedView:
    """One captured keyframe.

    camera      Camera (OpenCV axes, K in pixels of ``image``)
    image       [H,W,3] uint8 RGB
    depth       [H,W] float32 z-depth in meters (0 / non-finite = unknown), or None
    confidence  [H,W] float32 per-pixel depth confidence in [0,1], or None
    completed   [H,W] bool, True where the depth was completed (filled in between matched
                pixels, engine.tracking.complete) rather than matched, or None (all matched
                or unknown)
    """

    camera: Camera
    image: np.ndarray
    depth: np.ndarray | None = None
    confidence: np.ndarray | None = None
    completed: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.camera.name

    def image_float(self) -> np.ndarray:
        return self.image.astype(np.float32) / 255.0 if self.image.dtype == np.uint8 else self.image


@dataclass
class ViewBank:
    """Ordered captured views; a view's id is its index here (stored in memory points)."""

    views: list[CapturedView] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, i: int) -> CapturedView:
        return self.views[i]

    def __iter__(self):
        return iter(self.views)

    def add(self, view: CapturedView) -> int:
        self.views.append(view)
        return len(self.views) - 1

    @property
    def cameras(self) -> list[Camera]:
        return [v.camera for v in self.views]

    def index_of(self, name: str) -> int:
        for i, v in enumerate(self.views):
            if v.name == name:
                return i
        raise KeyError(f"no captured view named {name!r}")

    def world_from_cams(self) -> np.ndarray:
        """[N,4,4] world_from_cam of every view."""
        return np.stack([v.camera.world_from_cam for v in self.views]) if self.views else np.zeros((0, 4, 4))
