"""Photometric plane fitting for one image segment (segment-based stereo).

An untextured surface (a white wall, a table top) has texture only along its border: the
edges where it meets other surfaces. Per-pixel winners there are noisy (a straight edge
constrains one direction only, and the sweep's window straddles the edge), but the border as
a whole fixes the plane: every candidate plane ``w = a u + b v + c`` (inverse depth, pixel
centers at +0.5) warps the border's textured pixels into the neighbour views and is scored
by the mean normalised squared difference ``0.5 (r^ - s^)^2`` (about 1 - ZNCC; the images
are normalised as in the sweep, :func:`engine.tracking.mvs.local_normalize`). Per pixel the
``best_k`` lowest neighbour costs are averaged (occlusion robust) and truncated at ``trunc``
(border pixels of occluders in front of the surface move differently: truncation keeps them
from outvoting the surface's own edges); costs are reported divided by ``trunc`` (0..1).

Candidates come from RANSAC triplets of the anchors (matched and weak sweep winners), then
are refined by a pattern search on the inverse depth at three control points (each moved
alone, plus random jitters) with a shrinking step, each step repeated while it improves
(PatchMatch-style refinement of one plane per segment).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.geometry import Camera
from engine.tracking.mvs import MVSOptions, _src_projection, local_normalize, to_gray


class BandScorer:
    """Scores planes on pixel sets of one reference view against its neighbours."""

    def __init__(self, cam: Camera, image: np.ndarray, neighbours: list[tuple[Camera, np.ndarray]],
                 mvs: MVSOptions = MVSOptions(), device="cpu", trunc: float = 0.25) -> None:
        k = mvs.window
        self.trunc = trunc
        r_hat, r_tex = local_normalize(to_gray(image, device), k, mvs.min_texture)
        self.r_hat, self.textured = r_hat[0, 0], r_tex[0, 0]
        self.device = device
        self.K = cam.K
        self.best_k = max(1, min(mvs.best_k, len(neighbours)))
        self.srcs = []
        for src, im in neighbours:
            A, b = _src_projection(cam, src, device)
            n, t = local_normalize(to_gray(im, device), k, mvs.min_texture)
            self.srcs.append((A, b, src, torch.cat([n, t.float()], 1)))

    def cost(self, planes: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Mean cost [P] of planes [P,3] on pixels (ys, xs) [N] (ints, row / column)."""
        dev = self.device
        yt = torch.as_tensor(ys, device=dev, dtype=torch.long)
        xt = torch.as_tensor(xs, device=dev, dtype=torch.long)
        p = torch.as_tensor(planes, device=dev, dtype=torch.float32)
        w = p[:, :1] * (xt.float() + 0.5)[None] + p[:, 1:2] * (yt.float() + 0.5)[None] + p[:, 2:3]   # [P,N]
        r = self.r_hat[yt, xt][None]
        per_src = []
        for A, b, src, smap in self.srcs:
            a = A[yt, xt]                                                               # [N,3]
            z = a[None, :, 2] + w * b[2]                                                # [P,N]
            iz = 1.0 / z.clamp_min(1e-6)
            gx = (a[None, :, 0] + w * b[0]) * iz * (2.0 / src.width) - 1
            gy = (a[None, :, 1] + w * b[1]) * iz * (2.0 / src.height) - 1
            warped = F.grid_sample(smap, torch.stack([gx, gy], -1)[None], mode="bilinear",
                                   padding_mode="border", align_corners=False)[0]       # [2,P,N]
            ok = (z > 1e-6) & (gx.abs() <= 1) & (gy.abs() <= 1) & (warped[1] > 0.999)
            per_src.append(torch.where(ok, (0.5 * (warped[0] - r) ** 2).clamp(max=self.trunc), self.trunc))
        stacked = torch.stack(per_src)
        if self.best_k < len(per_src):
            stacked = torch.topk(stacked, self.best_k, dim=0, largest=False).values
        return (stacked.mean((0, 2)) / self.trunc).cpu().numpy()


def triplet_planes(uv: np.ndarray, w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` planes [P,3] through random triplets of anchors uv [N,2], w [N]."""
    if len(w) < 3:
        return np.zeros((0, 3))
    A = np.concatenate([uv, np.ones((len(w), 1))], 1)
    idx = rng.integers(0, len(w), (n, 3))
    M = A[idx]
    ok = np.abs(np.linalg.det(M)) > 1e-6
    if not ok.any():
        return np.zeros((0, 3))
    return np.linalg.solve(M[ok], w[idx[ok]][..., None])[..., 0]


def refine_plane(scorer: BandScorer, plane: np.ndarray, cost: float, ys, xs, rng: np.random.Generator,
                 steps=(0.03, 0.01, 0.003), per_step: int = 16, repeats: int = 1) -> tuple[np.ndarray, float]:
    """Pattern-search refinement of one plane [3]: the inverse depth at three control points
    (corners of the pixels' bounding box) is moved by a relative ``step``: each control
    point up and down alone (6 moves) and ``per_step`` random jitters; a step is repeated
    while it improves, up to ``repeats`` times (the border cost of a flat surface is
    shallow and smooth: one round per step stops short of its minimum)."""
    ctrl = np.array([[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.min(), ys.max()]], np.float64) + 0.5
    if abs(np.linalg.det(np.concatenate([ctrl, np.ones((3, 1))], 1))) < 1e-6:
        return plane, cost
    C = np.concatenate([ctrl, np.ones((3, 1))], 1)
    axis = np.concatenate([np.eye(3), -np.eye(3)])
    for step in steps:
        for _ in range(repeats):
            w0 = C @ plane
            moves = np.concatenate([axis, rng.standard_normal((per_step, 3))]) if repeats > 1 else \
                rng.standard_normal((per_step, 3))
            cand_w = w0[None] * (1 + step * moves)
            cands = np.linalg.solve(C[None].repeat(len(moves), 0), cand_w[..., None])[..., 0]
            costs = scorer.cost(cands, ys, xs)
            i = int(costs.argmin())
            if costs[i] >= cost:
                break
            plane, cost = cands[i], float(costs[i])
    return plane, cost


def generic_planes(K: np.ndarray, near: float, far: float, depths: int = 12,
                   tilt_deg=(15.0, 35.0, 70.0)) -> np.ndarray:
    """Planes [P,3] (``w = a u + b v + c``) covering the depth range: fronto-parallel ones and
    ones tilted by ``tilt_deg`` up, down, left and right, each through ``depths`` points of the
    optical axis spread uniformly in inverse depth (floors, walls and tables seen obliquely)."""
    Kinv = np.linalg.inv(K)
    normals = [np.array([0.0, 0.0, -1.0])]
    for t in np.radians(tilt_deg):
        s, c = np.sin(t), np.cos(t)
        normals += [np.array([0.0, s, -c]), np.array([0.0, -s, -c]), np.array([s, 0.0, -c]), np.array([-s, 0.0, -c])]
    out = []
    for z in 1.0 / np.linspace(1.0 / near, 1.0 / far, depths):
        for n in normals:                      # plane n . X = n . (0, 0, z): w = (n . K^-1 p) / d
            d = n[2] * z
            out.append((n @ Kinv) / d)
    return np.array(out)
