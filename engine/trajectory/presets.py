"""Camera-path presets: orbit, spiral, dolly (in / out / vertigo), through and beyond the capture.

Every preset takes plain arrays (points, world_from_cam) and returns a
:class:`~engine.trajectory.keyframes.Trajectory`; nothing here depends on the geometry
memory. World units are the scene's; angles in degrees unless a name says radians; ``up``
is the world direction that appears up in the image (the synthetic world is y-down, so the
default is (0, -1, 0)).

``PRESETS`` maps the studio's preset names to builders taking a :class:`SceneSummary`;
:func:`make_preset` summarises the scene and dispatches. The summary knows the capture's
layout (engine.trajectory.layout): orbit and spiral go around the subject of an object-centric
capture, and stay among the cameras of a forward-facing or inside-out (room) capture. An
object capture filmed from one side orbits over the azimuths it was filmed from (back and
forth, a loop) and spirals over them too (the sweep twice, closing in); one filmed all round
keeps the full circle and the spiral's full turns, and the preset ``orbit-360`` circles any
object capture all the way.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.geometry import se3
from engine.trajectory.keyframes import Keyframe, Trajectory
from engine.trajectory.layout import (
    FORWARD,
    arc_orbit,
    arc_spiral,
    forward_orbit,
    pan_orbit,
)
from engine.trajectory.path_presets import beyond_path, through_path
from engine.trajectory.scene_summary import (
    SceneSummary,
    plane_basis,
    scene_orbit_params,
    summarize_scene,
    unit_vector,
)

__all__ = [
    "PRESETS",
    "SceneSummary",
    "beyond_path",
    "dolly",
    "make_preset",
    "orbit",
    "scene_orbit_params",
    "spiral",
    "summarize_scene",
    "through_path",
]


def _ring_pose(center, radius, height, angle_deg, up, e1, e2) -> np.ndarray:
    """world_from_cam [4,4] on a ring around ``center`` looking at it."""
    a = np.radians(angle_deg)
    eye = center + radius * (np.cos(a) * e1 + np.sin(a) * e2) + height * up
    return se3.look_at(eye, center, up)


def orbit(center, radius: float, height_offset: float, num_keyframes: int = 8, duration: float = 8.0,
          fov_y_deg: float = 55.0, up=(0.0, -1.0, 0.0), start_angle_deg: float = 0.0,
          arc_deg: float = 360.0, *, width: int = 640, height: int = 360, fps: float = 30.0,
          tension: float = 0.0) -> Trajectory:
    """Cameras on a circle around ``center`` [3] (world), all looking at it.

    radius          distance from the up-axis through center, world units (> 0)
    height_offset   offset along ``up`` of the circle's plane, world units
    arc_deg         swept angle (negative = clockwise about up); |arc| = 360 gives a loop
    """
    c, up_u = np.asarray(center, dtype=np.float64), unit_vector(up)
    if radius <= 0:
        raise ValueError(f"orbit radius must be > 0, got {radius}")
    loop = bool(np.isclose(abs(arc_deg), 360.0))
    if num_keyframes < (3 if loop else 2):
        raise ValueError(f"orbit needs at least {3 if loop else 2} keyframes, got {num_keyframes}")
    if arc_deg == 0 or duration <= 0:
        raise ValueError("orbit needs a non-zero arc and a positive duration")
    e1, e2 = plane_basis(up_u)
    n = int(num_keyframes)
    frac = np.arange(n) / n if loop else np.linspace(0.0, 1.0, n)
    kfs = tuple(Keyframe(_ring_pose(c, radius, height_offset, start_angle_deg + arc_deg * f, up_u, e1, e2),
                         fov_y_deg, duration * f) for f in frac)
    return Trajectory(kfs, tension=tension, loop=loop, duration=float(duration), fps=fps,
                      width=width, height=height)


def spiral(center, radius_start: float, radius_end: float, turns: float, height_start: float,
           height_end: float, num_keyframes: int | None = None, duration: float = 12.0,
           fov_y_deg: float = 55.0, up=(0.0, -1.0, 0.0), start_angle_deg: float = 0.0, *,
           width: int = 640, height: int = 360, fps: float = 30.0, tension: float = 0.0) -> Trajectory:
    """An open spiral around ``center`` [3] looking at it; radius and height (along up,
    world units) change linearly with the angle; ``turns`` full revolutions (sign = sense).
    num_keyframes defaults to 12 per turn + 1 (keeps the view within ~0.5 deg of center)."""
    c, up_u = np.asarray(center, dtype=np.float64), unit_vector(up)
    if min(radius_start, radius_end) <= 0 or turns == 0 or duration <= 0:
        raise ValueError("spiral needs positive radii, non-zero turns and a positive duration")
    n = int(num_keyframes) if num_keyframes is not None else max(3, int(np.ceil(12 * abs(turns))) + 1)
    if n < 2:
        raise ValueError(f"spiral needs at least 2 keyframes, got {n}")
    e1, e2 = plane_basis(up_u)
    kfs = []
    for f in np.linspace(0.0, 1.0, n):
        r = radius_start + f * (radius_end - radius_start)
        h = height_start + f * (height_end - height_start)
        pose = _ring_pose(c, r, h, start_angle_deg + 360.0 * turns * f, up_u, e1, e2)
        kfs.append(Keyframe(pose, fov_y_deg, duration * f))
    return Trajectory(tuple(kfs), tension=tension, duration=float(duration), fps=fps, width=width, height=height)


def _vertigo_fov(fov_start: float, subject_distance: float, travelled: np.ndarray) -> np.ndarray:
    """FOV [N] degrees keeping the subject's image size: d * tan(fov/2) stays constant."""
    remaining = subject_distance - travelled
    return np.degrees(2.0 * np.arctan(np.tan(np.radians(fov_start) / 2.0) * subject_distance / remaining))


