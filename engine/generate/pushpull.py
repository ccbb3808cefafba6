"""Multi-scale push-pull hole filling (Gortler et al. 1996), torch, any device."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull(values: torch.Tensor, weights: torch.Tensor, min_size: int = 1) -> torch.Tensor:
    """Fill pixels of zero weight from coarser levels.

    values  [C,H,W] (anything linear: color, inverse depth); weights [H,W] >= 0 (0 = hole)
    Returns [C,H,W] with known pixels unchanged and holes smoothly interpolated.
    """
    w = weights.clamp(0, 1)[None, None].float()
    v = values[None].float() * w
    c = v.shape[1]
    levels = [(v, w)]
    vw = None
    while min(v.shape[-2:]) > min_size:
        # values and weights pooled together (one launch per level; each channel's own means)
        vw = F.avg_pool2d(torch.cat([v, w], 1) if vw is None else vw, 2, ceil_mode=True)
        v, w = vw[:, :c], vw[:, c:]
        levels.append((v, w))
    filled = levels[-1][0] / levels[-1][1].clamp_min(1e-8)
    for v, w in reversed(levels[:-1]):
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        known = v / w.clamp_min(1e-8)
        filled = known * w + up * (1 - w)
    return filled[0]
