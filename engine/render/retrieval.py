"""Geometry-driven retrieval: which captured views observed most of what the targets see.

Not image similarity, not nearest camera: the memory is rendered into the target cameras
(at low resolution) to find the surface points they see. Each captured view's contribution
to a (target, point) pair is ``visible * angle_weight * distance_weight``:

- visible: the point projects inside the view and agrees with the view's depth (its own
  depth map, or a render of the memory into it when the view has none); completed depth
  (engine.tracking.complete: filled in, not matched) counts only where the completion
  verified it against the neighbour views (``COMPLETED_MIN_CONFIDENCE``);
- angle_weight = exp(-(angle / 25°)^2), the angle between the target's and the view's rays
  to the point (parallax / occlusion risk grows with it);
- distance_weight = min(d_t, d_v) / max(d_t, d_v) (similar resolution on the surface).

Views are picked greedily by the coverage they add (a weighted max-coverage), so the top-k
complement each other instead of repeating the same region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.render.points import render_memory, project_points

_ANGLE_SCALE_DEG = 25.0
# a view's completed depth is evidence that it sees a point only at this confidence or more
# (the fusion's rule too: engine.tracking.dense.fuse_depth_map ``completed_min_conf``). fern
# held-out, surface generator (benchmarks/RESULTS.md, 2026-12-01 evening): matched depth only
# 22.60 dB; every completed pixel as evidence 22.46; completed at >= 0.3 22.83
COMPLETED_MIN_CONFIDENCE = 0.3


@dataclass(frozen=True)
class RetrievedView:
    """view_id indexes the ViewBank; gain is the fraction of the targets' visible surface
    this view newly covers (in pick order); contribution is its coverage on its own."""

    view_id: int
    gain: float
    contribution: float


def target_surface_samples(memory, targets, scale: float = 0.25, max_targets: int = 8,
                           max_pairs: int = 40_000):
    """(point [P,3] world, eye [P,3] target camera center) for surface seen by the targets."""
    step = max(1, int(np.ceil(len(targets) / max_targets)))
    points, eyes = [], []
    for cam in list(targets)[::step]:
        small = cam.scaled(scale)
        r = render_memory(memory, small)
        idx = r.point_index[r.mask]
        p = memory.rows.xyz[idx]
        points.append(p)
        eyes.append(torch.as_tensor(cam.center, dtype=torch.float32, device=p.device).expand_as(p))
    pts, eye = torch.cat(points), torch.cat(eyes)
    if pts.shape[0] > max_pairs:
        keep = torch.linspace(0, pts.shape[0] - 1, max_pairs, device=pts.device).long()
        pts, eye = pts[keep], eye[keep]
    return pts, eye


def view_evidence_depth(view) -> np.ndarray:
    """A view's depth [H,W] float32 z (m) as evidence of what it sees: 0 (none) where it is
    missing, or completed with a confidence under ``COMPLETED_MIN_CONFIDENCE``."""
    depth = np.nan_to_num(np.asarray(view.depth, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    completed = getattr(view, "completed", None)
    if completed is None:
        return depth
    conf = getattr(view, "confidence", None)
    weak = np.asarray(completed, bool)
    if conf is not None:
        weak = weak & (np.asarray(conf) < COMPLETED_MIN_CONFIDENCE)
    return np.where(weak, 0.0, depth).astype(np.float32)


def _view_depth(memory, view, cache: dict, scale: float = 0.25):
    """(depth [h,w] tensor, camera it belongs to) for the visibility test of one view."""
    if view.depth is not None:
        return torch.as_tensor(view_evidence_depth(view), device=memory.device), view.camera
    key = (id(view), memory.version)
    if key not in cache:
        small = view.camera.scaled(scale)
        cache[key] = (render_memory(memory, small).depth, small)
    return cache[key]


def contribution_matrix(memory, views, points: torch.Tensor, eyes: torch.Tensor,
                        depth_tolerance: float = 0.03) -> torch.Tensor:
    """[V,P] contribution in [0,1] of each captured view to each (target, point) pair."""
    cache: dict = {}
    out = torch.zeros(len(views), points.shape[0], device=points.device)
    ray_t = points - eyes
    d_t = ray_t.norm(dim=1).clamp_min(1e-6)
    for vid, view in enumerate(views):
        depth, cam = _view_depth(memory, view, cache)
        u, v, z = project_points(points, cam, near=1e-3)
        col, row = torch.floor(u).long(), torch.floor(v).long()
        inside = (z > 1e-3) & (col >= 0) & (col < cam.width) & (row >= 0) & (row < cam.height)
        d_ref = depth[row.clamp(0, cam.height - 1), col.clamp(0, cam.width - 1)]
        tol = torch.clamp(depth_tolerance * d_ref, min=2.0 * memory.voxel_size)
        visible = inside & (d_ref > 0) & ((z - d_ref).abs() <= tol)
        center = torch.as_tensor(view.camera.center, dtype=torch.float32, device=points.device)
        ray_v = points - center
        d_v = ray_v.norm(dim=1).clamp_min(1e-6)
        cos = ((ray_t * ray_v).sum(1) / (d_t * d_v)).clamp(-1, 1)
        angle = torch.rad2deg(torch.arccos(cos))
        w_angle = torch.exp(-(angle / _ANGLE_SCALE_DEG) ** 2)
        w_dist = torch.minimum(d_t, d_v) / torch.maximum(d_t, d_v)
        out[vid] = visible.float() * w_angle * w_dist
    return out


def retrieve_views(memory, views, targets, top_k: int = 4, scale: float = 0.25) -> list[RetrievedView]:
    """Top-k captured views by greedy geometric coverage of what ``targets`` see.

    memory   GeometryMemory; views: ViewBank (or list of CapturedView); targets: [Camera]
    Returns at most top_k views (fewer when the others add nothing), best first.
    """
    if len(views) == 0:
        return []
    if memory.is_empty:
        raise ValueError("cannot retrieve views: the geometry memory is empty")
    points, eyes = target_surface_samples(memory, targets, scale)
    if points.shape[0] == 0:
        return []
    contrib = contribution_matrix(memory, views, points, eyes)
    total = float(points.shape[0])
    covered = torch.zeros(points.shape[0], device=points.device)
    picked: list[RetrievedView] = []
    for _ in range(min(top_k, len(views))):
        gains = torch.clamp(contrib - covered, min=0).sum(1)
        if picked:
            gains[[p.view_id for p in picked]] = -1
        best = int(torch.argmax(gains))
        if gains[best] <= 0:
            break
        picked.append(RetrievedView(best, float(gains[best]) / total, float(contrib[best].sum()) / total))
        covered = torch.maximum(covered, contrib[best])
    return picked


def nearest_camera_views(views, target, top_k: int = 4) -> list[int]:
    """Baseline: the views whose centers are closest to the target's (ignores direction)."""
    dist = [np.linalg.norm(v.camera.center - target.center) for v in views]
    return [int(i) for i in np.argsort(dist)[:top_k]]
