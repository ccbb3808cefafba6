"""Tracking fixtures: the synthetic demo video (exact ground-truth cameras), 24 frames 320×180."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_video(tmp_path_factory) -> Path:
    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    scene = make_demo_scene(0)
    path = tmp_path_factory.mktemp("demo video ü") / "demo clip.mp4"
    return write_demo_video(path, scene, demo_capture_cameras(scene, 24, 320, 180))


@pytest.fixture(scope="session")
def demo_model(demo_video):
    """Every 2nd frame of the demo video (12 keyframes) mapped once by the pose backend
    (pycolmap SIFT, sequential matching, global mapper), shared by every test that needs a
    solved COLMAP workspace: (workspace, SfmResult, frames). Tests only read it."""
    from engine.ingest import IngestOptions, load_input
    from engine.tracking.sfm import ColmapWorkspace, SfmOptions

    frames = load_input(demo_video, IngestOptions(stride=2)).frames
    ws = ColmapWorkspace(SfmOptions(), is_video=True)
    ws.extract_and_match(ws.add_frames(frames))
    result = ws.map()
    yield ws, result, frames
    ws.close()
