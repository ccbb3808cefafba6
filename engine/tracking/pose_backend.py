"""The pose-backend seam of tracking (issue 11 item 3): frames in, cameras out.

A pose backend takes keyframes chunk by chunk (streaming) and, after each chunk, solves for
the cameras of every keyframe it has seen: an :class:`~engine.tracking.sfm.SfmResult` with
pinhole cameras (OpenCV ``world_from_cam``, frame image size), distortion, sparse points and
the names it could not register. The tracking pipeline (:mod:`engine.tracking.pipeline`)
only talks to this protocol; the gauge of each solve is free (the pipeline aligns it to the
previous chunk's) and physically impossible steps between consecutive video keyframes are
removed by the pipeline for every backend (:func:`without_views`).

Backends are listed in :data:`POSE_BACKENDS` (name -> factory ``(SfmOptions, is_video,
TrackingContext)``): ``"colmap"``, the pycolmap workspace of :mod:`engine.tracking.sfm`, and
``"pi3"``, the feed-forward Pi3 network on the user's checkpoint (:mod:`engine.tracking.pi3`;
its depth backend ``"pi3"`` puts the same predictions into the memory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from engine.tracking.colmap_io import SparsePoints
from engine.tracking.pi3.options import Pi3Options
from engine.tracking.sfm import ColmapWorkspace, SfmOptions, SfmResult


@dataclass(frozen=True)
class TrackingContext:
    """What a pose backend may need beyond the SfM options: the compute device, the models
    folder (None: ``$ANYRECON_MODELS`` or ``~/.anyrecon/models``) and the Pi3 options."""

    device: Any = None
    models_dir: Path | None = None
    pi3: Pi3Options = field(default_factory=Pi3Options)

    @property
    def resolved_models_dir(self) -> Path:
        if self.models_dir is not None:
            return Path(self.models_dir)
        return Path(os.environ.get("ANYRECON_MODELS", Path.home() / ".anyrecon" / "models"))


class PoseBackend(Protocol):
    """Frames -> cameras, sparse points and the unregistered list, chunk by chunk."""

    name: str

    def add_frames(self, frames) -> None:
        """Take a chunk of keyframes (``engine.ingest.Frame``, video order)."""

    def solve(self) -> SfmResult:
        """Cameras of every frame added so far (raises TrackingError when none can be placed)."""

    def forget_model(self) -> None:
        """Drop the current solution; the next :meth:`solve` starts from scratch."""

    def panoramic_fraction(self) -> float:
        """Fraction of frame pairs explained by a rotation alone (1.0: pure rotation)."""

    def notes(self) -> list[str]:
        """What the user should know about the last solve (e.g. pairs dropped as inconsistent)."""

    def close(self) -> None:
        """Release temporary files."""


class ColmapPoseBackend:
    """pycolmap SIFT + matching + global or incremental mapper (:class:`ColmapWorkspace`)."""

    name = "colmap"

    def __init__(self, options: SfmOptions, is_video: bool) -> None:
        self.ws = ColmapWorkspace(options, is_video)

    def add_frames(self, frames) -> None:
        self.ws.extract_and_match(self.ws.add_frames(frames))

    def solve(self) -> SfmResult:
        return self.ws.map()

    def forget_model(self) -> None:
        self.ws.forget_model()

    def panoramic_fraction(self) -> float:
        return self.ws.panoramic_fraction()

    def notes(self) -> list[str]:
        if not self.ws.dropped_pairs:
            return []
        worst = max(self.ws.dropped_pairs.values())
        return [f"{len(self.ws.dropped_pairs)} matched keyframe pair(s) contradicted the video's "
                f"sequential rotations (up to {worst:.0f} degrees; look-alike views of a symmetric or "
                f"repetitive scene) and were not used"]

    def close(self) -> None:
        self.ws.close()


def _pi3(options: SfmOptions, is_video: bool, context: TrackingContext) -> PoseBackend:
    from engine.tracking.pi3.backend import Pi3PoseBackend

    return Pi3PoseBackend.from_models_dir(context.resolved_models_dir, context.device, is_video, context.pi3)


POSE_BACKENDS: dict[str, Callable[[SfmOptions, bool, TrackingContext], PoseBackend]] = {
    "colmap": lambda options, is_video, context: ColmapPoseBackend(options, is_video),
    "pi3": _pi3,
}


def make_pose_backend(name: str, options: SfmOptions, is_video: bool,
                      context: TrackingContext | None = None) -> PoseBackend:
    """The registered backend ``name`` (see :data:`POSE_BACKENDS`); ValueError if unknown."""
    try:
        factory = POSE_BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown pose backend {name!r}; known: {', '.join(sorted(POSE_BACKENDS))}") from None
    return factory(options, is_video, context or TrackingContext())


def without_views(result: SfmResult, names: set[str] | list[str]) -> SfmResult:
    """``result`` with the cameras ``names`` moved to ``unregistered`` (sparse tracks re-indexed,
    points seen only by them dropped)."""
    names = set(names)
    if not names & set(result.registered):
        return result
    keep = [n for n in result.registered if n not in names]
    new_index = {result.registered.index(n): i for i, n in enumerate(keep)}
    tracks, rows = [], []
    for k, tr in enumerate(result.points.tracks):
        t = np.array([new_index[int(i)] for i in tr if int(i) in new_index], dtype=np.int64)
        if len(t):
            tracks.append(t)
            rows.append(k)
    rows = np.asarray(rows, dtype=np.int64)
    pts = SparsePoints(result.points.xyz[rows], result.points.rgb[rows], result.points.error[rows], tracks)
    return replace(result, cameras={n: result.cameras[n] for n in keep},
                   distortion={n: result.distortion[n] for n in keep}, registered=keep,
                   unregistered=list(result.unregistered) + [n for n in result.registered if n in names],
                   points=pts)
