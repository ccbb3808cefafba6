"""Presets that follow the captured camera path: ``through_path`` and ``beyond_path``.

The captured path is smoothed with a Gaussian-weighted *local linear* fit (positions) and
a weighted quaternion mean (rotations), evaluated only at the chosen keyframes. A local
linear fit has no inward bias at the ends of a path moving steadily, so the smoothed end
points and end directions stay where the capture ended.
"""
from __future__ import annotations

import numpy as np

from engine.geometry import se3
from engine.trajectory.interpolate import quat_exp, quat_log, quat_mul
from engine.trajectory.keyframes import Keyframe, Trajectory


def _as_poses(captured_world_from_cam: np.ndarray) -> np.ndarray:
    """Validate captured world_from_cam [N,4,4] (OpenCV axes) and return a float copy."""
    w = np.asarray(captured_world_from_cam, dtype=np.float64)
    if w.ndim != 3 or w.shape[1:] != (4, 4) or len(w) == 0:
        raise ValueError(f"captured world_from_cam must be [N,4,4] with N >= 1, got shape {w.shape}")
    return w


def _arc_length(positions: np.ndarray) -> np.ndarray:
    """Cumulative path length [N] (world units) along positions [N,3]."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(positions, axis=0), axis=-1))])


def even_indices(positions: np.ndarray, count: int) -> np.ndarray:
    """Indices (sorted, unique, first and last included) of ~``count`` positions [N,3]
    spaced evenly by arc length; by index when the path does not move."""
    n = len(positions)
    count = max(1, min(int(count), n))
    cum = _arc_length(positions)
    if cum[-1] <= 1e-12 or count == 1:
        idx = np.round(np.linspace(0, n - 1, count)).astype(int)
    else:
        idx = np.searchsorted(cum, np.linspace(0.0, cum[-1], count))
    return np.unique(np.clip(idx, 0, n - 1))


def smooth_poses_at(world_from_cam: np.ndarray, indices: np.ndarray,
                    sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed poses of a captured sequence at the given frame indices.

    world_from_cam  [N,4,4] OpenCV axes, in capture order
    indices         [K] frame indices to evaluate at
    sigma           Gaussian width in frames (0 = no smoothing)
    returns         (smoothed world_from_cam [K,4,4], velocity [K,3] world units per frame)
    """
    n = len(world_from_cam)
    pos = world_from_cam[:, :3, 3]
    quats = se3.quat_from_matrix(world_from_cam[:, :3, :3]).reshape(n, 4)
    j = np.arange(n, dtype=np.float64)
    out = np.empty((len(indices), 4, 4))
    vel = np.zeros((len(indices), 3))
    for row, i in enumerate(np.asarray(indices, dtype=int)):
        d = j - i
        w = np.exp(-0.5 * (d / sigma) ** 2) if sigma > 0 else (d == 0).astype(float)
        w[w < 1e-6] = 0.0
        a = np.array([[w.sum(), (w * d).sum()], [(w * d).sum(), (w * d * d).sum()]])
        rhs = np.stack([w @ pos, (w * d) @ pos])
        if n > 1 and abs(np.linalg.det(a)) > 1e-9:
            coef = np.linalg.solve(a, rhs)  # local linear fit: value and slope at frame i
            p, vel[row] = coef[0], coef[1]
        else:
            p = rhs[0] / w.sum()
        signs = np.where(quats @ quats[i] < 0.0, -1.0, 1.0)
        q = (w * signs) @ quats
        out[row] = se3.make_transform(se3.quat_to_matrix(q / np.linalg.norm(q)), p)
    if n > 1 and len(indices) > 1:  # fall back to finite differences where the fit had no slope
        fd = np.gradient(pos, axis=0)[np.asarray(indices, dtype=int)]
        missing = np.linalg.norm(vel, axis=-1) < 1e-12
        vel[missing] = fd[missing]
    return out, vel


