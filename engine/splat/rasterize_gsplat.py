"""gsplat's CUDA rasterizer behind the same call as :func:`rasterize_torch`.

gsplat is imported lazily (it JIT-compiles its CUDA kernels on first use, ~35 s on an
H200 with ``TORCH_CUDA_ARCH_LIST=9.0``); the engine imports without it. gsplat's
conventions match ours: quaternions wxyz, ``viewmats`` = cam_from_world with OpenCV axes,
K in pixels, pixel centers at (j + 0.5, i + 0.5), SH coefficients [N,K,3].
"""
from __future__ import annotations

import importlib.util
import os
import sys

import torch

from engine.splat.rasterize_torch import RenderOutput


def gsplat_available() -> bool:
    """True when gsplat is installed and CUDA is present (gsplat has no CPU path)."""
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


PREBUILT_ENV = "ANYRECON_GSPLAT_SO"


def use_prebuilt_gsplat() -> bool:
    """Make ``import gsplat`` use an already compiled CUDA extension: the ``gsplat_cuda``
    shared library that gsplat's own JIT build left (``~/.cache/torch_extensions/.../
    gsplat_cuda.so``), named by ``$ANYRECON_GSPLAT_SO``. gsplat first tries
    ``from gsplat import csrc``, so registering the library as ``gsplat.csrc`` before gsplat is
    imported skips its 35-80 s compile. The library must come from the same torch / CUDA
    build. Returns whether it was registered (False: unset, missing or gsplat already imported)."""
    path = os.environ.get(PREBUILT_ENV)
    if not path or "gsplat" in sys.modules or "gsplat.csrc" in sys.modules or not os.path.isfile(path):
        return False
    try:
        import torch  # noqa: F401  (the library links against torch's)

        spec = importlib.util.spec_from_file_location("gsplat_cuda", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError) as exc:   # another torch build: gsplat compiles its own
        print(f"{PREBUILT_ENV}={path} not usable ({exc}); gsplat will compile", file=sys.stderr)
        return False
    sys.modules["gsplat.csrc"] = module
    return True


def rasterize_gsplat(means, quats, scales, opacities, sh, sh_degree: int, cam_from_world, K,
                     width: int, height: int, background=None, eps2d: float = 0.3, near: float = 0.01,
                     far: float = 1e10, tile_size: int = 16, absgrad: bool = False) -> RenderOutput:
    """Arguments and result as :func:`engine.splat.rasterize_torch.rasterize_torch` (CUDA tensors).
    ``info`` is gsplat's own dict (means2d [1,N,2], radii [1,N,2], ...)."""
    use_prebuilt_gsplat()
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
