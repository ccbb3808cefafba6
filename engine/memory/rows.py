"""The per-point columns of the geometry memory, as one small dataclass of tensors."""
from __future__ import annotations

from dataclasses import dataclass

import torch

#: column names, in storage order
FIELDS = ("xyz", "rgb", "conf", "normal", "view", "segment")


@dataclass
class PointRows:
    """N points on one device. xyz [N,3] float32 world; rgb [N,3] float32 linear [0,1];
    conf [N] float32 accumulated weight; normal [N,3] float32 world, unit or zeros where
    unknown; view [N] int32 captured view id (-1 none); segment [N] int32 (-1 captured)."""

    xyz: torch.Tensor
    rgb: torch.Tensor
    conf: torch.Tensor
    normal: torch.Tensor
    view: torch.Tensor
    segment: torch.Tensor

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    def index(self, idx: torch.Tensor) -> "PointRows":
        """The rows selected by idx ([N] bool mask or [M] int64 row numbers). A mask is
        turned into row numbers once (on a GPU each masked column would be a nonzero and a
        host sync of its own: six per call)."""
        if idx.dtype == torch.bool:
            idx = torch.nonzero(idx).squeeze(1)
        return PointRows(*(getattr(self, f)[idx] for f in FIELDS))

    def clone(self) -> "PointRows":
        return PointRows(*(getattr(self, f).clone() for f in FIELDS))

    def cat(self, other: "PointRows") -> "PointRows":
        return PointRows(*(torch.cat([getattr(self, f), getattr(other, f)]) for f in FIELDS))

    @classmethod
    def empty(cls, device: torch.device) -> "PointRows":
        f = dict(dtype=torch.float32, device=device)
        i = dict(dtype=torch.int32, device=device)
        return cls(torch.zeros(0, 3, **f), torch.zeros(0, 3, **f), torch.zeros(0, **f),
                   torch.zeros(0, 3, **f), torch.zeros(0, **i), torch.zeros(0, **i))


def split_by_flag(flag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row numbers of ``flag`` [N] bool -> (where False, where True), each in increasing order:
    a stable sort of the flag and its count (one host sync; two nonzeros are two, and a mask
    applied per column one per column on a GPU)."""
    order = torch.sort(flag.to(torch.uint8), stable=True).indices
    n_false = flag.numel() - int(flag.sum())
    return order[:n_false], order[n_false:]
