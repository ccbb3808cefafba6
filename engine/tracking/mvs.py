"""Plane-sweep multi-view stereo in torch (CPU or CUDA).

For a reference view and its neighbours, fronto-parallel planes are swept uniformly in
inverse depth. Each neighbour is warped onto every plane (``grid_sample``); the photometric
cost is 1 - ZNCC over a small window (robust to exposure changes), computed as half the
mean squared difference of locally normalised images (normalised once per image, so each
plane costs one box filter). Per pixel the best ``best_k`` neighbour costs are averaged (occlusion robust), the
cost volume is box-aggregated, the winner is taken and refined with a parabola through its
neighbours in inverse depth. Confidence is the ZNCC of the winner, zeroed where the window
has no texture or the winner is not distinct.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.geometry import Camera


@dataclass(frozen=True)
class MVSOptions:
    max_side: int = 640            # working resolution of the sweep (images are downscaled)
    num_neighbors: int = 4
    best_k: int = 2                # neighbour costs averaged per pixel (lowest ones)
    min_depths: int = 32           # planes: ~1 px disparity steps, clamped to [min, max]
    max_depths: int = 160
    window: int = 5                # ZNCC window (pixels, odd)
    aggregate: int = 3             # box aggregation of the cost volume (pixels, odd; 1 = off)
    min_zncc: float = 0.5          # winners below this correlation are dropped
    min_texture: float = 1e-4      # window variance (grey in [0,1]) below this is textureless
    geo_pixel_tol: float = 1.0     # forward-backward reprojection tolerance (pixels)
    geo_depth_tol: float = 0.01    # relative depth tolerance of the consistency check
    geo_min_views: int = 2         # consistent neighbours needed (capped by available ones)
    chunk: int = 16                # depth planes per batch


@dataclass
class SweepResult:
    """depth [H,W] float32 z-depth (0 = none), confidence [H,W] float32 in [0,1] (torch)."""

    depth: torch.Tensor
    confidence: torch.Tensor


def to_gray(image: np.ndarray, device) -> torch.Tensor:
    """RGB uint8/float [H,W,3] -> grey [1,1,H,W] float32 in [0,1] on ``device``."""
    img = torch.as_tensor(np.ascontiguousarray(image), device=device)
    img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
    gray = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
    return gray[None, None]


def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    """Separable k×k mean filter [B,C,H,W] (edge windows average their valid pixels).
    On the CPU through OpenCV's box filter (~30x faster than torch's avg_pool2d there)."""
    if k <= 1:
        return x
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not x.requires_grad:
        return _box_cv(x, k)
    x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, k // 2), count_include_pad=False)
    return F.avg_pool2d(x, (k, 1), stride=1, padding=(k // 2, 0), count_include_pad=False)


def _box_cv(x: torch.Tensor, k: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    a = x.contiguous().numpy().reshape(-1, h, w)
    out = np.empty_like(a)
    cnt = cv2.boxFilter(np.ones((h, w), a.dtype), -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    for i in range(len(a)):
        cv2.boxFilter(a[i], -1, (k, k), dst=out[i], normalize=False, borderType=cv2.BORDER_CONSTANT)
    out /= cnt
    return torch.from_numpy(out.reshape(x.shape))


def num_planes(ref: Camera, srcs: list[Camera], near: float, far: float, options: MVSOptions) -> int:
    """Planes so that the mean neighbour's disparity range is sampled at ~1 px."""
    baselines = [np.linalg.norm(s.center - ref.center) for s in srcs]
    disparity = ref.K[0, 0] * float(np.mean(baselines)) * (1.0 / near - 1.0 / far)
    return int(np.clip(np.ceil(disparity), options.min_depths, options.max_depths))


def _src_projection(ref: Camera, src: Camera, device) -> tuple[torch.Tensor, torch.Tensor]:
    """A [H,W,3] = K_s R_sr rays_r and b [3] = K_s t_sr: src pixel of depth 1/w is A + w b."""
    src_from_ref = src.cam_from_world @ ref.world_from_cam
    rays = torch.as_tensor(ref.pixel_rays(), dtype=torch.float32, device=device)
    KR = torch.as_tensor(src.K @ src_from_ref[:3, :3], dtype=torch.float32, device=device)
    b = torch.as_tensor(src.K @ src_from_ref[:3, 3], dtype=torch.float32, device=device)
    return rays @ KR.T, b


