"""Cameras, rigid transforms and axis conventions (OpenCV axes inside the project)."""
from engine.geometry.camera import Camera, intrinsics_from_fov, fov_from_intrinsics
from engine.geometry import se3

__all__ = ["Camera", "intrinsics_from_fov", "fov_from_intrinsics", "se3"]
