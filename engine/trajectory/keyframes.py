"""Camera keyframes and the trajectory they define.

A :class:`Trajectory` is an immutable list of :class:`Keyframe` (pose, vertical FOV,
time in seconds) plus playback settings. It is sampled into engine
:class:`~engine.geometry.camera.Camera` objects for rendering and generation.

Keyframe times: **must be strictly increasing** (with more than one keyframe). They are
never sorted silently: the order of keyframes is the order the artist placed them, which
also defines how a loop closes, so an out-of-order time is reported as an error naming
the offending keyframe. Two keyframes at the same time would make a zero-length segment
(a jump cut), which is reported too.

Time axis: frames cover ``[0, duration]`` seconds (open path) or ``[0, duration)``
(loop). Before the first keyframe's time the camera holds the first keyframe. A loop's
closing segment runs from the last keyframe back to the first, reaching it at
``first time + duration``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine.geometry.camera import MAX_IMAGE_SIDE, Camera, intrinsics_from_fov
from engine.trajectory.interpolate import PoseSpline, build_pose_spline

MAX_FPS = 1000.0          # frames per second a path may ask for
MAX_FRAMES = 100_000      # frames a path may be sampled into


@dataclass(frozen=True, eq=False)
class Keyframe:
    """One camera keyframe.

    world_from_cam  [4,4] rigid transform, OpenCV camera axes (+x right, +y down, +z forward)
    fov_y_deg       vertical field of view in degrees, in (0, 180)
    time            seconds from the start of the trajectory
    """

    world_from_cam: np.ndarray
    fov_y_deg: float
    time: float

    def __post_init__(self) -> None:
        w = np.array(self.world_from_cam, dtype=np.float64)
        if w.shape != (4, 4) or not np.all(np.isfinite(w)):
            raise ValueError(f"keyframe world_from_cam must be a finite [4,4] matrix, got shape {w.shape}")
        rot = w[:3, :3]
        if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-4 or np.linalg.det(rot) < 0:
            raise ValueError("keyframe world_from_cam rotation is not a proper rotation (orthonormal, det +1)")
        fov, time = float(self.fov_y_deg), float(self.time)
        if not 0.0 < fov < 180.0:
            raise ValueError(f"keyframe fov_y_deg must be in (0, 180) degrees, got {fov}")
        if not np.isfinite(time):
            raise ValueError(f"keyframe time must be finite seconds, got {time}")
        w.setflags(write=False)
        object.__setattr__(self, "world_from_cam", w)
        object.__setattr__(self, "fov_y_deg", fov)
        object.__setattr__(self, "time", time)

    @classmethod
    def from_camera(cls, camera: Camera, time: float) -> Keyframe:
        """Keyframe at ``time`` seconds with the pose and vertical FOV of ``camera``."""
        return cls(camera.world_from_cam, camera.fov_y_deg, time)


def _check_times(times: np.ndarray) -> None:
    """Raise ValueError unless keyframe times [K] s are strictly increasing."""
    if len(times) < 2:
        return
    if np.all(times == times[0]):
        raise ValueError(f"zero-length trajectory: all {len(times)} keyframes are at time "
                         f"{times[0]:g} s; give them increasing times")
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise ValueError(f"keyframe times must increase: keyframe {i} at {times[i]:g} s comes "
                             f"after keyframe {i - 1} at {times[i - 1]:g} s (keyframes are not re-sorted)")
        if times[i] == times[i - 1]:
            raise ValueError(f"keyframes {i - 1} and {i} are both at {times[i]:g} s; a zero-length "
                             "segment would be a jump cut")


@dataclass(frozen=True, eq=False)
class Trajectory:
    """An interpolated camera path.

    keyframes       tuple of Keyframe, times strictly increasing
    tension         Kochanek–Bartels tension in [-1, 1]; 0 = Catmull-Rom
    loop            closed path, C1 across the seam
    constant_speed  re-time frames so consecutive frames are equally spaced in position
    fps             frames per second of :meth:`sample`
    width, height   image size in pixels of the sampled cameras
    duration        seconds; None = last keyframe time (open) or last time + mean
                    keyframe spacing (loop)
    """

    keyframes: tuple[Keyframe, ...]
    tension: float = 0.0
    loop: bool = False
    constant_speed: bool = False
    fps: float = 30.0
    width: int = 640
    height: int = 360
    duration: float | None = None

    def __post_init__(self) -> None:
        kfs = tuple(self.keyframes)
        if len(kfs) < 1:
            raise ValueError("trajectory has no keyframes")
        if not all(isinstance(k, Keyframe) for k in kfs):
            raise TypeError("trajectory keyframes must be Keyframe instances")
        object.__setattr__(self, "keyframes", kfs)
        _check_times(self.times)
        if not -1.0 <= float(self.tension) <= 1.0:
            raise ValueError(f"tension must be in [-1, 1], got {self.tension}")
        if not (np.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            raise ValueError(f"fps must be in (0, {MAX_FPS}], got {self.fps}")
        if not (1 <= int(self.width) <= MAX_IMAGE_SIDE and 1 <= int(self.height) <= MAX_IMAGE_SIDE):
            raise ValueError(f"image size must be 1..{MAX_IMAGE_SIDE} pixels a side, got {self.width}x{self.height}")
        self._check_duration()
        if self.resolved_duration * self.fps > MAX_FRAMES:
            raise ValueError(f"{self.resolved_duration:g} s at {self.fps:g} fps is more than {MAX_FRAMES} frames")

    def _check_duration(self) -> None:
        dur, times = self.resolved_duration, self.times
        if not (np.isfinite(dur) and dur >= 0.0):
            raise ValueError(f"duration must be finite and >= 0 seconds, got {dur}")
        if len(times) > 1 and dur == 0.0:
            raise ValueError(f"zero-length trajectory: duration is 0 s with {len(times)} keyframes")
        if self.loop and len(times) > 1 and dur <= times[-1] - times[0]:
            raise ValueError(f"loop duration {dur:g} s must exceed the keyframe span "
                             f"{times[-1] - times[0]:g} s to leave room for the closing segment")
        if not self.loop and dur < times[-1]:
            raise ValueError(f"duration {dur:g} s ends before the last keyframe at {times[-1]:g} s")

    # ------------------------------------------------------------------ properties
    @cached_property
    def times(self) -> np.ndarray:
        """Keyframe times [K] in seconds."""
        return np.array([k.time for k in self.keyframes], dtype=np.float64)

    @cached_property
    def resolved_duration(self) -> float:
        """Duration in seconds with the default applied (see class docstring)."""
        if self.duration is not None:
            return float(self.duration)
        times = self.times
        if not self.loop or len(times) < 2:
            return float(max(times[-1], 0.0))
        return float(times[-1] + np.mean(np.diff(times)))

    @cached_property
    def spline(self) -> PoseSpline:
        """The fitted :class:`PoseSpline` (keyframe-time parametrisation)."""
        return build_pose_spline(
            np.stack([k.world_from_cam for k in self.keyframes]),
            np.array([k.fov_y_deg for k in self.keyframes]),
            self.times, tension=float(self.tension), loop=self.loop, period=self.resolved_duration)

    @property
    def num_frames(self) -> int:
        """Default frame count: round(duration*fps)+1 (open) or round(duration*fps) (loop)."""
        n = round(self.resolved_duration * self.fps)
        return max(1, n) if self.loop else n + 1

    # ------------------------------------------------------------------- evaluation
    def frame_times(self, num_frames: int | None = None) -> np.ndarray:
        """Times [N] in seconds of the sampled frames (open: both ends included; loop: the
        end is left out because it equals the start)."""
        n = self.num_frames if num_frames is None else int(num_frames)
        if not 1 <= n <= MAX_FRAMES:
            raise ValueError(f"num_frames must be 1..{MAX_FRAMES}, got {num_frames}")
        dur = self.resolved_duration
        if self.loop:
            return np.arange(n) * (dur / n)
        return np.linspace(0.0, dur, n) if n > 1 else np.zeros(1)

    def evaluate(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Trajectory times [N] s -> (world_from_cam [N,4,4] OpenCV axes, FOV [N] degrees)."""
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if self.constant_speed and len(self.keyframes) > 1:
            dur = self.resolved_duration
            frac = np.mod(t / dur, 1.0) if self.loop else np.clip(t / dur, 0.0, 1.0)
            t = self.spline.time_at_arc_fraction(frac)
        return self.spline.evaluate(t)

    def pose_at(self, t: float) -> tuple[np.ndarray, float]:
        """Time t seconds -> (world_from_cam [4,4] OpenCV axes, vertical FOV degrees)."""
        w, fov = self.evaluate(np.array([float(t)]))
        return w[0], float(fov[0])

    def camera_at(self, t: float, name: str = "") -> Camera:
        """The Camera (K from the interpolated FOV, width x height pixels) at time t seconds."""
        w, fov = self.pose_at(t)
        return Camera(intrinsics_from_fov(fov, self.width, self.height), self.width, self.height, w, name)

    def sample(self, num_frames: int | None = None) -> list[Camera]:
        """Cameras of the frames named ``path_000000``, ... (see :meth:`frame_times`)."""
        w, fov = self.evaluate(self.frame_times(num_frames))
        return [Camera(intrinsics_from_fov(f, self.width, self.height), self.width, self.height, p,
                       f"path_{i:06d}") for i, (p, f) in enumerate(zip(w, fov))]
