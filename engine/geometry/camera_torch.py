"""Pinhole projection and back-projection in torch: the one home for both on the compute device.

The numpy twin is :class:`engine.geometry.camera.Camera` (``project``, ``backproject``,
``backproject_points``); ``tests/geometry/test_camera_torch.py`` checks these functions against
it, skewed ``K`` included. Conventions (see :mod:`engine.geometry.conventions`):

- Camera axes are OpenCV: +x right, +y down, +z forward; ``z`` below is the z-depth along +z
  in the scene's unit (meters), not the distance along the ray.
- ``K`` [3,3] is in pixels, with an optional skew ``K[0,1]``:
  ``u = fx * x/z + s * y/z + cx``, ``v = fy * y/z + cy``.
- The center of pixel (row i, col j) is at (u, v) = (j + 0.5, i + 0.5).

Every function takes an ``engine.geometry.Camera`` and works in float32 on the device of its
tensor arguments (or the ``device`` given); the camera's float64 matrices are cast once.
"""
from __future__ import annotations

import torch


def _f32(matrix, device) -> torch.Tensor:
    return torch.as_tensor(matrix, dtype=torch.float32, device=device)


def world_to_camera(camera, points: torch.Tensor) -> torch.Tensor:
    """points [...,3] world -> [...,3] camera frame (OpenCV axes, same unit)."""
    cfw = _f32(camera.cam_from_world, points.device)
    return points @ cfw[:3, :3].T + cfw[:3, 3]


def camera_to_world(camera, points: torch.Tensor) -> torch.Tensor:
    """points [...,3] camera frame -> [...,3] world."""
    wfc = _f32(camera.world_from_cam, points.device)
    return points @ wfc[:3, :3].T + wfc[:3, 3]


def project_camera_points(camera, p_cam: torch.Tensor, near: float = 0.0
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """points [...,3] camera frame -> (u [...], v [...] pixels, z [...] depth along +z).

    Where ``z <= near`` the point is behind (or too close to) the camera: u and v are then
    computed as if z were 1 (finite, meaningless); callers mask them with ``z > near``.
    """
    z = p_cam[..., 2]
    safe = torch.where(z > near, z, 1.0)
    x, y = p_cam[..., 0], p_cam[..., 1]
    K = camera.K
    # (f * x) / z, not f * (x / z): the reference renderer (points_reference.py) rounds this way
    u = float(K[0, 0]) * x / safe + float(K[0, 1]) * y / safe + float(K[0, 2])
    v = float(K[1, 1]) * y / safe + float(K[1, 2])
    return u, v, z


def project(camera, points: torch.Tensor, near: float = 0.0
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """points [...,3] world -> (u [...], v [...] pixels, z [...] depth along +z).

    Same rule for ``z <= near`` as :func:`project_camera_points`.
    """
    return project_camera_points(camera, world_to_camera(camera, points), near)


def unproject(camera, u: torch.Tensor, v: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """Pixels (u [...], v [...] image coords) at z-depth [...] -> points [...,3] camera frame.

    The inverse of :func:`project_camera_points` (skew included): ``y = (v - cy) / fy * z``,
    ``x = (u - cx - s * y/z) / fx * z``. u, v, depth broadcast against each other.
    """
    K = camera.K
    yn = (v - float(K[1, 2])) / float(K[1, 1])
    xn = (u - float(K[0, 2]) - float(K[0, 1]) * yn) / float(K[0, 0])
    x, y = xn * depth, yn * depth
    x, y, z = torch.broadcast_tensors(x, y, depth)
    return torch.stack([x, y, z], dim=-1)


def backproject(camera, u: torch.Tensor, v: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """Pixels (u [...], v [...] image coords) at z-depth [...] -> points [...,3] world."""
    return camera_to_world(camera, unproject(camera, u, v, depth))


def pixel_centers(camera, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(u [H,W], v [H,W]) float32 image coords of every pixel center (col + 0.5, row + 0.5)."""
    u = torch.arange(camera.width, device=device, dtype=torch.float32) + 0.5
    v = torch.arange(camera.height, device=device, dtype=torch.float32) + 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return uu, vv


def depth_to_camera_points(camera, depth: torch.Tensor) -> torch.Tensor:
    """z-depth [H,W] (along +z, camera-sized) -> points [H,W,3] camera frame at pixel centers."""
    h, w = depth.shape
    if (h, w) != (camera.height, camera.width):
        raise ValueError(f"depth {w}x{h} does not match camera {camera.width}x{camera.height}")
    u = torch.arange(w, device=depth.device, dtype=torch.float32)[None, :] + 0.5
    v = torch.arange(h, device=depth.device, dtype=torch.float32)[:, None] + 0.5
    return unproject(camera, u, v, depth)


def depth_to_world_points(camera, depth: torch.Tensor) -> torch.Tensor:
    """z-depth [H,W] (along +z) -> points [H,W,3] world at pixel centers."""
    return camera_to_world(camera, depth_to_camera_points(camera, depth))


def pixel_rays(camera, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(rays [H,W,3] world directions, center [3] world) such that the point at z-depth d
    of pixel (i, j) is ``center + d * rays[i, j]`` (rays have camera-frame z = 1, not unit length)."""
    u, v = pixel_centers(camera, device)
    ones = torch.ones_like(u)
    rays_cam = unproject(camera, u, v, ones)
    wfc = _f32(camera.world_from_cam, device)
    return rays_cam @ wfc[:3, :3].T, wfc[:3, 3]
