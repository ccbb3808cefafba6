"""A small saved project built from the synthetic scene: 6 captured views at 160x90 with
exact depth, a fused memory, a trajectory with per-keyframe FOV and timing, and one
generated segment from the IBR generator (shared by every export test)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.generate import make_generator
from engine.generate.loop import LoopOptions, generate_path
from engine.events import FrameGenerated, SegmentFinished
from engine.ingest.views import CapturedView, ViewBank
from engine.memory import GeometryMemory
from engine.project import Project, SegmentRecord
from engine.synthetic import demo_capture_cameras, make_demo_scene
from engine.trajectory import Keyframe, Trajectory, orbit

W, H = 160, 90
FOVS = (50.0, 58.0, 46.0, 52.0)


def make_views(scene, n: int = 6, width: int = W, height: int = H) -> ViewBank:
    bank = ViewBank()
    for cam in demo_capture_cameras(scene, n=n, width=width, height=height, fov_y_deg=55.0, arc_deg=90.0):
        frame = scene.render(cam)
        depth = np.where(np.isfinite(frame.depth), frame.depth, 0.0).astype(np.float32)
        image = (np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        bank.add(CapturedView(cam, image, depth, np.ones_like(depth)))
    return bank


def make_trajectory(scene) -> Trajectory:
    """An open 60-degree arc of 4 keyframes with different FOVs and uneven timing, 11 frames."""
    base = orbit(scene.center, 2.6, -0.6, num_keyframes=4, duration=2.0, arc_deg=60.0,
                 start_angle_deg=-120.0, width=W, height=H, fps=5.0)
    times = (0.0, 0.5, 1.4, 2.0)
    kfs = tuple(Keyframe(k.world_from_cam, f, t) for k, f, t in zip(base.keyframes, FOVS, times))
    return Trajectory(kfs, fps=5.0, width=W, height=H)


def build_project(root: Path, generate: bool = True) -> Project:
    scene = make_demo_scene(0)
    views = make_views(scene)
    memory = GeometryMemory(voxel_size=0.05, device="cpu")
    for i, v in enumerate(views):
        memory.insert_depth(v.camera, v.depth, v.image, view=i)
    traj = make_trajectory(scene)
    project = Project(root=root, name="export-fixture", views=views, memory=memory,
                      trajectories={"main": traj})
    project.save(root)
    if generate:
        cams = traj.sample()
        gen = make_generator("ibr")
        for ev in generate_path(memory, views, cams, gen, LoopOptions(segment_length=len(cams), top_k=3)):
            if isinstance(ev, FrameGenerated):
                project.write_generated_frame(ev.segment_id, ev.frame_index, ev.frame)
            elif isinstance(ev, SegmentFinished):
                project.segments.append(SegmentRecord(ev.segment_id, "main", ev.frame_start, ev.frame_stop))
        project.save(root)
    return project


@pytest.fixture(scope="session")
def scene():
    return make_demo_scene(0)


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export_fixture") / "proj"
    build_project(root)
    return root


@pytest.fixture()
def project(project_dir) -> Project:
    return Project.load(project_dir, device="cpu")
