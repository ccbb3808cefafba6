"""Capture layout from the captured cameras, and the orbit / spiral of captures without a subject.

Three layouts (:func:`capture_layout`), from the captured world_from_cam [N,4,4] (OpenCV axes)
and the world up [3] alone:

- ``object``: the optical axes converge on a point in front of every camera and the cameras
  stand around it (seen from it they span at least ``OBJECT_MIN_COVERAGE_DEG`` about up): an
  object-centric capture. Its orbit goes around that point over the azimuths the cameras saw
  it from (:func:`object_arc`, :func:`arc_orbit`: back and forth over the captured arc plus a
  margin, a loop, radius and height following the cameras), and so does its spiral
  (:func:`arc_spiral`: the same sweep twice, closing in and coming down along it by at most
  EYE_REACH_SPACINGS camera spacings); a capture
  that went (nearly) all the way round (no azimuth gap wider than ``360 -
  FULL_CIRCLE_COVERAGE_DEG``) keeps the full circle (``presets.orbit``) and the spiral's full
  turns (``presets.spiral``), as does the preset ``orbit-360`` on any object capture.
- ``forward``: the cameras look roughly one way (the mean of their horizontal view directions
  is at least ``FORWARD_MIN_RESULTANT`` long): a forward-facing capture (LLFF fern) or a walk
  through a room looking ahead (livingroom). Its orbit is the LLFF render path: an ellipse
  about the mean camera across the mean view, radii the cameras' own spread, looking at one
  focus point (:func:`forward_orbit`).
- ``inside-out``: the cameras look around from inside (a room turned around in): the orbit
  pans along the captured view directions from a small circle inside the cameras' spread
  (:func:`pan_orbit`).

An orbit around the middle of a forward or inside-out capture's points looks at the scene
from where no camera stood (behind the walls, across the floor): the generator can only
invent there. The paths here stay inside the captured cameras' spread and look the ways the
capture looked. World units are the scene's; angles in degrees unless named radians.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.geometry import se3
from engine.trajectory.keyframes import Keyframe, Trajectory

OBJECT, FORWARD, INSIDE_OUT = "object", "forward", "inside-out"
OBJECT_MAX_AXIS_ANGLE_DEG = 30.0   # every camera's axis passes within this angle of the target
OBJECT_MIN_COVERAGE_DEG = 45.0     # cameras seen from the target span at least this about up
FORWARD_MIN_RESULTANT = 0.8        # |mean horizontal view direction| of a forward capture (a
                                   # yaw span up to ~130 deg); wider: inside-out
PAN_GAP_LOOP_DEG = 60.0            # an inside-out pan loops when no captured yaw gap is wider
EYE_REACH_SPACINGS = 1.5          # forward ellipse eyes within this many camera spacings of a camera
MIN_RADIUS_OF_FOCUS = 0.03         # forward ellipse radii at least this fraction of the focus distance
FULL_CIRCLE_COVERAGE_DEG = 270.0   # an object capture spanning more than this about up orbits 360 deg
ARC_MARGIN_DEG = 10.0              # an object arc goes this far past the outermost cameras, at most...
ARC_MARGIN_FRACTION = 0.1          # ...at most this fraction of the cameras' own span, and at most one
                                   # camera spacing (office: 14 deg past the end smeared the frame)
ARC_MAX_KEY_STEP_DEG = 45.0        # an arc orbit's keyframes at most this far apart (8 up to a 180-deg arc)
ARC_SMOOTH_FRACTION = 0.125        # radius / height along the arc: Gaussian over azimuth, sigma this x span


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def converging_point(captured: np.ndarray, max_cond: float = 1e3) -> np.ndarray | None:
    """The point [3] world closest (least squares) to all optical axes of captured
    world_from_cam [N,4,4]; None when the axes are near parallel (ill-conditioned)."""
    pos, fwd = captured[:, :3, 3], captured[:, :3, 2]
    proj = np.eye(3)[None] - fwd[:, :, None] * fwd[:, None, :]
    a, b = proj.sum(axis=0), np.einsum("nij,nj->i", proj, pos)
    if len(captured) < 2 or np.linalg.cond(a) > max_cond:
        return None
    return np.linalg.solve(a, b)


def _yaws_deg(dirs: np.ndarray, up: np.ndarray, e1: np.ndarray, e2: np.ndarray) -> np.ndarray:
    """Angles [N] in degrees about ``up`` of directions [N,3] in the basis (e1, e2)."""
    return np.degrees(np.arctan2(dirs @ e2, dirs @ e1))


def _largest_gap(yaws_deg: np.ndarray) -> tuple[float, float]:
    """(gap width, angle where the gap ends) of the widest empty arc between angles [N] deg."""
    a = np.sort(np.mod(yaws_deg, 360.0))
    gaps = np.diff(np.r_[a, a[0] + 360.0])
    i = int(np.argmax(gaps))
    return float(gaps[i]), float(a[(i + 1) % len(a)])


def angular_coverage_deg(points: np.ndarray, center: np.ndarray, up: np.ndarray,
                         e1: np.ndarray, e2: np.ndarray) -> float:
    """Angle in degrees about ``up`` through ``center`` [3] spanned by points [N,3]
    (360 minus the widest empty arc)."""
    rel = points - center
    return 360.0 - _largest_gap(_yaws_deg(rel, up, e1, e2))[0]


@dataclass(frozen=True, eq=False)
class ObjectArc:
    """The azimuths an object capture saw its subject from (about up through ``center``).

    Angles in degrees about up in the basis (e1, e2) [3] world unit vectors across up (those
    of ``scene_summary.plane_basis(up)``: the same angles as ``presets.orbit``'s), increasing
    from e1 toward e2.
    start_deg, arc_deg  the orbit's sweep: from start_deg over arc_deg (> 0), the captured
                        span plus the margin each side; arc_deg == 360: the full circle
    coverage_deg        the cameras' own span: 360 minus the widest azimuth gap between them
    spacing             the cameras' spacing, world units (:func:`_camera_spacing`)
    cam_azimuth_deg [N], cam_radius [N], cam_height [N]   every captured camera's azimuth
                        unwrapped into [start_deg, start_deg + 360), its distance from the up
                        axis through center and its height along up (world units)
    """

    start_deg: float
    arc_deg: float
    coverage_deg: float
    cam_azimuth_deg: np.ndarray
    cam_radius: np.ndarray
    cam_height: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    spacing: float = 0.0     # the cameras' spacing (world units, :func:`_camera_spacing`)

    @property
    def full_circle(self) -> bool:
        return bool(self.arc_deg >= 360.0)


def object_arc(captured: np.ndarray, center: np.ndarray, up: np.ndarray, e1: np.ndarray, e2: np.ndarray,
               *, full_circle_above_deg: float = FULL_CIRCLE_COVERAGE_DEG) -> ObjectArc:
    """The :class:`ObjectArc` of captured world_from_cam [N,4,4] (OpenCV) about ``center`` [3]
    (world); up/e1/e2 as in :func:`capture_layout`. The captured span is 360 minus the widest
    azimuth gap (found on the circle, so a capture straddling +-180 deg is one arc); more than
    ``full_circle_above_deg`` of it is a full circle starting at the first camera. Otherwise
    the sweep adds a margin each side: ARC_MARGIN_DEG, ARC_MARGIN_FRACTION of the span or the
    angle of one camera spacing (:func:`_camera_spacing`) at the cameras' median radius,
    whichever is least."""
    rel = captured[:, :3, 3] - center
    az = _yaws_deg(rel, up, e1, e2)
    height = rel @ up
    radius = np.linalg.norm(rel - np.outer(height, up), axis=1)
    gap, gap_end = _largest_gap(az)
    coverage = 360.0 - gap
    spacing = _camera_spacing(captured[:, :3, 3])
    if coverage > full_circle_above_deg:
        start, arc = float(az[0]), 360.0
    else:
        spacing_deg = np.degrees(spacing / max(float(np.median(radius)), 1e-12))
        margin = min(ARC_MARGIN_DEG, ARC_MARGIN_FRACTION * coverage, spacing_deg)
        start, arc = gap_end - margin, coverage + 2.0 * margin
    return ObjectArc(float(start), float(arc), float(coverage), start + np.mod(az - start, 360.0), radius, height,
                     e1, e2, float(spacing))


def _along_arc(arc: ObjectArc, azimuth_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(radius [K], height [K]) world units at azimuths [K] deg in the arc's unwrapped range: the
    cameras' radius and height averaged with Gaussian weights over azimuth (sigma
    ARC_SMOOTH_FRACTION of the span, at least 5 deg); past the outermost cameras the ends' values."""
    sigma = max(ARC_SMOOTH_FRACTION * arc.coverage_deg, 5.0)
    d = (np.asarray(azimuth_deg, dtype=np.float64)[:, None] - arc.cam_azimuth_deg[None]) / sigma
    logw = -0.5 * d * d
    w = np.exp(logw - logw.max(axis=1, keepdims=True))     # far past the ends: the nearest cameras
    w /= w.sum(axis=1, keepdims=True)
    return w @ arc.cam_radius, w @ arc.cam_height


def _arc_sweep(arc: ObjectArc, num_keyframes: int, passes: int) -> np.ndarray:
    """Fractions [K] of the arc (0 = arc.start_deg, 1 = its other end) at equal steps in time:
    ``passes`` times out and back (m + 1 out, m - 1 back: 2m keyframes a pass, at least
    ``num_keyframes`` in all, at most ARC_MAX_KEY_STEP_DEG apart), from the end nearer the first
    captured camera (the circle starts at that camera). A loop's keyframes (the last step back
    to the start is the loop's); the keyframes either side of a turn coincide in azimuth, so
    the spline through them comes to rest there."""
    m = max(int(np.ceil(num_keyframes / (2 * passes))), int(np.ceil(arc.arc_deg / ARC_MAX_KEY_STEP_DEG)), 2)
    out = np.arange(m + 1) / m                                  # fraction of the arc, out ...
    frac = np.tile(np.r_[out, out[-2:0:-1]], passes)            # ... and back (the start closes the loop)
    if arc.cam_azimuth_deg[0] - arc.start_deg > 0.5 * arc.arc_deg:
        frac = 1.0 - frac                                       # from the far end: the first camera's
    return frac


def _arc_azimuths(arc: ObjectArc, frac: np.ndarray) -> np.ndarray:
    """Azimuths [K] deg (the arc's unwrapped range) of arc fractions frac [K] (0 = arc.start_deg)."""
    return arc.start_deg + arc.arc_deg * np.asarray(frac, dtype=np.float64)


def _arc_poses(arc: ObjectArc, azimuth_deg: np.ndarray, radius: np.ndarray, height: np.ndarray,
               center: np.ndarray, up: np.ndarray) -> list[np.ndarray]:
    """world_from_cam [4,4] per azimuth [K] deg: the eye at radius [K] from ``center`` [3] world
    across ``up`` and height [K] along it (world units; the cameras' smoothed values there are
    :func:`_along_arc`'s), looking at ``center`` with image-up ``up`` [3] (as ``presets.orbit``'s
    eyes)."""
    a = np.radians(azimuth_deg)
    eyes = center + radius[:, None] * (np.outer(np.cos(a), arc.e1) + np.outer(np.sin(a), arc.e2)) + np.outer(height, up)
    return [se3.look_at(eye, center, up) for eye in eyes]


def arc_orbit(arc: ObjectArc, center: np.ndarray, up: np.ndarray, fov_y_deg: float, num_keyframes: int = 8,
              duration: float = 8.0, **frame) -> Trajectory:
    """An object capture's orbit over its captured arc (``arc.full_circle`` is False): a loop
    that sweeps from one end of the arc (arc.start_deg .. arc.start_deg + arc.arc_deg) to the
    other and back (:func:`_arc_sweep`, one pass), each eye at the cameras' smoothed radius and
    height there (:func:`_along_arc`), looking at ``center`` [3] world; duration in seconds."""
    az = _arc_azimuths(arc, _arc_sweep(arc, num_keyframes, passes=1))
    radius, height = _along_arc(arc, az)
    return _trajectory(_arc_poses(arc, az, radius, height, center, up), fov_y_deg, duration, True, **frame)


def arc_spiral(arc: ObjectArc, center: np.ndarray, up: np.ndarray, fov_y_deg: float, num_keyframes: int = 24,
               duration: float = 12.0, *, passes: int = 2, shrink: float = 0.6, lower: float = 0.25,
               **frame) -> Trajectory:
    """An object capture's spiral over its captured arc (``arc.full_circle`` is False): the
    orbit's sweep (:func:`_arc_sweep`) ``passes`` times out and back, ending where it started,
    closing in and coming down linearly in time: by the end the radius is ``shrink`` times the
    cameras' smoothed radius and the height (along up from center) ``lower`` times theirs, as
    the full-circle spiral (``presets.spiral``: 2 turns, radius to 0.6x, height to 0.25x), but
    that move (in and down together) cut to at most EYE_REACH_SPACINGS camera spacings
    (arc.spacing), as the forward spiral's swing is: the eyes stay near the filmed views. Looks
    at ``center`` [3] world. An open path; duration in seconds."""
    frac = _arc_sweep(arc, num_keyframes, passes)
    az = _arc_azimuths(arc, np.r_[frac, frac[0]])               # ends at the end it started from
    t = np.linspace(0.0, 1.0, len(az))
    radius, height = _along_arc(arc, az)
    radius_in, height_down = (1.0 - shrink) * radius, (1.0 - lower) * height
    move = np.maximum(np.hypot(radius_in, height_down), 1e-12)
    cut = np.minimum(1.0, EYE_REACH_SPACINGS * arc.spacing / move)     # the whole move within reach
    poses = _arc_poses(arc, az, radius - t * cut * radius_in, height - t * cut * height_down, center, up)
    return _trajectory(poses, fov_y_deg, duration, False, **frame)


def capture_layout(captured: np.ndarray, up: np.ndarray, e1: np.ndarray,
                   e2: np.ndarray) -> tuple[str, np.ndarray | None]:
    """(layout, target) of captured world_from_cam [N,4,4] (OpenCV axes), N >= 3.

    up [3] world unit vector; e1, e2 [3] unit vectors spanning the plane across it.
    target [3] world is the converging point of an ``object`` capture, else None.
    """
    pos, fwd = captured[:, :3, 3], captured[:, :3, 2]
    target = converging_point(captured)
    if target is not None:
        to_target = _unit(target - pos)
        angle = np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", to_target, fwd), -1.0, 1.0)))
        if (angle.max() < OBJECT_MAX_AXIS_ANGLE_DEG
                and angular_coverage_deg(pos, target, up, e1, e2) >= OBJECT_MIN_COVERAGE_DEG):
            return OBJECT, target
    horizontal = _unit(fwd - np.outer(fwd @ up, up))
    if np.linalg.norm(horizontal.mean(axis=0)) >= FORWARD_MIN_RESULTANT:
        return FORWARD, None
    return INSIDE_OUT, None


@dataclass(frozen=True, eq=False)
class CaptureRig:
    """Where a forward / inside-out capture's orbit goes (world units, OpenCV-free vectors).

    center      [3] the captured cameras' mean position
    right, lift [3] unit axes across ``forward``: right, and up as seen along forward
    forward     [3] unit: the mean view direction (forward) / unused (inside-out: 0)
    radii       (along right, along lift) of the forward ellipse; radius of the inside-out circle
    focus       [3] the point a forward orbit looks at
    pitch_deg   median elevation of the captured views above the plane across up (inside-out)
    yaw_start_deg, arc_deg   the inside-out pan: from this yaw (about up, basis e1/e2), over
                this arc (360: a loop)
    reach       the captured cameras' spacing (world units): how far an eye may stray
    """

    center: np.ndarray
    right: np.ndarray
    lift: np.ndarray
    forward: np.ndarray
    radii: tuple[float, float]
    focus: np.ndarray
    pitch_deg: float = 0.0
    yaw_start_deg: float = 0.0
    arc_deg: float = 360.0
    reach: float = 0.0


def _camera_spacing(positions: np.ndarray) -> float:
    """How far from a captured camera [N,3] an orbit's eye may go: the median distance of a
    camera to its nearest neighbour, at least 5% of the cameras' extent (world units)."""
    query = np.arange(0, len(positions), -(-len(positions) // 256))   # <= 256 of a long video's cameras
    d = np.linalg.norm(positions[query, None] - positions[None], axis=2)
    d[np.arange(len(query)), query] = np.inf
    return max(float(np.median(d.min(axis=1))), 0.05 * float(np.ptp(positions, axis=0).max()))


def _focus(captured: np.ndarray, center: np.ndarray, forward: np.ndarray,
           points: np.ndarray | None) -> np.ndarray:
    """The point [3] a forward orbit looks at: along ``forward`` from ``center`` at the median
    depth of the points [N,3] within 30 deg of it; else the axes' converging point when it
    lies ahead; else one camera spread ahead."""
    if points is not None and len(points):
        rel = points - center
        depth = rel @ forward
        dist = np.linalg.norm(rel, axis=1)
        ahead = depth > np.cos(np.radians(30.0)) * np.maximum(dist, 1e-12)
        if ahead.sum() >= 10:
            return center + forward * float(np.median(depth[ahead]))
    target = converging_point(captured)
    if target is not None and (target - center) @ forward > 0:
        return center + forward * float((target - center) @ forward)
    extent = max(float(np.ptp(captured[:, :3, 3], axis=0).max()), 1.0)
    return center + forward * extent


def capture_rig(layout: str, captured: np.ndarray, up: np.ndarray, e1: np.ndarray, e2: np.ndarray,
                points: np.ndarray | None = None) -> CaptureRig:
    """The :class:`CaptureRig` of a ``forward`` or ``inside-out`` capture: captured
    world_from_cam [N,4,4] (OpenCV), up/e1/e2 as in :func:`capture_layout`, points [M,3]
    world (finite) or None."""
    pos, fwd = captured[:, :3, 3], captured[:, :3, 2]
    reach = _camera_spacing(pos)
    center = pos.mean(axis=0)
    if layout == FORWARD and np.linalg.norm(pos - center, axis=1).min() > reach:
        # a curved walk: its mean is off the path (an inside-out ring's mean is where it stood)
        center = pos[int(np.argmin(np.linalg.norm(pos - center, axis=1)))]
    rel = pos - center
    if layout == FORWARD:
        forward = _unit(fwd.mean(axis=0))
        right = _unit(np.cross(-up, forward))
        lift = np.cross(forward, right) * -1.0      # image-up as seen along forward
        focus = _focus(captured, center, forward, points)
        floor = MIN_RADIUS_OF_FOCUS * float((focus - center) @ forward)
        radii = np.array([np.percentile(np.abs(rel @ right), 90), np.percentile(np.abs(rel @ lift), 90)])
        theta = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
        for scale in np.linspace(1.0, 0.1, 19):   # the largest ellipse whose eyes all stay near a camera
            r = scale * radii
            eyes = center + np.outer(r[0] * np.cos(theta), right) + np.outer(r[1] * np.sin(theta), lift)
            if np.linalg.norm(eyes[:, None] - pos[None], axis=2).min(axis=1).max() <= EYE_REACH_SPACINGS * reach:
                break
        radii = (max(float(r[0]), floor), max(float(r[1]), floor))
        return CaptureRig(center, right, lift, forward, radii, focus, reach=reach)
    horizontal = rel - np.outer(rel @ up, up)
    spread = np.linalg.norm(horizontal, axis=1)
    radius = min(0.5 * float(np.median(spread)), reach)
    pitch = float(np.median(np.degrees(np.arcsin(np.clip(fwd @ up, -1.0, 1.0)))))
    gap, gap_end = _largest_gap(_yaws_deg(fwd, up, e1, e2))
    start, arc = (gap_end, 360.0) if gap < PAN_GAP_LOOP_DEG else (gap_end, 360.0 - gap)
    return CaptureRig(center, e1, up, np.zeros(3), (radius, radius), center, pitch, start, arc, reach)


def _trajectory(poses: list[np.ndarray], fov_y_deg: float, duration: float, loop: bool,
                **frame) -> Trajectory:
    n = len(poses)
    frac = np.arange(n) / n if loop else np.linspace(0.0, 1.0, n)
    kfs = tuple(Keyframe(p, fov_y_deg, duration * f) for p, f in zip(poses, frac))
    return Trajectory(kfs, loop=loop, duration=float(duration), **frame)


def forward_orbit(rig: CaptureRig, up: np.ndarray, fov_y_deg: float, num_keyframes: int = 12,
                  duration: float = 8.0, *, turns: float = 1.0, shrink: float = 1.0,
                  depth_swing: float = 0.0, **frame) -> Trajectory:
    """The LLFF render path: eyes on an ellipse about rig.center across rig.forward (radii
    rig.radii, world units), all looking at rig.focus; ``turns`` > 1 with ``shrink`` < 1
    and ``depth_swing`` (world units along forward, one sine over the path) make it a spiral.
    A loop when turns == 1 and nothing changes along the path."""
    loop = turns == 1.0 and shrink == 1.0 and depth_swing == 0.0
    n = int(num_keyframes) if loop else int(np.ceil(num_keyframes * turns)) + 1
    poses = []
    for f in (np.arange(n) / n if loop else np.linspace(0.0, 1.0, n)):
        theta = 2.0 * np.pi * turns * f
        scale = 1.0 + (shrink - 1.0) * f
        eye = (rig.center + scale * rig.radii[0] * np.cos(theta) * rig.right
               + scale * rig.radii[1] * np.sin(theta) * rig.lift + depth_swing * np.sin(2 * np.pi * f) * rig.forward)
        poses.append(se3.look_at(eye, rig.focus, up))
    return _trajectory(poses, fov_y_deg, duration, loop, **frame)


def pan_orbit(rig: CaptureRig, up: np.ndarray, fov_y_deg: float, num_keyframes: int = 12,
              duration: float = 8.0, *, turns: float = 1.0, shrink: float = 1.0, **frame) -> Trajectory:
    """An inside-out pan: the eye on a circle (radius rig.radii[0]) about rig.center, looking
    outward along the circle's radial direction, pitched by rig.pitch_deg, over the captured
    yaws (rig.yaw_start_deg + [0, rig.arc_deg]; a loop when the capture saw all around).
    ``turns`` repeats a loop; ``shrink`` scales the radius linearly to shrink x at the end."""
    e1, e2 = rig.right, np.cross(up, rig.right)
    full = bool(np.isclose(rig.arc_deg, 360.0))
    loop = full and turns == 1.0 and shrink == 1.0
    sweep = rig.arc_deg * (turns if full else 1.0)
    n = max(int(num_keyframes) if loop else int(np.ceil(num_keyframes * sweep / 360.0)) + 1, 3)
    pitch = np.radians(rig.pitch_deg)
    poses = []
    for f in (np.arange(n) / n if loop else np.linspace(0.0, 1.0, n)):
        yaw = np.radians(rig.yaw_start_deg + sweep * f)
        radial = np.cos(yaw) * e1 + np.sin(yaw) * e2
        eye = rig.center + (1.0 + (shrink - 1.0) * f) * rig.radii[0] * radial
        view = np.cos(pitch) * radial + np.sin(pitch) * up
        poses.append(se3.look_at(eye, eye + view, up))
    return _trajectory(poses, fov_y_deg, duration, loop, **frame)
