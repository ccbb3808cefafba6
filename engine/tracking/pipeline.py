"""The streaming tracking job: keyframes -> cameras -> dense depth -> geometry memory,
chunk by chunk, so cameras and geometry appear while the video is still being processed.

Per chunk: new keyframes are added to the pose backend (engine.tracking.pose_backend; the
pycolmap workspace by default) and mapped (the incremental mapper continues from the previous
model; the global mapper re-solves everything and is aligned to the previous gauge by Sim(3));
in a video, keyframes after a physically impossible step are left out of the solve and
reported (engine.tracking.consistency); later chunks grow with the model, so the global
mapper's total work stays about twice that of one final solve. The new views that are
depth references (at most ``max_dense_views`` evenly spread keyframes; the others serve as
stereo sources) get a depth map from the depth backend (``TrackOptions.depth_backend``,
engine.tracking.depth_backend: plane sweep checked against the other maps, then completed),
and it is fused.
``CamerasChanged`` and ``MemoryChanged`` are emitted after each chunk. At the end every map
is re-filtered with the final poses and the memory is rebuilt from them (earlier chunks were
fused with provisional poses); views without a map get the memory's depth rendered at them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import CamerasChanged, MemoryChanged, Progress
from engine.geometry import Camera
from engine.ingest import IngestOptions, load_input
from engine.ingest.views import CapturedView, ViewBank
from engine.tracking.align import align_to_previous
from engine.tracking.consistency import ConsistencyOptions, consistent_keyframes
from engine.tracking.colmap_io import undistort
from engine.tracking.dense import auto_voxel_size, fuse_depth_map, memory_depth, store_view_depth
from engine.tracking.depth_backend import DEFAULT_DEPTH_BACKEND, make_depth_backend
from engine.tracking.mvs import MVSOptions
from engine.tracking.pi3.options import Pi3Options
from engine.tracking.pose_backend import TrackingContext, make_pose_backend, without_views
from engine.tracking.sfm import SfmOptions, SfmResult, TrackingError

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
        self.depth = make_depth_backend(options.depth_backend, options.mvs, self.device, self.backend)
        self.frames: dict[str, object] = {}
        self.dense_every = 1                 # every k-th keyframe (source order) is a depth reference
        self.order: dict[str, int] = {}      # frame name -> keyframe ordinal
        self.views = ViewBank()
        self.ids: dict[str, int] = {}
        self.memory = None
        self.last: SfmResult | None = None
        self.seconds = {"sfm_s": 0.0, "dense_s": 0.0}

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
        result = self.drop_impossible(self.backend.solve())
        if self.last is not None:
            result = align_to_previous(result, self.last)
        self.last = result
        return result

    def drop_impossible(self, result: SfmResult) -> SfmResult:
        """Video: leave out keyframes whose step from their neighbours no handheld camera makes
        (engine.tracking.consistency.consistent_keyframes); they are reported, not kept."""
        if not self.is_video or self.options.steps is None or len(result.registered) < 3:
            return result
        names = sorted(result.registered, key=lambda n: self.order.get(n, 0))
        wfc = np.stack([result.cameras[n].world_from_cam for n in names])
        keep = consistent_keyframes(wfc, np.array([self.order.get(n, 0) for n in names]), self.options.steps)
        dropped = [n for n, k in zip(names, keep) if not k]
        for n in dropped:
            self.impossible[n] = ("its pose jumped impossibly far from its neighbours' in this solve: "
                                  + ("kept at its earlier pose" if n in self.ids else "left out"))
        for n in names:
            if n not in dropped:
                self.impossible.pop(n, None)
        return without_views(result, dropped)

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
        """Render-and-match PnP for frames the mapper did not register, starting from the
        pose of the nearest registered frame in source order; returns the names added."""
        from engine.tracking.refine import RefineOptions, refine_pose

        added = []
        reg = [f for f in frames if f.name in self.ids]
        for f in frames:
            if f.name in self.ids or not reg or self.memory is None:
                continue
            near = min(reg, key=lambda r: abs(r.index - f.index))
            cam0 = self.views[self.ids[near.name]].camera
            if (cam0.width, cam0.height) != f.size:
                continue
            res = refine_pose(self.memory, cam0.with_pose(cam0.world_from_cam), f.image,
                              RefineOptions(min_inliers=30))
            if res.accepted and res.error_after_px < 2.0:
                cam = Camera(cam0.K, cam0.width, cam0.height, res.camera.world_from_cam, name=f.name)
                self.ids[f.name] = self.views.add(CapturedView(cam, f.image))
                added.append(f.name)
        return added

    def rebuild(self, cancel) -> list:
        """Re-filter every map with the final poses and rebuild the memory from them."""
        cams = self.cameras_by_id()
        self.depth.update_poses(cams)
        maps = self.depth.final_maps(cancel)
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
    warnings.extend(tracker.backend.notes())
    for name, why in tracker.impossible.items():
        warnings.append(f"{name}: {why}")
    if tracker.options.register_leftovers and len(tracker.ids) < len(frames):
        for name in tracker.register_leftovers(frames):
            warnings.append(f"{name}: registered by render-and-match (no depth map)")
    yield CamerasChanged(tuple(tracker.views.cameras))
    yield MemoryChanged(tracker.memory.version, len(tracker.memory), None)