def local_normalize(gray: torch.Tensor, k: int, min_tex: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(gray - local mean) / local std over k×k windows [1,1,H,W], and the texture mask
    (local variance > min_tex). Normalising once per image, before warping, makes the
    per-plane cost a single box filter: mean((r̂ - ŝ)²) = 2 (1 - ZNCC) for matching windows."""
    m = _box(gray, k)
    var = (_box(gray * gray, k) - m * m).clamp_min(0)
    return (gray - m) / torch.sqrt(var + min_tex), var > min_tex


def plane_sweep(ref: Camera, ref_image: np.ndarray, srcs: list[Camera], src_images: list[np.ndarray],
                near: float, far: float, options: MVSOptions = MVSOptions(), device="cpu") -> SweepResult:
    """Depth and confidence of ``ref`` (cameras at the images' resolution, OpenCV axes)."""
    if not srcs:
        raise ValueError(f"view {ref.name}: multi-view stereo needs at least one neighbour")
    h, w = ref.height, ref.width
    k = options.window
    r_hat, r_tex = local_normalize(to_gray(ref_image, device), k, options.min_texture)
    nd = num_planes(ref, srcs, near, far, options)
    inv = torch.linspace(1.0 / near, 1.0 / far, nd, device=device)
    projs = [_src_projection(ref, s, device) for s in srcs]
    normed = [local_normalize(to_gray(im, device), k, options.min_texture) for im in src_images]
    src_maps = [torch.cat([n, t.float()], 1) for n, t in normed]             # [1,2,H,W]
    volume = torch.empty(nd, h, w, device=device)
    kbest = max(1, min(options.best_k, len(srcs)))
    for start in range(0, nd, options.chunk):
        wv = inv[start:start + options.chunk]
        costs = [_plane_costs(A, b, s, m, wv, r_hat, k) for (A, b), s, m in zip(projs, srcs, src_maps)]
        volume[start:start + len(wv)] = mean_lowest(costs, kbest)
    volume = torch.where(r_tex[0], volume, torch.full_like(volume, 2.0))
    if options.aggregate > 1:
        volume = _box(volume[:, None], options.aggregate)[:, 0]
    return _winner(volume, inv)


def mean_lowest(costs: list[torch.Tensor], k: int) -> torch.Tensor:
    """Element-wise mean of the ``k`` lowest of the same-shaped tensors ``costs``."""
    n = len(costs)
    if k >= n:
        return sum(costs[1:], costs[0]) / n
    if k == 1:
        return torch.stack(costs).amin(0)
    if n - k == 1:                                       # all but the highest
        return (sum(costs[1:], costs[0]) - torch.stack(costs).amax(0)) / k
    if n == 4 and k == 2:                                # a sorting network: the two lowest of four
        a, b = torch.minimum(costs[0], costs[1]), torch.maximum(costs[0], costs[1])
        c, d = torch.minimum(costs[2], costs[3]), torch.maximum(costs[2], costs[3])
        return (torch.minimum(a, c) + torch.minimum(torch.maximum(a, c), torch.minimum(b, d))) / 2
    return torch.topk(torch.stack(costs), k, dim=0, largest=False).values.mean(0)


def _plane_costs(A, b, src: Camera, src_map, wv, r_hat, k, per_pixel: bool = False) -> torch.Tensor:
    """1 - ZNCC (approx., from normalised images) [B,H,W] of one neighbour on planes ``wv``
    [B] inverse depths, or (``per_pixel``) on per-pixel inverse depths ``wv`` [B,H,W]."""
    w3 = wv if per_pixel else wv[:, None, None]
    z = A[..., 2] + w3 * b[2]                                                  # [B,H,W]
    iz = 1.0 / z.clamp_min(1e-6)
    gx = (A[..., 0] + w3 * b[0]) * iz * (2.0 / src.width) - 1
    gy = (A[..., 1] + w3 * b[1]) * iz * (2.0 / src.height) - 1
    grid = torch.stack([gx, gy], -1)
    warped = F.grid_sample(src_map.expand(len(wv), -1, -1, -1), grid, mode="bilinear",
                           padding_mode="border", align_corners=False)
    ok = (z > 1e-6) & (gx.abs() <= 1) & (gy.abs() <= 1) & (warped[:, 1] > 0.999)
    diff = torch.where(ok, (warped[:, 0] - r_hat[0]) ** 2, torch.full_like(z, 4.0))
    return (0.5 * _box(diff[:, None], k)[:, 0]).clamp(max=2.0)


def _winner(volume: torch.Tensor, inv: torch.Tensor) -> SweepResult:
    """Winner-take-all with a parabola fit in inverse depth; confidence = winning ZNCC."""
    nd = volume.shape[0]
    idx = volume.argmin(0)                                                     # [H,W]
    c0 = volume.gather(0, idx[None])[0]
    cm = volume.gather(0, (idx - 1).clamp(0, nd - 1)[None])[0]
    cp = volume.gather(0, (idx + 1).clamp(0, nd - 1)[None])[0]
    denom = cm - 2 * c0 + cp
    offset = torch.where(denom > 1e-6, 0.5 * (cm - cp) / denom.clamp_min(1e-6), torch.zeros_like(c0))
    interior = (idx > 0) & (idx < nd - 1)
    offset = torch.where(interior, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
    step = (inv[-1] - inv[0]) / max(nd - 1, 1)
    w = inv[idx] + offset * step
    depth = 1.0 / w.clamp_min(1e-9)
    conf = (1.0 - c0).clamp(0, 1)
    conf = torch.where(interior, conf, torch.zeros_like(conf))   # a winner at the range end is unsure
    return SweepResult(depth, conf)


def photo_cost(ref: Camera, ref_image: np.ndarray, srcs: list[Camera], src_images: list[np.ndarray],
               depth: torch.Tensor, options: MVSOptions = MVSOptions(), device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """ZNCC [H,W] of a given per-pixel depth [H,W] (ref z, > 0) against the neighbours, with
    the sweep's cost (mean of the ``best_k`` lowest; -1 where no neighbour sees the pixel),
    and the reference's texture mask [H,W] bool. Used to verify completed depth."""
    k = options.window
    r_hat, r_tex = local_normalize(to_gray(ref_image, device), k, options.min_texture)
    wv = (1.0 / depth.clamp_min(1e-9)).to(device)
    costs = []
    for src, im in zip(srcs, src_images):
        A, b = _src_projection(ref, src, device)
        n, t = local_normalize(to_gray(im, device), k, options.min_texture)
        costs.append(_plane_costs(A, b, src, torch.cat([n, t.float()], 1), wv[None], r_hat, k, per_pixel=True)[0])
    if not costs:
        return torch.full_like(depth, -1.0), r_tex[0, 0]
    cost = mean_lowest(costs, max(1, min(options.best_k, len(costs))))
    return 1.0 - cost, r_tex[0, 0]
