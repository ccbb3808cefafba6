"""The 3DGS photometric loss: (1 - lambda) * L1 + lambda * (1 - SSIM), with an optional
per-pixel weight (generated training views count less where their pixels were invented)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_WINDOWS: dict = {}


def _window(device, dtype, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    key = (device, dtype, size, sigma)
    if key not in _WINDOWS:
        x = torch.arange(size, device=device, dtype=dtype) - size // 2
        g = torch.exp(-0.5 * (x / sigma) ** 2)
        _WINDOWS[key] = (g / g.sum())
    return _WINDOWS[key]


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of x [B,C,H,W], zero padding ('same' size, as fused-ssim)."""
    c = x.shape[1]
    r = g.numel() // 2
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)


def ssim_map(a: torch.Tensor, b: torch.Tensor, c1: float = 0.01 ** 2, c2: float = 0.03 ** 2) -> torch.Tensor:
    """SSIM per pixel [H,W] (mean over channels) of images a, b [H,W,3] in [0,1]."""
    x, y = a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None]
    g = _window(a.device, a.dtype)
    mx, my = _blur(x, g), _blur(y, g)
    vx = _blur(x * x, g) - mx * mx
    vy = _blur(y * y, g) - my * my
    cxy = _blur(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s[0].mean(0)


def photometric_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                     ssim_lambda: float = 0.2) -> torch.Tensor:
    """Scalar loss of pred vs target [H,W,3] in [0,1]; weight [H,W] >= 0 or None (all 1)."""
    l1 = (pred - target).abs().mean(-1)
    if ssim_lambda <= 0:
        s = torch.zeros_like(l1)
    else:
        s = 1.0 - ssim_map(pred, target)
    per_px = (1.0 - ssim_lambda) * l1 + ssim_lambda * s
    if weight is None:
        return per_px.mean()
    return (per_px * weight).sum() / weight.sum().clamp_min(1e-8)
