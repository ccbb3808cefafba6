"""Render trained splats into an engine :class:`Camera` with either rasterizer.

``backend``: "torch" (pure torch, any device), "gsplat" (CUDA), or "auto" (gsplat when the
tensors are on CUDA and gsplat is installed, else torch).
"""
from __future__ import annotations

import numpy as np
import torch

from engine.geometry import Camera
from engine.splat.model import GaussianSplats
from engine.splat.rasterize_gsplat import gsplat_available, rasterize_gsplat
from engine.splat.rasterize_torch import RenderOutput, rasterize_torch


def resolve_backend(backend: str, device: torch.device) -> str:
    """'auto' -> 'gsplat' on CUDA with gsplat installed, else 'torch'; checks explicit names."""
    if backend == "auto":
        return "gsplat" if device.type == "cuda" and gsplat_available() else "torch"
    if backend == "gsplat" and not (device.type == "cuda" and gsplat_available()):
        raise RuntimeError("the gsplat backend needs CUDA tensors and the gsplat package")
    if backend not in ("torch", "gsplat"):
        raise ValueError(f"unknown splat rasterizer {backend!r} (torch, gsplat, auto)")
    return backend


def camera_tensors(camera: Camera, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(cam_from_world [4,4], K [3,3]) float32 tensors on ``device``."""
    return (torch.as_tensor(camera.cam_from_world, dtype=torch.float32, device=device),
            torch.as_tensor(camera.K, dtype=torch.float32, device=device))


def render_params(params, camera: Camera, sh_degree: int, backend: str = "auto",
                  background=None, absgrad: bool = False) -> RenderOutput:
    """Render a ParameterDict (raw values, :mod:`engine.splat.params` layout) into ``camera``.
    Differentiable; ``background`` [3] in [0,1] or None (black); ``absgrad`` (gsplat only)
    also accumulates absolute screen-space gradients for AbsGS densification."""
    device = params["means"].device
    name = resolve_backend(backend, device)
    sh = torch.cat([params["sh0"], params["shN"]], 1)
    view, K = camera_tensors(camera, device)
    args = (params["means"], params["quats"], torch.exp(params["scales"]), torch.sigmoid(params["opacities"]),
            sh, sh_degree, view, K, camera.width, camera.height, background)
    if name == "gsplat":
        return rasterize_gsplat(*args, absgrad=absgrad)
    return rasterize_torch(*args)


@torch.no_grad()
def render_splats(splats: GaussianSplats, camera: Camera, device="cpu", backend: str = "auto",
                  background=None, sh_degree: int | None = None) -> dict[str, np.ndarray]:
    """Render GaussianSplats (numpy) into ``camera``: {"color" [H,W,3] float32 in [0,1],
    "alpha" [H,W], "depth" [H,W] z-depth (0 = empty)} as numpy."""
    from engine.splat.params import params_from_splats

    params = params_from_splats(splats, torch.device(device), splats.sh_degree)
    out = render_params(params, camera, splats.sh_degree if sh_degree is None else sh_degree, backend, background)
    return {"color": out.color.clamp(0, 1).cpu().numpy(), "alpha": out.alpha.cpu().numpy(),
            "depth": out.depth.cpu().numpy()}
