"""Undo journal of the geometry memory: exact removal of one generated segment."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from engine.memory.store import GeometryMemory


@dataclass
class JournalEntry:
    """One insert: its inputs (for replay) and what it did (for rollback)."""

    segment: int
    inputs: Any  # _Rows of the fused batch
    changed_uids: torch.Tensor | None = None
    changed_before: Any = None  # _Rows: values of the changed rows before the insert
    appended_uids: torch.Tensor | None = None


@dataclass
class Journal:
    """Inserts since the first generated one, oldest first."""

    entries: list[JournalEntry] = field(default_factory=list)
    active: bool = False

    def remove_segment(self, memory: "GeometryMemory", segment: int) -> bool:
        """Roll back to before ``segment``'s first insert, replay the others.
        Returns False when the journal holds nothing of that segment."""
        first = next((i for i, e in enumerate(self.entries) if e.segment == segment), None)
        if first is None:
            return False
        later = self.entries[first:]
        for entry in reversed(later):
            _rollback(memory, entry)
        self.entries = self.entries[:first]
        for entry in later:
            if entry.segment != segment:
                fresh = JournalEntry(segment=entry.segment, inputs=entry.inputs)
                memory._fuse(entry.inputs, fresh)
                self.entries.append(fresh)
        return True


def _rollback(memory: "GeometryMemory", entry: JournalEntry) -> None:
    from engine.memory.store import _FIELDS

    if entry.appended_uids is not None and entry.appended_uids.numel():
        rows = memory.rows_of_uids(entry.appended_uids)
        keep = torch.ones(len(memory), dtype=torch.bool, device=memory.device)
        keep[rows[rows >= 0]] = False
        memory.remove_rows(keep)
    if entry.changed_uids is not None and entry.changed_uids.numel():
        rows = memory.rows_of_uids(entry.changed_uids)
        memory.version += 1
        for f in _FIELDS:
            getattr(memory.rows, f)[rows] = getattr(entry.changed_before, f)
        memory.stamp[rows] = memory.version
