"""track_job runs as an engine.session job: events stream out, cancel stops it cleanly."""
from __future__ import annotations

import threading

from engine.events import CamerasChanged, JobCancelled, JobFinished, MemoryChanged
from engine.ingest import IngestOptions
from engine.session import Session
from engine.tracking.mvs import MVSOptions
from engine.tracking.pipeline import TrackOptions, track_job

OPTS = TrackOptions(ingest=IngestOptions(stride=2), first_chunk=6, chunk_size=6,
                    mvs=MVSOptions(max_side=160, max_depths=48, num_neighbors=3))


def test_track_job_in_a_session_streams_events(demo_video):
    session = Session()
    events = []
    session.subscribe(events.append)
    try:
        _, future = session.submit("track", track_job(demo_video, OPTS))
        result = future.result(timeout=300)
        assert session.wait_idle(10)
    finally:
        assert session.close() == []
    kinds = [type(e) for e in events]
    assert kinds.count(CamerasChanged) >= 2 and kinds.count(MemoryChanged) >= 2
    assert kinds.index(MemoryChanged) < len(kinds) - 3          # geometry before the end
    assert isinstance(events[-1], JobFinished) and len(result.registered) == 12
    assert session.state.memory is result.memory


def test_cancel_after_first_cameras(demo_video):
    session = Session()
    seen = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, CamerasChanged):
            seen.set()

    session.subscribe(on_event)
    try:
        job_id, future = session.submit("track", track_job(demo_video, OPTS))
        assert seen.wait(120)
        session.cancel(job_id)
        assert session.wait_idle(120)
    finally:
        assert session.close() == []
    assert any(isinstance(e, JobCancelled) for e in events)
    assert future.cancelled() or future.result() is None
