"""What the studio shows of the engine's project: captured cameras and a growing point buffer.

The point buffer mirrors the geometry memory from ``MemoryDelta`` s: new uids append at the
end, refined uids update in place, removed uids are marked dead (their slot stays, so row
indices of the GPU buffer never shift). ``points_appended(start, stop)`` and
``points_updated(lo, hi)`` tell the viewport which contiguous row span to upload.
"""
from __future__ import annotations

import numpy as np
from psygnal import Signal

_FLOAT_FIELDS = {"xyz": 3, "rgb": 3}


def _uid_shown(uids: np.ndarray, fraction: float) -> np.ndarray:
    """Stable subset of uids (same hash as the engine's snapshot decimation)."""
    return (uids * 2654435761) % 4294967296 < int(fraction * 4294967296)


class _Subset:
    """The rows ``sel`` of a MemorySnapshot-like object."""

    def __init__(self, snap, sel) -> None:
        for f in ("xyz", "rgb", "conf", "segment", "uid"):
            setattr(self, f, np.asarray(getattr(snap, f))[sel])


# One row of the point buffer, in the layout the viewport's vertex buffer uses (same fields and
# offsets: a span of rows is uploaded as it is, without repacking).
ROW_DTYPE = np.dtype([("xyz", np.float32, 3), ("rgb", np.float32, 3), ("conf", np.float32),
                      ("segment", np.float32), ("alive", np.float32)])


class PointBuffer:
    """Capacity-doubling numpy buffer of points, addressed by memory uid.

    One record array ``rows`` [C] of ROW_DTYPE; its fields, as views: xyz [C,3] float32 world;
    rgb [C,3] float32 [0,1]; conf [C] float32; segment [C] float32 (-1 captured, >= 0 generated
    segment id); alive [C] float32 (1 live, 0 removed/unused).
    Rows [0, size) are in use. With a ``budget``, the buffer shows a stable pseudo-random share
    of the memory's points (halved, and compacted, whenever the live count passes the budget):
    software GL draws ~1 M points/s, so a display budget keeps the window responsive.
    """

    def __init__(self, capacity: int = 1024, budget: int | None = None) -> None:
        self.size = 0
        self._row_of_uid = np.full(1024, -1, np.int64)   # uid -> row (-1: not present)
        self.budget = budget                  # most live points to keep (None: all)
        self.keep_fraction = 1.0              # share of uids shown (stable hash, as the engine's)
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        old = getattr(self, "rows", None)
        self.capacity = int(capacity)
        self.rows = np.zeros(capacity, ROW_DTYPE)
        self.rows["segment"] = -1.0
        if old is not None:
            self.rows[: self.size] = old[: self.size]
        r = self.rows
        self.xyz, self.rgb, self.conf, self.segment, self.alive = (r["xyz"], r["rgb"], r["conf"], r["segment"],
                                                                   r["alive"])

    @property
    def num_alive(self) -> int:
        return int(self.alive[: self.size].sum())

    def clear(self) -> None:
        self.size = 0
        self._row_of_uid[:] = -1
        self.alive[:] = 0

    def apply(self, snap, removed_uids=()) -> tuple[tuple[int, int] | None, tuple[int, int] | None, bool]:
        """Apply changed points (a MemorySnapshot-like: xyz, rgb, conf, segment, uid) and
        removed uids. Returns (updated row span or None, appended row span or None,
        reallocated: True when the capacity grew and the whole buffer must be re-uploaded)."""
        lo = hi = None
        dead = self._rows_of(np.asarray(removed_uids, np.int64).ravel())
        dead_rows = dead[dead >= 0]
        if len(dead_rows):
            self._row_of_uid[np.asarray(removed_uids, np.int64).ravel()[dead >= 0]] = -1
            self.alive[dead_rows] = 0.0
            lo, hi = int(dead_rows.min()), int(dead_rows.max()) + 1
        uids = np.asarray(snap.uid, np.int64).ravel()
        if self.keep_fraction < 1.0:
            shown = _uid_shown(uids, self.keep_fraction)
            snap = _Subset(snap, shown)
            uids = uids[shown]
        rows = self._rows_of(uids)
        old = rows >= 0
        if old.any():
            r = rows[old]
            self._write(r, snap, old)
            lo = int(r.min()) if lo is None else min(lo, int(r.min()))
            hi = int(r.max()) + 1 if hi is None else max(hi, int(r.max()) + 1)
        new = ~old
        appended, realloc = None, False
        n_new = int(new.sum())
        if n_new:
            start = self.size
            if start + n_new > self.capacity:
                self._alloc(max(2 * self.capacity, int(1.5 * (start + n_new))))
                realloc = True
            r = np.arange(start, start + n_new)
            self.size = start + n_new
            self._write(r, snap, new)
            self._grow_index(int(uids.max()) + 1)
            self._row_of_uid[uids[new]] = r
            appended = (start, self.size)
        if self.budget is not None and self.num_alive > self.budget:
            self.thin()
            return None, None, True
        return (None if lo is None else (lo, hi)), appended, realloc

    def thin(self) -> None:
        """Over budget: halve the shown share of uids until it fits, and compact the rows."""
        uid_of_row = np.full(self.size, -1, np.int64)
        present = np.nonzero(self._row_of_uid >= 0)[0]
        uid_of_row[self._row_of_uid[present]] = present
        while self.num_alive > self.budget:
            self.keep_fraction /= 2.0
            drop = (self.alive[: self.size] > 0) & ~_uid_shown(uid_of_row, self.keep_fraction)
            self.alive[: self.size][drop] = 0.0
        keep = np.nonzero(self.alive[: self.size] > 0)[0]
        self._row_of_uid[:] = -1
        self._row_of_uid[uid_of_row[keep]] = np.arange(len(keep))
        self.rows[: len(keep)] = self.rows[keep]
        self.alive[len(keep): self.size] = 0.0
        self.size = len(keep)

    def _rows_of(self, uids: np.ndarray) -> np.ndarray:
        rows = np.full(len(uids), -1, np.int64)
        ok = (uids >= 0) & (uids < len(self._row_of_uid))
        rows[ok] = self._row_of_uid[uids[ok]]
        return rows

    def _grow_index(self, n: int) -> None:
        if n > len(self._row_of_uid):
            grown = np.full(max(n, 2 * len(self._row_of_uid)), -1, np.int64)
            grown[: len(self._row_of_uid)] = self._row_of_uid
            self._row_of_uid = grown

    def _write(self, rows, snap, sel) -> None:
        self.xyz[rows] = np.asarray(snap.xyz)[sel]
        self.rgb[rows] = np.asarray(snap.rgb)[sel]
        self.conf[rows] = np.asarray(snap.conf)[sel]
        self.segment[rows] = np.asarray(snap.segment)[sel]
        self.alive[rows] = 1.0

    def live_xyz(self) -> np.ndarray:
        """[N,3] world positions of the live points."""
        return self.xyz[: self.size][self.alive[: self.size] > 0]


