"""The default, weight-free generator: image-based rendering from the retrieved views.

Per target frame:
1. Forward-warp every reference view into the target (its matched depth map lifted to
   points, completed pixels left out, splatted with a one-pixel footprint, z-buffered):
   color and depth per reference.
2. Depth test across references: only references within ``depth_tolerance`` of the nearest
   surface at a pixel take part. Blend them with weights
   ``reference_weight * exp(-(angle / angle_scale)^2) * resolution`` where angle is between
   the target's and the reference's rays to the surface, resolution = min(d_t,d_r)/max(d_t,d_r).
3. Where no reference sees the pixel, or the memory render says a nearer surface occludes
   what the references see, take the memory render (the guidance).
4. Still-empty pixels take the previous generated frame of this segment, warped (temporal
   consistency: what was invented once is reused, not re-invented).
5. The rest is invented: push-pull fill of color and inverse depth.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.device import resolve_device
from engine.generate.protocol import CancelToken, GeneratedFrame, SegmentRequest
from engine.generate.pushpull import push_pull
from engine.geometry import camera_torch
from engine.imaging import dark_border_inset
from engine.memory.backproject import backproject_depth
from engine.render.points import render_points, see_through

_INF = float("inf")


@dataclass(frozen=True)
class IBROptions:
    angle_scale_deg: float = 12.0
    depth_tolerance: float = 0.03        # relative depth band treated as the same surface
    memory_confidence_scale: float = 3.0  # memory confidence mapped to [0,1] by c / (c + scale)
    footprint: float = 0.8               # splat radius of a warped pixel, in its own pixels
    use_previous_frame: bool = True


@dataclass
class _WarpSource:
    xyz: torch.Tensor     # [N,3] world
    rgb: torch.Tensor     # [N,3]
    radius: torch.Tensor  # [N] world
    center: torch.Tensor  # [3] world camera center
    weight: float
    invented: torch.Tensor | None = None  # [N] bool, carried through the warp
    camera: object = None
    image: torch.Tensor | None = None     # [3,H,W] for backward sampling
    depth: torch.Tensor | None = None     # [H,W] z-depth, 0 unknown
    inset: tuple = (0.0, 0.0, 0.0, 0.0)   # (left, top, right, bottom) pixels never sampled (dark border lines)


def _backward_sample(src: _WarpSource, x: torch.Tensor, band: torch.Tensor):
    """Sample src's image at the projections of world points x [H,W,3] (bilinear); visible
    [H,W] where src's own depth at that pixel agrees with the point's depth within band, and
    the projection keeps off the image's dark border lines (``src.inset``, engine.imaging)."""
    import torch.nn.functional as F

    cam = src.camera
    u, v, z = camera_torch.project(cam, x, near=1e-6)
    grid = torch.stack([2 * u / cam.width - 1, 2 * v / cam.height - 1], dim=-1)[None]
    color = F.grid_sample(src.image[None], grid, mode="bilinear", padding_mode="border",
                          align_corners=False)[0].permute(1, 2, 0)
    col = torch.floor(u).long().clamp(0, cam.width - 1)
    row = torch.floor(v).long().clamp(0, cam.height - 1)
    left, top, right, bottom = src.inset
    inside = (z > 1e-6) & (u >= left) & (u < cam.width - right) & (v >= top) & (v < cam.height - bottom)
    d_ref = src.depth[row, col]
    visible = inside & (d_ref > 0) & ((z - d_ref).abs() <= band * 1.5)
    return color, visible


def _matched_depth(ref):
    """A reference's matched depth [H,W] (completed pixels 0) or None: forward-warped, a wrong
    completed plane is a floating slab over the frame (statue held-out with completed depth:
    12.48 dB against 14.34 with matched depth, benchmarks/RESULTS.md)."""
    if ref.depth is None or ref.completed is None:
        return ref.depth
    return np.where(np.asarray(ref.completed, bool), 0.0, ref.depth).astype(np.float32)


def _warp_source(camera, image, depth, weight, device, footprint, invented=None, conf=None) -> _WarpSource | None:
    if depth is None:
        return None
    pts = backproject_depth(camera, depth, image, conf, None, 1, device)
    if pts.xyz.shape[0] == 0:
        return None
    z = camera_torch.world_to_camera(camera, pts.xyz)[:, 2]
    radius = footprint * z / float(camera.K[1, 1])
    inv = None
    if invented is not None:
        valid = np.isfinite(depth) & (depth > 0)
        inv = torch.as_tensor(invented[valid], device=device)
    center = torch.as_tensor(camera.center, dtype=torch.float32, device=device)
    img = torch.as_tensor(np.asarray(image), device=device)
    img = (img.float() / 255.0 if img.dtype == torch.uint8 else img.float())[..., :3].permute(2, 0, 1)
    dep = torch.as_tensor(np.nan_to_num(np.asarray(depth, np.float32), posinf=0.0), device=device)
    return _WarpSource(pts.xyz, pts.rgb, radius, center, weight, inv, camera, img.contiguous(), dep,
                       dark_border_inset(image))


