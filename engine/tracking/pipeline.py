"""The streaming tracking job: keyframes -> cameras -> dense depth -> geometry memory,
chunk by chunk, so cameras and geometry appear while the video is still being processed.

Per chunk: new keyframes are added to the pose backend (engine.tracking.pose_backend; the
pycolmap workspace by default) and mapped (the incremental mapper continues from the previous
model; the global mapper re-solves everything and is aligned to the previous gauge by Sim(3));
in a video, a keyframe after a physically impossible step is re-registered from its
sequential neighbours (PnP on their points) or left out and reported
(engine.tracking.consistency), and a long run of left-out keyframes is reported as a split
(the video cuts to another place; the larger side is kept); a photo set whose first solve
finds no model, places fewer than 80% of the photos or is weak gets a second, wide-baseline
attempt (engine.tracking.sfm.relaxed_options); later chunks grow with the model, so the global
mapper's total work stays about twice that of one final solve. The new views that are
depth references (at most ``max_dense_views`` evenly spread keyframes; the others serve as
stereo sources) get a depth map from the depth backend (``TrackOptions.depth_backend``,
engine.tracking.depth_backend: plane sweep checked against the other maps, then completed),
and it is fused.
``CamerasChanged`` and ``MemoryChanged`` are emitted after each chunk. At the end every map
is re-filtered with the final poses and the memory is rebuilt from them (earlier chunks were
fused with provisional poses); views without a map get the memory's depth rendered at them.
Keyframes whose final map keeps far fewer pixels than the others' are named in the warnings
(engine.tracking.depth_check: their depth disagrees with the neighbours' on the final poses).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.events import CamerasChanged, MemoryChanged, Progress
from engine.geometry import Camera
from engine.ingest import IngestOptions, load_input
from engine.ingest.views import CapturedView, ViewBank
from engine.tracking.align import align_to_previous
from engine.tracking.consistency import ConsistencyOptions, consistent_keyframes, step_possible, step_scale
from engine.tracking.colmap_io import undistort
from engine.tracking.dense import (DenseState, auto_voxel_size, fuse_depth_map, memory_depth, stale_sweeps,
                                   store_view_depth, sweep_views)
from engine.tracking.depth_check import depth_warnings
from engine.tracking.depth_backend import DEFAULT_DEPTH_BACKEND, make_depth_backend
from engine.tracking.mvs import MVSOptions
from engine.tracking.pi3.options import Pi3Options
from engine.tracking.pose_backend import TrackingContext, make_pose_backend, with_view, without_views
from engine.tracking.sfm import SfmOptions, SfmResult, TrackingError, relaxed_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackOptions:
    ingest: IngestOptions = field(default_factory=IngestOptions)
    sfm: SfmOptions = field(default_factory=SfmOptions)
    mvs: MVSOptions = field(default_factory=lambda: MVSOptions(max_side=400, max_depths=80, num_neighbors=3))
    depth_backend: str = DEFAULT_DEPTH_BACKEND   # engine.tracking.depth_backend.DEPTH_BACKENDS
    fuse_completed: bool = False     # completed (filled, not matched) depth into the memory too; off:
                                     # views keep complete depth, the memory only matched points
                                     # (completed points raise the memory's depth error, RESULTS.md)
    first_chunk: int = 10            # keyframes in the first chunk (first geometry early); a photo
                                     # set matched exhaustively is mapped in one go (its name order
                                     # says nothing about overlap, and every pair is matched anyway)
    chunk_size: int = 40             # keyframes per later chunk (at least; chunks grow with the model)
    max_dense_views: int = 60        # keyframes that get a depth map (every k-th; all when fewer)
    voxel_size: float | None = None  # memory voxel (scene units); None = ~1.5 px at median depth
    fuse_stride: int = 1
    register_leftovers: bool = True  # try render-and-match PnP on frames the mapper left out
    pose_backend: str = "colmap"     # engine.tracking.pose_backend.POSE_BACKENDS ("pi3": Pi3 network)
    models_dir: Path | None = None   # learned backends' checkpoints (None: $ANYRECON_MODELS or ~/.anyrecon/models)
    pi3: Pi3Options = field(default_factory=Pi3Options)   # pose backend "pi3": batches, working size
    steps: ConsistencyOptions | None = field(default_factory=ConsistencyOptions)
                                     # video: keyframes after a physically impossible step are
                                     # left out of each solve and reported (None: keep all)
    relaxed_retry: bool = True       # photo set: a second, wide-baseline attempt when the first
                                     # finds no model, places fewer than ``relaxed_below`` of the
                                     # photos or is weak
    resweep_tol: float = 0.005       # final poses: views whose sweep's scale is off the final sparse
                                     # points by more get swept again (0: never; symmetric orbit:
                                     # the first chunk's views were 1.1% off)
    relaxed_below: float = 0.8       # (kitchen at 640 px: the first placed 17/25, the retry 25/25)
    device: str | None = None


@dataclass
class TrackResult:
    """What tracking produced. ``timings`` in seconds since the job started."""

    views: ViewBank
    memory: object
    registered: list[str]
    unregistered: list[str]
    warnings: list[str]
    timings: dict[str, float]
    num_source_frames: int
    sparse_xyz: np.ndarray


def chunk_bounds(n: int, first: int, size: int, grow: bool = True) -> list[tuple[int, int]]:
    """[(start, stop)] covering range(n): one chunk of ``first``, then chunks of ``size``
    keyframes, or (``grow``) as many as the chunks before them together when that is more."""
    out, start = [], 0
    stop = min(n, max(2, first))
    while start < n:
        out.append((start, stop))
        step = max(1, size, stop if grow else 0)
        start, stop = stop, min(n, stop + step)
    if len(out) > 1 and out[-1][1] - out[-1][0] < 3:   # a tiny tail joins the previous chunk
        out[-2] = (out[-2][0], n)
        out.pop()
    return out


def split_pieces(names: list[str], registered: set[str], steps: ConsistencyOptions) -> list[list[str]]:
    """Runs of more than ``steps.max_skip`` consecutive keyframes (``names`` in video order)
    that are not in ``registered``: where a video cuts to another place, the model is split
    there and only the larger side kept (issue 14 item 2); each run is one left-out piece."""
    pieces, run = [], []
    for n in list(names) + [None]:
        if n is not None and n not in registered:
            run.append(n)
            continue
        if len(run) > steps.max_skip:
            pieces.append(run)
        run = []
    return pieces


def is_pure_rotation(result: SfmResult, panoramic_fraction: float, min_ratio: float = 0.25) -> bool:
    """True when (nearly) every image pair is homography-only and the model's camera centers
    spread less than ``min_ratio`` of the median scene distance: a rotation-only capture (or,
    early in a video, too little motion yet; a planar scene filmed with real translation
    spreads its cameras more)."""
    if panoramic_fraction < 0.95 or len(result.registered) < 3:
        return False
    if len(result.points.xyz) < 10:
        return True
    centers = np.stack([result.cameras[n].center for n in result.registered])
    spread = float(np.linalg.norm(centers.max(0) - centers.min(0)))
    depth = float(np.median(np.linalg.norm(result.points.xyz - centers.mean(0), axis=1)))
    return spread < min_ratio * depth


class _Tracker:
    """State shared across chunks (kept small; the job function drives it)."""

    def __init__(self, options: TrackOptions, is_video: bool) -> None:
        from engine.device import resolve_device

        self.options = options
        self.device = resolve_device(options.device)
        self.backend = make_pose_backend(options.pose_backend, options.sfm, is_video,
                                         TrackingContext(self.device, options.models_dir, options.pi3))
        self.is_video = is_video
        self.impossible: dict[str, str] = {}   # frame name -> why its pose was not kept
        self.relax_once = False                # photo set mapped in one go: one wide-baseline retry
        self.weak_points_per_view = 20
        self.notes: list[str] = []             # what the user should know about the attempts
        self.replaced: dict[str, str] = {}     # frame name -> why it was re-registered from its neighbours
        self.depth = make_depth_backend(options.depth_backend, options.mvs, self.device, self.backend)
        self.frames: dict[str, object] = {}
        self.dense_every = 1                 # every k-th keyframe (source order) is a depth reference
        self.order: dict[str, int] = {}      # frame name -> keyframe ordinal
        self.views = ViewBank()
        self.ids: dict[str, int] = {}
        self.memory = None
        self.last: SfmResult | None = None
        self.provisional: dict[str, float] = {}   # view name -> matched share of its map while tracking
        self.final_kept: dict[str, float] = {}    # view name -> matched share with the final poses
        self.seconds = {"sfm_s": 0.0, "dense_s": 0.0}
        self.resweeps = 0                      # views swept again with the final poses
        self.leftover_reasons: dict[str, str] = {}   # frame name -> why render-and-match did not place it

    def map_chunk(self, frames) -> SfmResult:
        t = time.perf_counter()
        try:
            return self._map_chunk(frames)
        finally:
            self.seconds["sfm_s"] += time.perf_counter() - t

    def _map_chunk(self, frames) -> SfmResult:
        for f in frames:
            self.frames[f.name] = f
        self.backend.add_frames(frames)
        if self.relax_once and self.last is None:
            return self._with_relaxed_attempt(frames)
        result = self.drop_impossible(self.backend.solve())
        if self.last is not None:
            result = align_to_previous(result, self.last)
        self.last = result
        return result

    def _with_relaxed_attempt(self, frames) -> SfmResult:
        """A photo set mapped in one go: when the first attempt finds no model, places fewer than
        ``TrackOptions.relaxed_below`` (80%) of the photos (kitchen at 640 px: 17 of 25) or is
        weak (fewer than ``weak_points_per_view`` (20) sparse points per
        photo: 8 synthetic views 40 degrees apart gave 14 and a 129-degree-wrong camera with
        the default settings, 41 and 0.3 degrees relaxed), a second one with wide-baseline settings
        (engine.tracking.sfm.relaxed_options) on a fresh backend; the better model is kept
        and the attempt reported (issue 14 item 6)."""
        self.relax_once = False
        try:
            first = self.backend.solve()
        except TrackingError as exc:
            first, why = None, str(exc)
        if first is not None and len(first.registered) >= self.options.relaxed_below * len(frames) \
                and len(first.points.xyz) >= self.weak_points_per_view * len(first.registered):
            self.last = first
            return first
        placed = 0 if first is None else len(first.registered)
        relaxed = make_pose_backend(self.options.pose_backend, relaxed_options(self.options.sfm), self.is_video,
                                    TrackingContext(self.device, self.options.models_dir, self.options.pi3))
        relaxed.add_frames(frames)
        try:
            second = relaxed.solve()
        except TrackingError:
            relaxed.close()
            self.notes.append(f"a second attempt with wide-baseline settings (more features, affine SIFT, "
                              f"lower thresholds) placed no photo either (the first placed {placed})")
            if first is None:
                raise TrackingError(why) from None
            self.last = first
            return first
        if first is not None and (len(second.registered), len(second.points.xyz)) <= (placed, len(first.points.xyz)):
            relaxed.close()
            self.last = first
            return first
        self.backend.close()
        self.backend = relaxed
        first_pts = 0 if first is None else len(first.points.xyz)
        self.notes.append(f"the photos are far apart: a second attempt with wide-baseline settings (more "
                          f"features, affine SIFT, lower thresholds) placed {len(second.registered)} of "
                          f"{len(frames)} with {len(second.points.xyz)} sparse points (the first: {placed}, "
                          f"{first_pts} points)")
        self.last = second
        return second

    def drop_impossible(self, result: SfmResult) -> SfmResult:
        """Video: keyframes whose step from their neighbours no handheld camera makes
        (engine.tracking.consistency.consistent_keyframes) are never kept as solved: each is
        re-placed from its sequential neighbours (PnP on their points, when the backend can)
        if that pose steps plausibly from both kept neighbours, else left out and reported."""
        if not self.is_video or self.options.steps is None or len(result.registered) < 3:
            return result
        names = sorted(result.registered, key=lambda n: self.order.get(n, 0))
        wfc = np.stack([result.cameras[n].world_from_cam for n in names])
        ordinals = np.array([self.order.get(n, 0) for n in names])
        keep = consistent_keyframes(wfc, ordinals, self.options.steps)
        dropped = [n for n, k in zip(names, keep) if not k]
        for n in names:
            if n not in dropped:
                self.impossible.pop(n, None)
                self.replaced.pop(n, None)
        result = without_views(result, dropped)
        scale = step_scale(wfc[keep], ordinals[keep])
        for n in dropped:
            placed = self.place_from_neighbours(result, n, set(dropped), scale)
            if placed is not None:
                result = placed
                self.impossible.pop(n, None)
                self.replaced[n] = ("its pose jumped impossibly far from its neighbours' in the solve; "
                                    "re-registered from its sequential neighbours' points")
            else:
                self.replaced.pop(n, None)
                self.impossible[n] = ("its pose jumped impossibly far from its neighbours' in this solve: "
                                      + ("kept at its earlier pose" if n in self.ids else "left out"))
        return result

    def place_from_neighbours(self, result: SfmResult, name: str, flipped: set[str], scale: float,
                              reach: int = 2) -> SfmResult | None:
        """``result`` with ``name`` registered at the pose its kept neighbours (at most ``reach``
        keyframes away in video order) give it by PnP (PoseBackend.pose_from_neighbours), when
        that pose steps plausibly from the nearest kept keyframe on each side; else None."""
        find = getattr(self.backend, "pose_from_neighbours", None)
        k = self.order.get(name)
        if find is None or k is None:
            return None
        kept = sorted(result.registered, key=lambda n: self.order.get(n, 0))
        near = [n for n in kept if 0 < abs(self.order.get(n, 0) - k) <= reach]
        if not near:
            return None
        wfc = find(name, near, flipped)
        if wfc is None:
            return None
        before = [n for n in kept if self.order.get(n, 0) < k][-1:]
        after = [n for n in kept if self.order.get(n, 0) > k][:1]
        for n in before + after:
            if not step_possible(result.cameras[n].world_from_cam, wfc, abs(self.order[n] - k), scale,
                                 self.options.steps):
                return None
        ref = near[0]
        cam = replace(result.cameras[ref], world_from_cam=np.asarray(wfc, dtype=np.float64), name=name)
        return with_view(result, name, cam, result.distortion[ref])

    def update_views(self, result: SfmResult) -> list[int]:
        """Register new views / move existing ones; returns the ids of new views."""
        new = []
        for name in result.registered:
            cam = result.cameras[name]
            if name in self.ids:
                self.views[self.ids[name]].camera = cam
                continue
            img = undistort(self.frames[name].image, cam.K, result.distortion[name])
            self.ids[name] = self.views.add(CapturedView(cam, img))
            new.append(self.ids[name])
        return new

    def cameras_by_id(self) -> dict[int, object]:
        return {i: v.camera for i, v in enumerate(self.views) if v.name in self.last.cameras}

    def is_reference(self, view_id: int) -> bool:
        return self.order.get(self.views[view_id].name, 0) % self.dense_every == 0

    def dense_chunk(self, new_ids: list[int], cancel):
        """Depth for the new reference views; yields each one's map as soon as it is ready."""
        cams = self.cameras_by_id()
        imgs = {i: self.views[i].image for i in cams}
        refs = [i for i in new_ids if self.is_reference(i)]
        t = time.perf_counter()
        for dm in self.depth.estimate(refs, cams, imgs, self.last.points.xyz, None, cancel):
            self.seconds["dense_s"] += time.perf_counter() - t
            self.provisional[self.views[dm.view_id].name] = float(dm.matched().mean())
            yield dm
            t = time.perf_counter()

    def fuse(self, depth_maps) -> None:
        from engine.memory import GeometryMemory

        if self.memory is None:
            voxel = self.options.voxel_size or auto_voxel_size(depth_maps)
            self.memory = GeometryMemory(voxel, self.device)
        for dm in depth_maps:
            fuse_depth_map(self.memory, dm, self.options.fuse_stride, fuse_completed=self.options.fuse_completed)

    def register_leftovers(self, frames) -> list[str]:
        """Place frames the mapper did not register against the memory; returns the names added.
        First render-and-match PnP from the pose of the nearest registered frame in source
        order (a video's dropped keyframe sits next to it), then, for the frames still left,
        SIFT matches with the best-matching captured views lifted to 3D with the memory
        rendered there, PnP and render-and-match (engine.tracking.localize: a photo set's
        photos need not be near their neighbour in name order). In a video a frame is kept
        only if its pose steps plausibly from the nearest kept keyframe on each side."""
        from engine.tracking.localize import LocalizeOptions, PhotoLocalizer
        from engine.tracking.refine import RefineOptions, refine_pose

        added = []
        reg = [f for f in frames if f.name in self.ids]
        if not reg or self.memory is None or not len(self.memory):
            return added
        for f in frames:
            if f.name in self.ids:
                continue
            near = min(reg, key=lambda r: abs(r.index - f.index))
            cam0 = self.views[self.ids[near.name]].camera
            if (cam0.width, cam0.height) != f.size:
                continue
            res = refine_pose(self.memory, cam0.with_pose(cam0.world_from_cam), f.image,
                              RefineOptions(min_inliers=30))
            if res.accepted and res.error_after_px < 2.0 and self._step_plausible(f.name, res.camera.world_from_cam):
                self._add_leftover(f, Camera(cam0.K, cam0.width, cam0.height, res.camera.world_from_cam, name=f.name))
                added.append(f.name)
        left = [f for f in frames if f.name not in self.ids]
        if left:
            localizer = PhotoLocalizer(self.memory, self.views, LocalizeOptions(candidates=5))
            for f in left:
                r = localizer.register(f.name, f.image, getattr(f, "focal_px", None))
                if r.registered and self._step_plausible(f.name, r.camera.world_from_cam):
                    self._add_leftover(f, r.camera)
                    added.append(f.name)
                else:
                    self.leftover_reasons[f.name] = r.reason or "its pose would step impossibly far from its neighbours'"
        return added

    def _add_leftover(self, frame, cam) -> None:
        """A leftover frame placed against the memory: a view whose depth is the memory's."""
        view = CapturedView(cam, frame.image)
        view.depth, view.confidence = memory_depth(self.memory, cam, self.options.mvs.max_side)
        self.ids[frame.name] = self.views.add(view)

    def _step_plausible(self, name: str, wfc: np.ndarray) -> bool:
        """Video: whether ``wfc`` steps plausibly from the nearest kept keyframe on each side
        (engine.tracking.consistency.step_possible); a photo set has no order: always True."""
        if not self.is_video or self.options.steps is None or name not in self.order:
            return True
        k = self.order[name]
        kept = sorted((self.order[n], n) for n in self.ids if n in self.order)
        if len(kept) < 2:
            return True
        ords = np.array([o for o, _ in kept])
        scale = step_scale(np.stack([self.views[self.ids[n]].camera.world_from_cam for _, n in kept]), ords)
        sides = [p for p in kept if p[0] < k][-1:] + [p for p in kept if p[0] > k][:1]
        return all(step_possible(self.views[self.ids[n]].camera.world_from_cam, wfc, abs(o - k), scale,
                                 self.options.steps) for o, n in sides)

    def resweep_stale(self, cams, cancel) -> list[int]:
        """Sweep again, against neighbours chosen by the final poses, the views whose raw
        depth no longer fits them (engine.tracking.dense.stale_sweeps: scale off the final
        sparse points by more than ``TrackOptions.resweep_tol``): views swept with a chunk's
        provisional poses that a later solve moved. Only for the plane-sweep backends."""
        state = getattr(self.depth, "state", None)
        if not isinstance(state, DenseState) or not self.options.resweep_tol or self.last is None:
            return []
        xyz = self.last.points.xyz
        stale = stale_sweeps(state, xyz, self.options.resweep_tol)
        if stale:
            imgs = {i: self.views[i].image for i in cams}
            done = list(sweep_views(state, stale, cams, imgs, xyz, None, cancel))
            log.info("re-swept %d view(s) whose sweep did not fit the final poses", len(done))
            self.resweeps = len(done)
        return stale

    def rebuild(self, cancel) -> list:
        """Re-filter every map with the final poses and rebuild the memory from them."""
        cams = self.cameras_by_id()
        self.depth.update_poses(cams)
        self.resweep_stale(cams, cancel)
        maps = self.depth.final_maps(cancel)
        self.final_kept = {self.views[dm.view_id].name: float(dm.matched().mean()) for dm in maps}
        if self.memory is not None:
            self.memory.clear()
        self.fuse(maps)
        for dm in maps:
            store_view_depth(self.views[dm.view_id], dm)
        with_depth = {dm.view_id for dm in maps}
        if self.memory is not None and len(self.memory):
            for i, cam in cams.items():
                if i not in with_depth:
                    v = self.views[i]
                    v.depth, v.confidence = memory_depth(self.memory, cam, self.options.mvs.max_side)
        return maps


