"""``track --parallel-windows``: a long video's keyframes are cut into overlapping windows
(engine.tracking.windows), each tracked as a Ray task (the pose backend and the plane sweep on
its window; only cameras, a compact sparse model and a few depth maps come back), chained into
window 0's gauge by Sim(3) on the shared keyframes, and refined by one bundle adjustment over
all keyframes (engine.tracking.windows_merge).

The memory streams in window by window, with the events of the single-process tracker
(``CamerasChanged`` / ``MemoryChanged`` after each window, in video order, as soon as the
window and all before it are done). At the end, as in the single-process tracker, every map
is re-filtered with the final poses, the memory is rebuilt from them, and views without a
depth map get the memory's depth. A video shorter than two windows is tracked by the
single-process tracker. Not done across windows: loop closures between keyframes of windows
that do not overlap, and render-and-match of keyframes a window's mapper left out.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.events import CamerasChanged, MemoryChanged, Progress
from engine.tracking.windows import (
    Sim3,
    WindowOptions,
    owned_ranges,
    sim3_from_cameras,
    track_window,
    window_bounds,
)


def windowed_track_job(input_path, options=None, windows: WindowOptions = WindowOptions(),  # noqa: B008 - frozen
                       address: str | None = None, num_cpus: int | None = None):
    """A session job like ``engine.tracking.pipeline.track_job`` (same events, same
    ``TrackResult``), its windows tracked as parallel Ray tasks (local Ray on loopback, or the
    cluster at ``address``)."""
    from engine.tracking.pipeline import TrackOptions

    windows.validate()
    options = options or TrackOptions()

    def job(state, cancel):
        return (yield from _run(Path(input_path), options, windows, state, cancel, address, num_cpus))

    return job


def track_factory(windows: WindowOptions, address: str | None = None, num_cpus: int | None = None):
    """``(path, TrackOptions) -> job`` for ``engine.workflows.scene.open_capture_job(track=...)``."""
    return lambda path, options: windowed_track_job(path, options, windows, address, num_cpus)


def _sift_frames(frames, max_side: int):
    """The frames as the window tasks get them: no larger than the pose backend works on."""
    import cv2

    out = []
    for f in frames:
        h, w = f.image.shape[:2]
        s = max_side / max(w, h)
        if s < 1.0:
            small = cv2.resize(f.image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
            f = replace(f, image=small, focal_px=None if f.focal_px is None else f.focal_px * s)
        out.append(f)
    return out


def _run(input_path: Path, options, windows: WindowOptions, state, cancel, address, num_cpus):
    from engine.ingest import load_input
    from engine.tracking.pipeline import track_job
    from engine.tracking.sfm import TrackingError

    t0 = time.perf_counter()
    if options.pose_backend != "colmap" or options.depth_backend not in ("sweep", "sweep+complete"):
        raise ValueError("parallel windows use the colmap pose backend and the sweep depth backend "
                         "(sweep or sweep+complete)")
    yield Progress(0.0, f"reading {input_path.name}")
    ingest = load_input(input_path, options.ingest)
    frames = ingest.frames
    bounds = window_bounds(len(frames), windows.size, windows.overlap)
    if ingest.kind != "video" or len(bounds) < 2:     # nothing to split: the single-process tracker
        return (yield from track_job(input_path, options)(state, cancel))
    timings = {"ingest_s": time.perf_counter() - t0}
    merger = _Merger(options, frames, ingest.warnings)
    dense_every = max(1, math.ceil(len(frames) / max(1, options.max_dense_views)))
    refs = [[frames[i].name for i in range(lo, hi) if i % dense_every == 0] for lo, hi in owned_ranges(bounds)]
    from engine.workflows.batch import start_ray

    ray = start_ray(address, num_cpus)
    task = ray.remote(num_cpus=1, max_retries=1)(track_window)
    small = _sift_frames(frames, options.sfm.max_image_size)
    futures = [task.remote(k, small[a:b], refs[k], options) for k, (a, b) in enumerate(bounds)]
    yield Progress(0.02, f"tracking {len(frames)} keyframes in {len(bounds)} windows of {windows.size} "
                         f"({windows.overlap} shared)")
    try:
        for k, ref in enumerate(futures):
            while not ray.wait([ref], timeout=0.5)[0]:
                if cancel is not None:
                    cancel.raise_if_cancelled()
            try:
                result = ray.get(ref)
            except Exception as exc:                # the task's TrackingError, unwrapped
                cause = getattr(exc, "cause", None) or exc
                raise TrackingError(f"window {k + 1} (keyframes {bounds[k][0] + 1}-{bounds[k][1]}): {cause}") from exc
            yield Progress(0.05 + 0.8 * (k + 1) / len(bounds), f"window {k + 1}/{len(bounds)} tracked: "
                           f"{len(result.cameras)} of {bounds[k][1] - bounds[k][0]} keyframes")
            yield from merger.add_window(result, timings, t0)
    finally:
        for ref in futures:
            ray.cancel(ref)
    timings["windows_s"] = time.perf_counter() - t0 - timings["ingest_s"]
    yield Progress(0.9, "bundle adjustment over all windows")
    yield from merger.finish(timings, cancel)
    timings["total_s"] = time.perf_counter() - t0
    state.views, state.memory = merger.views, merger.memory
    yield Progress(1.0, f"tracked {len(merger.ids)}/{len(frames)} keyframes in {len(bounds)} windows, "
                        f"{len(merger.memory)} points")
    return merger.result(ingest, timings)


class _Merger:
    """The driver's side: chains the windows, grows views and memory, refines at the end."""

    def __init__(self, options, frames, warnings: list[str]) -> None:
        from engine.device import resolve_device
        from engine.ingest.views import ViewBank
        from engine.tracking.dense import DenseState

        self.options = options
        self.device = resolve_device(options.device)
        self.frames = {f.name: f for f in frames}
        self.order = [f.name for f in frames]
        self.rank = {n: i for i, n in enumerate(self.order)}
        self.warnings = warnings
        self.views = ViewBank()
        self.ids: dict[str, int] = {}
        self.memory = None
        self.dense = DenseState(options.mvs, self.device)
        self.windows: list = []
        self.chain: list[Sim3] = []
        self.seconds = {"sfm_s": 0.0, "dense_s": 0.0}

    def sim3_for(self, result) -> Sim3:
        """Window ``result``'s gauge -> the chain's, through the keyframes it shares with the
        window before it."""
        if not self.windows:
            return Sim3()
        prev, sim = self.windows[-1], self.chain[-1]
        shared = [n for n in result.cameras if n in prev.cameras]
        if len(shared) < 3:
            from engine.tracking.sfm import TrackingError

            raise TrackingError(f"window {result.index + 1} shares only {len(shared)} tracked keyframe(s) with "
                                f"window {result.index}: use larger windows, a larger overlap, or track "
                                "without --parallel-windows")
        return sim3_from_cameras([result.cameras[n].world_from_cam for n in shared],
                                 [sim.world_from_cam(prev.cameras[n].world_from_cam) for n in shared])

    def add_window(self, result, timings: dict, t0: float):
        """Chain one window, add its new views and fuse its depth maps; yields the events."""
        from engine.geometry import Camera
        from engine.ingest.views import CapturedView
        from engine.tracking.colmap_io import undistort

        sim = self.sim3_for(result)
        self.windows.append(result)
        self.chain.append(sim)
        for k, v in result.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v
        self.warnings.extend(n for n in result.notes if n not in self.warnings)
        for name in sorted(result.cameras, key=self.rank.get):
            if name in self.ids:
                continue
            cam, frame = result.cameras[name], self.frames[name]
            h, w = frame.image.shape[:2]
            K = cam.K * np.array([[w / cam.width], [h / cam.height], [1.0]])
            full = Camera(K, w, h, sim.world_from_cam(cam.world_from_cam), name=name)
            image = undistort(frame.image, K, result.distortion[name])
            self.ids[name] = self.views.add(CapturedView(full, image))
        yield CamerasChanged(tuple(self.views.cameras))
        new = self._add_sweeps(result, sim)
        for dm in self._filtered(new):
            if not dm.matched().any():
                continue
            version = self.memory.version if self.memory is not None else 0
            self._fuse([dm])
            timings.setdefault("first_geometry_s", time.perf_counter() - t0)
            yield MemoryChanged(self.memory.version, len(self.memory), self.memory.changes_since(version))

    def _add_sweeps(self, result, sim: Sim3) -> list[int]:
        import torch

        from engine.geometry import Camera
        from engine.tracking.mvs import SweepResult

        st, new = self.dense, []
        for name, sw in result.sweeps.items():
            vid = self.ids[name]
            cam = sw.camera           # arrays from Ray's object store are read-only: copies
            st.cameras[vid] = Camera(np.array(cam.K), cam.width, cam.height, sim.world_from_cam(cam.world_from_cam),
                                     name=cam.name)
            st.images[vid] = np.array(sw.image)
            st.raw[vid] = SweepResult(torch.tensor(sw.depth * sim.scale, device=self.device),
                                      torch.tensor(sw.confidence, device=self.device))
            st.ranges[vid] = (sw.near_far[0] * sim.scale, sw.near_far[1] * sim.scale)
            new.append(vid)
        self._rescore()
        return new

    def sparse_xyz(self) -> np.ndarray:
        """[N,3] every window's sparse points in the chain's gauge."""
        parts = [s.points(w.model.xyz) for w, s in zip(self.windows, self.chain)]
        return np.concatenate(parts) if parts else np.zeros((0, 3))

    def _rescore(self) -> None:
        from engine.tracking.mvs_select import covisibility_scores

        st = self.dense
        st.score_ids = sorted(st.cameras)
        st.scores = covisibility_scores([st.cameras[i] for i in st.score_ids], self.sparse_xyz())

    def _filtered(self, view_ids):
        from engine.tracking.dense import filtered_depth

        t = time.perf_counter()
        maps = [filtered_depth(self.dense, v) for v in view_ids]
        self.seconds["merge_dense_s"] = self.seconds.get("merge_dense_s", 0.0) + time.perf_counter() - t
        return maps

    def _completed(self, maps, cancel):
        """The final maps completed (engine.tracking.depth_backend.complete_map), each checked
        against its most covisible swept keyframes."""
        from engine.tracking.dense import check_views
        from engine.tracking.depth_backend import complete_map

        t = time.perf_counter()
        out = []
        for dm in maps:
            if cancel is not None:
                cancel.raise_if_cancelled()
            self.dense.neighbors[dm.view_id] = check_views(self.dense, dm.view_id)
            out.append(complete_map(self.dense, dm))
        self.seconds["complete_depth_s"] = time.perf_counter() - t
        return out

    def _fuse(self, maps) -> None:
        from engine.memory import GeometryMemory
        from engine.tracking.dense import auto_voxel_size, fuse_depth_map

        if self.memory is None:
            self.memory = GeometryMemory(self.options.voxel_size or auto_voxel_size(maps), self.device)
        for dm in maps:
            fuse_depth_map(self.memory, dm, self.options.fuse_stride, fuse_completed=self.options.fuse_completed)

    def finish(self, timings: dict, cancel):
        """One bundle adjustment over all windows, then the final re-filtering and fusion."""
        from engine.geometry import Camera
        from engine.tracking.dense import memory_depth, store_view_depth
        from engine.tracking.sfm import TrackingError
        from engine.tracking.windows_merge import bundle_adjust

        if self.memory is None:
            raise TrackingError("no depth could be computed in any window. " + " ".join(self.warnings))
        t = time.perf_counter()
        wfc = {n: self.views[i].camera.world_from_cam for n, i in self.ids.items()}
        refined = bundle_adjust([w.model for w in self.windows], self.chain, wfc, self.options.sfm.num_threads)
        timings["bundle_adjustment_s"] = time.perf_counter() - t
        yield Progress(0.93, f"bundle adjustment: mean reprojection error {refined.error_px[0]:.2f} -> "
                             f"{refined.error_px[1]:.2f} px over {len(refined.world_from_cam)} keyframes")
        for name, i in self.ids.items():
            view = self.views[i]
            w, h = view.camera.width, view.camera.height
            K = refined.K * np.array([[w / refined.width], [h / refined.height], [1.0]])
            view.camera = Camera(K, w, h, refined.world_from_cam.get(name, view.camera.world_from_cam), name=name)
            if i in self.dense.cameras:
                self.dense.cameras[i] = self.dense.cameras[i].with_pose(view.camera.world_from_cam)
        self._rescore()
        if cancel is not None:
            cancel.raise_if_cancelled()
        maps = self._filtered(sorted(self.dense.raw))
        if self.options.depth_backend == "sweep+complete":
            maps = self._completed(maps, cancel)
        self.memory.clear()
        self._fuse(maps)
        for dm in maps:
            store_view_depth(self.views[dm.view_id], dm)
        with_depth = {dm.view_id for dm in maps}
        for i, view in enumerate(self.views):
            if i not in with_depth:
                view.depth, view.confidence = memory_depth(self.memory, view.camera, self.options.mvs.max_side)
        yield CamerasChanged(tuple(self.views.cameras))
        yield MemoryChanged(self.memory.version, len(self.memory), None)

    def result(self, ingest, timings: dict):
        from engine.tracking.pipeline import TrackResult

        timings.update(self.seconds)
        registered = [n for n in self.order if n in self.ids]
        unregistered = [n for n in self.order if n not in self.ids]
        return TrackResult(self.views, self.memory, registered, unregistered, self.warnings, timings,
                           ingest.num_source_frames, self.sparse_xyz())
