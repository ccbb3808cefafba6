"""Engine jobs as the studio tracks them: name, progress, ETA, state."""
from __future__ import annotations

from dataclasses import dataclass

from psygnal import Signal


@dataclass
class JobState:
    job_id: int
    name: str
    fraction: float = 0.0
    message: str = ""
    eta_s: float | None = None
    state: str = "queued"       # queued, running, finished, failed, cancelled


class JobsModel:
    job_changed = Signal(int)
    job_removed = Signal(int)
    log = Signal(str, str)      # level, message

    def __init__(self) -> None:
        self.jobs: dict[int, JobState] = {}

    def add(self, job_id: int, name: str) -> None:
        self.jobs[job_id] = JobState(job_id, name)
        self.job_changed.emit(job_id)

    def update(self, job_id: int, **fields) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        for k, v in fields.items():
            setattr(job, k, v)
        self.job_changed.emit(job_id)

    def finish(self, job_id: int, state: str) -> None:
        if job_id in self.jobs:
            self.jobs[job_id].state = state
            self.jobs.pop(job_id)
            self.job_removed.emit(job_id)

    @property
    def active(self) -> list[JobState]:
        return list(self.jobs.values())
