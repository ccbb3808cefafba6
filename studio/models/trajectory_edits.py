"""The camera path being edited: an immutable ``TrajectoryState`` replaced on every edit.

Every edit is a pure function ``state -> new state``; the Qt layer wraps each in a
QUndoCommand holding (before, after), so undo/redo is exact and cheap. Keyframe poses are
``world_from_cam`` [4,4] with OpenCV axes; times in seconds; FOV vertical degrees.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from psygnal import Signal

from engine.trajectory import Keyframe, Trajectory

DEFAULT_SPACING_S = 1.0


@dataclass(frozen=True)
class PathSettings:
    tension: float = 0.0
    loop: bool = False
    constant_speed: bool = False
    fps: float = 5.0
    width: int = 192
    height: int = 108
    duration: float | None = None


@dataclass(frozen=True)
class TrajectoryState:
    keyframes: tuple = ()                 # (Keyframe, ...)
    settings: PathSettings = field(default_factory=PathSettings)

    def trajectory(self) -> Trajectory | None:
        """The engine Trajectory, or None with fewer than two keyframes / invalid timing."""
        if len(self.keyframes) < 2:
            return None
        s = self.settings
        try:
            return Trajectory(self.keyframes, tension=s.tension, loop=s.loop, constant_speed=s.constant_speed,
                              fps=s.fps, width=s.width, height=s.height, duration=s.duration)
        except ValueError:
            return None


# ------------------------------------------------------------------ pure edits
def add_keyframe(state: TrajectoryState, world_from_cam: np.ndarray, fov_y_deg: float) -> TrajectoryState:
    """Append a keyframe DEFAULT_SPACING_S after the last one (a fixed duration is dropped)."""
    t = state.keyframes[-1].time + DEFAULT_SPACING_S if state.keyframes else 0.0
    kf = Keyframe(_orthonormal(world_from_cam), float(fov_y_deg), t)
    return replace(state, keyframes=state.keyframes + (kf,), settings=replace(state.settings, duration=None))


def remove_keyframes(state: TrajectoryState, indices) -> TrajectoryState:
    drop = set(int(i) for i in indices)
    kfs = tuple(k for i, k in enumerate(state.keyframes) if i not in drop)
    return replace(state, keyframes=kfs, settings=replace(state.settings, duration=None))


def translate_keyframes(state: TrajectoryState, indices, delta_world) -> TrajectoryState:
    """Move keyframes by delta [3] world units."""
    delta = np.asarray(delta_world, dtype=np.float64).reshape(3)
    kfs = list(state.keyframes)
    for i in indices:
        w = kfs[i].world_from_cam.copy()
        w[:3, 3] += delta
        kfs[i] = Keyframe(w, kfs[i].fov_y_deg, kfs[i].time)
    return replace(state, keyframes=tuple(kfs))


def rotate_keyframes(state: TrajectoryState, indices, axis_cam, angle_deg: float) -> TrajectoryState:
    """Rotate keyframes about their own camera axis (OpenCV camera frame) by angle degrees."""
    from engine.geometry import se3

    rot = se3.so3_exp(np.radians(angle_deg) * np.asarray(axis_cam, dtype=np.float64))
    kfs = list(state.keyframes)
    for i in indices:
        w = kfs[i].world_from_cam.copy()
        w[:3, :3] = w[:3, :3] @ rot
        kfs[i] = Keyframe(_orthonormal(w), kfs[i].fov_y_deg, kfs[i].time)
    return replace(state, keyframes=tuple(kfs))


def set_keyframe(state: TrajectoryState, index: int, *, fov_y_deg=None, time=None, position=None) -> TrajectoryState:
    """Change one keyframe's FOV (deg), time (s) or position [3] world. Raises ValueError when
    the new time would break the strictly increasing order."""
    kf = state.keyframes[index]
    w = kf.world_from_cam.copy()
    if position is not None:
        w[:3, 3] = np.asarray(position, dtype=np.float64)
    new = Keyframe(w, kf.fov_y_deg if fov_y_deg is None else fov_y_deg, kf.time if time is None else time)
    kfs = state.keyframes[:index] + (new,) + state.keyframes[index + 1:]
    times = [k.time for k in kfs]
    if any(b <= a for a, b in zip(times, times[1:])):
        raise ValueError(f"keyframe {index} time {new.time:g} s must lie between its neighbours")
    settings = state.settings
    if settings.duration is not None and times and times[-1] > settings.duration:
        settings = replace(settings, duration=None)
    return replace(state, keyframes=kfs, settings=settings)


def with_settings(state: TrajectoryState, **changes) -> TrajectoryState:
    return replace(state, settings=replace(state.settings, **changes))


def from_trajectory(traj: Trajectory, keep: PathSettings | None = None) -> TrajectoryState:
    """State from an engine Trajectory (a preset or a loaded camera_path.json)."""
    s = PathSettings(float(traj.tension), bool(traj.loop), bool(traj.constant_speed), float(traj.fps),
                     int(traj.width), int(traj.height), traj.duration)
    if keep is not None:  # keep the studio's frame rate and size, rescale nothing else
        s = replace(s, fps=keep.fps, width=keep.width, height=keep.height)
    return TrajectoryState(tuple(traj.keyframes), s)


def _orthonormal(w: np.ndarray) -> np.ndarray:
    w = np.array(w, dtype=np.float64)
    u, _, vt = np.linalg.svd(w[:3, :3])
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    w[:3, :3] = r
    w[3] = (0, 0, 0, 1)
    return w


class TrajectoryEdits:
    """Holds the current TrajectoryState; emits ``changed`` with the new state."""

    changed = Signal(object)

    def __init__(self, settings: PathSettings | None = None) -> None:
        self.state = TrajectoryState(settings=settings or PathSettings())
        self._cameras_cache: tuple[int, list] | None = None

    def set_state(self, state: TrajectoryState) -> None:
        if state is not self.state:
            self.state = state
            self._cameras_cache = None
            self.changed.emit(state)

    def trajectory(self) -> Trajectory | None:
        return self.state.trajectory()

    def cameras(self) -> list:
        """Sampled cameras of the path (cached per state); [] without a valid path."""
        key = id(self.state)
        if self._cameras_cache is None or self._cameras_cache[0] != key:
            traj = self.trajectory()
            self._cameras_cache = (key, traj.sample() if traj is not None else [])
        return self._cameras_cache[1]

    def frame_of_keyframe(self, index: int) -> int:
        traj = self.trajectory()
        if traj is None:
            return 0
        times = traj.frame_times()
        return int(np.argmin(np.abs(times - self.state.keyframes[index].time)))
