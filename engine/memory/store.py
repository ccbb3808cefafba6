"""The geometry memory: a voxel-hashed, confidence-weighted point store on the compute device.

Every point carries position (world, meters), color (linear RGB in [0,1]), confidence
(accumulated observation weight, capped), normal (world, zeros where unknown), the
captured view that first produced it (-1 for none) and provenance: ``CAPTURED`` (-1) or
the id (>= 0) of the generated segment that produced it.

Fusion keeps at most one point per voxel: an observation that lands in an occupied voxel
refines that point (confidence-weighted average) instead of adding one, so the memory grows
with the scene's volume, not with the number of frames.

Undo is exact: after the first generated insert, every insert is journaled (rows it
changed with their old values, rows it appended, and its inputs; plain data in
``journal.py``). ``remove_segment(s)`` rolls the journal back to just before segment ``s``
first touched the memory and replays every later insert that did not belong to ``s``. The
journal lives in this session only (a loaded memory has none).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.device import resolve_device
from engine.memory import voxels
from engine.memory.journal import Journal, JournalEntry
from engine.memory.rows import FIELDS as _FIELDS, PointRows, split_by_flag

CAPTURED = -1
# ``view`` of a point that no observation backs: generated content the generator invented
# (hole filling). Its confidence may grow as invented pixels merge, so consumers must read
# this tag, not the confidence, to tell an invented surface from an observed one.
INVENTED_VIEW = -2


@dataclass(frozen=True)
class InsertStats:
    added: int
    merged: int


@dataclass(frozen=True)
class MemorySnapshot:
    """Plain numpy copy of (a decimated subset of) the memory, for display and export.

    xyz [N,3] float32 world; rgb [N,3] float32 [0,1]; conf [N] float32; normal [N,3] float32
    (zeros where unknown); view [N] int32; segment [N] int32 (-1 captured); uid [N] int64.
    """

    xyz: np.ndarray
    rgb: np.ndarray
    conf: np.ndarray
    normal: np.ndarray
    view: np.ndarray
    segment: np.ndarray
    uid: np.ndarray
    version: int
    voxel_size: float

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


@dataclass(frozen=True)
class MemoryDelta:
    """What changed since ``since_version``: points added or refined, and uids removed."""

    since_version: int
    version: int
    changed: MemorySnapshot
    removed_uids: np.ndarray  # [R] int64


def point_radius(voxel_size: float) -> float:
    """World-space splat radius (meters) of memory points on a ``voxel_size`` grid: 1.5 voxels
    (discs on a grid of spacing s need r >= s·√2/2 in the image even diagonally)."""
    return 1.5 * voxel_size


class GeometryMemory:
    """The persistent point store. Owned by the engine thread; never touched by the GUI."""

    def __init__(self, voxel_size: float = 0.02, device: str | torch.device | None = None,
                 max_confidence: float = 50.0) -> None:
        if voxel_size <= 0:
            raise ValueError(f"voxel_size must be positive, got {voxel_size}")
        self.voxel_size = float(voxel_size)
        self.device = resolve_device(device)
        self.max_confidence = float(max_confidence)
        self.rows = PointRows.empty(self.device)
        self.uid = torch.zeros(0, dtype=torch.int64, device=self.device)
        self.stamp = torch.zeros(0, dtype=torch.int64, device=self.device)
        self.keys = torch.zeros(0, dtype=torch.int64, device=self.device)  # voxel of each row
        self.version = 0
        self._next_uid = 0
        self._keys_sorted: torch.Tensor | None = None
        self._keys_order: torch.Tensor | None = None
        self._removed: list[tuple[int, np.ndarray]] = []
        self.journal = Journal()

    @classmethod
    def from_arrays(cls, voxel_size: float, xyz, rgb, conf, normal, view, segment, uid=None, keys=None, *,
                    next_uid: int | None = None, version: int = 0, max_confidence: float = 50.0,
                    device: str | torch.device | None = None) -> "GeometryMemory":
        """A memory holding exactly these points (no fusion, no journal), e.g. read from a file.

        xyz [N,3] world; rgb [N,3] in [0,1]; conf [N]; normal [N,3] (zeros where unknown);
        view [N] captured view id (-1 none); segment [N] (-1 captured); uid [N] int64 stable
        ids (default 0..N-1); keys [N] int64 voxel key of each row (default: computed from
        xyz; pass the stored keys, since a fused point may sit a hair across its voxel's
        border); next_uid the first uid a later insert gets (default max(uid) + 1); version
        the memory's version (every row is stamped with it).
        """
        mem = cls(voxel_size, device, max_confidence)
        dev = mem.device
        xyz = torch.as_tensor(np.asarray(xyz), dtype=torch.float32, device=dev).reshape(-1, 3)
        n = xyz.shape[0]

        def col(a, dtype, shape):
            t = torch.as_tensor(np.asarray(a), dtype=dtype, device=dev)
            if tuple(t.shape) != shape:
                raise ValueError(f"memory arrays disagree: expected shape {shape}, got {tuple(t.shape)}")
            return t

        f32, i32 = torch.float32, torch.int32
        mem.rows = PointRows(xyz, col(rgb, f32, (n, 3)), col(conf, f32, (n,)), col(normal, f32, (n, 3)),
                             col(view, i32, (n,)), col(segment, i32, (n,)))
        mem.uid = (torch.arange(n, dtype=torch.int64, device=dev) if uid is None
                   else col(uid, torch.int64, (n,)))
        if n and not bool((mem.uid[1:] > mem.uid[:-1]).all()):
            raise ValueError("memory uids must be strictly increasing by row")
        mem.keys = voxels.voxel_keys(xyz, mem.voxel_size) if keys is None else col(keys, torch.int64, (n,))
        mem.version = int(version)
        mem.stamp = torch.full_like(mem.uid, mem.version)
        last = int(mem.uid[-1]) + 1 if n else 0
        mem._next_uid = last if next_uid is None else int(next_uid)
        if mem._next_uid < last:
            raise ValueError(f"next_uid {mem._next_uid} would reuse an existing uid (< {last})")
        return mem

    # ------------------------------------------------------------------ basics
    @property
    def next_uid(self) -> int:
        """The uid the next appended point gets (uids are never reused)."""
        return self._next_uid

    def __len__(self) -> int:
        return int(self.uid.shape[0])

    @property
    def is_empty(self) -> bool:
        return len(self) == 0

    def segments(self) -> list[int]:
        """Ids of generated segments that currently own points."""
        seg = self.rows.segment
        return sorted(int(s) for s in torch.unique(seg[seg >= 0]).tolist())

    def bounds(self, subset: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Robust bounds (1st/99th percentile) [3], [3] world of the points (or of ``subset``,
        an [N] bool row mask); raises when there are none."""
        xyz = self.rows.xyz if subset is None else self.rows.xyz[subset]
        if xyz.shape[0] == 0:
            raise ValueError("the geometry memory is empty")
        sample = xyz[:: max(1, xyz.shape[0] // 200_000)].double()
        lo = torch.quantile(sample, 0.01, dim=0).cpu().numpy()
        hi = torch.quantile(sample, 0.99, dim=0).cpu().numpy()
        return lo, hi

    def provenance_mask(self, captured: bool = True, generated: bool = True,
                        exclude_segments=()) -> torch.Tensor:
        """[N] bool row mask: captured points (when ``captured``) and generated points (when
        ``generated``) of segments not in ``exclude_segments``. A query, not a setting: pass it
        as ``subset`` to ``render_memory`` or ``snapshot`` to draw or export a selection."""
        seg = self.rows.segment
        mask = torch.where(seg < 0, torch.tensor(bool(captured), device=self.device),
                           torch.tensor(bool(generated), device=self.device))
        for s in exclude_segments:
            mask &= seg != int(s)
        return mask

    def point_radius(self) -> float:
        """World-space splat radius (1.5 voxels): discs on a grid of spacing s need r >= s·√2/2
        in the image even when the grid lands diagonally on the pixels."""
        return point_radius(self.voxel_size)

    # ------------------------------------------------------------------ insertion
    def insert_points(self, xyz: torch.Tensor | np.ndarray, rgb: torch.Tensor | np.ndarray,
                      conf: torch.Tensor | np.ndarray | None = None,
                      normal: torch.Tensor | np.ndarray | None = None,
                      view: int | torch.Tensor = -1, segment: int = CAPTURED) -> InsertStats:
        """Fuse points [N,3] world with colors [N,3] in [0,1], confidence [N] (default 1),
        normals [N,3] (optional), source view id (int or [N]) and provenance."""
        batch = self._as_rows(xyz, rgb, conf, normal, view, segment)
        if batch.xyz.shape[0] == 0:
            return InsertStats(0, 0)
        if segment != CAPTURED or self.journal.active:
            self.journal.active = True
            stats, entry = self._fuse(batch, journal_as=segment)
            self.journal.entries.append(entry)
            return stats
        return self._fuse(batch)[0]

    def insert_depth(self, camera, depth, image, confidence=None, view: int = -1,
                     segment: int = CAPTURED, mask=None, stride: int = 1) -> InsertStats:
        """Back-project a depth map and fuse it.

        camera      engine.geometry.Camera (OpenCV axes)
        depth       [H,W] z-depth in meters along +z; <= 0 or non-finite = no data
        image       [H,W,3] float in [0,1] or uint8
        confidence  [H,W] per-pixel weight (default 1); mask [H,W] bool extra selection
        stride      take every stride-th pixel in both directions
        """
        from engine.memory.backproject import backproject_depth

        pts = backproject_depth(camera, depth, image, confidence, mask, stride, self.device)
        return self.insert_points(pts.xyz, pts.rgb, pts.conf, pts.normal, view, segment)

    def _as_rows(self, xyz, rgb, conf, normal, view, segment) -> PointRows:
        dev = self.device
        xyz = torch.as_tensor(xyz, dtype=torch.float32, device=dev).reshape(-1, 3)
        n = xyz.shape[0]
        rgb = torch.as_tensor(rgb, device=dev).reshape(-1, 3)
        rgb = rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float()
        conf = (torch.ones(n, device=dev) if conf is None
                else torch.as_tensor(conf, dtype=torch.float32, device=dev).reshape(-1))
        normal = (torch.zeros(n, 3, device=dev) if normal is None
                  else torch.as_tensor(normal, dtype=torch.float32, device=dev).reshape(-1, 3))
        view = torch.as_tensor(view, dtype=torch.int32, device=dev).expand(n).clone()
        seg = torch.full((n,), int(segment), dtype=torch.int32, device=dev)
        keep = torch.isfinite(xyz).all(1) & (conf > 0)
        rows = PointRows(xyz, rgb.clamp(0, 1), conf, normal, view, seg)
        return rows if bool(keep.all()) else rows.index(keep)

    def _sorted_keys(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._keys_sorted is None:
            self._keys_sorted, self._keys_order = torch.sort(self.keys)
        return self._keys_sorted, self._keys_order

    def _fuse(self, batch: PointRows, journal_as: int | None = None) -> tuple[InsertStats, JournalEntry | None]:
        """Merge a batch into the store (one point per voxel). With ``journal_as`` (the
        insert's segment) also returns the journal entry that undoes it."""
        keys = voxels.voxel_keys(batch.xyz, self.voxel_size)
        uniq, inverse = torch.unique(keys, return_inverse=True)
        agg = _aggregate(batch, inverse, uniq.shape[0])
        sorted_keys, order = self._sorted_keys()
        rows_hit = voxels.lookup(sorted_keys, order, uniq)
        hit = rows_hit >= 0
        hit_at, new_at = split_by_flag(~hit)      # the hit / new voxels' numbers, in order
        self.version += 1
        target = rows_hit[hit_at]
        before = None
        if journal_as is not None:
            # (a gather is a copy already; the rows before the merge serve the merge too)
            changed_uids, changed_before = self.uid[target], self.rows.index(target)
            before = changed_before
        if target.numel():
            self._merge_into(target, agg.index(hit_at), before)
        new = agg.index(new_at)
        n_new = new.xyz.shape[0]
        uids = torch.arange(self._next_uid, self._next_uid + n_new, device=self.device)
        if n_new:
            self._next_uid += n_new
            for f in _FIELDS:
                setattr(self.rows, f, torch.cat([getattr(self.rows, f), getattr(new, f)]))
            self.uid = torch.cat([self.uid, uids])
            self.keys = torch.cat([self.keys, uniq[new_at]])
            self.stamp = torch.cat([self.stamp, torch.full_like(uids, self.version)])
            self._keys_sorted = None
        stats = InsertStats(added=n_new, merged=int(target.numel()))
        if journal_as is None:
            return stats, None
        # the journal keeps the inputs: the columns _as_rows may have taken from the caller
        # (xyz, conf, normal) copied; rgb (clamped), view (cloned) and segment are its own
        kept = PointRows(batch.xyz.clone(), batch.rgb, batch.conf.clone(), batch.normal.clone(), batch.view,
                         batch.segment)
        return stats, JournalEntry(journal_as, kept, changed_uids, changed_before, uids)

    def _merge_into(self, target: torch.Tensor, obs: PointRows, old: PointRows | None = None) -> None:
        """Merge ``obs`` into the rows ``target``; ``old``: those rows' values before it
        (``self.rows.index(target)``) when the caller has them (no gathers again)."""
        r = self.rows
        old = r.index(target) if old is None else old
        c_old = old.conf
        c_new = obs.conf
        total = c_old + c_new
        w_old = (c_old / total)[:, None]
        w_new = (c_new / total)[:, None]
        r.xyz[target] = old.xyz * w_old + obs.xyz * w_new
        r.rgb[target] = old.rgb * w_old + obs.rgb * w_new
        n_old = old.normal
        blended = n_old * w_old + obs.normal * w_new
        norm = blended.norm(dim=1, keepdim=True)
        r.normal[target] = torch.where(norm > 1e-6, blended / norm.clamp_min(1e-6), n_old)
        r.conf[target] = total.clamp(max=self.max_confidence)
        # Captured evidence wins the provenance tag; otherwise the older tag stays.
        seg_old = old.segment
        r.segment[target] = torch.where(obs.segment == CAPTURED, obs.segment, seg_old)
        # a captured view wins the view tag, then "observed" (-1) over "invented" (-2)
        v_old = old.view
        r.view[target] = torch.where(v_old >= 0, v_old, torch.where(obs.view >= 0, obs.view,
                                                                     torch.maximum(v_old, obs.view)))
        self.stamp[target] = self.version
        # A row keeps the voxel it was fused in (self.keys), even if float rounding of the
        # weighted mean lands a hair across the voxel's border.

    # ------------------------------------------------------------------ removal / undo
    def remove_rows(self, keep: torch.Tensor) -> None:
        """Drop rows where keep [N] bool is False (no journaling: internal use)."""
        removed = self.uid[~keep]
        if removed.numel() == 0:
            return
        self.version += 1
        self._removed.append((self.version, removed.cpu().numpy()))
        for f in _FIELDS:
            setattr(self.rows, f, getattr(self.rows, f)[keep])
        self.uid = self.uid[keep]
        self.keys = self.keys[keep]
        self.stamp = self.stamp[keep]
        self._keys_sorted = None

    def rows_of_uids(self, uids: torch.Tensor) -> torch.Tensor:
        """Row index [Q] of each uid (uids stay sorted by row); -1 where absent."""
        return voxels.lookup(self.uid, torch.arange(len(self), device=self.device), uids)

    def remove_segment(self, segment: int) -> int:
        """Undo generated segment ``segment`` exactly; returns the number of points removed.

        Without a journal (e.g. after loading a project) the points tagged with the
        segment are dropped, which is exact for points it created but cannot restore
        points it refined.
        """
        if segment < 0:
            raise ValueError("captured points cannot be removed as a segment")
        before = len(self)
        first = self.journal.first_of(segment)
        if first is None:
            self.remove_rows(self.rows.segment != segment)
            return before - len(self)
        later = self.journal.entries[first:]
        for entry in reversed(later):
            self._rollback(entry)
        self.journal.entries = self.journal.entries[:first]
        for entry in later:
            if entry.segment != segment:
                self.journal.entries.append(self._fuse(entry.inputs, journal_as=entry.segment)[1])
        return before - len(self)

    def _rollback(self, entry: JournalEntry) -> None:
        """Undo one journaled insert (it must be the latest one not yet rolled back)."""
        if entry.appended_uids.numel():
            rows = self.rows_of_uids(entry.appended_uids)
            keep = torch.ones(len(self), dtype=torch.bool, device=self.device)
            keep[rows[rows >= 0]] = False
            self.remove_rows(keep)
        if entry.changed_uids.numel():
            rows = self.rows_of_uids(entry.changed_uids)
            self.version += 1
            for f in _FIELDS:
                getattr(self.rows, f)[rows] = getattr(entry.changed_before, f)
            self.stamp[rows] = self.version

    def clear(self) -> None:
        self.remove_rows(torch.zeros(len(self), dtype=torch.bool, device=self.device))
        self.journal = Journal()

    # ------------------------------------------------------------------ plain-data views
    def snapshot(self, max_points: int | None = None, subset: torch.Tensor | None = None) -> MemorySnapshot:
        """Numpy copy of the memory (or of ``subset``, an [N] bool row mask, e.g. from
        ``provenance_mask``), decimated to about max_points by a stable uid hash (so the
        same points survive in later snapshots and deltas)."""
        mask = (torch.ones(len(self), dtype=torch.bool, device=self.device) if subset is None
                else torch.as_tensor(subset, dtype=torch.bool, device=self.device).clone())
        if max_points is not None and len(self) > max_points:
            mask &= _uid_keep(self.uid, max_points / max(1, int(mask.sum())))
        return self._snapshot_of(mask)

    def changes_since(self, version: int, max_fraction: float = 1.0) -> MemoryDelta:
        """Points added or refined after ``version`` and uids removed since then."""
        mask = self.stamp > version
        if max_fraction < 1.0:
            mask &= _uid_keep(self.uid, max_fraction)
        removed = [u for v, u in self._removed if v > version]
        removed_uids = np.concatenate(removed) if removed else np.zeros(0, np.int64)
        return MemoryDelta(version, self.version, self._snapshot_of(mask), removed_uids)

    def _snapshot_of(self, mask: torch.Tensor) -> MemorySnapshot:
        r = self.rows.index(mask)
        return MemorySnapshot(
            xyz=r.xyz.cpu().numpy(), rgb=r.rgb.cpu().numpy(), conf=r.conf.cpu().numpy(),
            normal=r.normal.cpu().numpy(), view=r.view.cpu().numpy(),
            segment=r.segment.cpu().numpy(), uid=self.uid[mask].cpu().numpy(),
            version=self.version, voxel_size=self.voxel_size)

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write an .npz (atomically: temporary name, then rename)."""
        from engine.memory.persist import save_memory

        save_memory(self, path)

    @classmethod
    def load(cls, path, device=None) -> "GeometryMemory":
        from engine.memory.persist import load_memory

        return load_memory(cls, path, device)


def _aggregate(batch: PointRows, inverse: torch.Tensor, n: int) -> PointRows:
    """Confidence-weighted mean of the batch's points per voxel -> one row per voxel."""
    dev = batch.xyz.device
    w = batch.conf[:, None]
    wsum = torch.zeros(n, device=dev).index_add_(0, inverse, batch.conf)
    # xyz, rgb and normal weighted and summed per voxel as one [N,9] block (the same sums,
    # column by column, in the same row order; a third of the launches)
    sums = torch.zeros(n, 9, device=dev).index_add_(0, inverse, torch.cat([batch.xyz, batch.rgb, batch.normal], 1) * w)
    xyz = sums[:, :3] / wsum[:, None]
    rgb = sums[:, 3:6] / wsum[:, None]
    nsum = sums[:, 6:]
    nrm = nsum.norm(dim=1, keepdim=True)
    normal = torch.where(nrm > 1e-6, nsum / nrm.clamp_min(1e-6), 0.0)
    # the representative view / segment: the first observation of each voxel
    first = torch.full((n,), batch.xyz.shape[0], dtype=torch.int64, device=dev)
    first.scatter_reduce_(0, inverse, torch.arange(batch.xyz.shape[0], device=dev), "amin")
    return PointRows(xyz, rgb, wsum, normal, batch.view[first], batch.segment[first])


def _uid_keep(uid: torch.Tensor, fraction: float) -> torch.Tensor:
    """Stable pseudo-random subset of points by uid hash: keeps about ``fraction`` of them."""
    if fraction >= 1.0:
        return torch.ones_like(uid, dtype=torch.bool)
    h = (uid * 2654435761) % 4294967296
    return h < int(fraction * 4294967296)
