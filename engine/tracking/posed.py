"""Dense reconstruction of views whose poses are known (imported): depth per view in chunks
through a depth backend (engine.tracking.depth_backend; default: plane sweep + completion),
each chunk fused and announced; at the end all maps are re-filtered against every neighbour
and the memory is rebuilt. Held-out views are never touched."""
from __future__ import annotations

import time

import numpy as np

from engine.events import MemoryChanged, Progress
from engine.tracking.dense import auto_voxel_size, fuse_depth_map, store_view_depth
from engine.tracking.depth_backend import DEFAULT_DEPTH_BACKEND, make_depth_backend
from engine.tracking.import_poses import PosedScene
from engine.tracking.mvs import MVSOptions
from engine.tracking.triangulate import sparse_from_known_poses


def scene_points(scene: PosedScene) -> np.ndarray | None:
    """Sparse points for depth ranges and neighbours: the reference's, else triangulated."""
    if scene.points is not None and len(scene.points.xyz) >= 20:
        return scene.points.xyz
    if scene.near_far:
        return None
    pts = sparse_from_known_poses(scene.views.cameras, [v.image for v in scene.views])
    if len(pts) < 20:
        raise ValueError("too few features could be triangulated with the given poses to bound the depth")
    return pts


def dense_job(scene: PosedScene, mvs: MVSOptions = MVSOptions(max_side=480, max_depths=96),
              voxel_size: float | None = None, chunk: int = 8, device=None,
              depth_backend: str = DEFAULT_DEPTH_BACKEND, fuse_completed: bool = False):
    """Session job ``fn(state, cancel)`` fusing ``scene.views`` into a new memory; returns it.
    Views get complete depth (``depth_backend``); the memory gets the matched pixels, and the
    completed ones too (weighted lower, strided) with ``fuse_completed``."""

    def job(state, cancel):
        from engine.device import resolve_device
        from engine.memory import GeometryMemory

        t0 = time.perf_counter()
        dev = resolve_device(device)
        views = scene.views
        pts = scene_points(scene)
        near_far = {i: scene.near_far[v.name] for i, v in enumerate(views) if v.name in scene.near_far}
        backend = make_depth_backend(depth_backend, mvs, dev)
        cams = {i: v.camera for i, v in enumerate(views)}
        imgs = {i: v.image for i, v in enumerate(views)}
        memory = None
        for start in range(0, len(views), chunk):
            ids = list(range(start, min(start + chunk, len(views))))
            yield Progress(start / len(views) * 0.9, f"dense depth {start + 1}-{ids[-1] + 1} of {len(views)}")
            maps = [dm for dm in backend.estimate(ids, cams, imgs, pts, near_far, cancel) if dm.matched().any()]
            if memory is None and maps:
                memory = GeometryMemory(voxel_size or auto_voxel_size(maps), dev)
                state.timings["first_geometry_s"] = time.perf_counter() - t0
            if memory is None:
                continue
            version = memory.version
            for dm in maps:
                fuse_depth_map(memory, dm)
            yield MemoryChanged(memory.version, len(memory), memory.changes_since(version))
        if memory is None:
            raise ValueError("no view got a matched depth: the images do not match at the given poses")
        memory.clear()
        for dm in backend.final_maps(cancel):
            fuse_depth_map(memory, dm, fuse_completed=fuse_completed)
            store_view_depth(views[dm.view_id], dm)
        yield MemoryChanged(memory.version, len(memory), None)
        state.views, state.memory = views, memory
        return memory

    return job
