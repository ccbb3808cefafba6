"""What is selected: keyframes (indices into the trajectory) and one captured view."""
from __future__ import annotations

from psygnal import Signal


class Selection:
    keyframes_changed = Signal()
    view_changed = Signal(int)

    def __init__(self) -> None:
        self.keyframes: tuple[int, ...] = ()
        self.view: int = -1

    def select_keyframes(self, indices) -> None:
        indices = tuple(sorted(set(int(i) for i in indices)))
        if indices != self.keyframes:
            self.keyframes = indices
            self.keyframes_changed.emit()

    def select_view(self, index: int) -> None:
        if int(index) != self.view:
            self.view = int(index)
            self.view_changed.emit(self.view)

    @property
    def keyframe(self) -> int:
        """The primary selected keyframe, or -1."""
        return self.keyframes[-1] if self.keyframes else -1
