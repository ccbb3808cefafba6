"""gsplat's CUDA rasterizer behind the same call as :func:`rasterize_torch`.

gsplat is imported lazily (it JIT-compiles its CUDA kernels on first use, ~35 s on an
H200 with ``TORCH_CUDA_ARCH_LIST=9.0``); the engine imports without it. gsplat's
conventions match ours: quaternions wxyz, ``viewmats`` = cam_from_world with OpenCV axes,
K in pixels, pixel centers at (j + 0.5, i + 0.5), SH coefficients [N,K,3].
"""
from __future__ import annotations

import importlib.util

import torch

from engine.splat.rasterize_torch import RenderOutput


def gsplat_available() -> bool:
    """True when gsplat is installed and CUDA is present (gsplat has no CPU path)."""
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


def rasterize_gsplat(means, quats, scales, opacities, sh, sh_degree: int, cam_from_world, K,
                     width: int, height: int, background=None, eps2d: float = 0.3, near: float = 0.01,
                     far: float = 1e10, tile_size: int = 16, absgrad: bool = False) -> RenderOutput:
    """Arguments and result as :func:`engine.splat.rasterize_torch.rasterize_torch` (CUDA tensors).
    ``info`` is gsplat's own dict (means2d [1,N,2], radii [1,N,2], ...)."""
    from gsplat import rasterization

    bg = None
    if background is not None:
        bg = torch.as_tensor(background, device=means.device, dtype=means.dtype).reshape(1, 3)
    colors, alphas, info = rasterization(
        means, quats, scales, opacities, sh, cam_from_world[None], K[None], width, height,
        near_plane=near, far_plane=far, eps2d=eps2d, sh_degree=sh_degree, packed=False,
        tile_size=tile_size, backgrounds=bg, render_mode="RGB+ED", absgrad=absgrad,
        rasterize_mode="classic")
    alpha = alphas[0, ..., 0]
    depth = torch.where(alpha > 0, colors[0, ..., 3], torch.zeros_like(alpha))
    return RenderOutput(colors[0, ..., :3], alpha, depth, info)
