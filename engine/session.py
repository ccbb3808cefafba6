"""The engine's single worker thread: it owns the compute device and every tensor.

Commands arrive on a queue as *jobs*: callables ``job(state, cancel)`` that return an
iterator of events (a generator) or a plain result. Events leave through subscriber
callbacks, called on the engine thread with plain data only; ``studio/bridge.py`` re-emits
them on the Qt main thread. Preview requests do not queue: a new one replaces a pending one
(latest wins), and pending previews are served between the yields of a running job, so the
preview follows the playhead while a generation runs.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from engine.events import Answered, Event, JobCancelled, JobFailed, JobFinished, JobStarted, PreviewRendered
from engine.generate.protocol import Cancelled, CancelToken
from engine.workflows.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class _Job:
    job_id: int
    name: str
    fn: Callable
    cancel: CancelToken
    future: Future


class Session:
    """Owns the engine thread. Thread-safe public methods; nothing here blocks on the GUI."""

    def __init__(self, state: Workspace | None = None, name: str = "anyrecon-engine") -> None:
        self.state = state or Workspace()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._subscribers: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._current: _Job | None = None
        self._pending: list[_Job] = []
        self._preview: tuple[int, Callable] | None = None
        self._requests: list[tuple[int, Callable]] = []
        self._idle = threading.Event()
        self._idle.set()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def submit(self, name: str, fn: Callable[[Workspace, CancelToken], Any]) -> tuple[int, Future]:
        """Queue a job; returns (job id, future of its result)."""
        job = _Job(next(self._ids), name, fn, CancelToken(), Future())
        with self._lock:
            self._pending.append(job)
            self._idle.clear()
        self._queue.put(job)
        return job.job_id, job.future

    def call(self, fn: Callable[[Workspace], Any], timeout: float | None = 60.0) -> Any:
        """Run ``fn(state)`` on the engine thread and wait for its result (CLI and tests only:
        the GUI never waits on the engine)."""
        _, fut = self.submit(getattr(fn, "__name__", "call"), lambda state, cancel: fn(state))
        return fut.result(timeout)

    def request_preview(self, render: Callable[[Workspace], Any]) -> int:
        """Latest wins: ``render(state)`` returns (color uint8 [H,W,3], coverage) and is emitted as
        PreviewRendered. A newer request replaces this one if it has not started yet."""
        request_id = next(self._ids)
        with self._lock:
            self._preview = (request_id, render)
            self._idle.clear()
        self._queue.put(None)  # wake the thread if idle
        return request_id

    def request(self, fn: Callable[[Workspace], Any]) -> int:
        """Ask the engine thread for ``fn(workspace)`` (a quick read, e.g. a view's image); the
        answer arrives as an ``Answered`` event with the returned request id. Requests are
        served in order, between the yields of a running job, never dropped."""
        request_id = next(self._ids)
        with self._lock:
            self._requests.append((request_id, fn))
            self._idle.clear()
        self._queue.put(None)
        return request_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job (queued or running), or every job when job_id is None."""
        with self._lock:
            jobs = ([self._current] if self._current else []) + list(self._pending)
        for job in jobs:
            if job_id is None or job.job_id == job_id:
                job.cancel.cancel()

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> list[str]:
        """Cancel everything, stop the thread, and report what would not stop."""
        self.cancel()
        self._queue.put(_STOP)
        self._thread.join(timeout)
        problems = []
        if self._thread.is_alive():
            current = self._current.name if self._current else "?"
            problems.append(f"engine thread did not stop within {timeout:.0f} s (running: {current})")
        return problems

    # ------------------------------------------------------------------ engine thread
    def _emit(self, event: Event) -> None:
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception:  # a broken subscriber must not kill the engine
                log.exception("event subscriber failed")

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for request_id, fn in requests:
            try:
                answer = Answered(request_id, fn(self.state), job_id=request_id)
            except Exception as exc:  # a failed request is answered with its error, never fatal
                answer = Answered(request_id, None, f"{type(exc).__name__}: {exc}", job_id=request_id)
            self._emit(answer)

    def _serve_preview(self) -> None:
        self._serve_requests()
        with self._lock:
            pending, self._preview = self._preview, None
        if pending is None:
            return
        request_id, render = pending
        try:
            color, coverage = render(self.state)
        except Exception as exc:  # a preview failure is reported, never fatal
            self._emit(JobFailed("preview", f"{type(exc).__name__}: {exc}", job_id=request_id))
            return
        self._emit(PreviewRendered(request_id, color, coverage, job_id=request_id))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._serve_preview()
            if item is not None:
                self._run_job(item)
            with self._lock:
                if not self._pending and self._preview is None and not self._requests:
                    self._idle.set()
        with self._lock:
            for job in self._pending:
                job.future.cancel()

    def _run_job(self, job: _Job) -> None:
        with self._lock:
            self._pending.remove(job)
            self._current = job
        try:
            if job.cancel.cancelled:
                raise Cancelled()
            self._emit(JobStarted(job.name, job_id=job.job_id))
            result = job.fn(self.state, job.cancel)
            if isinstance(result, Iterator):
                result = self._drain(job, result)
            job.future.set_result(result)
            self._emit(JobFinished(job.name, result, job_id=job.job_id))
        except Cancelled:
            job.future.cancel() or job.future.set_result(None)
            self._emit(JobCancelled(job.name, job_id=job.job_id))
        except Exception as exc:
            log.error("job %s failed:\n%s", job.name, traceback.format_exc())
            job.future.set_exception(exc)
            self._emit(JobFailed(job.name, f"{type(exc).__name__}: {exc}", kind=type(exc).__name__,
                                 job_id=job.job_id))
        finally:
            with self._lock:
                self._current = None

    def _drain(self, job: _Job, events: Iterator) -> Any:
        """Forward a generator job's events; its return value is the job's result."""
        try:
            while True:
                job.cancel.raise_if_cancelled()
                event = next(events)
                if isinstance(event, Event):
                    self._emit(dataclasses.replace(event, job_id=job.job_id))
                self._serve_preview()
        except StopIteration as stop:
            return stop.value
        finally:
            events.close()


_STOP: Any = object()


def run_job(fn: Callable, state: Workspace, cancel: CancelToken | None = None,
            on_event: Callable[[Event], None] | None = None) -> Any:
    """Run a job inline (headless tests, CLI): iterate its events, return its result."""
    result = fn(state, cancel or CancelToken())
    if not isinstance(result, Iterator):
        return result
    try:
        while True:
            event = next(result)
            if on_event is not None and isinstance(event, Event):
                on_event(event)
    except StopIteration as stop:
        return stop.value
