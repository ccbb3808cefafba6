"""Trainable splat parameters (torch) and their conversion to and from :class:`GaussianSplats`.

The trainer keeps one ``torch.nn.ParameterDict`` with gsplat's names and raw (unactivated)
values, the layout gsplat's densification strategies operate on:

means      [N,3]    world (meters)
scales     [N,3]    log of the per-axis standard deviation
quats      [N,4]    wxyz, not normalised
opacities  [N]      logit of the opacity
sh0        [N,1,3]  DC spherical-harmonic coefficient
shN        [N,K-1,3] higher bands (K = 16 for degree 3; K-1 = 0 is allowed)
"""
from __future__ import annotations

import numpy as np
import torch

from engine.splat.model import SH_C0, GaussianSplats

PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")


def params_from_splats(splats: GaussianSplats, device, sh_degree: int = 3,
                       init_opacity: float | None = None) -> torch.nn.ParameterDict:
    """GaussianSplats -> ParameterDict on ``device`` with room for ``sh_degree`` bands.

    init_opacity (0..1) replaces every opacity when given (3DGS starts all at 0.1).
    """
    k = (sh_degree + 1) ** 2
    sh = splats.with_sh_degree(sh_degree).sh if splats.sh.shape[1] != k else splats.sh
    logits = splats.opacity_logits
    if init_opacity is not None:
        p = float(np.clip(init_opacity, 1e-4, 1 - 1e-4))
        logits = np.full(len(splats), np.log(p / (1 - p)), np.float32)
    as_t = lambda a: torch.nn.Parameter(torch.tensor(np.ascontiguousarray(a), dtype=torch.float32,  # noqa: E731
                                                        device=device))
    return torch.nn.ParameterDict({
        "means": as_t(splats.means), "scales": as_t(splats.log_scales), "quats": as_t(splats.quats),
        "opacities": as_t(logits), "sh0": as_t(sh[:, :1]), "shN": as_t(sh[:, 1:])})


def splats_from_params(params) -> GaussianSplats:
    """ParameterDict (or dict of tensors) -> GaussianSplats (numpy, CPU, detached)."""
    get = lambda n: params[n].detach().float().cpu().numpy()  # noqa: E731
    sh = np.concatenate([get("sh0"), get("shN")], axis=1)
    return GaussianSplats(get("means"), get("scales"), get("quats"), get("opacities"), sh)


def knn_spacing(xyz: torch.Tensor, k: int = 3, chunk: int = 4096) -> torch.Tensor:
    """RMS distance [N] of each point [N,3] (world) to its k nearest other points (exact,
    chunked brute force; O(N^2) work, fine up to ~10^5 points on a GPU, 10^4 on a CPU).
    Fewer than 2 points: 1.0."""
    n = xyz.shape[0]
    if n < 2:
        return torch.ones(n, device=xyz.device)
    k = min(k, n - 1)
    out = torch.empty(n, device=xyz.device)
    for s in range(0, n, chunk):
        d2 = torch.cdist(xyz[s:s + chunk], xyz).square()
        d2[torch.arange(d2.shape[0]), torch.arange(s, s + d2.shape[0])] = float("inf")
        out[s:s + chunk] = torch.topk(d2, k, dim=1, largest=False).values.mean(1).sqrt()
    return out.clamp_min(1e-7)


def splats_from_points(xyz: np.ndarray, rgb: np.ndarray, sh_degree: int = 0, init_opacity: float = 0.1,
                       init_scale: float = 1.0, device="cpu") -> GaussianSplats:
    """Isotropic Gaussians on points (the 3DGS initialisation from an SfM cloud).

    xyz [N,3] world; rgb [N,3] in [0,1] (or uint8); scale = init_scale x RMS distance to the
    3 nearest neighbours; opacity = init_opacity; identity rotation.
    """
    xyz = np.asarray(xyz, np.float32).reshape(-1, 3)
    rgb = np.asarray(rgb)
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    if len(xyz) == 0:
        raise ValueError("no points to put Gaussians on")
    spacing = knn_spacing(torch.as_tensor(xyz, device=device)).cpu().numpy()
    log_s = np.log(np.repeat(spacing[:, None] * init_scale, 3, axis=1))
    quats = np.tile(np.array([1, 0, 0, 0], np.float32), (len(xyz), 1))
    p = float(np.clip(init_opacity, 1e-4, 1 - 1e-4))
    sh = np.zeros((len(xyz), (sh_degree + 1) ** 2, 3), np.float32)
    sh[:, 0] = (rgb.reshape(-1, 3) - 0.5) / SH_C0
    return GaussianSplats(xyz, log_s, quats, np.full(len(xyz), np.log(p / (1 - p)), np.float32), sh)
