"""The region of interest being edited: an immutable ``RegionState`` replaced on every edit
(undo holds before/after pairs, see studio.undo.PathEditCommand, which works for any model
with ``set_state``). The box is ``world_from_box`` [4,4] (rigid, world) and ``half_extent``
[3] (world units); the engine keeps it in the project's scene frame.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from psygnal import Signal

MIN_HALF = 1e-3           # a face dragged past the opposite one stops here (meters)


@dataclass(frozen=True)
class RegionState:
    """world_from_box: 16 floats row-major (None: no box); half_extent: 3 floats; enabled: the
    box crops exports (and, when asked, fusion)."""

    world_from_box: tuple | None = None
    half_extent: tuple | None = None
    enabled: bool = True

    @property
    def has_box(self) -> bool:
        return self.world_from_box is not None

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """(world_from_box [4,4], half_extent [3]) as arrays."""
        return (np.asarray(self.world_from_box, dtype=np.float64).reshape(4, 4),
                np.asarray(self.half_extent, dtype=np.float64).reshape(3))

    def corners(self) -> np.ndarray:
        """The 8 corners [8,3] world; corner i has sign (-1)^bit of (x, y, z) = bits 0, 1, 2."""
        w, h = self.box()
        signs = np.array([[1 if i & 1 else -1, 1 if i & 2 else -1, 1 if i & 4 else -1] for i in range(8)], float)
        return (signs * h) @ w[:3, :3].T + w[:3, 3]

    def face_center(self, axis: int, sign: int) -> np.ndarray:
        """Centre [3] world of the face on box ``axis`` (0..2) at ``sign`` (+1 / -1)."""
        w, h = self.box()
        return w[:3, 3] + sign * h[axis] * w[:3, axis]


def region_state(world_from_box, half_extent, enabled: bool = True) -> RegionState:
    if world_from_box is None:
        return RegionState(enabled=True)
    w = np.asarray(world_from_box, dtype=np.float64).reshape(4, 4)
    h = np.asarray(half_extent, dtype=np.float64).reshape(3)
    return RegionState(tuple(float(v) for v in w.ravel()), tuple(float(v) for v in h), bool(enabled))


def state_of_frame(scene_frame) -> RegionState:
    """The box of an engine SceneFrame (or none)."""
    if scene_frame is None or scene_frame.roi_world_from_box is None:
        return RegionState()
    return region_state(scene_frame.roi_world_from_box, scene_frame.roi_half_extent,
                        getattr(scene_frame, "roi_enabled", True))


def resize_face(state: RegionState, axis: int, sign: int, meters: float) -> RegionState:
    """Move one face outward (``meters`` > 0) or inward along its box axis; the opposite face stays."""
    w, h = state.box()
    new_half = max(h[axis] + 0.5 * meters, MIN_HALF)
    grown = 2.0 * (new_half - h[axis])
    w[:3, 3] += sign * 0.5 * grown * w[:3, axis]
    h[axis] = new_half
    return region_state(w, h, state.enabled)


def move_box(state: RegionState, axis: int, meters: float) -> RegionState:
    """Move the whole box along its own ``axis`` by ``meters``."""
    w, h = state.box()
    w[:3, 3] += meters * w[:3, axis]
    return region_state(w, h, state.enabled)


class RegionModel:
    """Holds the current RegionState; emits ``changed`` with the new state."""

    changed = Signal(object)

    def __init__(self) -> None:
        self.state = RegionState()

    def set_state(self, state: RegionState) -> None:
        if state != self.state:
            self.state = state
            self.changed.emit(state)


def with_enabled(state: RegionState, enabled: bool) -> RegionState:
    return replace(state, enabled=bool(enabled))
