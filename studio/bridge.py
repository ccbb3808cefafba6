"""The one place where the engine thread meets Qt.

``EngineBridge`` subscribes to the engine ``Session``; its callback runs on the engine thread
and only emits a Qt signal, which Qt queues to the bridge's (main) thread. There the event is
dispatched to typed signals. The GUI never waits on the engine: ``submit``, ``cancel`` and
``request_preview`` return at once.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal, Slot

from engine import events as ev
from engine.session import Session
from engine.workflows import Workspace

log = logging.getLogger(__name__)


ENGINE_NICE = 10


def _lower_engine_priority(state, cancel) -> None:
    """Runs on the engine thread: make it (and the torch threads it starts) yield the CPU to
    the GUI thread on a busy machine (Linux: per-thread nice value)."""
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ENGINE_NICE)
    except (AttributeError, OSError):
        pass


class EngineBridge(QObject):
    """Re-emits engine events on the GUI thread; tracks the jobs it submitted."""

    _incoming = Signal(object)              # engine thread -> main thread (queued)
    event = Signal(object)                  # every event, on the main thread
    jobStarted = Signal(int, str)
    progress = Signal(int, float, str, object)   # job id, fraction, message, eta seconds or None
    jobFinished = Signal(int, str, object)       # job id, name, result
    jobFailed = Signal(int, str, str, str)       # job id, name, error, kind (exception class name)
    jobCancelled = Signal(int, str)
    segmentStarted = Signal(object)
    frameGenerated = Signal(object)
    segmentFinished = Signal(object)
    memoryChanged = Signal(object)
    camerasChanged = Signal(object)              # tuple of Camera
    previewRendered = Signal(int, object, float)  # request id, color uint8 [H,W,3], coverage
    previewFailed = Signal(int, str)
    splatProgress = Signal(object)                # engine.events.SplatTrainingProgress
    idleChanged = Signal(bool)

    def __init__(self, session: Session | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session or Session(Workspace())
        self._in_flight: dict[int, str] = {}
        self._previews: set[int] = set()
        self._answers: dict[int, object] = {}     # request id -> callback(result, error)
        self.latest_preview = 0
        self._incoming.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe = self.session.subscribe(self._incoming.emit)
        self.session.submit("engine priority", _lower_engine_priority)

    @property
    def background_nice(self) -> int:
        return ENGINE_NICE

    # ------------------------------------------------------------------ commands (never block)
    def submit(self, name: str, fn) -> int:
        job_id, _future = self.session.submit(name, fn)
        was_idle = self.idle
        self._in_flight[job_id] = name
        if was_idle:
            self.idleChanged.emit(False)
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        self.session.cancel(job_id)

    def request_preview(self, render) -> int:
        """Latest wins: older previews that arrive after this one are dropped."""
        was_idle = self.idle
        rid = self.session.request_preview(render)
        self.latest_preview = rid
        self._previews.add(rid)
        if was_idle:
            self.idleChanged.emit(False)
        return rid

    def request(self, fn, callback) -> int:
        """Ask the engine thread for ``fn(workspace)``; ``callback(result, error)`` runs on the
        GUI thread when the answer arrives (the GUI never reads engine state itself)."""
        was_idle = self.idle
        rid = self.session.request(fn)
        self._answers[rid] = callback
        if was_idle:
            self.idleChanged.emit(False)
        return rid

    @property
    def job_running(self) -> bool:
        """A job this bridge submitted has not finished (previews then wait for its yields)."""
        return bool(self._in_flight)

    @property
    def idle(self) -> bool:
        """No job, preview or request this bridge asked for is still outstanding."""
        return not self._in_flight and not self._previews and not self._answers

    def jobs_named(self, name: str) -> list[int]:
        return [j for j, n in self._in_flight.items() if n == name]

    def close(self, timeout: float = 10.0) -> list[str]:
        self._unsubscribe()
        return self.session.close(timeout)

    # ------------------------------------------------------------------ main thread
    @Slot(object)
    def _dispatch(self, event) -> None:
        try:
            self._route(event)
        except Exception:  # a GUI handler bug must not stop later events
            log.exception("handling %s failed", type(event).__name__)

    def _route(self, event) -> None:
        self.event.emit(event)
        jid = event.job_id
        if isinstance(event, ev.PreviewRendered):
            self._preview_done(jid)
            if event.request_id == self.latest_preview:  # stale renders are dropped
                self.previewRendered.emit(event.request_id, event.color, float(event.coverage))
        elif isinstance(event, ev.Answered):
            callback = self._answers.pop(event.request_id, None)
            if callback is not None:
                callback(event.result, event.error)
            if self.idle:
                self.idleChanged.emit(True)
        elif isinstance(event, ev.JobFailed) and jid in self._previews:
            self._preview_done(jid)
            self.previewFailed.emit(jid, event.error)
        elif isinstance(event, ev.JobStarted):
            self.jobStarted.emit(jid, event.name)
        elif isinstance(event, ev.Progress):
            self.progress.emit(jid, float(event.fraction), event.message, event.eta_s)
        elif isinstance(event, (ev.JobFinished, ev.JobFailed, ev.JobCancelled)):
            self._job_done(event)
        elif isinstance(event, ev.MemoryChanged):
            self.memoryChanged.emit(event)
        elif isinstance(event, ev.CamerasChanged):
            self.camerasChanged.emit(event.cameras)
        elif isinstance(event, ev.SegmentStarted):
            self.segmentStarted.emit(event)
        elif isinstance(event, ev.FrameGenerated):
            self.frameGenerated.emit(event)
        elif isinstance(event, ev.SegmentFinished):
            self.segmentFinished.emit(event)
        elif isinstance(event, ev.SplatTrainingProgress):   # the trainer also yields Progress
            self.splatProgress.emit(event)

    def _job_done(self, event) -> None:
        jid = event.job_id
        if isinstance(event, ev.JobFinished):
            self.jobFinished.emit(jid, event.name, event.result)
        elif isinstance(event, ev.JobFailed):
            self.jobFailed.emit(jid, event.name, event.error, event.kind)
        else:
            self.jobCancelled.emit(jid, event.name)
        self._in_flight.pop(jid, None)
        if self.idle:
            self.idleChanged.emit(True)

    def _preview_done(self, rid: int) -> None:
        # a preview replaced before it started never reports: drop every older request too
        self._previews = {r for r in self._previews if r > rid}
        if self.idle:
            self.idleChanged.emit(True)
