"""Keyframe splines: Kochanek–Bartels positions/FOV, a C1 quaternion spline, arc length.

Everything is parametrised by keyframe *time* in seconds (non-uniform knots), so a
keyframe placed at t = 2.5 s is reached exactly at t = 2.5 s and velocities are in
units per second. Continuity and bias of the Kochanek–Bartels (KB) spline are 0; only
tension is exposed (0 = Catmull-Rom, 1 = the camera stops at every keyframe,
-1 = overshooting, loose curve).

Tangents (derivatives w.r.t. time) at an interior knot k are the time-weighted centred
difference ``(1 - tension) * (p[k+1] - p[k-1]) / (t[k+1] - t[k-1])``; one tangent is shared
by the incoming and outgoing segment, so the curve is C1 in time. Open ends use the
"natural" condition (zero second derivative). A loop wraps its neighbours around the seam,
so the closing segment is C1 as well.

Rotations use a spherical cubic Bezier (Shoemake) per segment, built from body-frame
angular velocities computed the same way as position tangents. Its control quaternions
are ``q_k * exp(w_k h / 3)`` and ``q_k+1 * exp(-w_k+1 h / 3)``, so the rotation passes
through every keyframe, has angular velocity ``w_k`` at knot k from both sides (C1), and
for two keyframes with tension 0 it is exactly slerp.

Quaternions are ``wxyz`` (scalar first), as everywhere in the project.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.geometry import se3

ARC_SAMPLES_PER_SEGMENT = 256


# --------------------------------------------------------------------------- quaternions
def quat_mul(a_wxyz: np.ndarray, b_wxyz: np.ndarray) -> np.ndarray:
    """Hamilton product a*b of quaternions [...,4] wxyz (rotation b first, then a)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a_wxyz, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b_wxyz, dtype=np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_conj(q_wxyz: np.ndarray) -> np.ndarray:
    """Conjugate (= inverse for unit quaternions) [...,4] wxyz."""
    q = np.array(q_wxyz, dtype=np.float64)
    q[..., 1:] *= -1.0
    return q


