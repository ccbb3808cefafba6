"""The built-in demo scene as a project: captured views with exact depth, the geometry
memory fused from them view by view (emitting memory deltas so viewers see it grow), and an
orbit camera path. Until tracking runs on it, the synthetic depth stands in for MVS."""
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


def demo_views(options: DemoOptions = DemoOptions()):
    """Yield (CapturedView, ground-truth SyntheticFrame) for the demo capture."""
    from engine.synthetic import demo_capture_cameras, make_demo_scene

    scene = make_demo_scene(options.seed)
    for cam in demo_capture_cameras(scene, options.num_views, options.width, options.height):
        frame = scene.render(cam)
        image = (np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        depth = np.where(np.isfinite(frame.depth), frame.depth, 0).astype(np.float32)
        yield CapturedView(cam, image, depth), frame


def demo_orbit(views: ViewBank, options: DemoOptions):
    """A full orbit around the demo's objects, inside the room, starting where the capture
    starts: two thirds of it look at sides the capture never saw (generation must invent)."""
    from engine.synthetic import make_demo_scene
    from engine.trajectory.presets import orbit

    scene = make_demo_scene(options.seed)
    first = views[0].camera
    offset = first.center - scene.center
    start = float(np.degrees(np.arctan2(offset[2], offset[0])))
    return orbit(scene.center, radius=2.6, height_offset=-offset[1], start_angle_deg=start,
                 num_keyframes=8, duration=options.path_frames / options.path_fps,
                 fov_y_deg=first.fov_y_deg, width=options.width, height=options.height,
                 fps=options.path_fps)
