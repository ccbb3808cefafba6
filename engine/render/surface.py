"""A hole-free surface render of the geometry memory (torch, CPU and CUDA).

The memory is one point per voxel. Drawn with footprints (``engine.render.points``) it
leaves gaps where the camera is close enough that the footprint clamp no longer covers the
point spacing, and far surfaces show through the gaps of near ones (speckles). This module
turns a point render into a surface render:

1. **See-through removal.** Pixels where a far point shows through a gap between the splats
   of a nearer surface become holes (``points.see_through``).
2. **Small-hole fill.** A hole pixel is *fillable* when a morphological closing of the drawn
   mask with a ``k``×``k`` square covers it: gaps between splats and see-through pixels are,
   the open space beyond a silhouette and the large holes where the memory has no geometry
   are not. ``k`` follows the memory's sampling: ``fill_voxels`` voxels at the render's median
   depth, in pixels, clamped to [``min_close_px``, ``max_close_px``].
   Fillable pixels take a *front-most push-pull* of the drawn pixels: each coarser level
   averages, per 2×2 block, only the samples within ``depth_band`` (relative) of the block's
   nearest sample, so a gap in a near surface fills from that surface, never from the
   background behind it. Color, inverse depth and confidence are interpolated; provenance
   (segment, source view, point index) comes from the front-most sample of the block that
   filled the pixel.

The result is a ``RenderResult`` (every consumer of point renders takes it) with one more
field, ``filled``: pixels drawn by step 2 rather than by a point (their confidence is scaled
by ``filled_confidence``). ``mask`` is True wherever the surface is known.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.render.points import RenderResult, render_memory


@dataclass(frozen=True)
class SurfaceOptions:
    max_radius_px: float = 3.0       # footprint clamp of the point render (pixels)
    fill_voxels: float = 3.0         # holes up to this many voxels wide are sampling gaps
    min_close_px: int = 5            # closing kernel bounds (pixels, odd)
    max_close_px: int = 31
    depth_band: float = 0.05         # relative depth band of "the same surface" in a block
    see_through_tol_voxels: float = 2.0
    filled_confidence: float = 0.5   # confidence factor of filled pixels


@dataclass
class SurfaceRender(RenderResult):
    """A ``RenderResult`` (see ``engine.render.points``) without speckles or small holes.

    filled  [H,W] bool: pixels filled between splats (not drawn by a point); their
            point_index / source_view / segment are those of the nearest front sample.
    """

    filled: torch.Tensor | None = None


def _odd(k: float) -> int:
    k = int(np.ceil(k))
    return k if k % 2 else k + 1


def max_filter(x: torch.Tensor, k: int) -> torch.Tensor:
    """Separable k×k max filter of x [1,1,H,W] (same size; padding never wins). On the CPU by
    OpenCV's dilation (the same maxima; ~10x faster than max_pool2d there for large k)."""
    if x.device.type == "cpu" and x.dtype == torch.float32 and not x.requires_grad and k > 1:
        import cv2

        h, w = x.shape[-2:]
        a = x.detach().contiguous().numpy().reshape(-1, h, w)
        out = np.empty_like(a)
        kernel = np.ones((k, k), np.uint8)
        for i in range(len(a)):
            cv2.dilate(a[i], kernel, dst=out[i])   # default border: outside never wins
        return torch.from_numpy(out).view(x.shape)
    x = F.max_pool2d(x, (1, k), stride=1, padding=(0, k // 2))
    return F.max_pool2d(x, (k, 1), stride=1, padding=(k // 2, 0))


def box_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """k×k mean of x [..., H, W] float over the pixels of each window that lie inside the image:
    ``F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)`` (k odd). On the
    CPU by OpenCV's box filter (unnormalised, divided by the in-image count): 5-25x faster than
    avg_pool2d there (1 thread, 640x360 k=11: 240 -> 10 ms; 24 planes at 320x180 k=9: 660 ->
    28 ms); bit-identical for 0/1 masks (integer sums), within ~4e-7 on values in [0, 1]."""
    if k <= 1:
        return x
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.requires_grad:
        shape = x.shape
        y = F.avg_pool2d(x.reshape(-1, 1, *shape[-2:]), k, stride=1, padding=k // 2, count_include_pad=False)
        return y.view(shape)
    import cv2

    h, w = x.shape[-2:]
    a = x.detach().contiguous().numpy().reshape(-1, h, w)
    out = np.empty_like(a)
    cnt = cv2.boxFilter(np.ones((h, w), np.float32), -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)

    def planes(i0: int, i1: int) -> None:
        for i in range(i0, i1):
            cv2.boxFilter(a[i], -1, (k, k), dst=out[i], normalize=False, borderType=cv2.BORDER_CONSTANT)
        out[i0:i1] /= cnt
    # several planes (the sweep's): dealt to engine.cpu_split's threads (OpenCV releases the GIL)
    from engine import cpu_split

    n = cpu_split.splits(x) if len(a) >= 4 else 1
    bounds = [round(i * len(a) / n) for i in range(n + 1)]
    cpu_split.run_all([lambda i0=i0, i1=i1: planes(i0, i1) for i0, i1 in zip(bounds[:-1], bounds[1:])], n)
    return torch.from_numpy(out).view(x.shape)


def box_count(mask: torch.Tensor, k: int) -> torch.Tensor:
    """[H,W] float: set pixels of ``mask`` [H,W] bool in the k×k square around each pixel
    (outside the image counts as unset); exact integers."""
    h, w = mask.shape
    p = k // 2
    i, j = torch.arange(h, device=mask.device), torch.arange(w, device=mask.device)
    inside = (((i + p + 1).clamp(max=h) - (i - p).clamp(min=0))[:, None]
              * ((j + p + 1).clamp(max=w) - (j - p).clamp(min=0))[None, :]).float()
    return torch.round(box_mean(mask[None, None].float(), k)[0, 0] * inside)


def closing(mask: torch.Tensor, k: int) -> torch.Tensor:
    """Morphological closing [H,W] bool with a k×k square (the image border counts as set,
    so holes touching it close as well)."""
    m = mask[None, None].float()
    dil = max_filter(m, k)
    ero = -max_filter(-dil, k)
    return ero[0, 0] > 0.5


def neighbour_counts(depth: torch.Tensor, kernel: int, test,
                     unfold: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, drawn) [H,W] int32 over the ``kernel``×``kernel`` square of each pixel of
    ``depth`` [H,W] (0 = nothing drawn; outside the image counts as nothing): ``drawn`` the
    neighbours with depth, ``count`` those for which ``test(neighbour_depth, depth)`` holds.
    On a CPU by shifted comparisons (no [k*k,H,W] buffer, ~10x faster than an unfold); on
    CUDA by one unfold (~20 kernels instead of ~4 per offset: the loop's launches were a
    tenth of a Generate job's on an H200, where the buffer costs nothing). ``unfold`` picks
    the way explicitly (None: by device); both give the same counts."""
    h, w = depth.shape
    pad = kernel // 2
    if depth.is_cuda if unfold is None else unfold:
        nb = F.unfold(depth[None, None], kernel, padding=pad)[0].view(kernel * kernel, h, w)
        has = nb > 0
        return (has & test(nb, depth[None])).sum(0, dtype=torch.int32), has.sum(0, dtype=torch.int32)
    dp = F.pad(depth, (pad, pad, pad, pad))
    count = torch.zeros(h, w, dtype=torch.int32, device=depth.device)
    drawn = torch.zeros_like(count)
    for dy in range(kernel):
        for dx in range(kernel):
            nb = dp[dy:dy + h, dx:dx + w]
            has = nb > 0
            drawn += has
            count += has & test(nb, depth)
    return count, drawn


def see_through_fast(depth: torch.Tensor, mask: torch.Tensor, kernel: int = 5, rel_tol: float = 0.05,
                     abs_tol: float = 0.0, fraction: float = 0.6) -> torch.Tensor:
    """The rule of ``engine.render.points.see_through`` (same arguments and result) by
    :func:`neighbour_counts` (on CUDA: ``see_through`` itself, whose unfold is as cheap)."""
    if depth.is_cuda:
        from engine.render.points import see_through

        return see_through(depth, mask, kernel, rel_tol, abs_tol, fraction)
    d = torch.where(mask, depth, torch.zeros_like(depth))
    # the CPU: the neighbour's side of the test precomputed once on the padded map (undrawn
    # neighbours as +inf: never nearer), two ops per offset instead of five, the drawn count as
    # one box sum (integer counts: exact); the same counts as neighbour_counts
    pad = kernel // 2
    dp = F.pad(d, (pad, pad, pad, pad))
    q = torch.where(dp > 0, dp, torch.full_like(dp, float("inf"))) * (1 + rel_tol) + abs_tol
    nearer = count_neighbours_below(q, d, kernel)
    drawn = box_count(d > 0, kernel)
    return mask & (nearer.float() > fraction * drawn.clamp_min(1))


def count_neighbours_below(q_padded: torch.Tensor, thr: torch.Tensor, kernel: int) -> torch.Tensor:
    """[H,W] integer counts, on the CPU: how many of the kernel×kernel neighbours (the pixel
    itself included) have ``q_padded`` [H+2p, W+2p] (the neighbour's side of a test, computed
    once on a map padded by p = kernel // 2) below ``thr`` [H,W] (the pixel's side): two ops
    per offset (the fast form of :func:`neighbour_counts` for a threshold test)."""
    from engine import cpu_split

    h, w = thr.shape
    count = torch.zeros(h, w, dtype=torch.uint8 if kernel * kernel < 256 else torch.int32)

    def rows(r0: int, r1: int) -> None:
        # rows r0:r1 of the counts (each row's the same ops: a band per thread, engine.cpu_split)
        part = count[r0:r1]
        for dy in range(kernel):
            for dx in range(kernel):
                part += q_padded[r0 + dy:r1 + dy, dx:dx + w] < thr[r0:r1]
    n = cpu_split.splits(thr) if h * w >= 50_000 else 1
    bounds = [round(i * h / n) for i in range(n + 1)]
    cpu_split.run_all([lambda a=a, b=b: rows(a, b) for a, b in zip(bounds[:-1], bounds[1:])], n)
    return count


def _blocks(x: torch.Tensor, h2: int, w2: int) -> torch.Tensor:
    """[C,2*h2,2*w2] -> [C,h2,w2,4] (the 2×2 block of each coarse pixel)."""
    c = x.shape[0]
    return x.view(c, h2, 2, w2, 2).permute(0, 1, 3, 2, 4).reshape(c, h2, w2, 4)


def _down(vals, depth, valid, rep, band):
    """One front-most push step: vals [C,H,W], depth [H,W], valid [H,W] bool, rep [H,W] int64."""
    h, w = depth.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        vals = F.pad(vals, (0, pw, 0, ph))
        depth = F.pad(depth, (0, pw, 0, ph))
        valid = F.pad(valid, (0, pw, 0, ph))
        rep = F.pad(rep, (0, pw, 0, ph), value=-1)
    h2, w2 = (h + ph) // 2, (w + pw) // 2
    d = _blocks(torch.where(valid, depth, float("inf"))[None], h2, w2)[0]
    zmin, arg = d.min(-1)
    sel = torch.isfinite(d) & (d <= zmin[..., None] * (1 + band))
    n = sel.sum(-1)
    vb = _blocks(vals, h2, w2)
    vals_c = (vb * sel).sum(-1) / n.clamp_min(1)
    has = n > 0
    depth_c = torch.where(has, zmin, 0.0)
    rep_c = _blocks(rep[None], h2, w2)[0].gather(-1, arg[..., None])[..., 0]
    return vals_c, depth_c, has, rep_c


def _up(coarse_vals, coarse_valid, coarse_rep, shape):
    """Pull: coarse level -> fine shape. Values bilinear, normalised by validity; provenance
    nearest."""
    h, w = shape
    wv = coarse_valid[None, None].float()
    num = F.interpolate(coarse_vals[None] * wv, scale_factor=2, mode="bilinear", align_corners=False)[0]
    den = F.interpolate(wv, scale_factor=2, mode="bilinear", align_corners=False)[0]
    vals = (num / den.clamp_min(1e-6))[:, :h, :w]
    valid = (den[0] > 1e-6)[:h, :w]
    h2, w2 = coarse_rep.shape      # nearest: each coarse pixel over its 2x2 block (one copy)
    rep = coarse_rep[:, None, :, None].expand(h2, 2, w2, 2).reshape(2 * h2, 2 * w2)[:h, :w]
    return vals, valid & (rep >= 0), rep


def front_push_pull(vals: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, levels: int,
                    band: float = 0.05):
    """Fill every hole reachable within ``levels`` pyramid levels from the front-most nearby
    samples. vals [C,H,W]; depth [H,W] (z, > 0 where valid); valid [H,W] bool.
    Returns (vals [C,H,W], reached [H,W] bool, rep [H,W] int64 flat index of the level-0
    sample that stands for each pixel, -1 where not reached). Known pixels keep their values."""
    h, w = depth.shape
    rep0 = torch.where(valid, torch.arange(h * w, device=depth.device).view(h, w), -1)
    pyr = [(vals, depth, valid, rep0)]
    for _ in range(levels):
        v, d, m, r = pyr[-1]
        if min(d.shape) < 2:
            break
        pyr.append(_down(v, d, m, r, band))
    v, _, m, r = pyr[-1]
    for fv, fd, fm, fr in reversed(pyr[:-1]):
        uv, um, ur = _up(v, m, r, fd.shape)
        v = torch.where(fm[None], fv, uv)
        r = torch.where(fm, fr, ur)
        m = fm | um
    return v, m, r


def drawn_pixels(render: RenderResult, voxel_size: float, options: SurfaceOptions = SurfaceOptions()
                 ) -> torch.Tensor:
    """[H,W] bool: the pixels of a point render that are a surface (drawn, not see-through):
    the first step of :func:`fill_surface`."""
    tol = options.see_through_tol_voxels * voxel_size
    return render.mask & ~see_through_fast(render.depth, render.mask, abs_tol=tol)


def fill_surface(render: RenderResult, voxel_size: float, camera=None,
                 options: SurfaceOptions = SurfaceOptions(), prior: SurfaceRender | None = None,
                 drawn: torch.Tensor | None = None) -> SurfaceRender:
    """Turn a point render into a surface render (see module docstring).

    render      RenderResult of points (torch tensors, [H,W] images)
    voxel_size  the memory's voxel size (meters): sets the see-through tolerance and, with
                ``camera`` (for its focal length), the size of the holes that are filled
    prior       optional coarser surface render of the same camera, upsampled to this size:
                drawn pixels behind it are see-through, holes it covers take its values
    drawn       :func:`drawn_pixels` of ``render`` when the caller has it already
    """
    depth = render.depth
    tol = options.see_through_tol_voxels * voxel_size
    if drawn is None:
        drawn = drawn_pixels(render, voxel_size, options)
    k = options.min_close_px
    if camera is not None and bool(drawn.any()):
        z_med = float(depth[drawn].median())
        k = _odd(options.fill_voxels * float(camera.K[1, 1]) * voxel_size / max(z_med, 1e-6))
    k = int(np.clip(k, options.min_close_px, options.max_close_px))
    k = k if k % 2 else k + 1
    from_prior = torch.zeros_like(drawn)
    if prior is not None:
        # behind the coarse surface = seen through a gap of it, but only inside the closing of
        # the pixels that agree with it (a background pixel next to a silhouette stays)
        behind = drawn & prior.mask & (depth > prior.depth * (1 + options.depth_band) + tol)
        agree = drawn & ~behind
        drawn = agree | (behind & ~closing(agree, k))
        from_prior = prior.mask & ~drawn & closing(drawn, k)
        render = _merge(render, drawn, prior, from_prior)
        drawn = drawn | from_prior
    fillable = closing(drawn, k) & ~drawn
    if not bool(fillable.any()):
        return _surface(render, drawn, from_prior, None, None, options)
    inv = torch.where(drawn, 1.0 / render.depth.clamp_min(1e-6), 0.0)
    vals = torch.cat([render.color.permute(2, 0, 1), inv[None], render.confidence[None]]) * drawn[None]
    levels = int(np.ceil(np.log2(k))) + 1
    filled_vals, reached, rep = front_push_pull(vals, render.depth, drawn, levels, options.depth_band)
    filled = fillable & reached
    out = _surface(render, drawn, filled, filled_vals, rep, options)
    out.filled |= from_prior
    return out


def _merge(render, keep, prior, take) -> RenderResult:
    """render where ``keep``, prior where ``take`` (the prior's confidence already scaled)."""
    def m(a, b):
        k = keep[..., None] if a.ndim == 3 else keep
        t = take[..., None] if a.ndim == 3 else take
        return torch.where(k, a, torch.where(t, b.to(a.dtype), 0))
    return RenderResult(m(render.color, prior.color), m(render.depth, prior.depth), keep | take,
                        m(render.source_view, prior.source_view), m(render.point_index, prior.point_index),
                        m(render.confidence, prior.confidence), m(render.segment, prior.segment))


def _surface(render, drawn, filled, vals, rep, options) -> SurfaceRender:
    if vals is None:
        z = lambda t, fill: torch.where(drawn, t, fill)  # noqa: E731
        return SurfaceRender(torch.where(drawn[..., None], render.color, 0.0),
                             z(render.depth, 0.0), drawn.clone(), z(render.source_view, -1),
                             z(render.point_index, -1), z(render.confidence, 0.0), z(render.segment, -1),
                             filled.clone())
    mask = drawn | filled
    safe = rep.clamp_min(0).view(-1)

    def pick(t, fill):
        src = t.reshape(-1)[safe].view(t.shape)
        return torch.where(drawn, t, torch.where(filled, src, fill))
    color = torch.where(drawn[..., None], render.color,
                        torch.where(filled[..., None], vals[:3].permute(1, 2, 0), 0.0))
    depth = torch.where(drawn, render.depth, torch.where(filled, 1.0 / vals[3].clamp_min(1e-9), 0.0))
    conf = torch.where(drawn, render.confidence,
                       torch.where(filled, vals[4] * options.filled_confidence, 0.0))
    return SurfaceRender(color, depth, mask, pick(render.source_view, -1), pick(render.point_index, -1),
                         conf, pick(render.segment, -1), filled)


def upsample(surface: SurfaceRender, width: int, height: int) -> SurfaceRender:
    """A coarse surface render brought to width×height: color bilinear (normalised by the
    mask), everything else nearest (no blended depths across silhouettes)."""
    def near(t):
        x = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
        dtype = x.dtype
        y = F.interpolate(x.float(), size=(height, width), mode="nearest")
        y = y.to(dtype) if dtype != torch.bool else y > 0.5
        return y[0, 0] if t.ndim == 2 else y[0].permute(1, 2, 0)
    m = surface.mask[None, None].float()
    num = F.interpolate(surface.color.permute(2, 0, 1)[None] * m, size=(height, width), mode="bilinear",
                        align_corners=False)
    den = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
    mask = near(surface.mask)
    zero = torch.zeros((), dtype=num.dtype, device=num.device)   # on the render's device (CUDA too)
    color = torch.where(mask[..., None], (num / den.clamp_min(1e-6))[0].permute(1, 2, 0), zero)
    return SurfaceRender(color, near(surface.depth), mask, near(surface.source_view), near(surface.point_index),
                         near(surface.confidence), near(surface.segment),
                         mask if surface.filled is None else near(surface.filled))


def footprint_scale(render: RenderResult, voxel_size: float, camera, options: SurfaceOptions) -> float:
    """Resolution factor (<= 1) at which the memory's points drawn at their true footprint
    (1.5 voxels) fit the footprint clamp for the near surfaces (10th percentile depth)."""
    if not bool(render.mask.any()):
        return 1.0
    d = render.depth[render.mask]
    z_near = float(torch.quantile(d[:: max(1, d.numel() // 20000)], 0.1))
    radius_px = 1.5 * voxel_size * float(camera.K[1, 1]) / max(z_near, 1e-6)
    return float(min(1.0, options.max_radius_px / max(radius_px, 1e-6)))


def render_surface(memory, camera, options: SurfaceOptions = SurfaceOptions()) -> SurfaceRender:
    """The memory's visible points rendered into ``camera`` as a hole-free surface.

    Returns a SurfaceRender (a RenderResult plus ``filled``) on the memory's device:
    color [H,W,3] in [0,1], depth [H,W] z meters (0 empty), mask, confidence, segment
    (provenance: -1 captured, >= 0 generated segment), source_view, point_index.
    Where the camera is so close that the points' footprints exceed the clamp, the memory
    is also rendered at the resolution where they fit, and that coarser surface closes the
    gaps and hides what shows through them.
    """
    from engine import cpu_split

    r = render_memory(memory, camera, max_radius_px=options.max_radius_px)
    scale = footprint_scale(r, memory.voxel_size, camera, options)
    if scale >= 0.9:
        return fill_surface(r, memory.voxel_size, camera, options)

    def coarse() -> SurfaceRender:
        small = camera.scaled(max(scale, 0.125))
        lo = render_memory(memory, small, max_radius_px=options.max_radius_px)
        lo = fill_surface(lo, memory.voxel_size, small, options)
        prior = upsample(lo, camera.width, camera.height)
        prior.confidence = prior.confidence * options.filled_confidence
        return prior
    # the coarse surface and the full render's see-through test do not depend on each other:
    # on the CPU they run on engine.cpu_split's threads (the same values)
    prior, drawn = cpu_split.run_all([coarse, lambda: drawn_pixels(r, memory.voxel_size, options)],
                                     cpu_split.splits(r.depth))
    return fill_surface(r, memory.voxel_size, camera, options, prior, drawn)
