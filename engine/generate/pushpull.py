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
    # values and weights pooled together (one launch per level; each channel's own means)
    levels = [torch.cat([v, w], 1)]                                  # [1,C+1,h,w] per level
    while min(levels[-1].shape[-2:]) > min_size:
        levels.append(F.avg_pool2d(levels[-1], 2, ceil_mode=True))
    # every level side by side ([C+1, all levels' pixels]): the per-pixel terms of the pull
    # (known = v / w, known * w, 1 - w) in one launch each for all levels, not one per level
    flat = torch.cat([lv.reshape(c + 1, -1) for lv in levels], 1)
    wts = flat[c:]
    known = flat[:c] / wts.clamp_min(1e-8)
    known_w = known * wts
    rest_w = 1 - wts
    at = [0]
    for lv in levels:
        at.append(at[-1] + lv.shape[-2] * lv.shape[-1])

    def level(t: torch.Tensor, i: int) -> torch.Tensor:
        """Level i of a [rows, all pixels] tensor as [1, rows, h_i, w_i] (a view)."""
        h, w = levels[i].shape[-2:]
        return t[:, at[i]:at[i + 1]].view(1, t.shape[0], h, w)

    filled = level(known, len(levels) - 1)
    for i in reversed(range(len(levels) - 1)):
        up = F.interpolate(filled, size=levels[i].shape[-2:], mode="bilinear", align_corners=False)
        filled = level(known_w, i) + up * level(rest_w, i)
    return filled[0]
