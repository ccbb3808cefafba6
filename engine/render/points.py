"""Z-buffered point splatting into a pinhole camera (vectorised torch, CPU and CUDA).

Definition (the reference twin in ``points_reference.py`` implements the same rules):
1. Each point projects to the pixel containing its image position (pixel centers at +0.5).
   Per pixel the nearest point wins (ties: lower index). Points closer than ``near`` drop.
2. A point's footprint is a disc of radius ``r = clamp(f * radius_world / z, 0, max_radius_px)``
   pixels around its pixel. A pixel takes the nearest (depth, index) among the winning points
   of step 1 whose disc covers it: ``dx^2 + dy^2 <= r^2``. Close surfaces are hole-free
   because their points' discs overlap; far points stay one pixel wide.
Depth and index are packed into one int64 (float32 depth bits in the high word, the index
in the low word), so both z-tests are a single ``min``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.geometry import camera_torch

_EMPTY = torch.iinfo(torch.int64).max


@dataclass
class RenderResult:
    """A rendered view. Tensors (or numpy arrays after ``.numpy()``), image size H×W.

    color        [H,W,3] float32 in [0,1] (zeros where empty)
    depth        [H,W] float32 z-depth in meters along camera +z (0 where empty)
    mask         [H,W] bool, True where a point is drawn
    source_view  [H,W] int32 captured view id of the drawn point (-1 where empty or none)
    point_index  [H,W] int64 row of the drawn point in the rendered point set (-1 where empty)
    confidence   [H,W] float32 confidence of the drawn point (0 where empty)
    segment      [H,W] int32 provenance of the drawn point (-1 captured or empty)
    """

    color: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    source_view: torch.Tensor
    point_index: torch.Tensor
    confidence: torch.Tensor
    segment: torch.Tensor

    def numpy(self) -> "RenderResult":
        return RenderResult(*(np.asarray(getattr(self, f).detach().cpu().numpy()) if
                              isinstance(getattr(self, f), torch.Tensor) else getattr(self, f)
                              for f in self.__dataclass_fields__))

    @property
    def coverage(self) -> float:
        """Fraction of pixels the render covers."""
        return float(self.mask.mean(dtype=float) if isinstance(self.mask, np.ndarray) else self.mask.float().mean())


def project_points(xyz: torch.Tensor, camera, near: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """points [N,3] world -> (u [N], v [N] image coords, z [N] depth); z <= near marks invalid."""
    return camera_torch.project(camera, xyz, near)


def _center_keys(xyz, camera, radius_world, near, max_radius_px, dense: bool | None = None):
    """Step 1: per padded pixel, the packed (depth, index) of the nearest point, and radii.
    ``dense`` (None: on CUDA) works on every point, the ones outside the canvas scattered
    into a spare slot, instead of selecting the inside ones first (a nonzero: a host sync
    per render on a GPU); the same canvas and radii."""
    h, w, pad = camera.height, camera.width, int(np.ceil(max_radius_px))
    wp, hp = w + 2 * pad, h + 2 * pad
    u, v, z = project_points(xyz, camera, near)
    col = torch.floor(u)
    row = torch.floor(v)
    ok = (z > near) & (col >= -pad) & (col < w + pad) & (row >= -pad) & (row < h + pad)
    if xyz.is_cuda if dense is None else dense:
        spare = hp * wp          # the slot of the points outside (dropped)
        idx = torch.arange(xyz.shape[0], device=xyz.device)
        flat = torch.where(ok, (row.clamp(-pad, h + pad).long() + pad) * wp + (col.clamp(-pad, w + pad).long() + pad),
                           spare)
        key = (z.contiguous().view(torch.int32).long() << 32) | idx
        canvas = torch.full((spare + 1,), _EMPTY, dtype=torch.int64, device=xyz.device)
        canvas.scatter_reduce_(0, flat, key, "amin")
        rad = torch.as_tensor(radius_world, dtype=torch.float32, device=xyz.device)
        zs = torch.where(ok, z, 1.0)
        radius_px = torch.clamp(float(camera.K[1, 1]) * rad / zs, 0.0, max_radius_px)
        winner = (canvas[flat] == key) & ok
        radius_canvas = torch.zeros(spare + 1, dtype=torch.float32, device=xyz.device)
        radius_canvas.scatter_reduce_(0, flat, torch.where(winner, radius_px, 0.0), "amax")
        return canvas[:spare].view(hp, wp), radius_canvas[:spare].view(hp, wp), pad
    idx = torch.nonzero(ok).squeeze(1)
    z_ok = z[idx]
    flat = (row[idx].long() + pad) * wp + (col[idx].long() + pad)
    key = (z_ok.contiguous().view(torch.int32).long() << 32) | idx
    canvas = torch.full((hp * wp,), _EMPTY, dtype=torch.int64, device=xyz.device)
    canvas.scatter_reduce_(0, flat, key, "amin")
    rad = torch.as_tensor(radius_world, dtype=torch.float32, device=xyz.device)
    rad = rad if rad.ndim == 0 else rad[idx]
    radius_px = torch.clamp(float(camera.K[1, 1]) * rad / z_ok, 0.0, max_radius_px)
    winner = canvas[flat] == key
    radius_canvas = torch.zeros(hp * wp, dtype=torch.float32, device=xyz.device)
    radius_canvas.scatter_reduce_(0, flat, torch.where(winner, radius_px, 0.0), "amax")
    return canvas.view(hp, wp), radius_canvas.view(hp, wp), pad


def _footprint_offsets(max_radius_px: float) -> list[tuple[int, int, float]]:
    pad = int(np.ceil(max_radius_px))
    out = []
    for dy in range(-pad, pad + 1):
        for dx in range(-pad, pad + 1):
            d2 = float(dx * dx + dy * dy)
            if d2 <= max_radius_px * max_radius_px:
                out.append((dy, dx, d2))
    return out


def splat_keys(xyz: torch.Tensor, camera, radius_world, near: float = 1e-3,
               max_radius_px: float = 3.0) -> torch.Tensor:
    """Packed (depth, index) keys [H,W] int64 after both z-tests; _EMPTY where nothing."""
    canvas, radius, pad = _center_keys(xyz, camera, radius_world, near, max_radius_px)
    if xyz.device.type == "cuda":
        return _footprint_windows(canvas, radius, pad, camera.height, camera.width, max_radius_px)
    h, w = camera.height, camera.width
    out = torch.full((h, w), _EMPTY, dtype=torch.int64, device=xyz.device)
    for dy, dx, d2 in _footprint_offsets(max_radius_px):
        # the source pixel of this pixel is (row - dy, col - dx)
        src = canvas[pad - dy: pad - dy + h, pad - dx: pad - dx + w]
        rad = radius[pad - dy: pad - dy + h, pad - dx: pad - dx + w]
        covers = rad * rad >= d2
        out = torch.minimum(out, torch.where(covers, src, torch.full_like(src, _EMPTY)))
    return out


def _footprint_windows(canvas, radius, pad, h, w, max_radius_px):
    """Step 2 in a few kernels: every pixel's (2·pad+1)² window as a strided view (no copy),
    the same rule as the offset loop (source covers the pixel when r² >= dx² + dy²)."""
    k = 2 * pad + 1
    d = torch.arange(-pad, pad + 1, device=canvas.device, dtype=torch.float32)
    # window element (a, b) of pixel (i, j) is canvas[i + a, j + b] = source at offset (pad - a, pad - b)
    d2 = (d.flip(0)[:, None] ** 2 + d.flip(0)[None, :] ** 2)
    d2 = torch.where(d2 <= max_radius_px * max_radius_px, d2, torch.full_like(d2, float("inf")))
    sc, sr = canvas.stride()
    keys = canvas.as_strided((h, w, k, k), (sc, sr, sc, sr))
    rads = radius.as_strided((h, w, k, k), (sc, sr, sc, sr))
    covered = rads * rads >= d2
    return torch.where(covered, keys, _EMPTY).amin(dim=(2, 3))


def render_points(xyz: torch.Tensor, rgb: torch.Tensor, camera, radius_world=0.01,
                  conf: torch.Tensor | None = None, view: torch.Tensor | None = None,
                  segment: torch.Tensor | None = None, near: float = 1e-3,
                  max_radius_px: float = 3.0) -> RenderResult:
    """Render points [N,3] world with colors [N,3] into ``camera`` (see module docstring).

    radius_world  float or [N] world-space splat radius (meters)
    conf, view, segment  optional per-point [N] attributes carried into the image
    """
    if xyz.shape[0] == 0:
        keys = torch.full((camera.height, camera.width), _EMPTY, dtype=torch.int64, device=xyz.device)
    else:
        keys = splat_keys(xyz, camera, radius_world, near, max_radius_px)
    return decode_keys(keys, rgb, conf, view, segment)


def decode_keys(keys, rgb, conf=None, view=None, segment=None) -> RenderResult:
    mask = keys != _EMPTY
    index = torch.where(mask, keys & 0xFFFFFFFF, -1)
    safe = index.clamp(min=0)
    depth = torch.where(mask, (keys >> 32).to(torch.int32).view(torch.float32), 0.0)
    m3 = mask[..., None]
    if rgb.shape[0] == 0:
        safe = torch.zeros_like(safe)
        rgb = torch.zeros(1, 3, device=keys.device)
    color = torch.where(m3, rgb[safe], 0.0)
    def attr(a, fill, dtype):
        if a is None or a.shape[0] == 0:
            return torch.full(keys.shape, fill, dtype=dtype, device=keys.device)
        return torch.where(mask, a[safe].to(dtype), fill)
    return RenderResult(color, depth, mask, attr(view, -1, torch.int32), index,
                        attr(conf, 0.0, torch.float32), attr(segment, -1, torch.int32))


def render_memory(memory, camera, subset: torch.Tensor | None = None, max_radius_px: float = 3.0) -> RenderResult:
    """Render the geometry memory's points (all of them, or ``subset``) into ``camera``.

    subset  None: every point. Else which rows to draw: an [N] bool mask over the memory's
            rows (e.g. ``memory.provenance_mask(generated=False)``) or [M] int64 row numbers.
            What to show is the caller's choice; the memory holds no display state. (A bool
            here is the former ``include_hidden`` flag and draws every point.)
    ``point_index`` refers to rows of the memory (all rows), whatever the subset.
    """
    if memory.is_empty:
        raise ValueError("cannot render: the geometry memory is empty")
    r = memory.rows
    if subset is None or isinstance(subset, bool):
        return render_points(r.xyz, r.rgb, camera, memory.point_radius(), r.conf, r.view, r.segment,
                             max_radius_px=max_radius_px)
    subset = torch.as_tensor(subset, device=r.xyz.device)
    rows = torch.nonzero(subset).squeeze(1) if subset.dtype == torch.bool else subset.long()
    out = render_points(r.xyz[rows], r.rgb[rows], camera, memory.point_radius(), r.conf[rows],
                        r.view[rows], r.segment[rows], max_radius_px=max_radius_px)
    out.point_index = torch.where(out.mask, rows[out.point_index.clamp(min=0)], out.point_index)
    return out


def see_through(depth: torch.Tensor, mask: torch.Tensor, kernel: int = 5, rel_tol: float = 0.05,
                abs_tol: float = 0.0, fraction: float = 0.6) -> torch.Tensor:
    """[H,W] bool: pixels of a point render that show a far surface through a gap between
    the splats of a nearer one. Such a pixel is surrounded by nearer pixels: more than
    ``fraction`` of the drawn pixels in its ``kernel``×``kernel`` window are nearer by more
    than ``rel_tol`` (relative) + ``abs_tol`` (meters). A slanted surface has about half of
    its neighbours nearer, so it is kept. Treat the flagged pixels as holes."""
    import torch.nn.functional as F

    h, w = depth.shape
    pad = kernel // 2
    d = torch.where(mask, depth, torch.zeros_like(depth))[None, None]
    nb = F.unfold(F.pad(d, (pad, pad, pad, pad)), kernel).view(kernel * kernel, h, w)
    drawn = nb > 0
    nearer = drawn & (nb * (1 + rel_tol) + abs_tol < depth[None])
    share = nearer.sum(0).float() / drawn.sum(0).clamp_min(1).float()
    return mask & (share > fraction)
