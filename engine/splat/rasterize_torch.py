"""A small, slow, correct rasterizer of 3D Gaussians in pure torch (CPU or CUDA, autograd).

It follows gsplat's ``rasterization`` (classic mode) step by step so that the two agree to
float precision (the GPU test compares them):

1. Projection (EWA): world -> camera with ``cam_from_world``; covariance R S S^T R^T taken
   to the camera frame and through the Jacobian of the pinhole projection at the mean
   (the mean is clamped to 1.3x the field of view for the Jacobian only, as gsplat does);
   ``eps2d`` = 0.3 px^2 is added to the 2D covariance (a pixel-sized low-pass filter).
2. Culling: depth outside (near, far), non-positive determinant, opacity < 1/255, or the
   opacity-aware 3.33-sigma box outside the image.
3. Compositing per 16x16 tile, front to back in order of camera depth z:
   alpha = min(0.999, o * exp(-0.5 d^T Sigma^-1 d)), dropped below 1/255; a pixel stops
   before the Gaussian that would bring its transmittance to 1e-4 or below.
   color = sum_i T_i alpha_i c_i + T_final * background, depth = sum_i T_i alpha_i z_i / alpha.

Pixel (row i, col j) is sampled at (u, v) = (j + 0.5, i + 0.5) (engine/geometry/conventions.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.splat.sh import eval_sh_colors

ALPHA_THRESHOLD = 1.0 / 255.0
TRANSMITTANCE_MIN = 1e-4


@dataclass
class RenderOutput:
    """One rendered view (torch, on the render device).

    color  [H,W,3] RGB (background composited where alpha < 1)
    alpha  [H,W]   accumulated opacity in [0,1]
    depth  [H,W]   expected z-depth along the camera +z in world units (0 where alpha = 0)
    info   dict for densification, in gsplat's layout: means2d [1,N,2] px (a non-leaf
           tensor whose .grad the strategy reads), radii [1,N,2] int px (0 = culled),
           width, height, n_cameras (=1), gaussian_ids (None: not packed)
    """

    color: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    info: dict = field(default_factory=dict)


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [N,3,3] (local -> world) from quaternions [N,4] wxyz (normalised here)."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    return torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
                       dim=-1).reshape(-1, 3, 3)


@dataclass
class Projection:
    """Per-Gaussian screen-space quantities: means2d [N,2] px, conics [N,3] (a, b, c of the
    inverse 2D covariance [[a,b],[b,c]]), depths [N] camera z, radii [N,2] int px, valid [N]."""

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    valid: torch.Tensor


def project_gaussians(means, quats, scales, opacities, cam_from_world, K, width: int, height: int,
                      eps2d: float = 0.3, near: float = 0.01, far: float = 1e10) -> Projection:
    """EWA projection of Gaussians (means [N,3] world, quats [N,4] wxyz, scales [N,3] linear
    std-dev, opacities [N] in (0,1)) into a pinhole camera (cam_from_world [4,4], K [3,3] px)."""
    R, t = cam_from_world[:3, :3], cam_from_world[:3, 3]
    p = means @ R.T + t                                                 # [N,3] camera
    M = quat_to_rotmat(quats) * scales[:, None, :]
    cov_c = R @ (M @ M.transpose(1, 2)) @ R.T                           # [N,3,3] camera
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    tz = p[:, 2]
    lim_x = (0.3 * 0.5 * width / fx)
    tx = tz * torch.clamp(p[:, 0] / tz, min=-(cx / fx + lim_x), max=(width - cx) / fx + lim_x)
    ty = tz * torch.clamp(p[:, 1] / tz, min=-(cy / fy + 0.3 * 0.5 * height / fy),
                          max=(height - cy) / fy + 0.3 * 0.5 * height / fy)
    zero = torch.zeros_like(tz)
    J = torch.stack([fx / tz, zero, -fx * tx / tz ** 2, zero, fy / tz, -fy * ty / tz ** 2], -1).reshape(-1, 2, 3)
    cov2d = J @ cov_c @ J.transpose(1, 2) + eps2d * torch.eye(2, device=means.device, dtype=means.dtype)
    det = (cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0])
    safe_det = det.clamp_min(1e-10)
    conics = torch.stack([cov2d[:, 1, 1] / safe_det, -0.5 * (cov2d[:, 0, 1] + cov2d[:, 1, 0]) / safe_det,
                          cov2d[:, 0, 0] / safe_det], -1)
    means2d = torch.stack([fx * p[:, 0] / tz + cx, fy * p[:, 1] / tz + cy], -1)
    with torch.no_grad():
        op = opacities.detach()
        extend = torch.sqrt(2.0 * torch.log((op / ALPHA_THRESHOLD).clamp_min(1.0))).clamp_max(3.33)
        radii = torch.stack([torch.ceil(extend * cov2d[:, 0, 0].detach().clamp_min(0).sqrt()),
                             torch.ceil(extend * cov2d[:, 1, 1].detach().clamp_min(0).sqrt())], -1)
        m = means2d.detach()
        valid = (det.detach() > 0) & (tz.detach() > near) & (tz.detach() < far) & (op >= ALPHA_THRESHOLD)
        valid &= (m[:, 0] + radii[:, 0] > 0) & (m[:, 0] - radii[:, 0] < width)
        valid &= (m[:, 1] + radii[:, 1] > 0) & (m[:, 1] - radii[:, 1] < height)
        valid &= torch.isfinite(m).all(-1)
        radii = torch.where(valid[:, None], radii, torch.zeros_like(radii)).to(torch.int32)
    return Projection(means2d, conics, tz, radii, valid)


def _composite_tile(px, means2d, conics, opacities, colors, depths):
    """Front-to-back compositing of M depth-sorted Gaussians over P pixels px [P,2].
    Returns color [P,3], alpha [P], depth-weighted sum [P]."""
    d = px[:, None, :] - means2d[None]                                  # [P,M,2]
    sigma = 0.5 * (conics[:, 0] * d[..., 0] ** 2 + conics[:, 2] * d[..., 1] ** 2) + conics[:, 1] * d[..., 0] * d[..., 1]
    alpha = torch.clamp_max(opacities * torch.exp(-sigma), 0.999)
    alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
    t_incl = torch.cumprod(1.0 - alpha, dim=1)
    t_excl = torch.cat([torch.ones_like(t_incl[:, :1]), t_incl[:, :-1]], dim=1)
    keep = (t_incl > TRANSMITTANCE_MIN).detach()
    w = alpha * t_excl * keep
    return w @ colors, w.sum(1), w @ depths


def rasterize_torch(means, quats, scales, opacities, sh, sh_degree: int, cam_from_world, K,
                    width: int, height: int, background=None, eps2d: float = 0.3, near: float = 0.01,
                    far: float = 1e10, tile_size: int = 16) -> RenderOutput:
    """Render Gaussians into one camera. means [N,3] world, quats [N,4] wxyz, scales [N,3]
    linear, opacities [N] in (0,1), sh [N,K,3] (bands beyond sh_degree ignored),
    cam_from_world [4,4] OpenCV axes, K [3,3] px, background [3] or None (black)."""
    dev = means.device
    proj = project_gaussians(means, quats, scales, opacities, cam_from_world, K, width, height, eps2d, near, far)
    center = -cam_from_world[:3, :3].T @ cam_from_world[:3, 3]
    idx = torch.nonzero(proj.valid).squeeze(1)
    idx = idx[torch.argsort(proj.depths.detach()[idx], stable=True)]
    means2d = proj.means2d[None]      # [1,N,2], upstream of the image: densification reads its .grad
    m2, con, op, z = means2d[0][idx], proj.conics[idx], opacities[idx], proj.depths[idx]
    col = eval_sh_colors(sh[idx], sh_degree, means[idx], center)
    r = proj.radii[idx].to(m2.dtype)
    lo, hi = (m2.detach() - r), (m2.detach() + r)
    rows_out = []
    for y0 in range(0, height, tile_size):
        y1 = min(y0 + tile_size, height)
        in_rows = (lo[:, 1] < y1) & (hi[:, 1] > y0)
        tiles = []
        for x0 in range(0, width, tile_size):
            x1 = min(x0 + tile_size, width)
            sel = torch.nonzero(in_rows & (lo[:, 0] < x1) & (hi[:, 0] > x0)).squeeze(1)
            if sel.numel() == 0:
                tiles.append(torch.zeros(y1 - y0, x1 - x0, 5, device=dev, dtype=means.dtype))
                continue
            jj, ii = torch.meshgrid(torch.arange(x0, x1, device=dev), torch.arange(y0, y1, device=dev), indexing="xy")
            px = torch.stack([jj, ii], -1).reshape(-1, 2).to(means.dtype) + 0.5
            c, a, d = _composite_tile(px, m2[sel], con[sel], op[sel], col[sel], z[sel])
            tiles.append(torch.cat([c, a[:, None], d[:, None]], 1).reshape(y1 - y0, x1 - x0, 5))
        rows_out.append(torch.cat(tiles, dim=1))
    image = torch.cat(rows_out, dim=0)                                  # [H,W,5]
    color, alpha, dsum = image[..., :3], image[..., 3], image[..., 4]
    if background is not None:
        color = color + (1.0 - alpha)[..., None] * torch.as_tensor(background, device=dev, dtype=means.dtype)
    depth = torch.where(alpha > 0, dsum / alpha.clamp_min(1e-10), torch.zeros_like(dsum))
    info = {"means2d": means2d, "radii": proj.radii[None], "width": width, "height": height,
            "n_cameras": 1, "gaussian_ids": None}
    return RenderOutput(color, alpha, depth, info)
