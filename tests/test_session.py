import threading
import time

import numpy as np
import pytest

from engine.events import (FrameGenerated, JobCancelled, JobFailed, JobFinished, JobStarted,
                           PreviewRendered, Progress)
from engine.session import Session, run_job
from engine.workflows import Workspace


def _collect(session):
    events = []
    session.subscribe(events.append)
    return events


def test_generator_job_streams_events_and_returns_a_result():
    session = Session()
    events = _collect(session)

    def job(state, cancel):
        for i in range(3):
            yield Progress((i + 1) / 3, f"step {i}")
        return "done"

    job_id, fut = session.submit("count", job)
    assert fut.result(5) == "done"
    assert session.wait_idle(5)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["JobStarted", "Progress", "Progress", "Progress", "JobFinished"]
    assert all(e.job_id == job_id for e in events)
    assert session.close() == []


def test_jobs_run_on_the_engine_thread_in_order():
    session = Session()
    threads, order = [], []

    def make(i):
        def job(state, cancel):
            threads.append(threading.current_thread().name)
            order.append(i)
            return i
        return job

    futures = [session.submit(f"j{i}", make(i))[1] for i in range(5)]
    assert [f.result(5) for f in futures] == list(range(5))
    assert order == list(range(5)) and set(threads) == {"anyrecon-engine"}
    session.close()


def test_cancel_stops_a_running_job_between_yields():
    session = Session()
    events = _collect(session)
    started = threading.Event()

    def job(state, cancel):
        for i in range(1000):
            started.set()
            time.sleep(0.01)
            yield Progress(i / 1000)

    job_id, fut = session.submit("long", job)
    started.wait(5)
    session.cancel(job_id)
    assert session.wait_idle(5)
    assert any(isinstance(e, JobCancelled) for e in events)
    assert sum(isinstance(e, Progress) for e in events) < 100
    session.close()


def test_a_failing_job_is_reported_and_the_engine_keeps_running():
    session = Session()
    events = _collect(session)

    def bad(state, cancel):
        raise ValueError("broken input")

    _, fut = session.submit("bad", bad)
    with pytest.raises(ValueError):
        fut.result(5)
    assert session.call(lambda state: 42) == 42
    failed = [e for e in events if isinstance(e, JobFailed)]
    assert failed and "broken input" in failed[0].error
    session.close()


def test_preview_requests_latest_wins_and_are_served_during_a_job():
    session = Session()
    events = _collect(session)
    gate = threading.Event()
    rendered = []

    def slow_job(state, cancel):
        for _ in range(50):
            gate.wait(5)
            time.sleep(0.005)
            yield Progress(0.5)

    session.submit("slow", slow_job)
    ids = [session.request_preview(lambda state, i=i: (rendered.append(i) or np.zeros((2, 2, 3), np.uint8), 0.0))
           for i in range(10)]
    gate.set()
    assert session.wait_idle(10)
    time.sleep(0.05)
    previews = [e for e in events if isinstance(e, PreviewRendered)]
    assert previews and previews[-1].request_id == ids[-1]
    assert len(rendered) < 10  # stale requests were dropped
    session.close()


def test_close_reports_a_job_that_will_not_stop():
    session = Session()
    release = threading.Event()
    session.submit("stuck", lambda state, cancel: release.wait(10))
    time.sleep(0.05)
    problems = session.close(timeout=0.2)
    assert problems and "stuck" in problems[0]
    release.set()


def test_run_job_inline_for_headless_use():
    def job(state, cancel):
        yield Progress(1.0)
        return state.timings.get("x")

    seen = []
    assert run_job(job, Workspace(timings={"x": 3.0}), on_event=seen.append) == 3
    assert len(seen) == 1
