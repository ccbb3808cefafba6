"""Depth backends: posed views -> per-view depth maps with confidence (and a ``completed``
flag), behind one small protocol chosen by name from a static registry.

A backend keeps its own state across the chunks of a streaming job (later views are checked
against earlier ones): callers add views with :meth:`DepthBackend.estimate` as poses become
known, move them with :meth:`update_poses` (bundle adjustment), and ask for the final maps
with :meth:`final_maps`. Maps are :class:`engine.tracking.dense.DepthMap` at the backend's
working resolution (``DepthMap.camera``); callers store them into views with
:func:`engine.tracking.dense.store_view_depth` and fuse them with ``fuse_depth_map``.

Implementations:
  "sweep"           the plane sweep + multi-view geometric filter: matched pixels only
                    (14-32% of a real keyframe's pixels, 5% on an untextured living room)
  "sweep+complete"  the default: the same, then every map completed (engine.tracking.complete):
                    every pixel gets a depth, completed ones flagged and weighed lower (fused
                    only when asked, TrackOptions.fuse_completed; no visibility evidence for the
                    generators below COMPLETED_MIN_CONFIDENCE, engine.render.retrieval; never a
                    measured surface in the surface generator). Held-out views with the surface
                    generator, same poses and sweep (benchmarks/RESULTS.md, 2026-12-01 evening):
                    fern 22.60 -> 22.83 dB, livingroom 27.83 -> 27.83, statue 13.55 -> 13.55;
                    depth agreement with the sparse points (all pairs) fern 48% -> 65%,
                    livingroom 12% -> 47%; costs ~4-8 s of CPU per keyframe at 400-480 px
  "pi3"             the depth and confidence Pi3 predicted with the cameras (pose backend
                    "pi3", engine.tracking.pi3): no matching, geometry within seconds
"""
from __future__ import annotations

from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from engine.geometry import Camera
from engine.tracking.complete import CompletionOptions, complete_depth, relaxed_matches
from engine.tracking.dense import DenseState, DepthMap, filtered_depth, sweep_views
from engine.tracking.mvs import MVSOptions

DEFAULT_DEPTH_BACKEND = "sweep+complete"


class DepthBackend(Protocol):
    name: str

    def estimate(self, view_ids: Sequence[int], cameras: dict[int, Camera], images: dict[int, np.ndarray],
                 points_xyz: np.ndarray | None = None, near_far: dict[int, tuple[float, float]] | None = None,
                 cancel=None) -> Iterator[DepthMap]:
        """Add views (full-resolution cameras and images by view id; all posed views, not only
        ``view_ids``) and yield a depth map for each of ``view_ids`` that gets one, as soon as it
        is ready (provisional: for early geometry while streaming; :meth:`final_maps` is what
        the views keep). ``points_xyz`` [N,3] world sparse points; ``near_far`` per-view bounds."""

    def update_poses(self, cameras: dict[int, Camera]) -> None:
        """New world_from_cam of views already added (same intrinsics)."""

    def final_maps(self, cancel=None) -> list[DepthMap]:
        """Every view's map recomputed with the current poses (views without depth left out)."""


class SweepBackend:
    """Plane sweep (engine.tracking.mvs) + geometric filtering (engine.tracking.dense)."""

    name = "sweep"
    finish_streaming = True

    def __init__(self, mvs: MVSOptions = MVSOptions(), device="cpu") -> None:
        self.state = DenseState(mvs, device)

    @property
    def view_ids(self) -> list[int]:
        """Views that have a depth map."""
        return sorted(self.state.raw)

    def estimate(self, view_ids, cameras, images, points_xyz=None, near_far=None, cancel=None) -> Iterator[DepthMap]:
        for vid in sweep_views(self.state, view_ids, cameras, images, points_xyz, near_far, cancel):
            dm = filtered_depth(self.state, vid)
            yield self._finish(dm) if self.finish_streaming else dm

    def update_poses(self, cameras: dict[int, Camera]) -> None:
        for i, cam in cameras.items():
            if i in self.state.cameras:
                self.state.cameras[i] = self.state.cameras[i].with_pose(cam.world_from_cam)

    def final_maps(self, cancel=None) -> list[DepthMap]:
        out = []
        for i in self.view_ids:
            if cancel is not None:
                cancel.raise_if_cancelled()
            out.append(self._finish(filtered_depth(self.state, i)))
        return out

    def _finish(self, dm: DepthMap) -> DepthMap:
        return dm


class CompletingSweepBackend(SweepBackend):
    """The sweep, then completion of every map (engine.tracking.complete): every pixel gets a
    depth; filled pixels are flagged ``completed`` and carry a lower confidence. Maps yielded
    while streaming (:meth:`estimate`) are provisional and matched-only unless
    ``finish_streaming``: the callers rebuild from :meth:`final_maps`, which completes them,
    so each view is completed once."""

    name = "sweep+complete"
    finish_streaming = False

    def __init__(self, mvs: MVSOptions = MVSOptions(), device="cpu",
                 completion: CompletionOptions = CompletionOptions()) -> None:
        super().__init__(mvs, device)
        self.completion = completion

    def _finish(self, dm: DepthMap) -> DepthMap:
        return complete_map(self.state, dm, self.completion)


def complete_map(state: DenseState, dm: DepthMap, completion: CompletionOptions = CompletionOptions()) -> DepthMap:
    """``dm`` (a filtered map of ``state``'s view ``dm.view_id``) completed: every pixel with a
    depth, the filled ones flagged ``completed`` with a lower confidence."""
    st = state
    nbrs = [(st.cameras[j], st.images[j]) for j in st.neighbors.get(dm.view_id, [])]
    near_far = st.ranges[dm.view_id]
    raw = st.raw[dm.view_id]
    c = complete_depth(dm.camera, dm.image, dm.depth, dm.confidence, near_far, nbrs, completion,
                       st.options, st.device, (raw.depth.cpu().numpy(), raw.confidence.cpu().numpy()),
                       relaxed_matches(st, dm.view_id, completion))
    return DepthMap(dm.view_id, dm.camera, dm.image, c.depth, c.confidence, c.completed)


def _pi3(mvs: MVSOptions, device, pose_backend) -> DepthBackend:
    from engine.tracking.pi3.backend import Pi3DepthBackend

    return Pi3DepthBackend(pose_backend, mvs.max_side)


# name -> factory (MVSOptions, device, the job's pose backend or None)
DEPTH_BACKENDS: dict[str, Callable[..., DepthBackend]] = {
    SweepBackend.name: lambda mvs, device, pose_backend: SweepBackend(mvs, device),
    CompletingSweepBackend.name: lambda mvs, device, pose_backend: CompletingSweepBackend(mvs, device),
    "pi3": _pi3,
}


def make_depth_backend(name: str = DEFAULT_DEPTH_BACKEND, mvs: MVSOptions = MVSOptions(), device="cpu",
                       pose_backend=None) -> DepthBackend:
    """The depth backend registered as ``name`` (see :data:`DEPTH_BACKENDS`); ``pose_backend``:
    the job's pose backend (a learned one can hand its own depth over)."""
    try:
        factory = DEPTH_BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown depth backend {name!r}; known: {', '.join(sorted(DEPTH_BACKENDS))}") from None
    return factory(mvs, device, pose_backend)
