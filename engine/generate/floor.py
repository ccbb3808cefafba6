"""One floor plane per set of references (not per frame).

A floor nobody matched (office's grey carpet) gets a guessed depth in every frame, and each
frame's guess differs: carried along the path and fused back as hints, the frames stitch pieces
of earlier wrong guesses (a collage). :func:`fit_floor_plane` fits ONE plane from all references'
depth (matched and completed pixels, back-projected to world), the lowest near-horizontal plane
with enough support; :func:`plane_depth` gives its z-depth in a target camera.

Frames: world (the cameras' ``world_from_cam``, OpenCV camera axes: x right, y down, z forward);
the capture's up is minus the mean camera y axis. Units: world units (depth is z-depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class FloorOptions:
    enabled: bool = True
    stride: int = 8                 # every stride-th pixel of each reference's depth
    max_tilt_deg: float = 35.0      # normal within this of the capture's up (cameras pitch: -y is a rough up)
    inlier_rel: float = 0.01        # inlier band: this times the median point depth
    min_support: float = 0.03       # a plane holds at least this share of the points
    peak_share: float = 0.15        # the floor: a height peak of this share of the dominant plane's points
    iterations: int = 400
    below_camera_rel: float = 0.1   # the plane is below every camera by this times the median depth
    seed: int = 0


@dataclass(frozen=True)
class FloorPlane:
    normal: np.ndarray   # [3] world, unit, pointing up (towards the cameras)
    offset: float        # plane: normal . X + offset = 0 (world units)
    support: float       # share of the references' points within the inlier band
    scale: float         # median point depth (world units)


def capture_up(cameras) -> np.ndarray:
    """World up [3] (unit): minus the mean camera y axis (OpenCV: y points down)."""
    ys = np.stack([np.asarray(c.world_from_cam, dtype=np.float64)[:3, 1] for c in cameras])
    up = -ys.mean(axis=0)
    return up / max(np.linalg.norm(up), 1e-12)


def _world_points(sources, stride: int) -> tuple[np.ndarray, np.ndarray]:
    pts, depths = [], []
    for s in sources:
        if s.depth is None:
            continue
        d = s.depth.detach().float().cpu().numpy()[::stride, ::stride]
        K = np.asarray(s.camera.K, dtype=np.float64)
        v, u = np.mgrid[0:d.shape[0], 0:d.shape[1]]
        u = u * stride + 0.5
        v = v * stride + 0.5
        ok = np.isfinite(d) & (d > 0)
        z = d[ok].astype(np.float64)
        x = (u[ok] - K[0, 2]) / K[0, 0] * z
        y = (v[ok] - K[1, 2]) / K[1, 1] * z
        wfc = np.asarray(s.camera.world_from_cam, dtype=np.float64)
        p = np.stack([x, y, z], axis=1) @ wfc[:3, :3].T + wfc[:3, 3]
        pts.append(p)
        depths.append(z)
    if not pts:
        return np.zeros((0, 3)), np.zeros(0)
    return np.concatenate(pts), np.concatenate(depths)


def fit_floor_plane(sources, options: FloorOptions = FloorOptions()) -> FloorPlane | None:
    """The floor: the lowest plane parallel to the dominant plane within ``max_tilt_deg`` of
    the capture's up (the best supported, at least ``min_support`` of the references' depth
    points, below every camera) whose band holds a peak of the points' heights of at least
    ``peak_share`` of the dominant plane's points (it may be the dominant plane itself);
    None if there is no such plane (no floor in the capture)."""
    srcs = [s for s in sources if s.depth is not None]
    if len(srcs) == 0:
        return None
    up = capture_up([s.camera for s in srcs])
    pts, z = _world_points(srcs, options.stride)
    if len(pts) < 100:
        return None
    scale = float(np.median(z))
    band = options.inlier_rel * scale
    rng = np.random.default_rng(options.seed)
    n_pts = len(pts)
    idx = rng.integers(0, n_pts, size=(options.iterations, 3))
    a, b, c = pts[idx[:, 0]], pts[idx[:, 1]], pts[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norm = np.linalg.norm(normals, axis=1)
    ok = norm > 1e-12
    normals = normals[ok] / norm[ok, None]
    a = a[ok]
    normals *= np.sign(normals @ up)[:, None]
    cos_tilt = np.cos(np.deg2rad(options.max_tilt_deg))
    keep = normals @ up >= cos_tilt
    normals, a = normals[keep], a[keep]
    if len(normals) == 0:
        return None
    offsets = -np.einsum("ij,ij->i", normals, a)
    # support of each hypothesis (chunked: iterations x points)
    sub = pts if n_pts <= 20000 else pts[rng.choice(n_pts, 20000, replace=False)]
    support = np.zeros(len(normals))
    for i in range(0, len(normals), 64):
        dist = np.abs(sub @ normals[i:i + 64].T + offsets[i:i + 64])
        support[i:i + 64] = (dist < band).mean(axis=0)
    centers = np.stack([np.asarray(s.camera.center, dtype=np.float64) for s in srcs])
    cam_clear = (centers @ normals.T + offsets).min(axis=0)   # signed height of the lowest camera
    good = (support >= options.min_support) & (cam_clear > options.below_camera_rel * scale)
    if not good.any():
        return None
    # the dominant near-horizontal plane (office: the desk top) gives the floor's normal ...
    best = int(np.flatnonzero(good)[np.argmax(support[good])])
    n = normals[best]
    inl = pts[np.abs(pts @ n + offsets[best]) < band]
    m = inl.mean(axis=0)
    _, _, vt = np.linalg.svd(inl - m, full_matrices=False)
    n2 = vt[-1] * np.sign(vt[-1] @ up)
    if n2 @ up >= cos_tilt:
        n = n2
    # ... and the floor is the lowest plane parallel to it holding a peak of the points' heights
    # at least ``peak_share`` of the dominant plane's (the completed depth below it is noise)
    h = pts @ n
    step = 2 * band
    top = float((centers @ n).min()) - options.below_camera_rel * scale
    bins = np.arange(h.min(), top + step, step)
    if len(bins) < 3:
        return None
    count, edges = np.histogram(h, bins=bins)
    dom = float((np.abs(h - float(m @ n)) < band).sum())
    peak = (count >= options.peak_share * dom)
    peak &= count >= np.maximum(np.r_[0, count[:-1]], np.r_[count[1:], 0])
    if not peak.any():
        return None
    i = int(np.flatnonzero(peak)[0])
    level = 0.5 * (edges[i] + edges[i + 1])
    near = np.abs(h - level) < band
    level = float(np.median(h[near]))
    sup = float(near.mean())
    return FloorPlane(n, -level, sup, scale)


def plane_depth(plane: FloorPlane, rays: torch.Tensor, eye: torch.Tensor, max_rel: float = 20.0,
                min_cos: float = 0.05) -> torch.Tensor:
    """Z-depth [H,W] of the plane along the target's rays ([H,W,3] world, scaled so that
    z-depth d is eye + d * ray; eye [3] world); 0 where the ray misses it (parallel within
    ``min_cos``, behind the camera, beyond ``max_rel`` times the plane's scale, or the camera
    below the plane)."""
    n = torch.as_tensor(plane.normal, dtype=rays.dtype, device=rays.device)
    h0 = float(eye.double().cpu().numpy() @ plane.normal + plane.offset)   # camera height above it
    if h0 <= 0:
        return torch.zeros(rays.shape[:2], dtype=rays.dtype, device=rays.device)
    nr = rays @ n
    unit = rays.norm(dim=-1).clamp_min(1e-12)
    t = -h0 / torch.where(nr < 0, nr, torch.full_like(nr, -1.0))
    ok = (nr < -min_cos * unit) & (t > 0) & (t < max_rel * plane.scale)
    return torch.where(ok, t, torch.zeros_like(t))