class DeltaPart:
    """Rows [start, stop) of a MemoryDelta's changed points, applied as a delta of its own
    (``split_delta``). Only the first part of a delta carries its ``since_version`` (0: the
    buffer is replaced) and its removed uids; the others have ``since_version = None``."""

    def __init__(self, delta, start: int, stop: int) -> None:
        first = start == 0
        self.since_version = delta.since_version if first else None
        self.version = delta.version
        self.removed_uids = delta.removed_uids if first else np.zeros(0, np.int64)
        self.changed = _Rows(delta.changed, start, stop)


class _Rows:
    """Rows [start, stop) of a MemorySnapshot-like object (views, no copies)."""

    def __init__(self, snap, start: int, stop: int) -> None:
        for f in ("xyz", "rgb", "conf", "segment", "uid"):
            setattr(self, f, np.asarray(getattr(snap, f))[start:stop])
        if hasattr(snap, "voxel_size"):
            self.voxel_size = snap.voxel_size


def split_delta(delta, max_points: int) -> list:
    """A MemoryDelta as parts of at most ``max_points`` changed points each, in order: applying
    them one after another gives the buffer the same live points as applying the delta (the
    studio applies one part per event-loop turn, so that a large delta never holds the GUI
    thread for long)."""
    n = len(np.asarray(delta.changed.uid))
    if n <= max_points:
        return [delta]
    return [DeltaPart(delta, a, min(n, a + max_points)) for a in range(0, n, max_points)]


class ProjectView:
    """The project as the studio sees it (numpy only, on the GUI thread)."""

    cameras_changed = Signal()
    points_reset = Signal()
    points_appended = Signal(int, int)     # row span [start, stop)
    points_updated = Signal(int, int)      # row span [lo, hi) to re-upload
    project_changed = Signal()             # name / root / dirty flag

    def __init__(self) -> None:
        self.cameras: list = []            # [engine Camera] captured views
        self.thumbnails: list = []         # [H,W,3] uint8 per captured view (small)
        self.points = PointBuffer()
        self.memory_version = 0
        self.voxel_size = 0.0              # meters, of the engine's memory (0 until known)
        self.name = "untitled"
        self.root: str | None = None       # folder once saved / opened
        self.dirty = False

    def set_cameras(self, cameras, thumbnails=None) -> None:
        self.cameras = list(cameras)
        if thumbnails is not None:
            self.thumbnails = list(thumbnails)
        self.cameras_changed.emit()

    def apply_delta(self, delta) -> None:
        """Apply an engine MemoryDelta. ``since_version == 0`` means a full replacement."""
        if delta is None:
            return
        if delta.since_version == 0 and self.points.size:
            self.points.clear()
            self.points_reset.emit()
        upd, app, realloc = self.points.apply(delta.changed, delta.removed_uids)
        self.memory_version = delta.version
        self.voxel_size = float(getattr(delta.changed, "voxel_size", self.voxel_size))
        if realloc:
            self.points_reset.emit()
            return
        if upd is not None:
            self.points_updated.emit(*upd)
        if app is not None:
            self.points_appended.emit(*app)

    def reset(self) -> None:
        self.cameras, self.thumbnails = [], []
        self.points.clear()
        self.memory_version = 0
        self.points_reset.emit()
        self.cameras_changed.emit()

    def set_project(self, name: str, root: str | None, dirty: bool = False) -> None:
        self.name, self.root, self.dirty = name, root, dirty
        self.project_changed.emit()

    def mark_dirty(self, dirty: bool = True) -> None:
        if dirty != self.dirty:
            self.dirty = dirty
            self.project_changed.emit()
