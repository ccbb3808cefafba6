"""SE(3) / SO(3) helpers on numpy float64 arrays.

Naming: a transform ``b_from_a`` maps points in frame ``a`` to frame ``b``
(``p_b = b_from_a @ p_a``). Quaternions are ``wxyz`` (scalar first) everywhere in
this project; functions that talk to a library using ``xyzw`` say so.
All functions accept a single transform or a batch with leading dimensions.
"""
from __future__ import annotations

import numpy as np


def make_transform(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """rotation [...,3,3], translation [...,3] -> homogeneous [...,4,4]."""
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    out = np.zeros(rotation.shape[:-2] + (4, 4))
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def invert(b_from_a: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform [...,4,4] (uses R^T, not a general inverse)."""
    b_from_a = np.asarray(b_from_a, dtype=np.float64)
    rot_t = np.swapaxes(b_from_a[..., :3, :3], -1, -2)
    trans = -np.einsum("...ij,...j->...i", rot_t, b_from_a[..., :3, 3])
    return make_transform(rot_t, trans)


def compose(*transforms: np.ndarray) -> np.ndarray:
    """compose(c_from_b, b_from_a) -> c_from_a (left to right, like matrix products)."""
    out = np.asarray(transforms[0], dtype=np.float64)
    for t in transforms[1:]:
        out = out @ np.asarray(t, dtype=np.float64)
    return out


def transform_points(b_from_a: np.ndarray, points_a: np.ndarray) -> np.ndarray:
    """Apply [4,4] transform to points [...,3] in frame a -> [...,3] in frame b."""
    b_from_a = np.asarray(b_from_a, dtype=np.float64)
    return np.asarray(points_a) @ b_from_a[:3, :3].T + b_from_a[:3, 3]


def hat(omega: np.ndarray) -> np.ndarray:
    """Skew-symmetric matrix [...,3,3] of axis-angle vectors [...,3]."""
    omega = np.asarray(omega, dtype=np.float64)
    x, y, z = omega[..., 0], omega[..., 1], omega[..., 2]
    zero = np.zeros_like(x)
    return np.stack([
        np.stack([zero, -z, y], -1),
        np.stack([z, zero, -x], -1),
        np.stack([-y, x, zero], -1),
    ], -2)


def so3_exp(omega: np.ndarray) -> np.ndarray:
    """Rodrigues: axis-angle [...,3] (radians) -> rotation matrix [...,3,3]."""
    omega = np.asarray(omega, dtype=np.float64)
    theta = np.linalg.norm(omega, axis=-1)[..., None, None]
    k = hat(omega)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * k + b * (k @ k)


def so3_log(rotation: np.ndarray) -> np.ndarray:
    """Rotation matrix [...,3,3] -> axis-angle [...,3] (radians, angle in [0, pi])."""
    return quat_to_axis_angle(quat_from_matrix(rotation))


def quat_to_axis_angle(q_wxyz: np.ndarray) -> np.ndarray:
    q = np.asarray(q_wxyz, dtype=np.float64)
    q = np.where(q[..., :1] < 0, -q, q)
    w = np.clip(q[..., 0], -1.0, 1.0)
    xyz = q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1)
    angle = 2.0 * np.arctan2(s, w)
    scale = np.where(s < 1e-12, 2.0, angle / np.where(s < 1e-12, 1.0, s))
    return xyz * scale[..., None]


def quat_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Rotation matrix [...,3,3] -> unit quaternion [...,4] wxyz with w >= 0."""
    m = np.asarray(rotation, dtype=np.float64)
    batch = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    out = np.empty((m.shape[0], 4))
    for i, r in enumerate(m):
        tr = np.trace(r)
        if tr > 0:
            s = np.sqrt(tr + 1.0) * 2
            q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
        elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
            s = np.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
            q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
        elif r[1, 1] > r[2, 2]:
            s = np.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
            q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
        else:
            s = np.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
            q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
        q = np.asarray(q)
        q /= np.linalg.norm(q)
        out[i] = -q if q[0] < 0 else q
    return out.reshape(batch + (4,))


def quat_to_matrix(q_wxyz: np.ndarray) -> np.ndarray:
    """Quaternion [...,4] wxyz (normalised here) -> rotation matrix [...,3,3]."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def quat_slerp(q0_wxyz: np.ndarray, q1_wxyz: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical linear interpolation, shortest arc, t in [0,1] -> wxyz [...,4]."""
    q0 = np.asarray(q0_wxyz, dtype=np.float64)
    q1 = np.asarray(q1_wxyz, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    lerp = dot > 0.9995
    safe = np.where(lerp, 1.0, sin_theta)
    w0 = np.where(lerp, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(lerp, t, np.sin(t * theta) / safe)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def se3_exp(xi: np.ndarray) -> np.ndarray:
    """Twist [...,6] = (rho translation part, omega rotation part) -> [...,4,4]."""
    xi = np.asarray(xi, dtype=np.float64)
    rho, omega = xi[..., :3], xi[..., 3:]
    rot = so3_exp(omega)
    theta = np.linalg.norm(omega, axis=-1)[..., None, None]
    k = hat(omega)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    b = np.where(small, 0.5, (1 - np.cos(safe)) / safe**2)
    c = np.where(small, 1.0 / 6.0, (safe - np.sin(safe)) / safe**3)
    v = np.eye(3) + b * k + c * (k @ k)
    return make_transform(rot, np.einsum("...ij,...j->...i", v, rho))


def se3_log(b_from_a: np.ndarray) -> np.ndarray:
    """[...,4,4] -> twist [...,6] (rho, omega); inverse of se3_exp."""
    b_from_a = np.asarray(b_from_a, dtype=np.float64)
    omega = so3_log(b_from_a[..., :3, :3])
    theta = np.linalg.norm(omega, axis=-1)[..., None, None]
    k = hat(omega)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    coef = np.where(small, 1.0 / 12.0, (1 - safe * np.sin(safe) / (2 * (1 - np.cos(safe)))) / safe**2)
    v_inv = np.eye(3) - 0.5 * k + coef * (k @ k)
    rho = np.einsum("...ij,...j->...i", v_inv, b_from_a[..., :3, 3])
    return np.concatenate([rho, omega], axis=-1)


def rotation_angle_deg(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotations [...,3,3]."""
    rel = np.swapaxes(rot_a, -1, -2) @ rot_b
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    # atan2 of sine and cosine: accurate near 0 and 180 degrees (arccos alone resolves ~1e-6 deg)
    skew = np.stack([rel[..., 2, 1] - rel[..., 1, 2], rel[..., 0, 2] - rel[..., 2, 0],
                     rel[..., 1, 0] - rel[..., 0, 1]], axis=-1)
    sin = 0.5 * np.linalg.norm(skew, axis=-1)
    return np.degrees(np.arctan2(sin, cos))


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, -1.0, 0.0)) -> np.ndarray:
    """world_from_cam [4,4] of an OpenCV camera at ``eye`` looking at ``target``.

    ``up`` is the world direction that should appear up in the image. The
    project's synthetic world is y-down (like OpenCV), so the default up is -y.
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward)
    down = -np.asarray(up, dtype=np.float64)
    right = np.cross(down, forward)
    if np.linalg.norm(right) < 1e-9:  # looking straight along up: pick any right
        right = np.cross([1.0, 0.0, 0.0] if abs(forward[0]) < 0.9 else [0.0, 0.0, 1.0], forward)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return make_transform(np.stack([right, down, forward], axis=1), eye)
