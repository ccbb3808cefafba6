"""Dense depth for posed views: plane sweep per view, multi-view geometric consistency,
and fusion of the filtered maps into the geometry memory as ``captured`` points.

Depth is computed at a working resolution (``MVSOptions.max_side``); the stored view depth
is upsampled (nearest) to the view's image size.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.geometry import Camera
from engine.tracking.mvs import MVSOptions, SweepResult, plane_sweep
from engine.tracking.mvs_select import best_by_score, covisibility_scores, depth_range, select_neighbors

log = logging.getLogger(__name__)


@dataclass
class DenseState:
    """Working-resolution cameras/images and raw sweeps of every view processed so far
    (keys: view ids). Kept between chunks so later views are checked against earlier ones."""

    options: MVSOptions = field(default_factory=MVSOptions)
    device: str | torch.device = "cpu"
    cameras: dict[int, Camera] = field(default_factory=dict)
    images: dict[int, np.ndarray] = field(default_factory=dict)
    raw: dict[int, SweepResult] = field(default_factory=dict)
    neighbors: dict[int, list[int]] = field(default_factory=dict)
    ranges: dict[int, tuple[float, float]] = field(default_factory=dict)   # sweep (near, far) per view
    score_ids: list[int] = field(default_factory=list)       # view id of each row of ``scores``
    scores: np.ndarray | None = None                          # [V,V] covisibility (mvs_select)


@dataclass
class DepthMap:
    """A filtered (and possibly completed) depth map at working resolution (numpy).

    camera      working-resolution camera
    depth       [H,W] float32 z-depth (0 = filtered out / unknown)
    confidence  [H,W] float32 in [0,1]
    completed   [H,W] bool, True where the depth was filled in rather than matched
                (engine.tracking.complete), or None (nothing completed)
    """

    view_id: int
    camera: Camera
    image: np.ndarray
    depth: np.ndarray
    confidence: np.ndarray
    completed: np.ndarray | None = None

    def valid_fraction(self) -> float:
        return float((self.depth > 0).mean())

    def matched(self) -> np.ndarray:
        """[H,W] bool: pixels with a matched (not completed) depth."""
        return (self.depth > 0) if self.completed is None else (self.depth > 0) & ~self.completed


def working_view(camera: Camera, image: np.ndarray, max_side: int) -> tuple[Camera, np.ndarray]:
    """Downscale camera and image so that the longer side is <= max_side."""
    s = min(1.0, max_side / max(camera.width, camera.height))
    if s >= 1.0:
        return camera, image
    cam = camera.scaled(s)
    return cam, cv2.resize(image, (cam.width, cam.height), interpolation=cv2.INTER_AREA)


def sweep_views(state: DenseState, view_ids: Sequence[int], cameras: dict[int, Camera], images: dict[int, np.ndarray],
                points_xyz: np.ndarray | None = None, near_far: dict[int, tuple[float, float]] | None = None,
                cancel=None) -> Iterator[int]:
    """Add views (full-res cameras/images by id) and run the plane sweep for ``view_ids``;
    yields each view id when its raw depth is ready."""
    opt = state.options
    for vid, cam in cameras.items():   # poses may have moved (bundle adjustment): refresh all
        if vid in state.images:
            state.cameras[vid] = working_view(cam, images[vid][:1, :1], opt.max_side)[0]
        else:
            state.cameras[vid], state.images[vid] = working_view(cam, images[vid], opt.max_side)
    ids = sorted(state.cameras)
    cams = [state.cameras[i] for i in ids]
    state.score_ids, state.scores = ids, covisibility_scores(cams, points_xyz)
    nbrs = select_neighbors(cams, points_xyz, opt.num_neighbors, scores=state.scores)
    for i, vid in enumerate(ids):
        state.neighbors[vid] = [ids[j] for j in nbrs[i]]
    for vid in view_ids:
        if cancel is not None:
            cancel.raise_if_cancelled()
        cam = state.cameras[vid]
        nf = near_far.get(vid) if near_far else None
        src = state.neighbors[vid]
        try:
            near, far = depth_range(cam, points_xyz, nf)
        except ValueError as exc:              # this view stays without depth; the others go on
            log.warning("%s", exc)
            continue
        if not src:
            continue
        state.ranges[vid] = (near, far)
        state.raw[vid] = plane_sweep(cam, state.images[vid], [state.cameras[j] for j in src],
                                     [state.images[j] for j in src], near, far, opt, state.device)
        yield vid


def sparse_depth_ratio(state: DenseState, vid: int, points_xyz: np.ndarray, max_off: float = 0.05,
                       min_points: int = 30) -> float | None:
    """Median of (raw sweep depth / sparse point depth) at the sparse points ``points_xyz``
    [N,3] (scene units, the current poses' gauge) that view ``vid`` sees with a confident raw
    depth (ZNCC >= ``min_zncc``) within ``max_off`` of it; None with fewer than ``min_points``.
    A sweep made with earlier poses (a first chunk mapped alone, then re-solved with the rest)
    shows here as a ratio off 1: on the symmetric orbit 0.986-0.990 for the first chunk's
    views, 0.997-1.001 for the others."""
    if vid not in state.raw or points_xyz is None or not len(points_xyz):
        return None
    cam = state.cameras[vid]
    uv, z = cam.project(np.asarray(points_xyz, dtype=np.float64))
    ok = (z > 1e-9) & (uv[:, 0] >= 0) & (uv[:, 1] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] < cam.height)
    if ok.sum() < min_points:
        return None
    u = uv[ok].astype(int)
    raw = state.raw[vid]
    d = raw.depth.cpu().numpy()[u[:, 1], u[:, 0]]
    c = raw.confidence.cpu().numpy()[u[:, 1], u[:, 0]]
    keep = (d > 0) & (c >= state.options.min_zncc)
    ratio = d[keep] / z[ok][keep]
    ratio = ratio[np.abs(ratio - 1.0) < max_off]
    return float(np.median(ratio)) if len(ratio) >= min_points else None


def stale_sweeps(state: DenseState, points_xyz: np.ndarray, tol: float = 0.005) -> list[int]:
    """Views whose raw sweep no longer fits the current poses: their :func:`sparse_depth_ratio`
    differs from the median over all views by more than ``tol`` (relative). The median (not 1)
    is the reference because the sweep's sub-plane fit leaves a small common bias."""
    ratios = {v: sparse_depth_ratio(state, v, points_xyz) for v in sorted(state.raw)}
    known = [r for r in ratios.values() if r is not None]
    if len(known) < 3:
        return []
    ref = float(np.median(known))
    return [v for v, r in ratios.items() if r is not None and abs(r / ref - 1.0) > tol]


def _pixel_grid(cam: Camera, device) -> torch.Tensor:
    j, i = torch.meshgrid(torch.arange(cam.width, device=device) + 0.5,
                          torch.arange(cam.height, device=device) + 0.5, indexing="xy")
    return torch.stack([j, i], -1).float()


def _project(cam: Camera, pts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    cfw = torch.as_tensor(cam.cam_from_world, dtype=torch.float32, device=pts.device)
    K = torch.as_tensor(cam.K, dtype=torch.float32, device=pts.device)
    p = pts @ cfw[:3, :3].T + cfw[:3, 3]
    uvw = p @ K.T
    return uvw[..., :2] / uvw[..., 2:3].clamp_min(1e-9), p[..., 2]


def _backproject(cam: Camera, uv: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    K = torch.as_tensor(cam.K, dtype=torch.float32, device=uv.device)
    wfc = torch.as_tensor(cam.world_from_cam, dtype=torch.float32, device=uv.device)
    x = (uv[..., 0] - K[0, 2]) / K[0, 0] * depth
    y = (uv[..., 1] - K[1, 2]) / K[1, 1] * depth
    p = torch.stack([x, y, depth], -1)
    return p @ wfc[:3, :3].T + wfc[:3, 3]


def consistent_count(ref: Camera, depth: torch.Tensor, src: Camera, src_depth: torch.Tensor,
                     pixel_tol: float, depth_tol: float) -> torch.Tensor:
    """[H,W] bool: ref depth agrees with src depth after a forward-backward reprojection."""
    uv_r = _pixel_grid(ref, depth.device)
    pts = _backproject(ref, uv_r, depth)
    uv_s, _ = _project(src, pts)
    grid = torch.stack([uv_s[..., 0] / src.width, uv_s[..., 1] / src.height], -1) * 2 - 1
    d_s = F.grid_sample(src_depth[None, None], grid[None], mode="nearest", align_corners=False)[0, 0]
    back = _backproject(src, uv_s, d_s)
    uv_back, z_back = _project(ref, back)
    err_px = (uv_back - uv_r).norm(dim=-1)
    err_d = (z_back - depth).abs() / depth.clamp_min(1e-9)
    inside = (grid.abs() <= 1).all(-1)
    return inside & (d_s > 0) & (depth > 0) & (err_px < pixel_tol) & (err_d < depth_tol)


def check_views(state: DenseState, vid: int) -> list[int]:
    """Views whose raw depth can confirm ``vid``'s: the most covisible ones that have a depth
    (not only its stereo sources, which need not have been swept themselves)."""
    k = max(state.options.num_neighbors, state.options.geo_min_views)
    if state.scores is not None and vid in state.score_ids:
        row = {v: i for i, v in enumerate(state.score_ids)}
        allowed = {row[j] for j in state.raw if j != vid and j in row}
        return [state.score_ids[i] for i in best_by_score(state.scores, row[vid], k, allowed)]
    return [j for j in state.neighbors[vid] if j in state.raw]


def filtered_depth(state: DenseState, vid: int) -> DepthMap:
    """Keep pixels that at least ``geo_min_views`` views with a raw depth confirm."""
    opt = state.options
    raw = state.raw[vid]
    cam = state.cameras[vid]
    depth = torch.where(raw.confidence >= opt.min_zncc, raw.depth, torch.zeros_like(raw.depth))
    checks = check_views(state, vid)
    count = torch.zeros_like(depth)
    for j in checks:
        count += consistent_count(cam, depth, state.cameras[j], state.raw[j].depth,
                                  opt.geo_pixel_tol, opt.geo_depth_tol).float()
    need = min(opt.geo_min_views, len(checks))   # 0 when no neighbour has a depth yet
    keep = (count >= need) & (depth > 0)
    conf = torch.where(keep, raw.confidence * (count / max(len(checks), 1)).clamp(max=1.0),
                       torch.zeros_like(depth))
    depth = torch.where(keep, depth, torch.zeros_like(depth))
    return DepthMap(vid, cam, state.images[vid], depth.cpu().numpy().astype(np.float32),
                    conf.cpu().numpy().astype(np.float32))


def auto_voxel_size(depth_maps: Sequence[DepthMap], pixels: float = 1.5) -> float:
    """A memory voxel about ``pixels`` wide at the median matched depth of the maps (scene units)."""
    vals = [float(np.median(d.depth[d.matched()]) / d.camera.K[0, 0]) for d in depth_maps if d.matched().any()]
    if not vals:
        raise ValueError("no valid depth to size the memory voxels")
    return pixels * float(np.median(vals))


def fuse_depth_map(memory, dm: DepthMap, stride: int = 1, completed_stride: int = 2,
                   completed_min_conf: float = 0.3, fuse_completed: bool = True):
    """Insert a depth map into the memory as captured points of view ``dm.view_id``: matched
    pixels at ``stride``, completed ones (weighted by their lower confidence) at
    ``max(stride, completed_stride)`` when their confidence reaches ``completed_min_conf``
    (well-supported segment planes and completed depth the neighbours confirm; the edge-aware
    fill and a blank wall's blind guess stay out of the memory, where a wrong point would
    hide true surfaces). ``fuse_completed=False`` inserts the matched pixels only. Returns the
    summed InsertStats."""
    matched = dm.matched()
    stats = memory.insert_depth(dm.camera, dm.depth, dm.image, confidence=np.maximum(dm.confidence, 1e-3),
                                view=dm.view_id, mask=matched, stride=stride)
    if dm.completed is None or not fuse_completed:
        return stats
    fill = dm.completed & (dm.depth > 0) & (dm.confidence >= completed_min_conf)
    if not fill.any():
        return stats
    more = memory.insert_depth(dm.camera, dm.depth, dm.image, confidence=dm.confidence, view=dm.view_id,
                               mask=fill, stride=max(stride, completed_stride))
    return type(stats)(stats.added + more.added, stats.merged + more.merged)


def memory_depth(memory, camera: Camera, max_side: int, confidence: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Depth [H,W] float32 (0 = none) and a flat ``confidence`` [H,W] of the memory rendered
    at ``camera`` (working size, then nearest-upsampled to the camera's image size): the
    depth of a view that has no depth map of its own."""
    from engine.render.points import render_memory, see_through

    small, _ = working_view(camera, np.zeros((1, 1, 3), np.uint8), max_side)
    r = render_memory(memory, small)
    keep = r.mask & ~see_through(r.depth, r.mask)      # no far surface seen through gaps
    depth = torch.where(keep, r.depth, torch.zeros_like(r.depth)).cpu().numpy().astype(np.float32)
    dm = DepthMap(-1, small, None, depth, (depth > 0).astype(np.float32) * confidence)
    return full_size_depth(dm, camera.width, camera.height)


def full_size_depth(dm: DepthMap, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Depth and confidence upsampled (nearest) to the view's image size."""
    if (width, height) == (dm.camera.width, dm.camera.height):
        return dm.depth, dm.confidence
    return (cv2.resize(dm.depth, (width, height), interpolation=cv2.INTER_NEAREST),
            cv2.resize(dm.confidence, (width, height), interpolation=cv2.INTER_NEAREST))


def full_size_completed(dm: DepthMap, width: int, height: int) -> np.ndarray | None:
    """The ``completed`` flag [H,W] bool upsampled (nearest) to the view's image size, or None."""
    if dm.completed is None:
        return None
    if (width, height) == (dm.camera.width, dm.camera.height):
        return dm.completed
    return cv2.resize(dm.completed.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0


def store_view_depth(view, dm: DepthMap) -> None:
    """Set a CapturedView's depth, confidence and completed flag from ``dm`` (full size)."""
    w, h = view.camera.width, view.camera.height
    view.depth, view.confidence = full_size_depth(dm, w, h)
    view.completed = full_size_completed(dm, w, h)
