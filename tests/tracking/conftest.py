"""Tracking fixtures: the synthetic demo video (exact ground-truth cameras), 24 frames 320×180."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_video(tmp_path_factory) -> Path:
    """The demo video (24 frames, 320x180, ~4 CPU-s to render and encode), written once per
    test run: under pytest-xdist into the run's temp folder that the workers share (the
    parent of each worker's basetemp), under a file lock, so the second worker that needs it
    reads the first one's file instead of rendering it again. Tests only read it."""
    import fcntl

    from engine.synthetic import demo_capture_cameras, make_demo_scene, write_demo_video

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent                         # pytest-of-<user>/pytest-<n>/: one per run
    folder = root / "demo video ü"
    path, done = folder / "demo clip.mp4", folder / "written"
    with open(root / "demo_video.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)           # released when the file closes
        if not done.exists():
            scene = make_demo_scene(0)
            write_demo_video(path, scene, demo_capture_cameras(scene, 24, 320, 180))
            done.touch()
    return path


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


@dataclass
class TrackedDemo:
    """One tracking run of the demo video in an engine Session (see ``tracked_demo``)."""

    result: object               # TrackResult
    events: list                 # every event the session published, in order
    state: object                # the session's Workspace after the run
    idle: bool                   # session.wait_idle(10) after the job's future resolved
    close_problems: list         # session.close() (empty: the engine thread stopped cleanly)


# tests of cameras, streaming and failures track with the matched-only depth backend: the
# default's completion (~1 s per keyframe here) would double their time in the 4-minute CI
# suite; the default path, completion included, is tracked by tests/tracking/test_cli.py
# (track video) and tested in test_depth_completion.py
POSE_TEST_DEPTH = "sweep"


def demo_track_options():
    """The shared run's options: every 2nd frame (12 keyframes) in two chunks of 6, a depth map
    (160-px plane sweep, matched pixels: POSE_TEST_DEPTH) on every keyframe."""
    from engine.ingest import IngestOptions
    from engine.tracking.mvs import MVSOptions
    from engine.tracking.pipeline import TrackOptions

    return TrackOptions(ingest=IngestOptions(stride=2), first_chunk=6, chunk_size=6,
                        mvs=MVSOptions(max_side=160, max_depths=48, num_neighbors=3), depth_backend=POSE_TEST_DEPTH)


@pytest.fixture(scope="session")
def tracked_demo(demo_video) -> TrackedDemo:
    """The demo video tracked once per test session through engine.session.Session (the way
    the studio runs it) and shared by every test that only reads a finished tracking run
    (issue 14: no test re-tracks the same synthetic scene for itself)."""
    from engine.session import Session
    from engine.tracking.pipeline import track_job

    opts = demo_track_options()
    session, events = Session(), []
    session.subscribe(events.append)
    try:
        _, future = session.submit("track", track_job(demo_video, opts))
        result = future.result(timeout=600)
        idle = session.wait_idle(10)
        state = session.state
    finally:
        problems = session.close()
    return TrackedDemo(result, events, state, idle, problems)
