"""Scene summary for the scene-driven presets: center, orbit radius/height, up, start angle.

Derived from plain arrays only (points [N,3] world, captured world_from_cam [M,4,4]
OpenCV axes), so it does not depend on the geometry memory. World units are the scene's;
``up`` is the world direction that appears up in the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.geometry.scene_frame import DEFAULT_UP, up_from_cameras
from engine.trajectory.layout import (
    OBJECT,
    CaptureRig,
    ObjectArc,
    capture_layout,
    capture_rig,
    object_arc,
)


def unit_vector(v: np.ndarray) -> np.ndarray:
    """v [3] divided by its length; ValueError for a zero vector."""
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    if n < 1e-12:
        raise ValueError("direction vector must be non-zero")
    return v / n


def plane_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors [3] spanning the plane perpendicular to ``up`` (right-handed about up)."""
    seed = np.eye(3)[int(np.argmin(np.abs(up)))]
    e1 = unit_vector(seed - up * (seed @ up))
    return e1, np.cross(up, e1)


ORBIT_SAMPLE_POINTS = 50_000   # points scene_orbit_params looks at, at most


def scene_orbit_params(points: np.ndarray, up=(0.0, -1.0, 0.0)) -> tuple[np.ndarray, float, float]:
    """(center [3] world, radius, height_offset along up) for orbiting a point cloud.

    points  [N,3] world. Robust to outliers: only points inside the 5th–95th percentile on
    every axis count; center = their median; radius = 2.5x the 90th-percentile distance
    from the up-axis through the center; height_offset = 0.4 x radius (above, along up).
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(p) > ORBIT_SAMPLE_POINTS:
        # a regular subsample: the percentiles and median of 50k points are those of the whole
        # cloud to well under a percent, at a fraction of the sorts (a preset click runs this on
        # the GUI thread: ~95 ms for a 100k-point memory under load)
        p = p[:: -(-len(p) // ORBIT_SAMPLE_POINTS)]
    p = p[np.all(np.isfinite(p), axis=1)]
    if len(p) == 0:
        raise ValueError("scene_orbit_params needs at least one finite point")
    lo, hi = np.percentile(p, 5, axis=0), np.percentile(p, 95, axis=0)
    inner = p[np.all((p >= lo) & (p <= hi), axis=1)]
    inner = inner if len(inner) else p
    center = np.median(inner, axis=0)
    up_u = unit_vector(up)
    rel = inner - center
    horizontal = np.linalg.norm(rel - np.outer(rel @ up_u, up_u), axis=1)
    spread = float(np.percentile(horizontal, 90)) if len(horizontal) else 0.0
    if spread <= 1e-9:
        spread = max(float(np.abs(rel).max(initial=0.0)), 0.5)
    radius = 2.5 * spread
    return center, radius, 0.4 * radius


@dataclass(frozen=True, eq=False)
class SceneSummary:
    """What the scene-driven presets need, derived from points and/or captured cameras.

    center [3] world, radius / height_offset world units, up [3] world unit vector,
    start_angle_deg where the first captured camera sits around the center,
    captured [N,4,4] world_from_cam OpenCV (or None), fov_y_deg, width, height, fps;
    layout the capture's layout (engine.trajectory.layout: ``object``, ``forward`` or
    ``inside-out``; ``object`` without 3 captured cameras) and, for the latter two, rig:
    where their orbit and spiral go (a CaptureRig); points: what a path should not run into;
    arc: for an ``object`` capture with 3 or more cameras, the azimuths about ``center`` it
    saw the subject from (an ObjectArc; its orbit sweeps them unless they go all round).
    """

    center: np.ndarray
    radius: float
    height_offset: float
    up: np.ndarray
    start_angle_deg: float
    captured: np.ndarray | None
    fov_y_deg: float
    width: int
    height: int
    fps: float
    layout: str = OBJECT
    rig: CaptureRig | None = None
    points: np.ndarray | None = None     # [K,3] world, finite, a regular subsample (<= ORBIT_SAMPLE_POINTS)
    arc: ObjectArc | None = None

    def require_captured(self, name: str) -> np.ndarray:
        if self.captured is None or len(self.captured) == 0:
            raise ValueError(f"preset {name!r} needs captured cameras (captured_world_from_cam)")
        return self.captured


def _look_target(captured: np.ndarray) -> np.ndarray:
    """Point [3] world closest (least squares) to all captured optical axes; in front of
    the cameras. Falls back to the mean camera center plus the mean view direction."""
    pos, fwd = captured[:, :3, 3], captured[:, :3, 2]
    proj = np.eye(3)[None] - fwd[:, :, None] * fwd[:, None, :]
    a, b = proj.sum(axis=0), np.einsum("nij,nj->i", proj, pos)
    if len(captured) > 1 and np.linalg.cond(a) < 1e6:
        x = np.linalg.solve(a, b)
        if np.median(np.einsum("ni,ni->n", x - pos, fwd)) > 0:
            return x
    extent = max(float(np.ptp(pos, axis=0).max()), 1.0)
    return pos.mean(axis=0) + unit_vector(fwd.mean(axis=0)) * extent


def _converging_target(captured: np.ndarray, max_cond: float = 1e3) -> np.ndarray | None:
    """The point [3] closest to all optical axes when they converge well (None for parallel,
    forward-facing captures whose least-squares system is ill-conditioned)."""
    pos, fwd = captured[:, :3, 3], captured[:, :3, 2]
    proj = np.eye(3)[None] - fwd[:, :, None] * fwd[:, None, :]
    a, b = proj.sum(axis=0), np.einsum("nij,nj->i", proj, pos)
    if np.linalg.cond(a) > max_cond:
        return None
    x = np.linalg.solve(a, b)
    return x if np.median(np.einsum("ni,ni->n", x - pos, fwd)) > 0 else None


def _inside(x: np.ndarray, pts: np.ndarray) -> bool:
    """x [3] lies within the 2nd-98th percentile box of points [N,3]."""
    lo, hi = np.percentile(pts, 2, axis=0), np.percentile(pts, 98, axis=0)
    return bool(np.all(x >= lo) and np.all(x <= hi))


def summarize_scene(points: np.ndarray | None = None, captured_world_from_cam: np.ndarray | None = None,
                    fov_y_deg: float = 55.0, width: int = 640, height: int = 360,
                    fps: float = 30.0) -> SceneSummary:
    """Scene summary from points [N,3] world and/or captured world_from_cam [M,4,4] OpenCV.

    Center from the points (robust) or else where the captured cameras look; orbit radius
    and height from where the captured cameras are (else from the point spread); up from
    the captured cameras' image-up directions (else (0, -1, 0)). With 3 or more captured
    cameras also the capture layout (engine.trajectory.layout.capture_layout); only an
    object-centric capture centres on the point its cameras converge on.
    """
    cap = None
    if captured_world_from_cam is not None and len(captured_world_from_cam):
        cap = np.asarray(captured_world_from_cam, dtype=np.float64).reshape(-1, 4, 4)
    up = up_from_cameras(cap) if cap is not None else DEFAULT_UP.copy()
    pts = None if points is None else np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if pts is not None and np.isfinite(pts).all(axis=1).any():
        center, radius, h = scene_orbit_params(pts, up)
    elif cap is not None:
        center, radius, h = _look_target(cap), 1.0, 0.4
    else:
        raise ValueError("a scene preset needs points or captured cameras")
    e1, e2 = plane_basis(up)
    layout, rig, finite = OBJECT, None, None
    if pts is not None:
        finite = pts[:: -(-len(pts) // ORBIT_SAMPLE_POINTS)] if len(pts) > ORBIT_SAMPLE_POINTS else pts
        finite = finite[np.isfinite(finite).all(axis=1)]
    if cap is not None and len(cap) >= 3:
        layout, _ = capture_layout(cap, up, e1, e2)
        if layout != OBJECT:
            rig = capture_rig(layout, cap, up, e1, e2, finite)
        # a capture that converges on something (an object-centric video) orbits what it
        # looked at: the points' median is pulled toward whatever background was seen most
        target = _converging_target(cap) if layout == OBJECT else None
        if target is not None and (pts is None or _inside(target, pts)):
            center = target
    start, arc = 0.0, None
    if cap is not None and len(cap) >= 3 and layout == OBJECT:
        arc = object_arc(cap, center, up, e1, e2)
    if cap is not None:
        rel = cap[:, :3, 3] - center
        horizontal = np.linalg.norm(rel - np.outer(rel @ up, up), axis=1)
        if np.median(horizontal) > 1e-6:
            radius, h = float(np.median(horizontal)), float(np.median(rel @ up))
        start = float(np.degrees(np.arctan2(rel[0] @ e2, rel[0] @ e1)))
    return SceneSummary(center, float(radius), float(h), up, start, cap, float(fov_y_deg),
                        int(width), int(height), float(fps), layout, rig, finite, arc)
