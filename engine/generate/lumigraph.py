"""Sampling captured views backward onto a target surface (view-dependent texture mapping).

The pieces of the surface generator (engine/generate/surface.py) that know nothing of
segments: a view as a sampling *source* (image, depth completed where missing, which depth
was measured), the target's rays, one source sampled at the target's surface points with its
visibility test and penalty, the unstructured-lumigraph blend of all sources, and the
references' measured depth forward-warped into the target. Torch, any device.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine import cpu_split
from engine.generate.pushpull import push_pull
from engine.generate.stretch import stretch_terms
from engine.geometry import camera_torch
from engine.imaging import dark_border_inset
from engine.render.surface import (
    box_count,
    box_mean,
    count_neighbours_below,
    max_filter,
    neighbour_counts,
)


@dataclass
class Source:
    """A view sampled backward: a captured reference or the previous generated frame."""

    camera: object
    image: torch.Tensor           # [3,H,W] float in [0,1]
    depth: torch.Tensor | None    # [H,W] z-depth, complete (> 0) where known or completed
    measured: torch.Tensor | None  # [H,W] bool, depth measured (not completed)
    center: torch.Tensor          # [3] world
    invented: torch.Tensor | None = None  # [H,W] bool (previous frame only)
    points: tuple | None = None   # (xyz [N,3] world, radius [N] world) of measured pixels, lazily
    inset: tuple = (0.0, 0.0, 0.0, 0.0)  # (left, top, right, bottom) pixels never sampled (dark_border_inset)

    def measured_points(self):
        """World points [N,3] of the measured depth pixels and their splat radius [N]."""
        if self.points is None:
            from engine.memory.backproject import camera_points

            p_cam = camera_points(self.camera, torch.where(self.measured, self.depth, torch.zeros_like(self.depth)))
            p_cam = p_cam[self.measured]
            wfc = torch.as_tensor(self.camera.world_from_cam, dtype=torch.float32, device=p_cam.device)
            xyz = p_cam @ wfc[:3, :3].T + wfc[:3, 3]
            self.points = (xyz, 0.8 * p_cam[:, 2] / float(self.camera.K[1, 1]))
        return self.points


def complete_inverse_depth(depth: torch.Tensor, known: torch.Tensor, reach: int = 9,
                           support: int = 3) -> torch.Tensor:
    """Depth [H,W] everywhere: known pixels kept; holes take a push-pull of inverse depth,
    never nearer than the farthest known depth within ``reach`` pixels (no membranes across
    silhouettes: a disocclusion shows the background).

    The "farthest known depth" is taken over known pixels that at least ``support`` known
    pixels of their ``support`` x ``support`` square (themselves included) share within 5%:
    one or two stray far pixels (a depth outlier, a point seen through a gap) would otherwise
    push the holes around them back by their depth over the filter's footprint, a plus-shaped
    patch (the level set of the max + box filters) that samples the photos somewhere else
    entirely: the plus-shaped specks of fern's paths. A background seen through a 1-px gap
    (a line of pixels) still counts."""
    if bool(known.all()):
        return depth
    if not bool(known.any()):
        return torch.zeros_like(depth)
    inv = torch.where(known, 1.0 / depth.clamp_min(1e-6), 0.0)
    smooth = 1.0 / push_pull(inv[None], known.float())[0].clamp_min(1e-6)
    if reach <= 1:
        return torch.where(known, depth, smooth)
    kd = torch.where(known, depth, 0.0)[None, None]
    if support > 1:
        kd = torch.where(_same_depth_count(kd[0, 0], 3) >= support, kd, 0.0)
    far = max_filter(kd, reach)
    # smoothed, so that the bias does not print the filter's blocks into the texture
    far = box_mean(far, reach)[0, 0]
    hole = torch.where(far > 0, torch.maximum(smooth, far), smooth)
    return torch.where(known, depth, hole)


def _same_depth_count(depth: torch.Tensor, k: int = 3, rel_tol: float = 0.05) -> torch.Tensor:
    """[H,W] int: pixels of the k x k square around each pixel of ``depth`` [H,W] (0 = none)
    whose depth is within ``rel_tol`` of its own, itself included; 0 where it has none."""
    # all k*k neighbours at once (one unfold, zero padding = nothing drawn): ~8 ops instead of
    # ~8 per offset (a launch each on a GPU); the same integer counts as the offset loop
    h, w = depth.shape
    nb = F.unfold(depth[None, None], k, padding=k // 2)[0].view(k * k, h, w)
    same = (nb > 0) & ((nb - depth).abs() <= rel_tol * depth)
    return torch.where(depth > 0, same.sum(0, dtype=torch.int32), torch.zeros((), dtype=torch.int32,
                                                                              device=depth.device))


def _as_tensor(a, device, dtype=None) -> torch.Tensor:
    """``a`` (numpy array or tensor) as a tensor on ``device`` (no copy for a tensor already there)."""
    return torch.as_tensor(a if isinstance(a, torch.Tensor) else np.asarray(a), dtype=dtype, device=device)


def _image_tensor(image, device) -> torch.Tensor:
    img = _as_tensor(image, device)
    img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
    return img[..., :3].permute(2, 0, 1).contiguous()


def make_source(camera, image, depth, device, invented=None, completed=None) -> Source:
    """A sampling source from a view: depth completed where missing (0 / non-finite); a dark
    line at the image border is never sampled (:func:`engine.imaging.dark_border_inset`).
    ``completed`` [H,W] bool marks depth the tracker completed rather than matched: kept as
    depth, but not counted as measured (it gets the loose visibility rule).
    image [H,W,3], depth, invented and completed [H,W]: numpy arrays or tensors (tensors already
    on ``device`` are used without a copy: a generator's frames kept on the GPU)."""
    center = torch.as_tensor(camera.center, dtype=torch.float32, device=device)
    img = _image_tensor(image, device)
    inset = dark_border_inset(image)
    if depth is None:
        return Source(camera, img, None, None, center, inset=inset)
    d = torch.nan_to_num(_as_tensor(depth, device, torch.float32), nan=0.0, posinf=0.0, neginf=0.0)
    has = d > 0
    if not bool(has.any()):
        return Source(camera, img, None, None, center, inset=inset)
    measured = has
    if completed is not None:
        measured = has & ~_as_tensor(completed, device, torch.bool)
    inv = None if invented is None else _as_tensor(invented, device)
    return Source(camera, img, complete_inverse_depth(d, has), measured, center, inv, inset=inset)


def target_rays(camera, device) -> tuple[torch.Tensor, torch.Tensor]:
    """World ray directions [H,W,3] scaled so that z-depth d gives center + d * ray (pixel
    centers at +0.5), and the camera center [3] world.

    The result is cached for the last few cameras (by value: size, K, pose, device; a frame
    asks twice: auto's photos and its rest pass) and the pixel grid per size: the tensors
    returned may be shared with another caller, so they must not be modified in place."""
    key = (camera.width, camera.height, np.asarray(camera.K, np.float64).tobytes(),
           np.asarray(camera.world_from_cam, np.float64).tobytes(), str(torch.device(device)))
    with _RAYS_LOCK:
        hit = _RAYS.get(key)
    if hit is not None:
        return hit
    K_inv = torch.as_tensor(np.linalg.inv(camera.K), dtype=torch.float32, device=device)
    wfc = torch.as_tensor(camera.world_from_cam, dtype=torch.float32, device=device)
    out = (_pixel_grid(camera.width, camera.height, device) @ (wfc[:3, :3] @ K_inv).T, wfc[:3, 3])
    with _RAYS_LOCK:
        _RAYS[key] = out
        while len(_RAYS) > 4:
            del _RAYS[next(iter(_RAYS))]
    return out


_RAYS: dict = {}            # target_rays' last results (insertion order: oldest first)
_GRIDS: dict = {}           # _pixel_grid's per (width, height, device)
_RAYS_LOCK = threading.Lock()


def clear_caches() -> None:
    """Drop what :func:`target_rays`, :func:`_pixel_grid` and :func:`_stacked` keep (the
    segment's rays and its references' stacked tensors, on the compute device): called when a
    path ends (engine.generate.loop.generate_path), so no project's tensors outlive its job."""
    with _RAYS_LOCK:
        _RAYS.clear()
        _GRIDS.clear()
        _STACKS.clear()


def _pixel_grid(width: int, height: int, device) -> torch.Tensor:
    """[H,W,3] float32 (u, v, 1) of every pixel center (col + 0.5, row + 0.5); cached."""
    key = (width, height, str(torch.device(device)))
    with _RAYS_LOCK:
        pix = _GRIDS.get(key)
    if pix is None:
        u = torch.arange(width, device=device, dtype=torch.float32) + 0.5
        v = torch.arange(height, device=device, dtype=torch.float32) + 0.5
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        pix = torch.stack([uu, vv, torch.ones_like(uu)], dim=-1)
        with _RAYS_LOCK:
            _GRIDS[key] = pix
            while len(_GRIDS) > 4:
                del _GRIDS[next(iter(_GRIDS))]
    return pix


@dataclass
class Sample:
    color: torch.Tensor     # [H,W,3]
    penalty: torch.Tensor   # [H,W] degrees (inf where not visible)
    factor: torch.Tensor    # [H,W] extra weight (border feather, unverified)
    verified: torch.Tensor  # [H,W] bool
    invented: torch.Tensor | None = None
    fallback_penalty: torch.Tensor | None = None  # [H,W] for pixels no reference passes
    stretch: torch.Tensor | None = None  # [H,W] the smearing stretch (None: not measured), see stretch_terms


def limit_stretch(samples: list[Sample], max_stretch: float) -> tuple[list[Sample], torch.Tensor]:
    """The samples with those stretched beyond ``max_stretch`` (:func:`engine.generate.stretch.footprint_stretch`)
    made invisible (penalty and fallback penalty inf) at the pixels where no sample is both
    visible and within it -> (samples, smeared [H,W] bool: pixels some sample saw, at least
    loosely, and none now does: what they showed was a smear of a few reference pixels). Where
    a visible sample is within the limit every sample is kept (the penalty prefers the less
    stretched ones): dropping the stretched ones pixel by pixel left the blend to one or two
    references there, whose misregistration showed as splinters. Samples without a measured
    stretch count as within. Elementwise (no host sync)."""
    if not samples or max_stretch <= 0:
        return samples, (torch.zeros_like(samples[0].penalty, dtype=torch.bool) if samples else None)
    ok = [s.stretch <= max_stretch if s.stretch is not None else torch.ones_like(s.penalty, dtype=torch.bool)
          for s in samples]
    good = torch.stack([torch.isfinite(s.penalty) & k for s, k in zip(samples, ok)]).any(0)
    out = []
    for s, k in zip(samples, ok):
        drop = ~good & ~k
        out.append(Sample(s.color, torch.where(drop, float("inf"), s.penalty), s.factor, s.verified & ~drop,
                          s.invented, torch.where(drop, float("inf"), s.fallback_penalty), s.stretch))
    return out, stretch_smeared(samples, max_stretch)


def stretch_smeared(samples: list[Sample], max_stretch: float) -> torch.Tensor | None:
    """The ``smeared`` mask of :func:`limit_stretch` ([H,W] bool) without the limited samples
    (for a caller that keeps its samples, ``stretch_mode`` "blur" / "mark"): over the stacked
    samples at once (~15 ops instead of ~25 per sample; the same mask). A pixel is smeared
    where some sample saw it at least loosely (finite fallback penalty) and every such sample
    is dropped (stretched beyond ``max_stretch`` where no sample is both visible and within)."""
    if not samples:
        return None
    if max_stretch <= 0:
        return torch.zeros_like(samples[0].penalty, dtype=torch.bool)
    if all(s.stretch is not None for s in samples):
        ok = torch.stack([s.stretch for s in samples]) <= max_stretch
    else:
        ok = torch.stack([s.stretch <= max_stretch if s.stretch is not None
                          else torch.ones_like(s.penalty, dtype=torch.bool) for s in samples])
    good = (torch.isfinite(torch.stack([s.penalty for s in samples])) & ok).any(0)
    seen = torch.isfinite(torch.stack([s.fallback_penalty for s in samples]))
    # limit_stretch drops a sample where ~good & ~ok: kept where good | ok
    return seen.any(0) & ~(seen & (ok | good)).any(0)


def sample_source(src: Source, x: torch.Tensor, eye: torch.Tensor, opt, target_guessed: torch.Tensor,
                  abs_tol: float = 0.0, target_focal: float | None = None) -> Sample:
    """Sample ``src`` at the projections of surface points x [H,W,3] world seen from eye [3].

    opt             SurfaceGeneratorOptions (depth_tolerance, unverified_tolerance,
                    unverified_weight, border_px, resolution_weight, stretch_weight,
                    stretch_free, max_stretch, max_magnification, stretch_window)
    target_guessed  [H,W] bool: target pixels whose depth is a guess (loose test)
    abs_tol         meters added to the strict depth test (the memory's depth error)
    target_focal    the target camera's focal length (pixels): x is a whole target image and
                    the sample's stretch (engine.generate.stretch) is measured (scaled by f_src /
                    target_focal; 0: not scaled) and penalised, ``stretch_weight`` degrees per
                    doubling beyond ``stretch_free`` (see :func:`limit_stretch` for the
                    limit). None: not measured (x is a list of pixels, e.g. ``[1,N,3]``)"""
    cam = src.camera
    u, v, z = camera_torch.project(cam, x, near=1e-6)
    w, h = cam.width, cam.height
    grid = torch.stack([2 * u / w - 1, 2 * v / h - 1], dim=-1)[None]
    color = F.grid_sample(src.image[None], grid, mode="bilinear", padding_mode="border",
                          align_corners=False)[0].permute(1, 2, 0)
    inside = _inside(u, v, z, w, h, src.inset)
    col = torch.floor(u).long().clamp(0, w - 1)
    row = torch.floor(v).long().clamp(0, h - 1)
    factor = torch.ones_like(z)
    inv = None
    if src.depth is None:
        visible, verified = inside, torch.zeros_like(inside)
        loose = inside
        factor = factor * opt.unverified_weight
    else:
        d_ref = src.depth[row, col]
        ref_meas = src.measured[row, col]
        meas = ref_meas & ~target_guessed
        strict = inside & ((z - d_ref).abs() <= opt.depth_tolerance * z + abs_tol)
        # where either depth is a guess, a measured reference depth must still agree
        # loosely (a reference that sees nearer is occluded, one that sees farther looked
        # through the guessed point: free space); a completed one is no evidence
        loose = inside & ~(ref_meas & ((z - d_ref).abs() > opt.unverified_tolerance * z + abs_tol))
        visible = torch.where(meas, strict, loose)
        verified = meas
        factor = torch.where(meas, factor, factor * opt.unverified_weight)
        if src.invented is not None:
            inv = src.invented[row, col]
    edge = torch.minimum(torch.minimum(u, w - u), torch.minimum(v, h - v))
    factor = factor * (edge / opt.border_px).clamp(0.05, 1.0)
    ray_t = x - eye
    ray_r = x - src.center
    d_t = ray_t.norm(dim=-1).clamp_min(1e-6)
    d_r = ray_r.norm(dim=-1).clamp_min(1e-6)
    cos = ((ray_t * ray_r).sum(-1) / (d_t * d_r)).clamp(-1, 1)
    angle = 57.29578 * torch.sqrt((2 * (1 - cos)).clamp_min(0))   # chord ~ angle, no arccos
    res = torch.minimum(d_t, d_r) / torch.maximum(d_t, d_r)
    penalty = angle + opt.resolution_weight * (1 - res) + 0.05
    st = None
    if target_focal is not None:
        st, term = stretch_terms([cam], u, v, opt, target_focal)
        penalty = penalty + term
    inf = float("inf")
    return Sample(color, torch.where(visible, penalty, inf), factor, verified & visible, inv,
                   torch.where(loose, penalty, inf), st)


def sample_sources(sources: list[Source], x: torch.Tensor, eye: torch.Tensor, opt, target_guessed: torch.Tensor,
                   abs_tol: float = 0.0, target_focal: float | None = None) -> list[Sample]:
    """:func:`sample_source` for each of ``sources`` (same arguments, same Samples, in order),
    with the sources of one image size that have a depth map (and no ``invented`` layer)
    sampled together: one batch of ~70 kernels per size instead of ~70 per source (the
    per-source launches were most of the frame's time on a GPU). The projections stay per
    source; everything after them is elementwise or a gather, so the results are the same."""
    out: list[Sample | None] = [None] * len(sources)
    groups: dict[tuple, list[int]] = {}
    jobs = []   # (indices into out, job)
    for i, s in enumerate(sources):
        if s.depth is None or s.invented is not None:
            jobs.append(([i], lambda s=s: [sample_source(s, x, eye, opt, target_guessed, abs_tol, target_focal)]))
        else:
            groups.setdefault((s.camera.width, s.camera.height), []).append(i)
    # on the CPU each group is split into batches for engine.cpu_split's threads (a
    # batch of one source is sample_source: the same Samples either way)
    n_split = cpu_split.splits(x)
    for (w, h), idx in groups.items():
        for part in cpu_split.parts(idx, n_split):
            if len(part) == 1:
                src = sources[part[0]]
                jobs.append((part, lambda src=src: [sample_source(src, x, eye, opt, target_guessed, abs_tol,
                                                                  target_focal)]))
            else:
                srcs = [sources[i] for i in part]
                jobs.append((part, lambda srcs=srcs, w=w, h=h: _sample_batch(srcs, w, h, x, eye, opt,
                                                                            target_guessed, abs_tol, target_focal)))
    if n_split > 1:
        jobs.sort(key=lambda j: -len(j[0]))   # the biggest batches first
    for (where, _), smps in zip(jobs, cpu_split.run_all([j for _, j in jobs], n_split)):
        for i, smp in zip(where, smps):
            out[i] = smp
    return out


def _inside(u, v, z, w: int, h: int, inset: tuple = (0.0, 0.0, 0.0, 0.0)):
    """[...] bool: points in front of a reference whose pixel coordinates u, v (pixel i spans
    [i, i+1)) lie inside its w x h image, at least ``inset`` = (left, top, right, bottom)
    pixels from each side (n + 0.5 past n dark lines: a bilinear sample never touches them;
    :func:`engine.imaging.dark_border_inset`)."""
    left, top, right, bottom = inset
    return (z > 1e-6) & (u >= left) & (u < w - right) & (v >= top) & (v < h - bottom)


def _batch_inset(srcs: list[Source], like: torch.Tensor) -> tuple:
    """The sources' insets for :func:`_inside` on [R,H,W] projections: one (left, top, right,
    bottom) when all agree (a capture's photos do), else four [R,1,1] tensors (each its own)."""
    if all(s.inset == srcs[0].inset for s in srcs):
        return srcs[0].inset
    ins = torch.tensor([s.inset for s in srcs], dtype=like.dtype, device=like.device)
    return tuple(ins[:, k, None, None] for k in range(4))


def _project_batch(cameras, x: torch.Tensor, near: float = 1e-6):
    """:func:`camera_torch.project` of x [...,3] world into each of R cameras, stacked ->
    (u, v, z) [R,...]: the rotation per camera (as there), the division and intrinsics once
    over the stack (the cameras' K as [R,1..] tensors, one upload) instead of per camera:
    the same float32 arithmetic, so the same values."""
    p_cam = torch.stack([camera_torch.world_to_camera(c, x) for c in cameras])   # [R,...,3]
    k = torch.tensor([[float(c.K[0, 0]), float(c.K[0, 1]), float(c.K[0, 2]), float(c.K[1, 1]), float(c.K[1, 2])]
                      for c in cameras], dtype=torch.float32, device=x.device)
    k = k.view(len(cameras), *([1] * (x.dim() - 1)), 5).unbind(-1)
    z = p_cam[..., 2]
    safe = torch.where(z > near, z, 1.0)
    px, py = p_cam[..., 0], p_cam[..., 1]
    # (f * x) / z as camera_torch.project_camera_points rounds it
    u = k[0] * px / safe + k[1] * py / safe + k[2]
    v = k[3] * py / safe + k[4]
    return u, v, z


_STACKS: list = []           # _stacked's last results: (the sources, their stacked tensors)


def _stacked(srcs: list[Source]) -> tuple[torch.Tensor, ...]:
    """(images [R,3,h,w], depths [R,h,w], measured [R,h,w] bool, centers [R,3]) of these very
    sources (one size, with depth), stacked once and kept while they are asked for again:
    a segment's references are sampled for every frame (auto's rest pass and its photos), and
    stacking them was four copies per frame and pass. Sources are not changed once made."""
    key = tuple(srcs)
    with _RAYS_LOCK:
        for got, stacks in _STACKS:
            if len(got) == len(key) and all(a is b for a, b in zip(got, key)):
                return stacks
    stacks = (torch.stack([s.image for s in srcs]), torch.stack([s.depth for s in srcs]),
              torch.stack([s.measured for s in srcs]), torch.stack([s.center for s in srcs]))
    with _RAYS_LOCK:
        _STACKS.append((key, stacks))
        while len(_STACKS) > 4:
            _STACKS.pop(0)
    return stacks


def _sample_batch(srcs: list[Source], w: int, h: int, x, eye, opt, target_guessed, abs_tol,
                  target_focal=None) -> list[Sample]:
    """The depth branch of :func:`sample_source` for R sources of one size w x h, batched."""
    u, v, z = _project_batch([s.camera for s in srcs], x)                     # [R,H,W]
    grid = torch.stack([2 * u / w - 1, 2 * v / h - 1], dim=-1)
    images, depths, measured, centers = _stacked(srcs)
    color = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                          align_corners=False).permute(0, 2, 3, 1)
    inside = _inside(u, v, z, w, h, _batch_inset(srcs, u))
    col = torch.floor(u).long().clamp(0, w - 1)
    row = torch.floor(v).long().clamp(0, h - 1)
    flat = (row * w + col).flatten(1)
    r = len(srcs)
    d_ref = depths.view(r, -1).gather(1, flat).view_as(z)
    ref_meas = measured.view(r, -1).gather(1, flat).view_as(z)
    meas = ref_meas & ~target_guessed
    gap = (z - d_ref).abs()
    strict = inside & (gap <= opt.depth_tolerance * z + abs_tol)
    loose = inside & ~(ref_meas & (gap > opt.unverified_tolerance * z + abs_tol))
    visible = torch.where(meas, strict, loose)
    factor = torch.where(meas, 1.0, float(np.float32(1.0) * np.float32(opt.unverified_weight)))
    edge = torch.minimum(torch.minimum(u, w - u), torch.minimum(v, h - v))
    factor = factor * (edge / opt.border_px).clamp(0.05, 1.0)
    ray_t = x - eye
    ray_r = x - centers[:, None, None, :]
    d_t = ray_t.norm(dim=-1).clamp_min(1e-6)
    d_r = ray_r.norm(dim=-1).clamp_min(1e-6)
    cos = ((ray_t * ray_r).sum(-1) / (d_t * d_r)).clamp(-1, 1)
    angle = 57.29578 * torch.sqrt((2 * (1 - cos)).clamp_min(0))
    res = torch.minimum(d_t, d_r) / torch.maximum(d_t, d_r)
    penalty = angle + opt.resolution_weight * (1 - res) + 0.05
    st = None
    if target_focal is not None:
        st, term = stretch_terms([s.camera for s in srcs], u, v, opt, target_focal)
        penalty = penalty + term
    inf = float("inf")
    pen = torch.where(visible, penalty, inf)
    fallback = torch.where(loose, penalty, inf)
    verified = meas & visible
    return [Sample(color[i], pen[i], factor[i], verified[i], None, fallback[i], None if st is None else st[i])
            for i in range(r)]


