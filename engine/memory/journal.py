"""The geometry memory's undo journal, as plain data: what each insert changed.

The journal only records; :class:`engine.memory.store.GeometryMemory` rolls it back and
replays it (``remove_segment``). Entries hold tensors on the memory's device.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.memory.rows import PointRows


@dataclass(frozen=True)
class JournalEntry:
    """One insert into the memory.

    segment         provenance of the insert (-1 captured, >= 0 generated segment id)
    inputs          the fused batch (after input filtering), kept for replay
    changed_uids    [M] int64 uids of the rows the insert refined
    changed_before  those rows' values before the insert (M rows)
    appended_uids   [A] int64 uids of the rows the insert appended
    """

    segment: int
    inputs: PointRows
    changed_uids: torch.Tensor
    changed_before: PointRows
    appended_uids: torch.Tensor


@dataclass
class Journal:
    """Inserts since the first generated one, oldest first (``active`` from then on)."""

    entries: list[JournalEntry] = field(default_factory=list)
    active: bool = False

    def first_of(self, segment: int) -> int | None:
        """Index of ``segment``'s first entry, or None when the journal holds none of it."""
        return next((i for i, e in enumerate(self.entries) if e.segment == segment), None)
