"""Generated segments: status per segment and the generated frames (small copies)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal

STATUSES = ("pending", "running", "done", "failed", "cancelled")


@dataclass
class SegmentState:
    segment_id: int
    frame_start: int
    frame_stop: int      # exclusive
    status: str = "pending"


class SegmentsModel:
    """Segments of the current path and their generated frames.

    frames: frame index -> color [h,w,3] uint8 (the preview size), thumbs: frame index ->
    [th,tw,3] uint8 for the timeline filmstrip.
    """

    changed = Signal()
    frame_added = Signal(int)

    def __init__(self) -> None:
        self.segments: dict[int, SegmentState] = {}
        self.frames: dict[int, np.ndarray] = {}
        self.thumbs: dict[int, np.ndarray] = {}

    def plan(self, num_frames: int, segment_length: int, keep_frames: set[int] | frozenset = frozenset()) -> None:
        """Fresh pending segments for a path of num_frames frames. A generated segment whose
        frame range is unchanged and whose every frame is in ``keep_frames`` (frames an edit
        did not move) keeps its status and frames; every other generated frame is dropped."""
        old, frames, thumbs = self.segments, self.frames, self.thumbs
        self.segments = {i: SegmentState(i, s, min(s + segment_length, num_frames))
                         for i, s in enumerate(range(0, max(num_frames, 0), segment_length))}
        self.frames, self.thumbs = {}, {}
        for seg in self.segments.values():
            before = old.get(seg.segment_id)
            span = range(seg.frame_start, seg.frame_stop)
            if (before is None or (before.frame_start, before.frame_stop) != (seg.frame_start, seg.frame_stop)
                    or not all(f in keep_frames for f in span)):
                continue
            seg.status = before.status if before.status == "done" else "pending"
            for f in span:
                if f in frames:
                    self.frames[f], self.thumbs[f] = frames[f], thumbs[f]
        self.changed.emit()

    def replace(self, segments) -> None:
        """Use these SegmentStates (e.g. a loaded project's records), frames kept."""
        self.segments = {s.segment_id: s for s in segments}
        self.changed.emit()

    def set_status(self, segment_id: int, status: str, frame_start: int | None = None,
                   frame_stop: int | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown segment status {status!r}")
        seg = self.segments.get(segment_id)
        if seg is None:
            seg = self.segments[segment_id] = SegmentState(segment_id, frame_start or 0, frame_stop or 0)
        if frame_start is not None:
            seg.frame_start, seg.frame_stop = frame_start, frame_stop if frame_stop is not None else seg.frame_stop
        seg.status = status
        self.changed.emit()

    def mark_unfinished(self, status: str) -> None:
        """Every running or pending segment becomes ``status`` (after a cancel or failure)."""
        touched = False
        for seg in self.segments.values():
            if seg.status in ("running", "pending") and (status != "cancelled" or seg.status == "running"):
                seg.status = status
                touched = True
        if touched:
            self.changed.emit()

    def clear_segment_frames(self, segment_id: int) -> None:
        seg = self.segments.get(segment_id)
        if seg is None:
            return
        for i in range(seg.frame_start, seg.frame_stop):
            self.frames.pop(i, None)
            self.thumbs.pop(i, None)
        self.changed.emit()

    def add_frame(self, frame_index: int, color: np.ndarray, thumb: np.ndarray) -> None:
        self.frames[int(frame_index)] = color
        self.thumbs[int(frame_index)] = thumb
        self.frame_added.emit(int(frame_index))

    def segment_of_frame(self, frame_index: int) -> int:
        for seg in self.segments.values():
            if seg.frame_start <= frame_index < seg.frame_stop:
                return seg.segment_id
        return -1

    def count(self, status: str) -> int:
        return sum(1 for s in self.segments.values() if s.status == status)


def unchanged_frames(before, after, atol: float = 1e-9) -> set[int]:
    """Indices of path frames whose camera (pose, intrinsics, size) is the same in two lists
    of Cameras (``before``: the path before an edit, ``after``: after it)."""
    n = min(len(before), len(after))
    if n == 0:
        return set()
    size = np.array([(a.width, a.height) == (b.width, b.height) for a, b in zip(before[:n], after[:n])])
    pose = np.abs(np.stack([a.world_from_cam for a in before[:n]]) - np.stack([b.world_from_cam for b in after[:n]]))
    k = np.abs(np.stack([a.K for a in before[:n]]) - np.stack([b.K for b in after[:n]]))
    same = size & (pose.reshape(n, -1).max(1) <= atol) & (k.reshape(n, -1).max(1) <= atol)
    return set(np.flatnonzero(same).tolist())