def dolly(world_from_cam_start: np.ndarray, distance: float, duration: float = 4.0,
          fov_start: float = 55.0, fov_end: float | None = None, *, vertigo: bool = False,
          subject_distance: float | None = None, width: int = 640, height: int = 360,
          fps: float = 30.0) -> Trajectory:
    """Move the camera along its view direction (+z of world_from_cam_start [4,4], OpenCV).

    distance          world units travelled; > 0 dolly in, < 0 dolly out
    fov_end           end FOV in degrees (default: fov_start); not allowed with vertigo
    vertigo           dolly zoom: the FOV changes so a subject at ``subject_distance``
                      (world units along the start view direction) keeps its image size
    """
    w0 = np.asarray(world_from_cam_start, dtype=np.float64)
    if distance == 0 or duration <= 0:
        raise ValueError("dolly needs a non-zero distance and a positive duration")
    n = 17 if vertigo else 2
    travelled = distance * np.linspace(0.0, 1.0, n)
    if vertigo:
        if fov_end is not None:
            raise ValueError("dolly: fov_end is derived from subject_distance when vertigo=True")
        if subject_distance is None or subject_distance <= max(distance, 0.0):
            raise ValueError("dolly vertigo needs subject_distance > 0 and beyond the dolly distance")
        fovs = _vertigo_fov(fov_start, subject_distance, travelled)
        if not np.all((fovs > 0) & (fovs < 180)):
            raise ValueError("dolly vertigo would need a FOV outside (0, 180) degrees")
    else:
        fovs = np.linspace(fov_start, fov_start if fov_end is None else fov_end, n)
    kfs = []
    for s, f, t in zip(travelled, fovs, np.linspace(0.0, duration, n)):
        pose = w0.copy()
        pose[:3, 3] = w0[:3, 3] + s * w0[:3, 2]
        kfs.append(Keyframe(pose, float(f), float(t)))
    return Trajectory(tuple(kfs), duration=float(duration), fps=fps, width=width, height=height)


# ------------------------------------------------------------------- scene-driven presets
def _frame_args(s: SceneSummary) -> dict:
    return {"width": s.width, "height": s.height, "fps": s.fps}


def _orbit_preset(s: SceneSummary, full_circle: bool = False) -> Trajectory:
    """Object captures: a loop around what the cameras converge on, over the arc of azimuths
    the cameras saw it from (back and forth, engine.trajectory.layout.arc_orbit) unless they
    went (nearly) all round or ``full_circle`` asks for the whole circle. Forward-facing and
    inside-out captures (s.rig): a move inside the cameras' spread, looking the ways they
    looked (engine.trajectory.layout); ``full_circle`` changes nothing there (their orbit
    is already a loop among the cameras)."""
    if s.rig is not None:
        build = forward_orbit if s.layout == FORWARD else pan_orbit
        return build(s.rig, s.up, s.fov_y_deg, **_frame_args(s))
    if s.arc is not None and not s.arc.full_circle and not full_circle:
        return arc_orbit(s.arc, s.center, s.up, s.fov_y_deg, **_frame_args(s))
    return orbit(s.center, s.radius, s.height_offset, fov_y_deg=s.fov_y_deg, up=s.up,
                 start_angle_deg=s.start_angle_deg, **_frame_args(s))


