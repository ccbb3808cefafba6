"""track_job runs as an engine.session job: events stream out, cancel stops it cleanly."""
from __future__ import annotations

import threading

from engine.events import CamerasChanged, JobCancelled, JobFinished, MemoryChanged
from engine.session import Session
from engine.tracking.pipeline import track_job
from tests.tracking.conftest import demo_track_options

OPTS = demo_track_options()          # the options of the shared run (fixture tracked_demo)


def test_track_job_in_a_session_streams_events(tracked_demo):
    """The shared run (tests/tracking/conftest.py) is track_job with these options in a Session."""
    assert tracked_demo.idle and tracked_demo.close_problems == []
    events, result = tracked_demo.events, tracked_demo.result
    kinds = [type(e) for e in events]
    assert kinds.count(CamerasChanged) >= 2 and kinds.count(MemoryChanged) >= 2
    assert kinds.index(MemoryChanged) < len(kinds) - 3          # geometry before the end
    assert isinstance(events[-1], JobFinished) and len(result.registered) == 12
    assert tracked_demo.state.memory is result.memory


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
