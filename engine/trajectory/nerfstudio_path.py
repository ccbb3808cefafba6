"""Read and write nerfstudio's ``camera_path.json`` (viewer "Render" tab / ``ns-render camera-path``).

Format, as written by nerfstudio's viser viewer (``nerfstudio/viewer/render_panel.py``,
``_write_json``) and read by ``ns-render camera-path``
(``nerfstudio/cameras/camera_paths.py``, ``get_path_from_json``):

- top level: ``camera_type`` ("perspective"), ``render_height``, ``render_width`` (pixels),
  ``fps``, ``seconds``, ``smoothness_value`` (the viewer's Kochanek–Bartels tension),
  ``is_cycle`` (loop), ``default_fov`` (degrees), ``default_transition_sec``,
  ``keyframes`` and ``camera_path``.
- ``keyframes[i]``: ``matrix`` camera-to-world as a flat row-major list of 16 numbers,
  ``fov`` vertical degrees, ``aspect`` width / height, ``override_transition_enabled`` and
  ``override_transition_sec`` (seconds of the transition *into* keyframe i; for a loop,
  keyframe 0 carries the closing transition).
- ``camera_path[j]``: ``camera_to_world`` flat row-major 16 numbers, ``fov`` vertical
  degrees, ``aspect``. ns-render turns fov into fx = fy = (H / 2) / tan(fov / 2) with a
  centered principal point (= :func:`engine.geometry.camera.intrinsics_from_fov`) and plays
  ``len(camera_path) / seconds`` frames per second, so ``seconds`` is written as
  frames / fps.
- All matrices use OpenGL camera axes (+x right, +y up, looking down -z); the world frame
  is the scene's. Converted with :mod:`engine.geometry.conventions` only.

Older files (nerfstudio's legacy three.js viewer, its Blender / Maya add-ons) store a
keyframe ``matrix`` as a *string* holding a *column-major* list (three.js
``Matrix4.elements``) and the keyframe time as seconds in a ``properties`` string
``[["FOV", f], ["NAME", n], ["TIME", t]]``; both are read.

Our own exact timing (keyframe times, duration, tension, constant speed) travels in an
extra top-level ``"anyrecon"`` object, which nerfstudio ignores; without it, keyframe
times come from TIME properties, else from the transition seconds, else are spread evenly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engine.atomic_io import write_atomic
from engine.geometry.conventions import (
    world_from_cam_opencv_from_opengl,
    world_from_cam_opengl_from_opencv,
)
from engine.trajectory.keyframes import Keyframe, Trajectory

EXTENSION_KEY = "anyrecon"


class CameraPathFormatError(ValueError):
    """A camera_path.json that cannot be read; the message starts with the file name."""


def _flat(world_from_cam: np.ndarray) -> list[float]:
    """OpenCV world_from_cam [4,4] -> OpenGL camera_to_world, flat row-major [16] floats."""
    return [float(v) for v in world_from_cam_opengl_from_opencv(world_from_cam).reshape(16)]


def _keyframe_entry(traj: Trajectory, i: int) -> dict:
    kf, times = traj.keyframes[i], traj.times
    if i > 0:
        transition = float(times[i] - times[i - 1])
    elif traj.loop and len(times) > 1:
        transition = float(times[0] + traj.resolved_duration - times[-1])
    else:
        transition = None
    return {"matrix": _flat(kf.world_from_cam), "fov": kf.fov_y_deg, "aspect": traj.width / traj.height,
            "override_transition_enabled": transition is not None, "override_transition_sec": transition}


def camera_path_dict(trajectory: Trajectory, num_frames: int | None = None) -> dict:
    """The camera_path.json content (plain JSON types) for ``trajectory``, with its
    keyframes and ``num_frames`` (default :attr:`Trajectory.num_frames`) sampled frames."""
    cams = trajectory.sample(num_frames)
    aspect = trajectory.width / trajectory.height
    spacing = np.diff(trajectory.times)
    ext = {"format_version": 1, "keyframe_times": [float(t) for t in trajectory.times],
           "duration": trajectory.resolved_duration, "tension": float(trajectory.tension),
           "constant_speed": bool(trajectory.constant_speed), "num_frames": len(cams)}
    return {
        "camera_type": "perspective",
        "render_height": int(trajectory.height),
        "render_width": int(trajectory.width),
        "fps": float(trajectory.fps),
        "seconds": len(cams) / float(trajectory.fps),
        "smoothness_value": float(trajectory.tension),
        "is_cycle": bool(trajectory.loop),
        "default_fov": trajectory.keyframes[0].fov_y_deg,
        "default_transition_sec": float(spacing.mean()) if len(spacing) else 1.0,
        "keyframes": [_keyframe_entry(trajectory, i) for i in range(len(trajectory.keyframes))],
        "camera_path": [{"camera_to_world": _flat(c.world_from_cam), "fov": c.fov_y_deg, "aspect": aspect}
                        for c in cams],
        EXTENSION_KEY: ext,
    }


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (engine.atomic_io, the one atomic writer)."""
    write_atomic(path, text.encode("utf-8"))