def _smoothed_keyframe_poses(world_from_cam: np.ndarray, num_keyframes: int,
                             smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """Pick keyframes evenly along the path and smooth them: (poses [K,4,4], vel [K,3])."""
    idx = even_indices(world_from_cam[:, :3, 3], num_keyframes)
    spacing = (len(world_from_cam) - 1) / max(1, len(idx) - 1)
    return smooth_poses_at(world_from_cam, idx, smoothing * spacing)


def _timed_trajectory(poses: np.ndarray, fov_y_deg: float, duration: float, **kwargs) -> Trajectory:
    """Trajectory through poses [K,4,4] timed by arc length (by index if it does not move)."""
    cum = _arc_length(poses[:, :3, 3])
    k = len(poses)
    if k == 1:
        return Trajectory((Keyframe(poses[0], fov_y_deg, 0.0),), duration=float(duration), **kwargs)
    frac = cum / cum[-1] if cum[-1] > 1e-12 else np.linspace(0.0, 1.0, k)
    frac = 0.95 * frac + 0.05 * np.linspace(0.0, 1.0, k)  # keep times strictly increasing
    kfs = tuple(Keyframe(p, fov_y_deg, float(duration) * f) for p, f in zip(poses, frac))
    return Trajectory(kfs, duration=float(duration), **kwargs)


def through_path(captured_world_from_cam: np.ndarray, fov_y_deg: float, num_keyframes: int = 12,
                 duration: float = 8.0, *, smoothing: float = 0.5, constant_speed: bool = True,
                 tension: float = 0.0, width: int = 640, height: int = 360, fps: float = 30.0) -> Trajectory:
    """A smoothed path through the captured cameras.

    captured_world_from_cam  [N,4,4] OpenCV axes, in capture order
    fov_y_deg                vertical FOV in degrees for every keyframe
    num_keyframes            keyframes picked evenly by arc length (at most N)
    smoothing                Gaussian width as a fraction of the keyframe spacing (0 = none)
    """
    w = _as_poses(captured_world_from_cam)
    poses, _ = _smoothed_keyframe_poses(w, num_keyframes, smoothing)
    return _timed_trajectory(poses, fov_y_deg, duration, tension=tension, constant_speed=constant_speed,
                             width=width, height=height, fps=fps)


def _extension(end_pose: np.ndarray, direction: np.ndarray, omega_per_len: np.ndarray,
               length: float, count: int, damping: float, max_rot_deg: float) -> list[np.ndarray]:
    """Poses [count] beyond ``end_pose`` [4,4]: straight along ``direction`` [3] (unit,
    world) for ``length`` world units; the body-frame angular rate ``omega_per_len`` [3]
    (radians per world unit) decays as exp(-damping * a / length), capped at max_rot_deg."""
    lam = length / max(damping, 1e-9)
    total = np.linalg.norm(omega_per_len) * lam * (1.0 - np.exp(-length / lam))
    scale = min(1.0, np.radians(max_rot_deg) / total) if total > 1e-12 else 1.0
    q_end = se3.quat_from_matrix(end_pose[:3, :3])
    out = []
    for a in length * np.arange(1, count + 1) / count:
        turn = omega_per_len * scale * lam * (1.0 - np.exp(-a / lam))
        rot = se3.quat_to_matrix(quat_mul(q_end, quat_exp(turn)))
        out.append(se3.make_transform(rot, end_pose[:3, 3] + direction * a))
    return out


def _unit_or(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """v [3] normalised, or ``fallback`` [3] normalised when v is (near) zero."""
    n = np.linalg.norm(v)
    if n > 1e-12:
        return v / n
    return fallback / max(np.linalg.norm(fallback), 1e-12)


def _end_rate(pose_a: np.ndarray, pose_b: np.ndarray) -> np.ndarray:
    """Body-frame angular rate [3] (radians per world unit) going from pose_a to pose_b [4,4]."""
    dist = np.linalg.norm(pose_b[:3, 3] - pose_a[:3, 3])
    rel = se3.quat_from_matrix(pose_a[:3, :3].T @ pose_b[:3, :3])
    return quat_log(rel) / dist if dist > 1e-12 else np.zeros(3)


def free_length(start: np.ndarray, direction: np.ndarray, points: np.ndarray | None, radius: float,
                min_points: int = 20) -> float:
    """How far one can move from ``start`` [3] along unit ``direction`` [3] (world) before the
    points [N,3] within ``radius`` of that ray: the 5th percentile of their distance along it
    (robust to a few floating points); inf with fewer than ``min_points`` of them."""
    if points is None or len(points) == 0:
        return float("inf")
    rel = np.asarray(points, dtype=np.float64) - start
    along = rel @ direction
    across = np.linalg.norm(rel - np.outer(along, direction), axis=1)
    hit = along[(along > 0) & (across < radius)]
    return float(np.percentile(hit, 5)) if len(hit) >= min_points else float("inf")


def beyond_path(captured_world_from_cam: np.ndarray, fov_y_deg: float, extend_fraction: float = 0.5,
                num_keyframes: int = 12, duration: float = 12.0, *, damping: float = 2.0,
                max_extra_rotation_deg: float = 30.0, smoothing: float = 0.5, tension: float = 0.0,
                points: np.ndarray | None = None, clearance: float = 0.5,
                width: int = 640, height: int = 360, fps: float = 30.0) -> Trajectory:
    """The smoothed captured path, extended past both ends.

    Each end continues straight along the path's end tangent for ``extend_fraction`` times
    the captured path length (world units); the rotation keeps the end angular velocity,
    decaying as exp(-damping * a / L_ext), total extra turn at most max_extra_rotation_deg.
    With the scene's ``points`` [M,3] (world) an end stops at ``clearance`` times the way to
    the first surface ahead (:func:`free_length`, a ray 10% of the path length wide): a walk
    through a room does not carry on into the wall it was walking toward.

    captured_world_from_cam  [N,4,4] OpenCV axes, in capture order, N >= 2, moving
    """
    w = _as_poses(captured_world_from_cam)
    total = _arc_length(w[:, :3, 3])[-1]
    if len(w) < 2 or total <= 1e-9:
        raise ValueError("beyond_path needs at least 2 captured cameras that move")
    if extend_fraction < 0:
        raise ValueError(f"extend_fraction must be >= 0, got {extend_fraction}")
    poses, vel = _smoothed_keyframe_poses(w, max(2, num_keyframes), smoothing)
    spacing = total / max(1, len(poses) - 1)
    d_end = _unit_or(vel[-1], poses[-1, :3, 3] - poses[-2, :3, 3])
    d_start = -_unit_or(vel[0], poses[1, :3, 3] - poses[0, :3, 3])
    ext = ([], [])
    for side, (pose, direction, rate) in enumerate(((poses[0], d_start, -_end_rate(poses[0], poses[1])),
                                                    (poses[-1], d_end, _end_rate(poses[-2], poses[-1])))):
        length = min(extend_fraction * total,
                     clearance * free_length(pose[:3, 3], direction, points, 0.1 * total))
        count = int(np.ceil(length / spacing - 1e-9)) if length > 1e-9 else 0
        if count > 0:
            ext[side].extend(_extension(pose, direction, rate, length, count, damping, max_extra_rotation_deg))
    all_poses = np.stack(ext[0][::-1] + list(poses) + ext[1])
    return _timed_trajectory(all_poses, fov_y_deg, duration, tension=tension, constant_speed=True,
                             width=width, height=height, fps=fps)