def track_job(input_path: str | Path, options: TrackOptions = TrackOptions()):
    """A session job ``fn(state, cancel)``: yields Progress / CamerasChanged / MemoryChanged
    events, stores views and memory in ``state`` and returns a :class:`TrackResult`."""

    def job(state, cancel):
        return (yield from _run(input_path, options, state, cancel))

    return job


def _run(input_path, options: TrackOptions, state, cancel):
    t0 = time.perf_counter()
    yield Progress(0.0, f"reading {Path(input_path).name}")
    ingest = load_input(input_path, options.ingest)
    timings: dict[str, float] = {"ingest_s": time.perf_counter() - t0}
    frames = ingest.frames
    if len(frames) < 2:
        raise TrackingError(f"{input_path}: {len(frames)} usable frame(s); tracking needs at least 2. "
                            + " ".join(ingest.warnings))
    tracker = _Tracker(options, ingest.kind == "video")
    tracker.order = {f.name: i for i, f in enumerate(frames)}
    tracker.dense_every = max(1, -(-len(frames) // max(1, options.max_dense_views)))
    try:
        one_go = ingest.kind != "video" and options.sfm.matching != "sequential" \
            and len(frames) <= options.sfm.exhaustive_max
        tracker.relax_once = options.relaxed_retry and one_go and options.pose_backend == "colmap"   # SfM settings mean nothing to a network
        for a, b in chunk_bounds(len(frames), len(frames) if one_go else options.first_chunk, options.chunk_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield Progress(b / len(frames) * 0.9, f"tracking keyframes {a + 1}-{b} of {len(frames)}")
            yield from _chunk(tracker, frames[a:b], b >= len(frames), ingest.warnings, timings, t0, cancel)
        yield from _finish(tracker, frames, ingest.warnings, cancel)
    finally:
        tracker.backend.close()
    timings.update(tracker.seconds)
    timings["total_s"] = time.perf_counter() - t0
    registered = list(tracker.ids)
    unregistered = [f.name for f in frames if f.name not in tracker.ids]
    state.views, state.memory = tracker.views, tracker.memory
    yield Progress(1.0, f"tracked {len(registered)}/{len(frames)} keyframes, {len(tracker.memory)} points")
    return TrackResult(tracker.views, tracker.memory, registered, unregistered, ingest.warnings, timings,
                       ingest.num_source_frames, tracker.last.points.xyz)


def _chunk(tracker: _Tracker, frames, is_last: bool, warnings: list[str], timings: dict, t0: float, cancel):
    """Map one chunk, announce the cameras, then sweep and fuse its views one by one."""
    try:
        result = tracker.map_chunk(frames)
    except TrackingError as exc:
        if tracker.last is None and is_last:
            raise TrackingError(f"{exc}. " + " ".join(warnings)) from exc
        if tracker.last is not None:   # keep what we have; these frames stay unregistered
            log.warning("keyframes %s-%s could not be mapped: %s", frames[0].name, frames[-1].name, exc)
        return                         # (with no model yet, the next chunk retries with more frames)
    if tracker.memory is None and is_pure_rotation(result, tracker.backend.panoramic_fraction()):
        if is_last:
            raise TrackingError("the camera only rotates (no translation, no parallax): poses of a "
                                "pure rotation cannot give depth; move the camera sideways while filming")
        tracker.last = None            # too little motion yet: retry with the next chunk added
        tracker.backend.forget_model()
        return
    new_ids = tracker.update_views(result)
    yield CamerasChanged(tuple(tracker.views.cameras))
    for dm in tracker.dense_chunk(new_ids, cancel):   # fused view by view: geometry appears early
        if not dm.matched().any():   # nothing matched: its (blind) completion waits for the rebuild
            continue
        version = tracker.memory.version if tracker.memory is not None else 0
        tracker.fuse([dm])
        timings.setdefault("first_geometry_s", time.perf_counter() - t0)
        yield MemoryChanged(tracker.memory.version, len(tracker.memory), tracker.memory.changes_since(version))


def _finish(tracker: _Tracker, frames, warnings: list[str], cancel):
    """Final re-filtering and fusion with the final poses; render-and-match for leftovers."""
    if tracker.last is None or tracker.memory is None:
        raise TrackingError("no camera could be tracked. " + " ".join(warnings))
    yield Progress(0.95, "final depth filtering and fusion")
    t = time.perf_counter()
    tracker.rebuild(cancel)
    tracker.seconds["dense_s"] += time.perf_counter() - t
    warnings.extend(tracker.notes + tracker.backend.notes())
    warnings.extend(depth_warnings(tracker.final_kept, tracker.provisional))
    added = []
    if tracker.options.register_leftovers and len(tracker.ids) < len(frames):
        added = tracker.register_leftovers(frames)
    pieces = split_pieces([f.name for f in frames], set(tracker.ids), tracker.options.steps) \
        if tracker.is_video and tracker.options.steps is not None else []
    in_piece = {n for piece in pieces for n in piece}
    for piece in pieces:
        warnings.append(f"the video seems to cut to another place: keyframes {piece[0]} to {piece[-1]} "
                        f"({len(piece)}) do not join the kept model of {len(tracker.ids)} keyframes and were "
                        f"left out (a separate piece; track it on its own)")
    for name, why in {**tracker.replaced, **tracker.impossible}.items():
        if name not in in_piece and name not in added:
            warnings.append(f"{name}: {why}")
    for name, why in tracker.leftover_reasons.items():
        if name not in in_piece and name not in tracker.impossible and name not in tracker.ids:
            warnings.append(f"{name}: not placed ({why})")
    for name in added:
        warnings.append(f"{name}: registered by render-and-match against the memory (no depth map of its own)")
    yield CamerasChanged(tuple(tracker.views.cameras))
    yield MemoryChanged(tracker.memory.version, len(tracker.memory), None)
