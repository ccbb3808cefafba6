"""The scene frame: which way is up in a scene's world, and its region of interest.

World axes are whatever the capture's gauge made them (COLMAP worlds are arbitrary, the
synthetic demo is y-down like OpenCV). The scene frame is estimated once from the captured
cameras (upright cameras keep their right axis horizontal, so up is the direction most
perpendicular to all right axes, signed like the mean image-up -y) and persisted in the
project; the viewport, the presets, the nudge keys and exports read it instead of assuming -y.
The region of interest is an oriented box: ``world_from_box`` [4,4] (rotation + centre, world)
and ``half_extent`` [3] (box units = world units); ``roi_enabled`` False keeps the box but lets
nothing crop to it (the studio's toggle). A point p (world) is inside when every coordinate of
``box_from_world @ p`` lies within +-half_extent (faces included).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

DEFAULT_UP = np.array([0.0, -1.0, 0.0])


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else v


def up_from_cameras(world_from_cams: np.ndarray) -> np.ndarray:
    """World up [3] (unit) from captured ``world_from_cam`` [N,4,4] (OpenCV axes), assuming little
    roll; DEFAULT_UP when the cameras say nothing (none, or image-ups that cancel out)."""
    cams = np.asarray(world_from_cams, dtype=np.float64).reshape(-1, 4, 4)
    if not len(cams) or not np.isfinite(cams).all():
        return DEFAULT_UP.copy()
    rights, mean_up = cams[:, :3, 0], -cams[:, :3, 1].mean(axis=0)
    if np.linalg.norm(mean_up) < 0.5:
        return DEFAULT_UP.copy()
    evals, evecs = np.linalg.eigh(rights.T @ rights / len(rights))
    if evals[1] > 0.05:
        up = evecs[:, 0]
        return _unit(up if up @ mean_up > 0 else -up)
    mean_right = _unit(rights.mean(axis=0))
    return _unit(mean_up - mean_right * (mean_up @ mean_right))


def rotation_taking(a, b) -> np.ndarray:
    """The smallest rotation [3,3] with R @ unit(a) = unit(b)."""
    a, b = _unit(a), _unit(b)
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-9:                                   # opposite: turn 180 deg about any normal
        axis = _unit(np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


@dataclass(frozen=True)
class SceneFrame:
    """up [3] unit world vector; roi_world_from_box [4,4] and roi_half_extent [3], or None."""

    up: tuple[float, float, float] = (0.0, -1.0, 0.0)
    roi_world_from_box: tuple | None = None
    roi_half_extent: tuple[float, float, float] | None = None
    roi_enabled: bool = True

    @property
    def has_roi(self) -> bool:
        """A box is set and switched on (what crops exports and, optionally, fusion)."""
        return self.roi_world_from_box is not None and self.roi_enabled

    def with_roi(self, world_from_box=None, half_extent=None, enabled: bool = True) -> "SceneFrame":
        """This frame with another box ([4,4] world, [3] world units), or none (None)."""
        if world_from_box is None:
            return replace(self, roi_world_from_box=None, roi_half_extent=None, roi_enabled=True)
        box = np.asarray(world_from_box, dtype=np.float64).reshape(4, 4)
        half = np.asarray(half_extent, dtype=np.float64).reshape(3)
        return replace(self, roi_world_from_box=tuple(map(tuple, box)), roi_half_extent=tuple(map(float, half)),
                       roi_enabled=bool(enabled))

    def roi_contains(self, points: np.ndarray) -> np.ndarray:
        """Mask [N] of points [N,3] (world) inside the box (all True without a box or when off)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if not self.has_roi:
            return np.ones(len(p), dtype=bool)
        return box_contains(self.roi_world_from_box, self.roi_half_extent, p)

    @property
    def up_vector(self) -> np.ndarray:
        return np.asarray(self.up, dtype=np.float64)

    def display_from_world(self, display_up=DEFAULT_UP) -> np.ndarray:
        """Rotation [3,3] that turns this world so its up points along ``display_up``."""
        return rotation_taking(self.up_vector, display_up)

    def to_dict(self) -> dict:
        out = {"up": [float(v) for v in self.up]}
        if self.roi_world_from_box is not None:
            out["roi"] = {"world_from_box": np.asarray(self.roi_world_from_box).tolist(),
                          "half_extent": [float(v) for v in self.roi_half_extent]}
            if not self.roi_enabled:
                out["roi"]["enabled"] = False
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "SceneFrame":
        """Raises ValueError on a malformed or non-finite frame."""
        up = np.asarray(d.get("up", DEFAULT_UP), dtype=np.float64).reshape(3)
        if not np.isfinite(up).all() or np.linalg.norm(up) < 1e-9:
            raise ValueError(f"scene frame: bad up vector {up.tolist()}")
        roi = d.get("roi")
        if roi is None:
            return cls(tuple(_unit(up)))
        box = np.asarray(roi["world_from_box"], dtype=np.float64).reshape(4, 4)
        half = np.asarray(roi["half_extent"], dtype=np.float64).reshape(3)
        if not (np.isfinite(box).all() and np.isfinite(half).all() and (half > 0).all()):
            raise ValueError("scene frame: bad region of interest")
        return cls(tuple(_unit(up)), tuple(map(tuple, box)), tuple(half), bool(roi.get("enabled", True)))


def box_contains(world_from_box, half_extent, points: np.ndarray) -> np.ndarray:
    """Mask [N] of points [N,3] (world) inside the oriented box (module docstring)."""
    box = np.asarray(world_from_box, dtype=np.float64).reshape(4, 4)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    local = (p - box[:3, 3]) @ box[:3, :3]
    return np.all(np.abs(local) <= np.asarray(half_extent, dtype=np.float64).reshape(3), axis=1)


def fit_region(points: np.ndarray, up=DEFAULT_UP, percentile: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
    """The box holding points [N,3] (world) between the ``percentile`` and 100-``percentile``
    percentiles along the scene frame's axes (x, y = -up, z: see ``rotation_taking``):
    (world_from_box [4,4], half_extent [3]); None with fewer than 10 finite points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 10:
        return None
    box_from_world = rotation_taking(up, DEFAULT_UP)     # box axes: x, y = -up, z
    local = pts @ box_from_world.T
    lo, hi = np.percentile(local, [percentile, 100 - percentile], axis=0)
    world_from_box = np.eye(4)
    world_from_box[:3, :3] = box_from_world.T
    world_from_box[:3, 3] = box_from_world.T @ ((lo + hi) / 2)
    return world_from_box, np.maximum((hi - lo) / 2, 1e-6)


def estimate_scene_frame(world_from_cams: np.ndarray | None, points: np.ndarray | None = None,
                         percentile: float = 2.0) -> SceneFrame:
    """Up from the cameras (module docstring); the region of interest as the box, aligned with
    up, holding the points [N,3] world between the given low/high percentiles per axis."""
    up = up_from_cameras(world_from_cams) if world_from_cams is not None else DEFAULT_UP.copy()
    fit = None if points is None else fit_region(points, up, percentile)
    frame = SceneFrame(tuple(up))
    return frame if fit is None else frame.with_roi(*fit)