def _orbit_360_preset(s: SceneSummary) -> Trajectory:
    """The orbit all the way round an object capture's subject, however much of it was filmed."""
    return _orbit_preset(s, full_circle=True)


def _spiral_preset(s: SceneSummary) -> Trajectory:
    """Object captures: two turns around the subject closing in and coming down
    (:func:`spiral`), or, filmed from one side, the same moves over the filmed arc, swept out
    and back twice (engine.trajectory.layout.arc_spiral). Forward-facing: the LLFF spiral;
    inside-out: a pan closing in (engine.trajectory.layout)."""
    if s.rig is not None and s.layout == FORWARD:   # the LLFF spiral: 2 turns, in and out along the view
        depth = np.abs((s.captured[:, :3, 3] - s.rig.center) @ s.rig.forward)
        swing = min(0.5 * float(np.percentile(depth, 90)), 0.5 * s.rig.reach)
        return forward_orbit(s.rig, s.up, s.fov_y_deg, duration=12.0, turns=2.0, shrink=0.6,
                             depth_swing=swing, **_frame_args(s))
    if s.rig is not None:
        return pan_orbit(s.rig, s.up, s.fov_y_deg, duration=12.0, turns=2.0, shrink=0.6, **_frame_args(s))
    if s.arc is not None and not s.arc.full_circle:
        return arc_spiral(s.arc, s.center, s.up, s.fov_y_deg, **_frame_args(s))
    return spiral(s.center, s.radius, 0.6 * s.radius, 2.0, s.height_offset, 0.25 * s.height_offset,
                  fov_y_deg=s.fov_y_deg, up=s.up, start_angle_deg=s.start_angle_deg, **_frame_args(s))


def _dolly_preset(s: SceneSummary, sign: float) -> Trajectory:
    """Dolly from the last captured camera (else the orbit start) by half the subject distance."""
    if s.captured is not None:
        start = s.captured[-1]
    else:
        e1, e2 = plane_basis(s.up)
        start = _ring_pose(s.center, s.radius, s.height_offset, s.start_angle_deg, s.up, e1, e2)
    subject = float((s.center - start[:3, 3]) @ start[:3, 2])
    if subject <= 1e-6:
        subject = max(float(np.linalg.norm(s.center - start[:3, 3])), s.radius)
    return dolly(start, sign * 0.5 * subject, 4.0, s.fov_y_deg, **_frame_args(s))


def _dolly_in_preset(s: SceneSummary) -> Trajectory:
    return _dolly_preset(s, 1.0)


def _dolly_out_preset(s: SceneSummary) -> Trajectory:
    return _dolly_preset(s, -1.0)


def _through_preset(s: SceneSummary) -> Trajectory:
    return through_path(s.require_captured("through"), s.fov_y_deg, **_frame_args(s))


def _beyond_preset(s: SceneSummary) -> Trajectory:
    """The captured path extended past both ends; a forward-facing or inside-out (room)
    capture's ends stop halfway to the first surface ahead (object captures: as before)."""
    return beyond_path(s.require_captured("beyond"), s.fov_y_deg,
                       points=s.points if s.rig is not None else None, **_frame_args(s))


PRESETS: dict[str, Callable[[SceneSummary], Trajectory]] = {
    "orbit": _orbit_preset,
    "spiral": _spiral_preset,
    "dolly-in": _dolly_in_preset,
    "dolly-out": _dolly_out_preset,
    "through": _through_preset,
    "beyond": _beyond_preset,
    "orbit-360": _orbit_360_preset,
}


def make_preset(name: str, *, points: np.ndarray | None = None,
                captured_world_from_cam: np.ndarray | None = None, fov_y_deg: float = 55.0,
                width: int = 640, height: int = 360, fps: float = 30.0) -> Trajectory:
    """The named preset with parameters chosen from the scene.

    points                   [N,3] world (e.g. a decimated geometry-memory snapshot)
    captured_world_from_cam  [M,4,4] OpenCV axes, in capture order
    Raises ValueError naming the valid presets for an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown trajectory preset {name!r}; valid presets: {', '.join(PRESETS)}")
    summary = summarize_scene(points, captured_world_from_cam, fov_y_deg, width, height, fps)
    return PRESETS[name](summary)
