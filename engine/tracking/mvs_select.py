"""Choosing stereo neighbours and depth ranges for multi-view stereo.

Neighbours are chosen by covisibility of sparse points, weighted by the triangulation angle
of each shared point (COLMAP / MVSNet style: angles near ``ideal_angle_deg`` score highest,
tiny baselines score almost nothing). Without sparse points, cameras looking the same way
at a moderate baseline are chosen.
"""
from __future__ import annotations

import numpy as np

from engine.geometry import Camera


def visible_points(camera: Camera, xyz: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """[N] bool: points [N,3] world in front of ``camera`` and inside its image."""
    uv, z = camera.project(xyz)
    with np.errstate(invalid="ignore"):
        return ((z > 1e-6) & (uv[:, 0] >= -margin) & (uv[:, 0] < camera.width + margin)
                & (uv[:, 1] >= -margin) & (uv[:, 1] < camera.height + margin))


def _angle_weight(theta_deg: np.ndarray, ideal: float) -> np.ndarray:
    sigma = np.where(theta_deg < ideal, 1.0, 10.0)
    return np.exp(-((theta_deg - ideal) ** 2) / (2 * sigma**2))


def covisibility_scores(cameras: list[Camera], xyz: np.ndarray | None, ideal_angle_deg: float = 5.0,
                        max_points: int = 20000) -> np.ndarray | None:
    """[C,C] pair scores: sparse points (xyz [N,3] world) both cameras see, each weighted by
    how close its triangulation angle is to ``ideal_angle_deg``; the diagonal is -1. None
    when there are too few points to score by."""
    n = len(cameras)
    if xyz is None or len(xyz) < 20 or n < 2:
        return None
    if len(xyz) > max_points:
        xyz = xyz[np.random.default_rng(0).choice(len(xyz), max_points, replace=False)]
    vis = np.stack([visible_points(c, xyz) for c in cameras])          # [C,N]
    centers = np.stack([c.center for c in cameras])
    rays = xyz[None] - centers[:, None]                                  # [C,N,3]
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True) + 1e-12
    score = np.zeros((n, n))
    for i in range(n):
        cos = np.clip((rays[i][None] * rays).sum(-1), -1, 1)               # [C,N]
        w = _angle_weight(np.degrees(np.arccos(cos)), ideal_angle_deg)
        score[i] = (w * (vis[i][None] & vis)).sum(-1)
        score[i, i] = -1
    return score


def best_by_score(scores: np.ndarray, i: int, k: int, allowed=None, min_score: float = 0.5) -> list[int]:
    """Up to ``k`` indices with the highest ``scores[i]`` above ``min_score`` (among ``allowed``)."""
    order = [int(j) for j in np.argsort(-scores[i]) if scores[i, j] > min_score]
    if allowed is not None:
        order = [j for j in order if j in allowed]
    return order[:k]


def select_neighbors(cameras: list[Camera], xyz: np.ndarray | None, k: int = 4,
                     ideal_angle_deg: float = 5.0, max_points: int = 20000,
                     scores: np.ndarray | None = None) -> list[list[int]]:
    """For each camera, up to ``k`` neighbour indices, best first. xyz [N,3] world sparse points;
    ``scores`` = :func:`covisibility_scores` of the same cameras when already computed."""
    n = len(cameras)
    if n < 2:
        return [[] for _ in range(n)]
    score = scores if scores is not None else covisibility_scores(cameras, xyz, ideal_angle_deg, max_points)
    if score is None:
        return _neighbors_by_pose(cameras, k)
    out = []
    for i in range(n):
        order = best_by_score(score, i, k)
        out.append(order if order else _neighbors_by_pose(cameras, k)[i])
    return out


def _neighbors_by_pose(cameras: list[Camera], k: int) -> list[list[int]]:
    centers = np.stack([c.center for c in cameras])
    fwd = np.stack([c.forward for c in cameras])
    dist = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    scale = np.median(dist[dist > 0]) if np.any(dist > 0) else 1.0
    out = []
    for i in range(len(cameras)):
        facing = fwd @ fwd[i]
        cost = dist[i] / scale + 2.0 * (1 - facing)
        cost[i] = np.inf
        cost[facing < 0.3] = np.inf
        out.append([int(j) for j in np.argsort(cost)[:k] if np.isfinite(cost[j])])
    return out


def depth_range(camera: Camera, xyz: np.ndarray | None = None,
                near_far: tuple[float, float] | None = None, margin: float = 0.25) -> tuple[float, float]:
    """(near, far) z-depths in scene units for a plane sweep: percentiles of the sparse points
    the camera sees, widened by ``margin``; else the reference's near/far bounds."""
    if xyz is not None and len(xyz):
        vis = visible_points(camera, xyz)
        if vis.sum() < 10:                      # few points in view: use all in front of it
            vis = camera.project(xyz)[1] > 1e-6
        if vis.sum() >= 10:
            _, z = camera.project(xyz[vis])
            lo, hi = np.percentile(z, [1.0, 99.0])
            return float(lo * (1 - margin)), float(hi * (1 + margin))
    if near_far is not None:
        return float(near_far[0] * (1 - margin)), float(near_far[1] * (1 + margin))
    raise ValueError(f"view {camera.name}: no sparse points and no depth bounds to set a depth range")