def quat_exp(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle [...,3] (radians) -> unit quaternion [...,4] wxyz of that rotation."""
    v = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    half = 0.5 * angle
    small = angle < 1e-12
    scale = np.where(small, 0.5 - angle**2 / 48.0, np.sin(half) / np.where(small, 1.0, angle))
    return np.concatenate([np.cos(half), v * scale], axis=-1)


def quat_log(q_wxyz: np.ndarray) -> np.ndarray:
    """Unit quaternion [...,4] wxyz -> axis-angle [...,3], shortest rotation (angle <= pi)."""
    return se3.quat_to_axis_angle(q_wxyz)


# ------------------------------------------------------------------------------ tangents
def kb_tangents(slopes: np.ndarray, h: np.ndarray, tension: float, loop: bool) -> np.ndarray:
    """Kochanek–Bartels tangents (per second) at the knots from per-segment slopes.

    slopes   [S, D] secant slope of each segment (value change / h), any unit per second
    h        [S]    segment durations in seconds (> 0)
    loop     True: the S segments form a closed loop (segment S-1 ends at knot 0)
    returns  [S+1, D] tangent at every knot; for a loop tangent[S] == tangent[0]
    """
    slopes = np.asarray(slopes, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    num_seg = slopes.shape[0]
    out = np.empty((num_seg + 1,) + slopes.shape[1:])
    hb = h.reshape((-1,) + (1,) * (slopes.ndim - 1))
    if loop:
        prev_s, prev_h = np.roll(slopes, 1, axis=0), np.roll(hb, 1, axis=0)
        out[:-1] = (prev_h * prev_s + hb * slopes) / (prev_h + hb)
        out[-1] = out[0]
    elif num_seg == 1:
        out[:] = slopes[0]
    else:
        out[1:-1] = (hb[:-1] * slopes[:-1] + hb[1:] * slopes[1:]) / (hb[:-1] + hb[1:])
        out[0] = 0.5 * (3.0 * slopes[0] - out[1])  # natural end: zero second derivative
        out[-1] = 0.5 * (3.0 * slopes[-1] - out[-2])
    return (1.0 - tension) * out


def hermite(p0: np.ndarray, p1: np.ndarray, m0: np.ndarray, m1: np.ndarray,
            h: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Cubic Hermite segments: values p0/p1 [N,D], tangents m0/m1 [N,D] per second,
    durations h [N] seconds, local parameter u [N] in [0,1] -> values [N,D]."""
    u = u[:, None]
    hh = h[:, None]
    u2, u3 = u * u, u * u * u
    return ((2 * u3 - 3 * u2 + 1) * p0 + (u3 - 2 * u2 + u) * hh * m0
            + (-2 * u3 + 3 * u2) * p1 + (u3 - u2) * hh * m1)


def _aligned_quats(rotations: np.ndarray) -> np.ndarray:
    """Rotations [K,3,3] -> quaternions [K,4] wxyz with consecutive dot products >= 0."""
    q = se3.quat_from_matrix(rotations).reshape(-1, 4)
    for k in range(1, len(q)):
        if np.dot(q[k], q[k - 1]) < 0.0:
            q[k] = -q[k]
    return q


# -------------------------------------------------------------------------------- spline
@dataclass(frozen=True, eq=False)
class PoseSpline:
    """A camera path through keyframes: positions, rotations and FOV as functions of time.

    knot_times         [M] seconds, strictly increasing. For a loop M = K + 1 and the last
                       knot repeats keyframe 0 at ``first time + period``.
    positions          [M,3] camera centers, world units
    position_tangents  [M,3] world units per second
    quats              [M,4] wxyz rotation of world_from_cam (OpenCV camera axes)
    control_quats      [S,4,4] spherical-Bezier control quaternions per segment (S = M-1)
    fovs, fov_tangents [M] vertical FOV in degrees, degrees per second
    loop               closed path: times are wrapped modulo the period
    """

    knot_times: np.ndarray
    positions: np.ndarray
    position_tangents: np.ndarray
    quats: np.ndarray
    control_quats: np.ndarray
    fovs: np.ndarray
    fov_tangents: np.ndarray
    loop: bool = False
    _arc_table: list = field(default_factory=list, init=False, repr=False)

    @property
    def start_time(self) -> float:
        return float(self.knot_times[0])

    @property
    def end_time(self) -> float:
        return float(self.knot_times[-1])

    def wrap(self, times: np.ndarray) -> np.ndarray:
        """Times [N] s -> times inside the knot range (clamped, or modulo the loop period)."""
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        t0, t1 = self.start_time, self.end_time
        if self.loop and t1 > t0:
            return t0 + np.mod(t - t0, t1 - t0)
        return np.clip(t, t0, t1)

    def _locate(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wrapped times [N] -> (segment index [N], local parameter u [N] in [0,1])."""
        t = self.wrap(times)
        seg = np.clip(np.searchsorted(self.knot_times, t, side="right") - 1, 0, len(self.knot_times) - 2)
        h = self.knot_times[seg + 1] - self.knot_times[seg]
        return seg, np.clip((t - self.knot_times[seg]) / h, 0.0, 1.0)

    def _scalar_or_vector(self, values: np.ndarray, tangents: np.ndarray, times: np.ndarray) -> np.ndarray:
        n = len(np.atleast_1d(times))
        if len(self.knot_times) == 1:
            return np.repeat(values[:1], n, axis=0)
        seg, u = self._locate(times)
        h = self.knot_times[seg + 1] - self.knot_times[seg]
        return hermite(values[seg], values[seg + 1], tangents[seg], tangents[seg + 1], h, u)

    def positions_at(self, times: np.ndarray) -> np.ndarray:
        """Times [N] s -> camera centers [N,3] world."""
        return self._scalar_or_vector(self.positions, self.position_tangents, times)

    def fovs_at(self, times: np.ndarray) -> np.ndarray:
        """Times [N] s -> vertical FOV [N] degrees."""
        return self._scalar_or_vector(self.fovs[:, None], self.fov_tangents[:, None], times)[:, 0]

    def quats_at(self, times: np.ndarray) -> np.ndarray:
        """Times [N] s -> world_from_cam rotations [N,4] wxyz (De Casteljau with slerp)."""
        n = len(np.atleast_1d(times))
        if len(self.knot_times) == 1:
            return np.repeat(self.quats[:1], n, axis=0)
        seg, u = self._locate(times)
        c = self.control_quats[seg]  # [N,4,4]
        a = [se3.quat_slerp(c[:, i], c[:, i + 1], u) for i in range(3)]
        b = [se3.quat_slerp(a[i], a[i + 1], u) for i in range(2)]
        return se3.quat_slerp(b[0], b[1], u)

    def evaluate(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times [N] s -> (world_from_cam [N,4,4] OpenCV axes, vertical FOV [N] degrees)."""
        rot = se3.quat_to_matrix(self.quats_at(times))
        return se3.make_transform(rot, self.positions_at(times)), self.fovs_at(times)

    def arc_length_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Dense (times [D] s, cumulative path length [D] world units) over the knot range."""
        if not self._arc_table:
            if len(self.knot_times) == 1:
                t = self.knot_times.copy()
            else:
                per_seg = [np.linspace(a, b, ARC_SAMPLES_PER_SEGMENT, endpoint=False)
                           for a, b in zip(self.knot_times[:-1], self.knot_times[1:])]
                t = np.concatenate(per_seg + [self.knot_times[-1:]])
            steps = np.linalg.norm(np.diff(self.positions_at(t), axis=0), axis=-1)
            self._arc_table.extend([t, np.concatenate([[0.0], np.cumsum(steps)])])
        return self._arc_table[0], self._arc_table[1]

    def time_at_arc_fraction(self, fraction: np.ndarray) -> np.ndarray:
        """Fractions [N] of the total path length (0 = start, 1 = end) -> times [N] s.

        Inverts the cumulative length by linear interpolation. A tiny share (1e-3) of
        elapsed time is mixed into the length so the map stays strictly increasing where
        the camera only rotates; paths of zero length fall back to uniform time.
        """
        frac = np.clip(np.atleast_1d(np.asarray(fraction, dtype=np.float64)), 0.0, 1.0)
        t, cum = self.arc_length_table()
        span = self.end_time - self.start_time
        if span <= 0.0:
            return np.full(frac.shape, self.start_time)
        total = cum[-1]
        mixed = cum + (1e-3 * total if total > 1e-12 else 1.0) * (t - t[0]) / span
        return np.interp(frac * mixed[-1], mixed, t)


def build_pose_spline(world_from_cam: np.ndarray, fov_y_deg: np.ndarray, times: np.ndarray,
                      tension: float = 0.0, loop: bool = False, period: float | None = None) -> PoseSpline:
    """Fit the spline through K keyframes.

    world_from_cam  [K,4,4] OpenCV axes, world units
    fov_y_deg       [K] vertical FOV in degrees
    times           [K] seconds, strictly increasing
    tension         Kochanek–Bartels tension in [-1, 1]
    loop, period    closed path whose closing segment ends at ``times[0] + period`` seconds
    """
    w = np.asarray(world_from_cam, dtype=np.float64).reshape(-1, 4, 4)
    fov = np.asarray(fov_y_deg, dtype=np.float64).reshape(-1)
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    pos, quats = w[:, :3, 3].copy(), _aligned_quats(w[:, :3, :3])
    closed = bool(loop) and len(t) > 1
    if closed:
        t = np.append(t, t[0] + float(period))
        pos, fov = np.vstack([pos, pos[:1]]), np.append(fov, fov[0])
        q_end = quats[0] if np.dot(quats[0], quats[-1]) >= 0 else -quats[0]
        quats = np.vstack([quats, q_end])
    if len(t) == 1:
        zeros = np.zeros((1, 3))
        return PoseSpline(t, pos, zeros, quats, np.zeros((0, 4, 4)), fov, np.zeros(1), closed)
    h = np.diff(t)
    pos_tan = kb_tangents(np.diff(pos, axis=0) / h[:, None], h, tension, closed)
    fov_tan = kb_tangents((np.diff(fov) / h)[:, None], h, tension, closed)[:, 0]
    rates = quat_log(quat_mul(quat_conj(quats[:-1]), quats[1:])) / h[:, None]  # body frame, rad/s
    omega = kb_tangents(rates, h, tension, closed)
    c1 = quat_mul(quats[:-1], quat_exp(omega[:-1] * h[:, None] / 3.0))
    c2 = quat_mul(quats[1:], quat_exp(-omega[1:] * h[:, None] / 3.0))
    controls = np.stack([quats[:-1], c1, c2, quats[1:]], axis=1)
    return PoseSpline(t, pos, pos_tan, quats, controls, fov, fov_tan, closed)
