"""Camera trajectories: keyframes, spline interpolation, presets and camera-path files.

Poses are ``world_from_cam`` with OpenCV camera axes; FOV is vertical, in degrees; time
is in seconds. Conversions to other conventions happen only at the file edges
(:mod:`engine.trajectory.nerfstudio_path` via :mod:`engine.geometry.conventions`).
"""
from engine.trajectory.camera_files import read_trajectory_file
from engine.trajectory.interpolate import PoseSpline, build_pose_spline
from engine.trajectory.keyframes import Keyframe, Trajectory
from engine.trajectory.nerfstudio_path import (
    CameraPathFormatError,
    read_camera_path,
    write_camera_path,
)
from engine.trajectory.presets import (
    PRESETS,
    beyond_path,
    dolly,
    make_preset,
    orbit,
    scene_orbit_params,
    spiral,
    through_path,
)

__all__ = [
    "PRESETS",
    "CameraPathFormatError",
    "Keyframe",
    "PoseSpline",
    "Trajectory",
    "beyond_path",
    "build_pose_spline",
    "dolly",
    "make_preset",
    "orbit",
    "read_camera_path",
    "read_trajectory_file",
    "scene_orbit_params",
    "spiral",
    "through_path",
    "write_camera_path",
]
