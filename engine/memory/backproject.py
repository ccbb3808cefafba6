"""Depth map -> colored, oriented world points (torch, on the memory's device)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.geometry import camera_torch
from engine.imaging import inset_colors


@dataclass
class BackprojectedPoints:
    xyz: torch.Tensor     # [N,3] world
    rgb: torch.Tensor     # [N,3] in [0,1]
    conf: torch.Tensor    # [N]
    normal: torch.Tensor  # [N,3] world, unit, facing the camera
    pixels: torch.Tensor | None = None  # [H,W] bool: the pixels lifted, in row-major order of the N points
    flat: torch.Tensor | None = None    # [N] int64: their flat (row-major) pixel numbers


def _to_tensor(a, device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a,
                           device=device).to(dtype)


def camera_points(camera, depth: torch.Tensor) -> torch.Tensor:
    """z-depth [H,W] -> points [H,W,3] in camera coordinates (pixel centers at +0.5, skew kept)."""
    return camera_torch.depth_to_camera_points(camera, depth)


def normals_from_points(p_cam: torch.Tensor) -> torch.Tensor:
    """Camera-frame points [H,W,3] -> unit normals [H,W,3] facing the camera (zeros at edges)."""
    dx = torch.zeros_like(p_cam)
    dy = torch.zeros_like(p_cam)
    dx[:, 1:-1] = p_cam[:, 2:] - p_cam[:, :-2]
    dy[1:-1] = p_cam[2:] - p_cam[:-2]
    n = torch.cross(dx, dy, dim=-1)
    norm = n.norm(dim=-1, keepdim=True)
    n = torch.where(norm > 1e-12, n / norm.clamp_min(1e-12), torch.zeros_like(n))
    flip = (n * p_cam).sum(-1, keepdim=True) > 0
    return torch.where(flip, -n, n)


def backproject_depth(camera, depth, image, confidence=None, mask=None, stride: int = 1,
                      device: torch.device | str = "cpu") -> BackprojectedPoints:
    """Lift every valid pixel of a depth map to the world (see GeometryMemory.insert_depth).
    A pixel on a dark line at the image's border (engine.imaging.dark_border: TUM office's last
    row and column) is lifted with the colour of the nearest pixel inside it."""
    depth_t = _to_tensor(depth, device)
    if depth_t.ndim != 2:
        raise ValueError(f"depth must be [H,W], got shape {tuple(depth_t.shape)}")
    h, w = depth_t.shape
    if (h, w) != (camera.height, camera.width):
        raise ValueError(f"depth {w}x{h} does not match camera {camera.width}x{camera.height}")
    if not isinstance(image, torch.Tensor):
        image = inset_colors(np.asarray(image))    # a dark border line: the colour inside it
    img = torch.as_tensor(image, device=device)
    img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
    p_cam = camera_points(camera, torch.nan_to_num(depth_t, nan=0.0, posinf=0.0))
    normal_cam = normals_from_points(p_cam)
    valid = torch.isfinite(depth_t) & (depth_t > 0)
    if mask is not None:
        valid &= _to_tensor(mask, device, torch.bool)
    conf = torch.ones(h, w, device=device) if confidence is None else _to_tensor(confidence, device)
    valid &= conf > 0
    if stride > 1:
        sub = torch.zeros_like(valid)
        sub[::stride, ::stride] = True
        valid &= sub
    rot = torch.as_tensor(camera.world_from_cam[:3, :3], dtype=torch.float32, device=device)
    # the valid pixels' numbers once (each boolean-mask gather is a nonzero: a host sync per
    # column on a GPU); the same rows in the same (row-major) order
    flat = torch.nonzero(valid.view(-1)).squeeze(1)
    xyz = camera_torch.camera_to_world(camera, p_cam.reshape(-1, 3)[flat])
    normal = normal_cam.reshape(-1, 3)[flat] @ rot.T
    rgb = img.reshape(h * w, -1)[flat][:, :3]
    return BackprojectedPoints(xyz, rgb, conf.reshape(-1)[flat], normal, valid, flat)
