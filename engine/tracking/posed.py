"""Dense reconstruction of views whose poses are known (imported): plane sweep per view in
chunks, each chunk fused and announced; at the end all maps are re-filtered against every
neighbour and the memory is rebuilt. Held-out views are never touched."""
from __future__ import annotations

import time

import numpy as np

from engine.events import MemoryChanged, Progress
from engine.tracking.dense import DenseState, auto_voxel_size, filtered_depth, full_size_depth, fuse_depth_map, sweep_views
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
              voxel_size: float | None = None, chunk: int = 8, device=None):
    """Session job ``fn(state, cancel)`` fusing ``scene.views`` into a new memory; returns it."""

    def job(state, cancel):
        from engine.device import resolve_device
        from engine.memory import GeometryMemory

        t0 = time.perf_counter()
        dev = resolve_device(device)
        views = scene.views
        pts = scene_points(scene)
        near_far = {i: scene.near_far[v.name] for i, v in enumerate(views) if v.name in scene.near_far}
        dense = DenseState(mvs, dev)
        cams = {i: v.camera for i, v in enumerate(views)}
        imgs = {i: v.image for i, v in enumerate(views)}
        memory = None
        for start in range(0, len(views), chunk):
            ids = list(range(start, min(start + chunk, len(views))))
            yield Progress(start / len(views) * 0.9, f"dense depth {start + 1}-{ids[-1] + 1} of {len(views)}")
            done = list(sweep_views(dense, ids, cams, imgs, pts, near_far, cancel))
            maps = [filtered_depth(dense, i) for i in done]
            if memory is None:
                memory = GeometryMemory(voxel_size or auto_voxel_size(maps), dev)
                state.timings["first_geometry_s"] = time.perf_counter() - t0
            version = memory.version
            for dm in maps:
                fuse_depth_map(memory, dm)
            yield MemoryChanged(memory.version, len(memory), memory.changes_since(version))
        memory.clear()
        for i in sorted(dense.raw):
            dm = filtered_depth(dense, i)
            fuse_depth_map(memory, dm)
            v = views[i]
            v.depth, v.confidence = full_size_depth(dm, v.camera.width, v.camera.height)
        yield MemoryChanged(memory.version, len(memory), None)
        state.views, state.memory = views, memory
        return memory

    return job
