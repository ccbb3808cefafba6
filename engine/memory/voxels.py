"""Voxel keys: integer voxel coordinates packed into one int64 per point."""
from __future__ import annotations

import torch

_BITS = 21
_OFFSET = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1


def voxel_keys(xyz: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """points [N,3] world -> int64 keys [N]; the range is ±2^20 voxels per axis."""
    ijk = torch.floor(xyz / voxel_size).to(torch.int64) + _OFFSET
    ijk = ijk.clamp_(0, _MASK)
    return (ijk[:, 0] << (2 * _BITS)) | (ijk[:, 1] << _BITS) | ijk[:, 2]


def voxel_centers(keys: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """int64 keys [N] -> voxel centers [N,3] world."""
    i = (keys >> (2 * _BITS)) & _MASK
    j = (keys >> _BITS) & _MASK
    k = keys & _MASK
    ijk = torch.stack([i, j, k], dim=1) - _OFFSET
    return (ijk.to(torch.float32) + 0.5) * voxel_size


def lookup(sorted_keys: torch.Tensor, order: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Row index of each query key in a table, or -1 where absent.

    sorted_keys [M] ascending, order [M] the row of each sorted key, query [Q] -> [Q] int64.
    """
    if sorted_keys.numel() == 0:
        return torch.full_like(query, -1)
    pos = torch.searchsorted(sorted_keys, query).clamp_(max=sorted_keys.numel() - 1)
    found = sorted_keys[pos] == query
    return torch.where(found, order[pos], torch.full_like(pos, -1))
