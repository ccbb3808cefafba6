"""Undo/redo: every path edit is a (before, after) pair of immutable TrajectoryStates."""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class PathEditCommand(QUndoCommand):
    """Sets ``model`` (TrajectoryEdits) to ``after`` on redo and back to ``before`` on undo.
    Consecutive edits with the same ``merge_key`` (e.g. nudging one keyframe) merge into one."""

    _ids: dict[str, int] = {}

    def __init__(self, model, before, after, text: str, merge_key: str | None = None) -> None:
        super().__init__(text)
        self.model, self.before, self.after = model, before, after
        self._merge_id = -1 if merge_key is None else self._ids.setdefault(merge_key, 1000 + len(self._ids))

    def redo(self) -> None:
        self.model.set_state(self.after)

    def undo(self) -> None:
        self.model.set_state(self.before)

    def id(self) -> int:  # noqa: A003 (Qt API)
        return self._merge_id

    def mergeWith(self, other) -> bool:  # noqa: N802 (Qt API)
        if other.id() != self.id() or self.id() < 0:
            return False
        self.after = other.after
        return True
