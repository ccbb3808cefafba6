"""Photo-consistent depth for the target pixels whose depth is only a guess.

Where the memory has no surface, the surface generator completes the target's depth by a
push-pull of inverse depth: right on flat, untextured areas (where the depth hardly changes
the sampled color), wrong on textured background that MVS filtered out, which then ghosts
(each reference contributes its own shifted copy). This module runs a small plane sweep on
those pixels only, at ``scale`` of the target's resolution: ``planes`` inverse depths
spanning the known depths of the frame; per plane, the color variance across the references
that see the point, box-filtered over ``window`` pixels, plus a pull towards the completed
depth (``prior_weight`` per full depth range). A pixel takes the best plane only where the
best cost is clearly below the median cost over the planes (``distinct``): textureless
pixels keep the completed depth; and only where its plane is a region's (``support_*``): an
isolated choice is a far plane where the references happen to agree, not a surface.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine import cpu_split
from engine.geometry import camera_torch
from engine.render.surface import box_mean

_CHUNK_VALUES = 4_000_000   # floats of one plane chunk's [R,C,P,3] colors (16 MB)


@dataclass(frozen=True)
class SweepOptions:
    enabled: bool = True
    planes: int = 24
    scale: float = 0.5
    # window 5 / distinct 0.6 -> 9 / 0.2 (held-out PSNR, same run): fern 22.77 -> 22.60, kitchen
    # 17.06 -> 17.55, TUM office 19.95 -> 21.00: on tracked scenes the looser sweep moved
    # textureless background to wrong planes (patchy far background); off entirely: 22.32 /
    # 17.30 / 21.09
    window: int = 9
    prior_weight: float = 0.002
    distinct: float = 0.2
    min_pixels: int = 64
    # a pixel takes its best plane only where the plane is a region's: at least
    # ``support_share`` of the guessed pixels in a ``support_window`` square (at the sweep's
    # scale) chose a plane within ``support_planes`` planes of it. Isolated choices were
    # far planes where the references happen to agree (all of them looking at one white
    # planter): blocks and plus-shaped specks on fern's extrapolated frames. 0 = off
    support_window: int = 7
    support_planes: int = 2
    support_share: float = 0.5


def _colors(src, x: torch.Tensor):
    """Colors [C,P,3] of src's image at world points x [C,P,3], and inside [C,P] bool."""
    cam = src.camera
    u, v, z = camera_torch.project(cam, x, near=1e-6)
    inside = (z > 1e-6) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    grid = torch.stack([2 * u / src.camera.width - 1, 2 * v / src.camera.height - 1], dim=-1)[None]
    c = F.grid_sample(src.image[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
    return c[0].permute(1, 2, 0), inside


def sweep_guessed_depth(depth: torch.Tensor, guessed: torch.Tensor, sources, target, rays_fn,
                        options: SweepOptions = SweepOptions()) -> tuple[torch.Tensor, torch.Tensor]:
    """depth [H,W] complete (meters); guessed [H,W] bool. Returns (depth [H,W] with the guessed
    pixels re-estimated where the photos agree, swept [H,W] bool: pixels that changed)."""
    none = torch.zeros_like(guessed)
    known = ~guessed
    if not options.enabled or len(sources) < 2 or int(guessed.sum()) < options.min_pixels or not bool(known.any()):
        return depth, none
    small = target.scaled(options.scale)
    hs, ws = small.height, small.width
    g_small = F.interpolate(guessed[None, None].float(), size=(hs, ws), mode="nearest")[0, 0] > 0.5
    d_small = F.interpolate(depth[None, None], size=(hs, ws), mode="nearest")[0, 0]
    idx = torch.nonzero(g_small.view(-1)).squeeze(1)
    if idx.numel() < options.min_pixels:
        return depth, none
    kd = depth[known]
    kd = kd[:: max(1, kd.numel() // 20000)]
    inv_far = 1.0 / float(torch.quantile(kd, 0.99))
    inv_near = 1.0 / float(torch.quantile(kd, 0.01))
    span = max(inv_near - inv_far, 1e-6)
    inv_h = torch.linspace(max(inv_far - 0.1 * span, 0.05 * inv_far), inv_near + 0.1 * span, options.planes,
                           device=depth.device)
    rays, eye = rays_fn(small, depth.device)
    rays_p = rays.view(-1, 3)[idx]
    inv_c = 1.0 / d_small.view(-1)[idx].clamp_min(1e-6)
    big = torch.full((options.planes, hs * ws), 0.0, device=depth.device)
    wts = torch.zeros_like(big)
    # planes in chunks (the same per-point arithmetic as one plane at a time: one projection
    # and one grid_sample per source and chunk instead of per source and plane); on the CPU
    # the chunks are dealt to engine.cpu_split's threads (each chunk the same values)
    step = max(1, _CHUNK_VALUES // max(1, len(sources) * idx.numel() * 3))
    n_split = cpu_split.splits(depth)
    if n_split > 1:   # a multiple of n_split chunks of (nearly) equal size
        n_chunks = math.ceil(math.ceil(options.planes / step) / n_split) * n_split
        step = math.ceil(options.planes / n_chunks)
    chunks = [(j0, min(j0 + step, options.planes)) for j0 in range(0, options.planes, step)]

    def run(part):
        for j0, j1 in part:
            x = eye + rays_p[None] / inv_h[j0:j1, None, None]   # [C,P,3]
            cols, ins = zip(*(_colors(s, x) for s in sources))
            c = torch.stack(cols)                       # [R,C,P,3]
            m = torch.stack(ins).float()[..., None]     # [R,C,P,1]
            n = m.sum(0)
            mean = (c * m).sum(0) / n.clamp_min(1)
            var = ((c - mean) ** 2 * m).sum(0).sum(-1) / n[..., 0].clamp_min(1)
            ok = (n[..., 0] >= 2).float()
            big[j0:j1, idx] = var * ok
            wts[j0:j1, idx] = ok
    cpu_split.run_all([lambda p=p: run(p) for p in cpu_split.parts(chunks, n_split)], n_split)
    k = options.window
    num = box_mean(big.view(1, options.planes, hs, ws), k)
    den = box_mean(wts.view(1, options.planes, hs, ws), k)
    cost = (num / den.clamp_min(1e-6))[0].view(options.planes, -1)[:, idx]
    valid = den[0].view(options.planes, -1)[:, idx] > 0.5
    prior = options.prior_weight * (inv_h[:, None] - inv_c[None]).abs() / span
    total = torch.where(valid, cost + prior, torch.full_like(cost, float("inf")))
    best, arg = total.min(0)
    med = torch.where(valid, cost, torch.full_like(cost, float("nan"))).nanmedian(0).values
    good = torch.isfinite(best) & (best < options.distinct * med) & (valid.sum(0) >= options.planes // 2)
    if options.support_share > 0:
        good = good & _coherent(good, arg, idx, g_small, options)
    new_inv = torch.where(good, inv_h[arg], inv_c)
    inv_small = torch.zeros(hs * ws, device=depth.device)
    ok_small = torch.zeros(hs * ws, device=depth.device)
    inv_small[idx] = torch.where(good, new_inv, torch.zeros_like(new_inv))
    ok_small[idx] = good.float()
    # bilinear in inverse depth, normalised by the chosen pixels (no blocks of the coarse grid)
    num = F.interpolate((inv_small * ok_small).view(1, 1, hs, ws), size=depth.shape, mode="bilinear", align_corners=False)
    den = F.interpolate(ok_small.view(1, 1, hs, ws), size=depth.shape, mode="bilinear", align_corners=False)
    near = F.interpolate(ok_small.view(1, 1, hs, ws), size=depth.shape, mode="nearest")[0, 0] > 0.5
    swept = guessed & near & (den[0, 0] > 1e-3)
    up = 1.0 / (num / den.clamp_min(1e-6))[0, 0].clamp_min(1e-6)
    return torch.where(swept, up, depth), swept


def _coherent(good: torch.Tensor, arg: torch.Tensor, idx: torch.Tensor, guessed_small: torch.Tensor,
              options: SweepOptions) -> torch.Tensor:
    """[P] bool over the swept pixels ``idx`` (flat indices into the sweep's [hs,ws] grid):
    the pixel's chosen plane ``arg`` [P] is shared (within ``support_planes``) by pixels that
    chose a plane (``good`` [P]) making up at least ``support_share`` of the guessed pixels
    of its ``support_window`` square."""
    hs, ws = guessed_small.shape
    k = int(options.support_window) | 1
    plane = torch.full((hs * ws,), -1e6, device=arg.device)
    plane[idx] = torch.where(good, arg.float(), torch.full_like(plane[idx], -1e6))
    cols = F.unfold(plane.view(1, 1, hs, ws), k, padding=k // 2)[0][:, idx]   # [k*k, P]
    agree = ((cols - arg.float()[None]).abs() <= options.support_planes).float().sum(0)
    n_guessed = (k * k) * F.avg_pool2d(guessed_small[None, None].float(), k, stride=1, padding=k // 2,
                                       count_include_pad=True)[0, 0].view(-1)[idx]
    return agree >= options.support_share * n_guessed.clamp_min(1)
