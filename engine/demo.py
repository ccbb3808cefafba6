"""The built-in demo scene as a project: captured views with exact depth, the geometry
memory fused from them view by view (emitting memory deltas so viewers see it grow), and a
camera path: the app's Orbit preset on the demo capture (:func:`demo_path`), what a user
who presses Orbit gets. Until tracking runs on it, the synthetic depth stands in for MVS."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from engine.ingest.views import CapturedView, ViewBank


@dataclass(frozen=True)
class DemoOptions:
    num_views: int = 24
    width: int = 480
    height: int = 270
    voxel_size: float = 0.025
    stride: int = 1              # fuse every stride-th pixel of each view
    path_frames: int = 80
    path_fps: float = 24.0
    seed: int = 0
    path_preset: str = "orbit"   # the app preset the demo flies; "orbit-360": the full circle round
                                 # the objects (two thirds of it unseen by the 120-deg capture)


def demo_views(options: DemoOptions = DemoOptions(), cache: bool = False):
    """Yield (CapturedView, ground-truth SyntheticFrame) for the demo capture.

    ``cache``: the renders of this capture (seed, views, size) are kept in the process (the
    last RENDER_CACHE_SIZE captures, least recently used dropped) and reused by the next call
    that asks for the cache; each call still gets its own copies of the views' arrays (the
    frames are shared: read them only). For runs that load the same demo many times (the
    studio tests: ~18 loads, 0.36 CPU-s of rendering each at 8 x 160x90); the renders are
    deterministic."""
    if not cache:
        yield from _render_views(options.seed, options.num_views, options.width, options.height)
        return
    for view, frame in _cached_views(options.seed, options.num_views, options.width, options.height):
        yield replace(view, image=view.image.copy(), depth=None if view.depth is None else view.depth.copy()), frame


RENDER_CACHE_SIZE = 4   # demo captures whose renders demo_views(cache=True) keeps


@lru_cache(maxsize=RENDER_CACHE_SIZE)
def _cached_views(seed: int, num_views: int, width: int, height: int) -> tuple:
    return tuple(_render_views(seed, num_views, width, height))


def _render_views(seed: int, num_views: int, width: int, height: int):
    from engine.synthetic import demo_capture_cameras, make_demo_scene

    scene = make_demo_scene(seed)
    for cam in demo_capture_cameras(scene, num_views, width, height):
        frame = scene.render(cam)
        image = (np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        depth = np.where(np.isfinite(frame.depth), frame.depth, 0).astype(np.float32)
        yield CapturedView(cam, image, depth), frame


def demo_path(memory, views: ViewBank, options: DemoOptions = DemoOptions()):
    """The demo's camera path: the app preset ``options.path_preset`` placed on the demo
    capture (its fused memory and captured views) as ``anyrecon generate --preset`` places it
    (engine.workflows.generate.preset_in_scene; the studio's preset buttons call the same
    make_preset), retimed to ``options.path_frames`` frames at ``options.path_fps``. The demo
    capture is a 120-deg arc round the objects (an object capture filmed from one side), so
    "orbit" sweeps that arc back and forth; "orbit-360" goes all the way round."""
    from engine.workflows.generate import preset_in_scene

    traj = preset_in_scene(options.path_preset, memory, views)
    duration = (options.path_frames - (0 if traj.loop else 1)) / options.path_fps
    scale = duration / traj.resolved_duration
    keyframes = tuple(replace(k, time=k.time * scale) for k in traj.keyframes)
    return replace(traj, keyframes=keyframes, duration=duration, fps=options.path_fps)
