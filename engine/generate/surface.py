"""The surface generator: the captured photos sampled backward onto a complete surface.

Per target frame (view-dependent texture mapping / unstructured lumigraph):
1. **Surface.** Target depth from the memory's surface render (``engine.render.surface``;
   the loop hands it in as guidance). Where the memory has no surface, the depth is
   completed by a push-pull of inverse depth that never comes nearer than the farthest
   known depth close by (disocclusions show the background); those pixels are *guessed*.
2. **Backward sampling.** Every target pixel's surface point is projected into each
   retrieved reference (and the previous generated frame of the segment) and its color
   sampled bilinearly where the reference's own depth confirms that it sees the point:
   ``|z_ref - depth_ref(u,v)| <= depth_tolerance * z_ref (+ 2 voxels)`` where both depths
   were measured; where either was completed (a guess), a measured reference depth must
   agree within ``unverified_tolerance`` and a completed one is no evidence: the sample
   counts ``unverified_weight`` times; no test where the reference has no depth. Pixels that
   no reference passes strictly (depth off at an edge or a thin structure) take this rule.
3. **Unstructured-lumigraph blending.** Penalty per reference = angle between the target's
   and the reference's rays to the point (degrees) + ``resolution_weight`` * (1 - d_min /
   d_max); the ``blend_k`` best visible references take ``w = (1 - p / p_k+1) / p`` (Buehler
   et al. 2001), feathered near their image borders; unverified samples count
   ``unverified_weight`` times. The previous frame only counts where no reference sees.
4. **Fallbacks.** The memory's own color where no reference sees but the memory has the
   surface; then **real hole filling** (``engine.generate.fill``: PatchMatch) for what
   nothing saw: ``invented``.
5. **No depth at all** (no memory surface in view, no previous frame): the references are
   sampled on a fronto-parallel plane at their median depth, and every pixel is marked
   ``invented`` (the frame is a guess, and says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from engine.device import resolve_device
from engine.generate.fill import FillOptions, fill_holes
from engine.generate.protocol import CancelToken, GeneratedFrame, SegmentRequest
from engine.generate.pushpull import push_pull
from engine.generate.sweep import SweepOptions, sweep_guessed_depth
from engine.render.surface import SurfaceRender, fill_surface, max_filter


@dataclass(frozen=True)
class SurfaceGeneratorOptions:
    max_references: int = 6
    blend_k: int = 4
    consensus: float = 0.0             # color distance (RGB, [0,1]) of the outlier reweighting
    resolution_weight: float = 10.0    # degrees of penalty for a 2x resolution mismatch ~ 5
    depth_tolerance: float = 0.02      # relative, against a measured reference depth
    depth_tolerance_voxels: float = 2.0  # ... plus this many memory voxels (its depth error)
    unverified_tolerance: float = 0.10  # relative, against a completed reference depth
    unverified_weight: float = 0.25
    border_px: float = 12.0            # samples feather out over this many pixels at a border
    memory_confidence_scale: float = 3.0
    occluder_confidence: float = 0.3   # generated memory content at least this confident occludes
    background_reach: int = 9         # guessed depth is never nearer than the known depth this close
    use_previous_frame: bool = True
    warp_references: bool = True       # refine the surface with the references' measured depth
    sweep: SweepOptions = field(default_factory=SweepOptions)
    fill: FillOptions = field(default_factory=FillOptions)


@dataclass
class _Source:
    """A view sampled backward: a captured reference or the previous generated frame."""

    camera: object
    image: torch.Tensor           # [3,H,W] float in [0,1]
    depth: torch.Tensor | None    # [H,W] z-depth, complete (> 0) where known or completed
    measured: torch.Tensor | None  # [H,W] bool, depth measured (not completed)
    center: torch.Tensor          # [3] world
    invented: torch.Tensor | None = None  # [H,W] bool (previous frame only)
    points: tuple | None = None   # (xyz [N,3] world, radius [N] world) of measured pixels, lazily

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


def complete_inverse_depth(depth: torch.Tensor, known: torch.Tensor, reach: int = 9) -> torch.Tensor:
    """Depth [H,W] everywhere: known pixels kept; holes take a push-pull of inverse depth,
    never nearer than the farthest known depth within ``reach`` pixels (no membranes across
    silhouettes: a disocclusion shows the background)."""
    if bool(known.all()):
        return depth
    if not bool(known.any()):
        return torch.zeros_like(depth)
    inv = torch.where(known, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth))
    smooth = 1.0 / push_pull(inv[None], known.float())[0].clamp_min(1e-6)
    if reach <= 1:
        return torch.where(known, depth, smooth)
    kd = torch.where(known, depth, torch.zeros_like(depth))[None, None]
    far = max_filter(kd, reach)
    # smoothed, so that the bias does not print the filter's blocks into the texture
    far = F.avg_pool2d(far, reach, stride=1, padding=reach // 2, count_include_pad=False)[0, 0]
    hole = torch.where(far > 0, torch.maximum(smooth, far), smooth)
    return torch.where(known, depth, hole)


def _image_tensor(image, device) -> torch.Tensor:
    img = torch.as_tensor(np.asarray(image), device=device)
    img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
    return img[..., :3].permute(2, 0, 1).contiguous()


def make_source(camera, image, depth, device, invented=None, completed=None) -> _Source:
    """A sampling source from a view: depth completed where missing (0 / non-finite).
    ``completed`` [H,W] bool marks depth the tracker completed rather than matched: kept as
    depth, but not counted as measured (it gets the loose visibility rule)."""
    center = torch.as_tensor(camera.center, dtype=torch.float32, device=device)
    img = _image_tensor(image, device)
    if depth is None:
        return _Source(camera, img, None, None, center)
    d = torch.as_tensor(np.nan_to_num(np.asarray(depth, np.float32), posinf=0.0, neginf=0.0), device=device)
    has = d > 0
    if not bool(has.any()):
        return _Source(camera, img, None, None, center)
    measured = has
    if completed is not None:
        measured = has & ~torch.as_tensor(np.asarray(completed, bool), device=device)
    inv = None if invented is None else torch.as_tensor(np.asarray(invented), device=device)
    return _Source(camera, img, complete_inverse_depth(d, has), measured, center, inv)


def target_rays(camera, device) -> tuple[torch.Tensor, torch.Tensor]:
    """World ray directions [H,W,3] scaled so that z-depth d gives center + d * ray (pixel
    centers at +0.5), and the camera center [3] world."""
    K_inv = torch.as_tensor(np.linalg.inv(camera.K), dtype=torch.float32, device=device)
    wfc = torch.as_tensor(camera.world_from_cam, dtype=torch.float32, device=device)
    u = torch.arange(camera.width, device=device, dtype=torch.float32) + 0.5
    v = torch.arange(camera.height, device=device, dtype=torch.float32) + 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pix = torch.stack([uu, vv, torch.ones_like(uu)], dim=-1)
    return pix @ (wfc[:3, :3] @ K_inv).T, wfc[:3, 3]


@dataclass
class _Sample:
    color: torch.Tensor     # [H,W,3]
    penalty: torch.Tensor   # [H,W] degrees (inf where not visible)
    factor: torch.Tensor    # [H,W] extra weight (border feather, unverified)
    verified: torch.Tensor  # [H,W] bool
    invented: torch.Tensor | None = None
    fallback_penalty: torch.Tensor | None = None  # [H,W] for pixels no reference passes


def sample_source(src: _Source, x: torch.Tensor, eye: torch.Tensor, opt: SurfaceGeneratorOptions,
                  target_guessed: torch.Tensor, abs_tol: float = 0.0) -> _Sample:
    """Sample ``src`` at the projections of surface points x [H,W,3] world seen from eye [3]."""
    cam = src.camera
    cfw = torch.as_tensor(cam.cam_from_world, dtype=torch.float32, device=x.device)
    p = x @ cfw[:3, :3].T + cfw[:3, 3]
    z = p[..., 2]
    safe = torch.where(z > 1e-6, z, torch.ones_like(z))
    K = cam.K
    u = float(K[0, 0]) * p[..., 0] / safe + float(K[0, 1]) * p[..., 1] / safe + float(K[0, 2])
    v = float(K[1, 1]) * p[..., 1] / safe + float(K[1, 2])
    w, h = cam.width, cam.height
    grid = torch.stack([2 * u / w - 1, 2 * v / h - 1], dim=-1)[None]
    color = F.grid_sample(src.image[None], grid, mode="bilinear", padding_mode="border",
                          align_corners=False)[0].permute(1, 2, 0)
    inside = (z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
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
    inf = torch.full_like(penalty, float("inf"))
    return _Sample(color, torch.where(visible, penalty, inf), factor, verified & visible, inv,
                   torch.where(loose, penalty, inf))


def ulr_blend(samples: list[_Sample], k: int, fallback: bool = False,
              consensus: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unstructured-lumigraph blend of samples -> (color [H,W,3], weight sum [H,W],
    verified share [H,W]). Only the k best (lowest penalty) visible samples per pixel count.
    ``fallback`` blends by the fallback penalties (visibility only vetoed by occluders);
    ``consensus`` > 0 reweights each sample by exp(-|c - blend|^2 / consensus^2) once."""
    pen = torch.stack([s.fallback_penalty if fallback else s.penalty for s in samples])  # [R,H,W]
    r = pen.shape[0]
    srt = torch.sort(pen, dim=0).values
    thresh = srt[k] if r > k else torch.full_like(srt[0], float("inf"))
    # with fewer than k+1 visible the threshold is the worst visible one, stretched
    worst = torch.where(torch.isfinite(srt), srt, torch.zeros_like(srt)).max(0).values
    thresh = torch.where(torch.isfinite(thresh), thresh, 2.0 * worst + 1.0)
    wts = torch.clamp(1 - pen / thresh, min=0) / pen
    wts = torch.where(torch.isfinite(pen), wts, torch.zeros_like(wts))
    wts = wts * torch.stack([s.factor for s in samples])
    cols = torch.stack([s.color for s in samples])            # [R,H,W,3]
    total = wts.sum(0)
    color = (cols * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
    if consensus > 0:
        # one reweighting step: a sample far from the blend (an occlusion the depth test
        # missed, a misregistered view) loses its weight instead of ghosting into the pixel
        d2 = ((cols - color) ** 2).sum(-1)
        wts = wts * torch.exp(-d2 / consensus ** 2)
        total = wts.sum(0)
        color = (cols * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
    ver = (wts * torch.stack([s.verified.float() for s in samples])).sum(0) / total.clamp_min(1e-12)
    return color, total, ver


class SurfaceGenerator:
    """Photos sampled backward onto the memory's surface, PatchMatch for the rest."""

    name = "surface"
    guidance = "surface"   # the loop renders the memory as a surface for this generator
    top_k = 6              # references the loop retrieves for it unless told otherwise
    # observed pixels fuse only where the memory has no surface: the captured photos are
    # sampled again by later frames anyway, and re-fusing their colors on a slightly
    # different depth over the captured surface stacks ghost layers (seen on fern's orbit)
    fuse_below_confidence = 0.0

    def __init__(self, options: SurfaceGeneratorOptions = SurfaceGeneratorOptions(), device=None) -> None:
        self.options = options
        self.device = resolve_device(device)
        self._sources: dict[tuple, _Source] = {}
        self.last_fill_method = "none"

    def _reference_sources(self, request: SegmentRequest) -> list[_Source]:
        refs = sorted(request.references, key=lambda r: -r.weight)[: self.options.max_references]
        out, keep = [], {}
        for r in refs:
            key = (r.view_id, id(r.camera), id(r.depth))
            src = self._sources.get(key) or make_source(r.camera, r.image, r.depth, self.device,
                                                        completed=r.completed)
            keep[key] = src
            out.append(src)
        self._sources = keep   # views of the last segment stay cached for the next
        return out

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        sources = self._reference_sources(request)
        previous = request.context[-1] if request.context else None
        for i, target in enumerate(request.targets):
            if cancel is not None:
                cancel.raise_if_cancelled()
            guide = request.guidance[i] if i < len(request.guidance) else None
            frame = self.render_frame(target, guide, sources, previous, request.voxel_size)
            previous = frame
            yield frame

    # ------------------------------------------------------------------ one frame
    def _surface_depth(self, target, guide, sources, previous, voxel_size):
        """(depth [H,W] complete or zeros, known [H,W] bool, guide SurfaceRender or None).

        The references' measured depth, forward-warped, gives the precise surface (sharp
        silhouettes); the memory's surface render covers the rest, and wins where it holds
        generated content in front of what the references show."""
        dev = self.device
        h, w = target.height, target.width
        if guide is not None and not isinstance(guide, SurfaceRender):
            guide = fill_surface(guide, voxel_size, target)
        if guide is not None:
            guide = SurfaceRender(*(t.to(dev) if isinstance(t, torch.Tensor) else t
                                    for t in (getattr(guide, f) for f in guide.__dataclass_fields__)))
            depth, known = guide.depth, guide.mask & (guide.depth > 0)
            # generated content fused with a guessed depth (low confidence) is a guess again
            known &= ~((guide.segment >= 0) & (guide.confidence < self.options.occluder_confidence))
        else:
            depth, known = torch.zeros(h, w, device=dev), torch.zeros(h, w, dtype=torch.bool, device=dev)
        if self.options.warp_references:
            warped, covered = warp_reference_depth(sources, target, voxel_size)
            take = covered
            if guide is not None:
                band = torch.clamp(self.options.depth_tolerance * warped, min=2 * voxel_size)
                # observed generated content in front of what the references show occludes
                # it; invented content (low confidence) never hides a measured surface
                observed = guide.confidence >= self.options.occluder_confidence
                occluder = known & (guide.segment >= 0) & observed & (depth < warped - band)
                take = take & ~occluder
            depth = torch.where(take, warped, depth)
            known = known | take
        if not bool(known.all()) and previous is not None and self.options.use_previous_frame:
            prev = make_source(previous.camera, previous.color, previous.depth, dev)
            if prev.depth is not None:
                # the previous frame's surface, forward to this camera by sampling: cheap
                # and enough to fill the depth where the memory has none
                warped = _warp_depth(prev, target, dev)
                depth = torch.where(known, depth, warped)
                known = known | (warped > 0)
        return depth, known, guide

    def render_frame(self, target, guide, sources: list[_Source], previous: GeneratedFrame | None,
                     voxel_size: float) -> GeneratedFrame:
        opt = self.options
        dev = self.device
        h, w = target.height, target.width
        depth, known, guide = self._surface_depth(target, guide, sources, previous, voxel_size)
        no_depth = not bool(known.any())
        if no_depth:
            depth = torch.full((h, w), _fallback_depth(sources, target), device=dev)
            guessed = torch.ones(h, w, dtype=torch.bool, device=dev)
        else:
            guessed = ~known
            depth = complete_inverse_depth(depth, known, opt.background_reach)
            depth, _ = sweep_guessed_depth(depth, guessed, [s for s in sources if s.depth is not None],
                                           target, target_rays, opt.sweep)
        rays, eye = target_rays(target, dev)
        x = eye + rays * depth[..., None]
        samples = [sample_source(s, x, eye, opt, guessed, opt.depth_tolerance_voxels * voxel_size) for s in sources]
        if samples:
            color, weight, verified = ulr_blend(samples, opt.blend_k, consensus=opt.consensus)
            if not bool((weight > 0).all()):
                # no reference confirms the surface: the depth is off (an edge, a thin
                # structure); take the references that are not clearly occluded, at low weight
                c2, w2, _ = ulr_blend(samples, opt.blend_k, fallback=True)
                use = (weight <= 0) & (w2 > 0)
                color = torch.where(use[..., None], c2, color)
                weight = torch.where(use, w2 * opt.unverified_weight, weight)
        else:
            color = torch.zeros(h, w, 3, device=dev)
            weight = torch.zeros(h, w, device=dev)
            verified = torch.zeros(h, w, device=dev)
        seen = weight > 0
        confidence = torch.where(seen, (0.35 + 0.6 * verified) * weight / (weight + 0.02), torch.zeros_like(weight))
        # colors observed on a guessed surface: fused into the memory, they must neither
        # occlude measured surfaces nor count as known depth later
        confidence = torch.where(guessed, confidence.clamp(max=0.2), confidence)
        invented = torch.zeros(h, w, dtype=torch.bool, device=dev)
        if previous is not None and opt.use_previous_frame and not bool(seen.all()) and not no_depth:
            prev = make_source(previous.camera, previous.color, previous.depth, dev, previous.invented)
            if prev.depth is not None:
                s = sample_source(prev, x, eye, opt, guessed)
                take = ~seen & torch.isfinite(s.penalty)
                color = torch.where(take[..., None], s.color, color)
                prev_inv = s.invented if s.invented is not None else torch.zeros_like(take)
                confidence = torch.where(take, torch.where(prev_inv, 0.1, 0.3), confidence)
                invented |= take & prev_inv
                seen = seen | take
        if guide is not None and not no_depth:
            use_mem = ~seen & guide.mask
            mem_conf = guide.confidence
            mem_conf = 0.7 * mem_conf / (mem_conf + opt.memory_confidence_scale)
            color = torch.where(use_mem[..., None], guide.color, color)
            confidence = torch.where(use_mem, mem_conf, confidence)
            # surface the memory holds only from generated content stays "invented"
            invented |= use_mem & (guide.segment >= 0) & (mem_conf < 0.35)
            seen = seen | use_mem
        if no_depth:
            invented[:] = True
            confidence = torch.minimum(confidence, torch.full_like(confidence, 0.1))
        holes = ~seen
        color_np = color.clamp(0, 1).cpu().numpy()
        depth_np = depth.cpu().numpy()
        holes_np = holes.cpu().numpy()
        if holes_np.any():
            filled = fill_holes(color_np, holes_np, depth_np, opt.fill)
            color_np = filled.color
            self.last_fill_method = filled.method
        conf_np = confidence.clamp(0, 1).cpu().numpy().astype(np.float32)
        conf_np[holes_np] = 0.1
        inv_np = invented.cpu().numpy() | holes_np
        return GeneratedFrame(target, color_np.astype(np.float32), depth_np.astype(np.float32), conf_np, inv_np)


def warp_reference_depth(sources: list[_Source], target, voxel_size: float):
    """The references' measured depth forward-warped into ``target`` (one z-buffer of splats
    of 0.8 source pixels radius over all references): the nearest measured surface per pixel,
    see-through pixels removed. Returns (depth [H,W], covered [H,W] bool)."""
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
    return torch.where(covered, depth, torch.zeros_like(depth)), covered


def target_device(sources):
    return sources[0].image.device if sources else torch.device("cpu")


def _warp_depth(prev: _Source, target, device) -> torch.Tensor:
    """The previous frame's complete depth carried to ``target`` by a z-buffered point render
    at quarter resolution, upsampled (nearest); 0 where nothing lands."""
    from engine.memory.backproject import camera_points
    from engine.render.points import render_points

    small = target.scaled(0.25)
    stride = 2
    p_cam = camera_points(prev.camera, prev.depth)[::stride, ::stride].reshape(-1, 3)
    wfc = torch.as_tensor(prev.camera.world_from_cam, dtype=torch.float32, device=device)
    xyz = p_cam @ wfc[:3, :3].T + wfc[:3, 3]
    rgb = torch.zeros_like(xyz)
    radius = 2.0 * stride * p_cam[:, 2] / float(prev.camera.K[1, 1])
    r = render_points(xyz, rgb, small, radius, max_radius_px=2.0)
    d = F.interpolate(r.depth[None, None], size=(target.height, target.width), mode="nearest")[0, 0]
    return d


def _fallback_depth(sources: list[_Source], target) -> float:
    """A plane depth for a target with no surface: the median measured depth of the
    references, else 1 (scene units)."""
    vals = [s.depth[s.measured].median() for s in sources if s.depth is not None and bool(s.measured.any())]
    return float(torch.stack(vals).median()) if vals else 1.0