def write_camera_path(path: str | os.PathLike, trajectory: Trajectory, num_frames: int | None = None) -> Path:
    """Write ``trajectory`` as nerfstudio camera_path.json (keyframes + dense frames), atomically."""
    path = Path(path)
    _atomic_write_text(path, json.dumps(camera_path_dict(trajectory, num_frames), indent=1, allow_nan=False))
    return path


# ---------------------------------------------------------------------------------- reading
def _matrix(value, where: str) -> np.ndarray:
    """A keyframe ``matrix`` / frame ``camera_to_world`` -> OpenCV world_from_cam [4,4].

    A list is row-major (viser viewer, ns-render); a string holds a column-major list
    (legacy three.js viewer, Blender / Maya add-ons).
    """
    column_major = isinstance(value, str)
    if column_major:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: matrix string is not a JSON list ({exc})") from None
    m = np.asarray(value, dtype=np.float64)
    if m.size != 16 or not np.all(np.isfinite(m)):
        raise ValueError(f"{where}: expected 16 finite numbers, got {m.size}")
    m = m.reshape(4, 4).T if column_major else m.reshape(4, 4)
    if np.abs(m[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-6:
        raise ValueError(f"{where}: last row is {m[3].tolist()}, not [0, 0, 0, 1] (transposed matrix?)")
    rot = m[:3, :3]
    if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-2 or np.linalg.det(rot) <= 0:
        raise ValueError(f"{where}: rotation part is not a rotation")
    if np.abs(rot.T @ rot - np.eye(3)).max() > 1e-12:  # float32 noise from other tools
        u, _, vt = np.linalg.svd(rot)
        m[:3, :3] = u @ vt
    return world_from_cam_opencv_from_opengl(m)


def _properties(kf: dict) -> dict:
    """Legacy ``properties`` ([["FOV", f], ["NAME", n], ["TIME", t]], maybe as a string) -> dict."""
    props = kf.get("properties")
    if isinstance(props, str):
        props = json.loads(props)
    return {str(p[0]).upper(): p[1] for p in props} if props else {}


def _transition_times(data: dict, kfs: list[dict], loop: bool) -> tuple[np.ndarray, float] | None:
    """Keyframe times [K] s and duration from the viser viewer's transition seconds."""
    default = data.get("default_transition_sec")

    def trans(kf: dict):
        if kf.get("override_transition_enabled") and kf.get("override_transition_sec") is not None:
            return float(kf["override_transition_sec"])
        return None if default is None else float(default)

    steps = [trans(kf) for kf in kfs[1:]] + ([trans(kfs[0])] if loop else [])
    if any(s is None for s in steps) or (not steps and default is None):
        return None
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    return cum[: len(kfs)], float(cum[-1])


def _keyframe_times(data: dict, kfs: list[dict], loop: bool) -> tuple[np.ndarray, float | None]:
    """(times [K] s, duration s or None for the default) of the file's keyframes."""
    ext = data.get(EXTENSION_KEY) or {}
    if len(ext.get("keyframe_times", [])) == len(kfs):
        return np.asarray(ext["keyframe_times"], dtype=np.float64), ext.get("duration")
    props = [_properties(kf) for kf in kfs]
    if all("TIME" in p for p in props):
        return np.array([float(p["TIME"]) for p in props]), None
    timed = _transition_times(data, kfs, loop)
    if timed is not None:
        return timed
    seconds = float(data.get("seconds", len(kfs)))
    spacing = seconds / max(1, len(kfs) if loop else len(kfs) - 1)
    return np.arange(len(kfs)) * spacing, seconds


def _keyframes_from_entries(data: dict, loop: bool) -> tuple[list[Keyframe], float | None]:
    entries = data["keyframes"]
    times, duration = _keyframe_times(data, entries, loop)
    out = []
    for i, (kf, t) in enumerate(zip(entries, times)):
        fov = kf.get("fov", _properties(kf).get("FOV", data.get("default_fov")))
        if fov is None:
            raise ValueError(f"keyframe {i} has no fov")
        out.append(Keyframe(_matrix(kf["matrix"], f"keyframe {i}"), float(fov), float(t)))
    return out, duration


def _keyframes_from_frames(data: dict, fps: float) -> tuple[list[Keyframe], float | None]:
    """Every camera_path frame becomes a keyframe at frame_index / fps seconds."""
    frames = data["camera_path"]
    out = [Keyframe(_matrix(f["camera_to_world"], f"camera_path frame {j}"), float(f["fov"]), j / fps)
           for j, f in enumerate(frames)]
    return out, (len(frames) / fps if data.get("is_cycle") else None)


def trajectory_from_camera_path_dict(data: dict, source: str = "<camera path>") -> Trajectory:
    """Trajectory from parsed camera_path.json content; errors name ``source``."""
    try:
        if not isinstance(data, dict):
            raise TypeError("top level is not a JSON object")
        if data.get("camera_type", "perspective") != "perspective":
            raise ValueError(f"camera_type {data['camera_type']!r} is not supported (perspective only)")
        width, height = int(data["render_width"]), int(data["render_height"])
        loop, ext = bool(data.get("is_cycle", False)), data.get(EXTENSION_KEY) or {}
        frames = data.get("camera_path") or []
        fps = float(data.get("fps") or 0.0)
        if fps <= 0:
            fps = len(frames) / float(data["seconds"]) if frames and data.get("seconds") else 30.0
        if data.get("keyframes"):
            kfs, duration = _keyframes_from_entries(data, loop)
            tension = float(ext.get("tension", np.clip(float(data.get("smoothness_value", 0.0)), -1, 1)))
        elif frames:
            (kfs, duration), tension = _keyframes_from_frames(data, fps), 0.0
        else:
            raise ValueError("no keyframes and no camera_path frames")
        return Trajectory(tuple(kfs), tension=tension, loop=loop, fps=fps, width=width, height=height,
                          constant_speed=bool(ext.get("constant_speed", False)), duration=duration)
    except KeyError as exc:
        raise CameraPathFormatError(f"{source}: missing field {exc}") from None
    except (TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise CameraPathFormatError(f"{source}: {exc}") from None


def read_camera_path(path: str | os.PathLike) -> Trajectory:
    """Read a nerfstudio camera_path.json into a Trajectory (keyframes, per-keyframe FOV and
    timing; from the dense frames when the file has no keyframes)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CameraPathFormatError(f"{path}: not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise CameraPathFormatError(f"{path}: not a UTF-8 text file ({exc})") from None
    return trajectory_from_camera_path_dict(data, str(path))
