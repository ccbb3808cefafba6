"""How stretched a backward sample is: how many target pixels one reference pixel covers.

A target pixel whose surface point maps onto a sliver of a reference (the reference saw the
surface at a grazing angle, or the surface is a guess far from anything it measured) shows a
smear of a few reference pixels: streaks, not an observation. ``footprint_stretch`` measures
the footprint per target pixel from the projected reference coordinates; ``stretch_terms``
turns it into the smearing stretch and its ULR penalty (engine.generate.lumigraph). Torch,
any device, no host sync.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.render.surface import box_mean


def footprint_stretch(u: torch.Tensor, v: torch.Tensor, scale: float = 1.0, window: int = 9,
                      max_step: float = 4.0, stride: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """([...,H,W], [...,H,W]): how many target pixels one reference pixel covers along its most
    stretched axis and along its least stretched one, from the reference pixel coordinates
    u, v [...,H,W] of the target's pixels: the singular values of the inverse of the Jacobian
    d(u,v)/d(target column,row).

    The Jacobian is the local linear fit over a ``window`` square (the mean of the central
    differences): per pixel, the differences were a noise (a surface rendered from points
    is a staircase of small fronto-parallel pieces, its depth noisy at the pixel scale) while
    a smear is the stretch of a whole region. A difference is clamped to ``max_step``
    reference pixels per target pixel: a silhouette's jump counts as that much compression,
    not as a hundred times it (which would hide the stretch of the surface beside it).
    Measured on every ``stride``-th pixel (a regional measure; 4x less work at 2, the
    difference of ~0.3 s per frame on a loaded CPU), each pixel taking its block's value.
    ``scale`` (f_reference / f_target) makes it geometric: 1 on a fronto-parallel plane at the
    reference's distance whatever the two resolutions; > 1 where the target sees the surface
    magnified (nearer, or the reference sees it at a grazing angle), inf where degenerate.
    Elementwise, box filters, a resize (no host sync); ones where too small to measure."""
    h, w = u.shape[-2:]
    s = max(1, int(stride))
    # u and v (every s-th pixel) as one [2,...] stack: each step below once for both, the
    # same values
    if s > 1:
        u, v = u[..., s // 2::s, s // 2::s], v[..., s // 2::s, s // 2::s]
    uv = torch.stack([u, v])
    if uv.shape[-1] < 3 or uv.shape[-2] < 3:
        one = torch.ones(*u.shape[:-2], h, w, dtype=u.dtype, device=u.device)
        return one, one

    def central(a: torch.Tensor, dim: int) -> torch.Tensor:
        n = a.shape[dim]
        d = (a.narrow(dim, 2, n - 2) - a.narrow(dim, 0, n - 2)) * (0.5 / s)
        return torch.cat([d.narrow(dim, 0, 1), d, d.narrow(dim, n - 3, 1)], dim).clamp(-max_step, max_step)

    # J = [[a, b], [c, d]]: (u, v) per (column, row), averaged over the window
    dx, dy = central(uv, -1), central(uv, -2)
    jac = torch.stack([dx[0], dy[0], dx[1], dy[1]])
    a, b, c, d = box_mean(jac.contiguous(), max(3, round(window / s) | 1)).unbind(0)
    s1 = a * a + b * b + c * c + d * d
    det = (a * d - b * c).abs()
    smax = torch.sqrt(0.5 * s1 + torch.sqrt((0.25 * s1 * s1 - det * det).clamp_min(0)))
    # 1 / sigma_min = sigma_max / |det|; 1 / sigma_max
    worst = torch.where(det > 0, scale * smax / det.clamp_min(1e-30), float("inf"))
    best = scale / smax.clamp_min(1e-30)
    both = torch.stack([worst, best])
    if s > 1:
        both = F.interpolate(both.reshape(-1, 1, *both.shape[-2:]), size=(h, w),
                             mode="nearest").view(*both.shape[:-2], h, w)
    return both[0], both[1]


def focal_px(camera) -> float:
    """The camera's focal length in pixels (geometric mean of fx and fy)."""
    return float(np.sqrt(abs(float(camera.K[0, 0]) * float(camera.K[1, 1]))))


def stretch_terms(src_cameras, u, v, opt, target_focal: float):
    """(stretch [...,H,W], penalty term [...,H,W] degrees) of samples at reference pixels
    u, v [...,H,W] (a leading R axis: one camera per source).

    The stretch that smears is the anisotropic part of :func:`footprint_stretch`: the most
    stretched axis over the least stretched one (when that one is magnified at all). A
    reference pixel drawn over 4 x 1.7 target pixels (livingroom's beyond path walking up
    to a wall) is a blur the eye reads as out of focus; one drawn over 12 x 1.5 (office's
    grazing far surfaces) is a streak. An isotropic magnification counts as well beyond
    ``max_magnification``: ``stretch = max(worst / max(best, 1), best * max_stretch /
    max_magnification)``, so that ``stretch > max_stretch`` is either. The penalty:
    ``stretch_weight`` degrees per doubling of it beyond ``stretch_free``."""
    scale = [focal_px(c) / target_focal if target_focal > 0 else 1.0 for c in src_cameras]
    if all(x == scale[0] for x in scale):
        worst, best = footprint_stretch(u, v, scale[0], opt.stretch_window)
    else:   # per source (python numbers: no tensor made from host data, no sync on a GPU)
        pairs = [footprint_stretch(u[i], v[i], f, opt.stretch_window) for i, f in enumerate(scale)]
        worst, best = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    ratio = opt.max_stretch / opt.max_magnification if opt.max_magnification > 0 else 0.0
    st = torch.maximum(worst / best.clamp_min(1.0), best * ratio)
    term = opt.stretch_weight * torch.log2((st / max(opt.stretch_free, 1e-6)).clamp(1.0, 1e6))
    return st, term
