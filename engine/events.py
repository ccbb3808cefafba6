"""Events the engine emits. Plain data only (numpy arrays, numbers, strings): they cross to
the GUI thread. Every event carries the id of the job that produced it (0 = none)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    job_id: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class JobStarted(Event):
    name: str


@dataclass(frozen=True)
class Progress(Event):
    fraction: float            # in [0,1]
    message: str = ""
    eta_s: float | None = None


@dataclass(frozen=True)
class JobFinished(Event):
    name: str
    result: Any = None


@dataclass(frozen=True)
class JobFailed(Event):
    """``error`` is the message shown to the user; ``kind`` the exception's class name, for
    callers that react to one kind of failure (e.g. DestinationOccupied) without parsing text."""
    name: str
    error: str
    kind: str = ""


@dataclass(frozen=True)
class JobCancelled(Event):
    name: str


@dataclass(frozen=True)
class SegmentStarted(Event):
    segment_id: int
    frame_start: int           # index into the trajectory's sampled frames
    frame_stop: int            # exclusive
    reference_view_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class FrameGenerated(Event):
    segment_id: int
    frame_index: int
    frame: Any                 # engine.generate.GeneratedFrame (numpy)
    color_u8: Any = None       # [H,W,3] uint8 of frame.color, made on the engine thread (viewers)
    thumbnail: Any = None      # small [h,w,3] uint8 (timeline filmstrip)


@dataclass(frozen=True)
class SegmentFinished(Event):
    segment_id: int
    frame_start: int
    frame_stop: int
    seconds: float
    points_added: int = 0


@dataclass(frozen=True)
class MemoryChanged(Event):
    version: int
    num_points: int
    delta: Any = None          # engine.memory.MemoryDelta or None (then: take a snapshot)


@dataclass(frozen=True)
class CamerasChanged(Event):
    cameras: tuple             # [Camera]


@dataclass(frozen=True)
class PreviewRendered(Event):
    request_id: int
    color: Any                 # [H,W,3] uint8
    coverage: float


@dataclass(frozen=True)
class Answered(Event):
    """The answer to ``Session.request(fn)``: ``result`` is what ``fn(workspace)`` returned
    (plain data), or None with ``error`` set when it raised."""

    request_id: int
    result: Any = None
    error: str = ""


@dataclass(frozen=True)
class SplatTrainingProgress(Event):
    """Gaussian-splat training progress (engine/splat/train.py)."""

    iteration: int             # optimisation steps done so far (over all sessions of this model)
    total: int                 # the step this run stops at
    loss: float                # mean training loss over the last steps
    num_splats: int
    psnr: float | None = None  # mean held-out PSNR (dB) when evaluated at this step
    preview: Any = None        # [H,W,3] uint8 render of the first held-out view (or None)
    message: str = ""          # e.g. an out-of-memory reduction
