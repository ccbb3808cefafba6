"""The built-in demo scene as a project: captured views with exact depth, the geometry
memory fused from them view by view (emitting memory deltas so viewers see it grow), and a
camera path: the app's Orbit preset on the demo capture (:func:`demo_path`), what a user
who presses Orbit gets. Until tracking runs on it, the synthetic depth stands in for MVS."""
from __future__ import annotations

from dataclasses import dataclass

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


def demo_views(options: DemoOptions = DemoOptions()):
    """Yield (CapturedView, ground-truth SyntheticFrame) for the demo capture."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene

    scene = make_demo_scene(options.seed)
    for cam in demo_capture_cameras(scene, options.num_views, options.width, options.height):
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
    from dataclasses import replace

    from engine.workflows.generate import preset_in_scene

    traj = preset_in_scene(options.path_preset, memory, views)
    duration = (options.path_frames - (0 if traj.loop else 1)) / options.path_fps
    scale = duration / traj.resolved_duration
    keyframes = tuple(replace(k, time=k.time * scale) for k in traj.keyframes)
    return replace(traj, keyframes=keyframes, duration=duration, fps=options.path_fps)