def ulr_blend(samples: list[Sample], k: int, fallback: bool = False,
              consensus: float = 0.0, stacks: dict | None = None,
              verified: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Unstructured-lumigraph blend of samples -> (color [H,W,3], weight sum [H,W],
    verified share [H,W]). Only the k best (lowest penalty) visible samples per pixel count.
    ``fallback`` blends by the fallback penalties (visibility only vetoed by occluders);
    ``consensus`` > 0 reweights each sample by exp(-|c - blend|^2 / consensus^2) once.
    ``stacks``: a dict shared by blends of the very same samples (the stacked factors and
    colours are made once); ``verified=False``: the verified share is not computed (None)."""
    pen = torch.stack([s.fallback_penalty if fallback else s.penalty for s in samples])  # [R,H,W]
    r = pen.shape[0]
    fin = torch.isfinite(pen)
    # with fewer than k+1 visible the threshold is the worst visible one, stretched
    worst = torch.where(fin, pen, 0.0).max(0).values
    if r > k:
        thresh = _kth_smallest(pen, k)
        thresh = torch.where(torch.isfinite(thresh), thresh, 2.0 * worst + 1.0)
    else:   # no k-th: the stretched worst everywhere
        thresh = 2.0 * worst + 1.0
    wts = torch.clamp(1 - pen / thresh, min=0) / pen
    wts = torch.where(fin, wts, 0.0)
    stacks = {} if stacks is None else stacks
    if "factor" not in stacks:
        stacks["factor"] = torch.stack([s.factor for s in samples])
        stacks["color"] = torch.stack([s.color for s in samples])            # [R,H,W,3]
    wts = wts * stacks["factor"]
    cols = stacks["color"]
    total = wts.sum(0)
    color = (cols * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
    if consensus > 0:
        # one reweighting step: a sample far from the blend (an occlusion the depth test
        # missed, a misregistered view) loses its weight instead of ghosting into the pixel
        d2 = ((cols - color) ** 2).sum(-1)
        wts = wts * torch.exp(-d2 / consensus ** 2)
        total = wts.sum(0)
        color = (cols * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
    if not verified:
        return color, total, None
    ver = (wts * torch.stack([s.verified for s in samples]).float()).sum(0) / total.clamp_min(1e-12)
    return color, total, ver


def _kth_smallest(pen: torch.Tensor, k: int) -> torch.Tensor:
    """[H,W]: the k-th smallest (0-based) of pen [R,H,W] along R, as ``torch.sort(pen, 0)[k]``.
    On the CPU by a bubble network of elementwise minima / maxima (R(R-1)/2 compare-swaps of
    [H,W] slices, ~10x faster than torch.sort over a short first axis; the same values)."""
    if pen.is_cuda or pen.shape[0] > 12:
        return torch.sort(pen, dim=0).values[k]
    s = list(pen.unbind(0))
    r = len(s)
    for i in range(r):
        if i > r - 1 - k:           # the last k+1 places are final: k-th smallest is known
            break
        for j in range(r - 1 - i):
            s[j], s[j + 1] = torch.minimum(s[j], s[j + 1]), torch.maximum(s[j], s[j + 1])
    return s[k]


class PrefetchSlot:
    """Where one generator keeps the reference-depth warp it started ahead
    (:func:`prefetch_reference_depth`) until its next :func:`warp_reference_depth` call of the
    very same objects takes it. One per generator (SurfaceGenerator owns one): a slot shared
    by the whole process would let one generator (a preview, a second session) take or drop
    another's. At most one warp in flight; a new one replaces it. Thread-safe."""

    def __init__(self) -> None:
        self._entry: tuple | None = None   # (sources, target, voxel_size, Future)
        self._lock = threading.Lock()

    def put(self, sources: list[Source], target, voxel_size: float, future) -> None:
        with self._lock:
            self._entry = (list(sources), target, voxel_size, future)

    def take(self, sources: list[Source], target, voxel_size: float):
        """The Future of the warp of these very objects (removed from the slot), else None."""
        with self._lock:
            if self._entry is None:
                return None
            srcs, tgt, vox, fut = self._entry
            if tgt is target and vox == voxel_size and len(srcs) == len(sources) and all(
                    a is b for a, b in zip(srcs, sources)):
                self._entry = None
                return fut
            return None

    @property
    def pending(self) -> bool:
        with self._lock:
            return self._entry is not None


def prefetch_reference_depth(sources: list[Source], target, voxel_size: float, slot: PrefetchSlot) -> None:
    """On the CPU, start :func:`warp_reference_depth` of these arguments on an
    ``engine.cpu_split`` worker and keep it in ``slot``: the next call with the very same
    objects and that slot takes its result (the same values) instead of computing it. It
    depends on the references and the camera only, so it runs while this thread renders the
    memory for the same frame. Elsewhere (CUDA, splitting off) nothing happens."""
    if not sources or cpu_split.splits(target_device(sources)) <= 1:
        return
    slot.put(sources, target, voxel_size, cpu_split.submit(lambda: _warp_reference_depth(sources, target, voxel_size)))


def warp_reference_depth(sources: list[Source], target, voxel_size: float, slot: PrefetchSlot | None = None):
    """The references' measured depth forward-warped into ``target`` (one z-buffer of splats
    of 0.8 source pixels radius over all references): the nearest measured surface per pixel,
    see-through pixels removed. Returns (depth [H,W], covered [H,W] bool). ``slot``: where
    :func:`prefetch_reference_depth` may have started this very warp already."""
    fut = slot.take(sources, target, voxel_size) if slot is not None else None
    if fut is not None:
        return fut.result()
    return _warp_reference_depth(sources, target, voxel_size)


def _warp_reference_depth(sources: list[Source], target, voxel_size: float):
    from engine.render.points import splat_keys
    from engine.render.surface import see_through_fast

    h, w = target.height, target.width
    empty = torch.iinfo(torch.int64).max
    pts = [s.measured_points() for s in sources if s.depth is not None]
    pts = [p for p in pts if p[0].shape[0]]
    if not pts:
        z = torch.zeros(h, w, device=target_device(sources))
        return z, z > 0
    # one z-buffer over all references' points: the nearest measured surface per pixel
    xyz = torch.cat([p[0] for p in pts])
    radius = torch.cat([p[1] for p in pts])
    keys = splat_keys(xyz, target, radius, max_radius_px=2.0)
    covered = keys != empty
    depth = torch.where(covered, (keys >> 32).to(torch.int32).view(torch.float32), torch.zeros(1, device=xyz.device))
    covered &= ~see_through_fast(depth, covered, abs_tol=2 * voxel_size)
    return torch.where(covered, depth, 0.0), covered


def target_device(sources):
    return sources[0].image.device if sources else torch.device("cpu")


def warp_depth(prev: Source, target, device, scale: float = 0.5) -> torch.Tensor:
    """The previous frame's complete depth carried to ``target`` by a z-buffered point render
    at ``scale`` of its resolution (every 2nd pixel of the previous frame, footprints of one
    render pixel), near specks dropped, upsampled in inverse depth (bilinear, normalised by
    the drawn pixels; 0 where nothing lands). At quarter size with nearest upsampling the
    carried depth was 4x4 blocks, which frame after frame printed blocky pieces of texture
    into the guessed parts of a path (fern's beyond frames 5-7)."""
    from engine.memory.backproject import camera_points
    from engine.render.points import render_points

    small = target.scaled(scale)
    stride = 2
    p_cam = camera_points(prev.camera, prev.depth)[::stride, ::stride].reshape(-1, 3)
    wfc = torch.as_tensor(prev.camera.world_from_cam, dtype=torch.float32, device=device)
    xyz = p_cam @ wfc[:3, :3].T + wfc[:3, 3]
    rgb = torch.zeros_like(xyz)
    radius = stride * p_cam[:, 2] / float(prev.camera.K[1, 1]) * max(1.0, 0.5 / scale)
    r = render_points(xyz, rgb, small, radius, max_radius_px=2.0)
    d = torch.where(r.mask, r.depth, 0.0)
    # a point nearer than the surface around it (a stray pixel of the previous frame's depth)
    # is drawn as a footprint, a plus shape at this scale, magnified by the upsampling: it
    # would be known depth here, and the photos sampled on it a plus-shaped speck; dropped
    d = torch.where(near_specks(d), 0.0, d)
    size = (target.height, target.width)
    has = (d > 0).float()[None, None]
    inv = torch.where(d > 0, 1.0 / d.clamp_min(1e-9), 0.0)[None, None]
    num = F.interpolate(inv, size=size, mode="bilinear", align_corners=False)[0, 0]
    den = F.interpolate(has, size=size, mode="bilinear", align_corners=False)[0, 0]
    covered = F.interpolate(has, size=size, mode="nearest")[0, 0] > 0.5
    return torch.where(covered & (num > 0), 1.0 / (num / den.clamp_min(1e-6)).clamp_min(1e-9), 0.0)


def near_specks(depth: torch.Tensor, kernel: int = 5, rel_tol: float = 0.05, fraction: float = 0.6) -> torch.Tensor:
    """[H,W] bool: pixels of ``depth`` [H,W] (0 = none) in front of their surroundings: more
    than ``fraction`` of the drawn pixels of their ``kernel`` square are farther by more than
    ``rel_tol`` (relative). A footprint up to a few pixels wide is a speck; the edge of a
    larger near surface is not (half of its square is that surface)."""
    if depth.is_cuda:
        farther, drawn = neighbour_counts(depth, kernel, lambda nb, c: nb > c * (1 + rel_tol))
        return (depth > 0) & (farther.float() > fraction * drawn.clamp_min(1).float())
    # the CPU: the same counts with two ops per offset instead of five (where depth > 0 the
    # threshold is > 0, so "farther" implies "drawn"; elsewhere the result is False anyway)
    # and the drawn count as one box sum (integer counts: exact)
    pad = kernel // 2
    # "neighbour > threshold" counted as "-neighbour < -threshold" (exact)
    farther = count_neighbours_below(-F.pad(depth, (pad, pad, pad, pad)), -(depth * (1 + rel_tol)), kernel)
    drawn = box_count(depth > 0, kernel)
    return (depth > 0) & (farther.float() > fraction * drawn.clamp_min(1))