def _target_rays(camera, device) -> tuple[torch.Tensor, torch.Tensor]:
    """World-frame ray directions [H,W,3] scaled so that a z-depth d gives the point
    center + d * ray (pixel centers at +0.5); and the center [3]. Built on the device."""
    return camera_torch.pixel_rays(camera, device)


class IBRGenerator:
    """Forward-warping image-based renderer (see module docstring)."""

    name = "ibr"

    def __init__(self, options: IBROptions = IBROptions(), device=None) -> None:
        self.options = options
        self.device = resolve_device(device)

    def generate(self, request: SegmentRequest, cancel: CancelToken | None = None) -> Iterator[GeneratedFrame]:
        opt = self.options
        sources = [s for s in (_warp_source(r.camera, r.image, _matched_depth(r), max(r.weight, 1e-3),
                                            self.device, opt.footprint) for r in request.references) if s]
        previous = request.context[-1] if request.context else None
        for target, guide in zip(request.targets, request.guidance):
            if cancel is not None:
                cancel.raise_if_cancelled()
            frame = self.render_frame(target, guide, sources, previous, request.voxel_size)
            previous = frame
            yield frame

    def render_frame(self, target, guide, sources, previous, voxel_size) -> GeneratedFrame:
        opt = self.options
        dev = self.device
        h, w = target.height, target.width
        rays, center_t = _target_rays(target, dev)
        color, depth, weight = self._blend_references(target, sources, rays, center_t, voxel_size)
        have_ref = weight > 0
        confidence = torch.where(have_ref, 0.5 + 0.45 * weight / (weight + 0.5), torch.zeros_like(weight))
        invented = torch.zeros(h, w, dtype=torch.bool, device=dev)
        if guide is not None:
            g_depth = guide.depth.to(dev)
            gm = guide.mask.to(dev)
            gm = gm & ~see_through(g_depth, gm, abs_tol=2 * voxel_size)
            # generated content in the memory that lies in front of what the (captured)
            # references show occludes it; captured memory points are already in the views
            generated = guide.segment.to(dev) >= 0 if guide.segment is not None else torch.zeros_like(gm)
            occluding = gm & have_ref & generated & (g_depth < depth * (1 - opt.depth_tolerance) - 2 * voxel_size)
            use_mem = gm & (~have_ref | occluding)
            color = torch.where(use_mem[..., None], guide.color.to(dev), color)
            depth = torch.where(use_mem, g_depth, depth)
            mem_conf = guide.confidence.to(dev)
            mem_conf = 0.7 * mem_conf / (mem_conf + opt.memory_confidence_scale)
            confidence = torch.where(use_mem, mem_conf, confidence)
            have_ref = have_ref | use_mem
            if guide.segment is not None:
                # surface the memory holds only from generated content stays "invented"
                invented |= use_mem & (guide.segment.to(dev) >= 0) & (mem_conf < 0.35)
        if opt.use_previous_frame and previous is not None and bool((~have_ref).any()):
            color, depth, confidence, invented, have_ref = self._fill_from_previous(
                target, previous, color, depth, confidence, invented, have_ref)
        holes = ~have_ref
        if bool(holes.any()):
            known = (~holes).float()
            color = push_pull(color.permute(2, 0, 1), known).permute(1, 2, 0)
            depth = torch.where(holes, _fill_hole_depth(depth, known), depth)
            confidence = torch.where(holes, torch.full_like(confidence, 0.1), confidence)
            invented |= holes
        # one device-to-host copy for the whole frame
        packed = torch.cat([color.clamp(0, 1), depth[..., None], confidence[..., None],
                            invented[..., None].float()], dim=-1)
        if packed.is_cuda:  # pinned staging: about 4x faster than a pageable copy
            host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
            host.copy_(packed)
            packed = host
        packed = packed.cpu().numpy()
        return GeneratedFrame(target, packed[..., :3].copy(), packed[..., 3].copy(), packed[..., 4].copy(),
                              packed[..., 5] > 0.5)

    def _blend_references(self, target, sources, rays, center_t, voxel_size):
        """Target depth from the forward-warped references (nearest surface), then colors by
        *backward* warping: each target pixel's surface point is projected into every reference
        and its image sampled bilinearly where the reference's own depth confirms visibility."""
        opt = self.options
        dev = self.device
        h, w = target.height, target.width
        if not sources:
            z = torch.zeros(h, w, device=dev)
            return torch.zeros(h, w, 3, device=dev), z, z.clone()
        renders = [render_points(s.xyz, s.rgb, target, s.radius, max_radius_px=2.0) for s in sources]
        depths = torch.stack([torch.where(r.mask, r.depth, torch.full_like(r.depth, _INF)) for r in renders])
        zmin = depths.min(0).values
        band = torch.clamp(opt.depth_tolerance * zmin, min=2 * voxel_size)
        accept = torch.isfinite(depths) & (depths <= zmin + band)
        accept &= ~see_through(torch.nan_to_num(zmin, posinf=0.0), torch.isfinite(zmin), abs_tol=2 * voxel_size)
        n_accept = accept.sum(0).clamp_min(1)
        depth = torch.where(accept, depths, torch.zeros_like(depths)).sum(0) / n_accept
        covered = accept.any(0)
        x = center_t + rays * depth[..., None]                     # [H,W,3] world surface points
        ray_t = x - center_t
        d_t = ray_t.norm(dim=-1).clamp_min(1e-6)
        colors, weights = [], []
        for s in sources:
            sample, visible = _backward_sample(s, x, band)
            ray_r = x - s.center
            d_r = ray_r.norm(dim=-1).clamp_min(1e-6)
            cos = ((ray_t * ray_r).sum(-1) / (d_t * d_r)).clamp(-1, 1)
            angle = torch.rad2deg(torch.arccos(cos))
            res = torch.minimum(d_t, d_r) / torch.maximum(d_t, d_r)
            wgt = torch.exp(-(angle / opt.angle_scale_deg) ** 2) * res + 1e-4
            colors.append(sample)
            weights.append(wgt * (visible & covered))
        wts = torch.stack(weights)
        total = wts.sum(0)
        color = (torch.stack(colors) * wts[..., None]).sum(0) / total.clamp_min(1e-12)[..., None]
        # pixels where the surface is known but no reference confirms it: forward-warped colors
        fwd = (torch.stack([r.color for r in renders]) * accept[..., None]).sum(0) / n_accept[..., None]
        color = torch.where((total > 0)[..., None], color, fwd)
        total = torch.where(covered & (total <= 0), torch.full_like(total, 1e-3), total)
        return color, torch.where(covered, depth, torch.zeros_like(depth)), torch.where(covered, total, torch.zeros_like(total))

    def _fill_from_previous(self, target, previous, color, depth, confidence, invented, have_ref):
        src = _warp_source(previous.camera, previous.color, previous.depth, 1.0, self.device,
                           self.options.footprint, invented=previous.invented, conf=None)
        if src is None:
            return color, depth, confidence, invented, have_ref
        r = render_points(src.xyz, src.rgb, target, src.radius)
        fill = r.mask & ~have_ref
        color = torch.where(fill[..., None], r.color, color)
        depth = torch.where(fill, r.depth, depth)
        prev_inv = src.invented[r.point_index.clamp(min=0)] & r.mask
        confidence = torch.where(fill, torch.where(prev_inv, 0.1, 0.3), confidence)
        invented = invented | (fill & prev_inv)
        return color, depth, confidence, invented, have_ref | fill


def _fill_hole_depth(depth: torch.Tensor, known: torch.Tensor, reach: int = 9) -> torch.Tensor:
    """Depth [H,W] for hole pixels: push-pull of inverse depth (smooth, unbiased inside large
    holes), but never nearer than the farthest known depth within ``reach`` pixels, because
    a disocclusion next to a silhouette shows the background (no membranes across edges)."""
    import torch.nn.functional as F

    inv = torch.where(depth > 0, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth))
    smooth = 1.0 / push_pull(inv[None], known)[0].clamp_min(1e-6)
    known_depth = torch.where(known > 0, depth, torch.zeros_like(depth))
    local_far = F.max_pool2d(known_depth[None, None], reach, stride=1, padding=reach // 2)[0, 0]
    return torch.where(local_far > 0, torch.maximum(smooth, local_far), smooth)


def warp_single_view(reference, target, device=None) -> GeneratedFrame:
    """Baseline: forward-warp one view into the target and push-pull fill the rest."""
    gen = IBRGenerator(IBROptions(use_previous_frame=False), device)
    src = _warp_source(reference.camera, reference.image, reference.depth, 1.0, gen.device, gen.options.footprint)
    return gen.render_frame(target, None, [src] if src else [], None, 0.0)
