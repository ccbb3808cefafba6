"""The pinhole camera used everywhere in the engine.

Axes are OpenCV / COLMAP: +x right, +y down, +z forward. Pixel-center convention is
defined once in :mod:`engine.geometry.conventions`: the center of pixel (row i, col j)
is at image coordinates (u, v) = (j + 0.5, i + 0.5).

The torch twin of ``project`` / ``backproject`` (for tensors on the compute device) is
:mod:`engine.geometry.camera_torch`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from engine.geometry import se3


MAX_IMAGE_SIDE = 16384   # pixels: the largest camera side read from a file or an option


def intrinsics_from_fov(fov_y_deg: float, width: int, height: int) -> np.ndarray:
    """K [3,3] in pixels for a vertical field of view, square pixels, centered principal point."""
    fy = 0.5 * height / np.tan(np.radians(fov_y_deg) / 2.0)
    return np.array([[fy, 0.0, width / 2.0], [0.0, fy, height / 2.0], [0.0, 0.0, 1.0]])


def fov_from_intrinsics(K: np.ndarray, height: int) -> float:
    """Vertical field of view in degrees from K [3,3] and the image height in pixels."""
    return float(np.degrees(2.0 * np.arctan(0.5 * height / K[1, 1])))


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera.

    K               [3,3] intrinsics in pixels
    width, height   image size in pixels
    world_from_cam  [4,4] rigid transform, OpenCV axes, meters (or the scene's unit)
    name            frame name (e.g. ``frame_000120``); empty for virtual cameras
    """

    K: np.ndarray
    width: int
    height: int
    world_from_cam: np.ndarray = field(default_factory=lambda: np.eye(4))
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "K", np.asarray(self.K, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "world_from_cam", np.asarray(self.world_from_cam, dtype=np.float64).reshape(4, 4))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def cam_from_world(self) -> np.ndarray:
        return se3.invert(self.world_from_cam)

    @property
    def center(self) -> np.ndarray:
        """Camera center [3] in world coordinates."""
        return self.world_from_cam[:3, 3].copy()

    @property
    def forward(self) -> np.ndarray:
        """Viewing direction (+z of the camera) [3] in world coordinates."""
        return self.world_from_cam[:3, 2].copy()

    @property
    def fov_y_deg(self) -> float:
        return fov_from_intrinsics(self.K, self.height)

    def with_pose(self, world_from_cam: np.ndarray) -> "Camera":
        return replace(self, world_from_cam=np.asarray(world_from_cam, dtype=np.float64))

    def scaled(self, factor: float) -> "Camera":
        """The same camera at ``factor`` times the resolution (pixel-center convention kept)."""
        width = max(1, int(round(self.width * factor)))
        height = max(1, int(round(self.height * factor)))
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, :] *= sx
        K[1, :] *= sy
        return replace(self, K=K, width=width, height=height)

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """points [N,3] world -> (uv [N,2] image coords, z [N] depth along +z)."""
        p_cam = se3.transform_points(self.cam_from_world, points_world)
        z = p_cam[:, 2]
        uvw = p_cam @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = uvw[:, :2] / uvw[:, 2:3]
        return uv, z

    def pixel_rays(self) -> np.ndarray:
        """Unit-depth rays [H,W,3] in camera coordinates through every pixel center (z = 1)."""
        j, i = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        pix = np.stack([j, i, np.ones_like(j)], axis=-1)
        return pix @ np.linalg.inv(self.K).T

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        """z-depth [H,W] (along +z) -> points [H,W,3] in world coordinates."""
        p_cam = self.pixel_rays() * depth[..., None]
        return p_cam @ self.world_from_cam[:3, :3].T + self.world_from_cam[:3, 3]

    def backproject_points(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Image points uv [N,2] (pixels, centers at +0.5) with z-depth [N] -> points [N,3] world."""
        rays = np.concatenate([np.asarray(uv, np.float64), np.ones((len(uv), 1))], 1) @ np.linalg.inv(self.K).T
        return (rays * np.asarray(depth, np.float64)[:, None]) @ self.world_from_cam[:3, :3].T + self.world_from_cam[:3, 3]

    def backproject_at(self, uv: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lift image points uv [N,2] (pixels, centers at +0.5) with the z-depth map [H,W]
        of this camera read at the pixel containing each (nearest, no interpolation).
        Returns (points [M,3] world, keep [N] bool: inside the image with depth > 0)."""
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        ij = np.floor(uv).astype(int)
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < self.width) & (ij[:, 1] >= 0) & (ij[:, 1] < self.height)
        d = np.zeros(len(uv))
        d[inside] = depth[ij[inside, 1], ij[inside, 0]]
        keep = d > 0
        return self.backproject_points(uv[keep], d[keep]), keep

    def validate(self) -> "Camera":
        """Raise ValueError (naming the camera) unless every number is finite, the size is
        1..MAX_IMAGE_SIDE pixels, the focal lengths are positive and the pose is rigid with a
        last row [0, 0, 0, 1]. Returns self."""
        who = f"camera {self.name!r}" if self.name else "camera"
        if not (1 <= self.width <= MAX_IMAGE_SIDE and 1 <= self.height <= MAX_IMAGE_SIDE):
            raise ValueError(f"{who}: image size {self.width}x{self.height} is not within 1..{MAX_IMAGE_SIDE} pixels")
        if not (np.all(np.isfinite(self.K)) and np.all(np.isfinite(self.world_from_cam))):
            raise ValueError(f"{who}: non-finite number (NaN or infinity) in K or world_from_cam")
        if not (self.K[0, 0] > 0 and self.K[1, 1] > 0) or not np.allclose(self.K[2], [0, 0, 1]):
            raise ValueError(f"{who}: K is not a pinhole intrinsic matrix (positive fx, fy; last row 0 0 1)")
        R = self.world_from_cam[:3, :3]
        if not np.allclose(self.world_from_cam[3], [0, 0, 0, 1]) or np.abs(R.T @ R - np.eye(3)).max() > 1e-3:
            raise ValueError(f"{who}: world_from_cam is not a rigid transform")
        return self

    def to_dict(self) -> dict:
        return {"name": self.name, "width": self.width, "height": self.height,
                "K": self.K.tolist(), "world_from_cam": self.world_from_cam.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        """A camera read from a file, validated (:meth:`validate`); ValueError / KeyError /
        TypeError for anything malformed."""
        name = d.get("name", "")
        if not isinstance(name, str):
            raise TypeError(f"camera name must be text, got {type(name).__name__}")
        for key in ("width", "height"):
            if not isinstance(d[key], (int, np.integer)) or isinstance(d[key], bool):
                raise TypeError(f"camera {name!r}: {key} must be an integer number of pixels, got {d[key]!r:.40}")
        try:
            K = np.array(d["K"], dtype=np.float64)
            wfc = np.array(d["world_from_cam"], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"camera {name!r}: K / world_from_cam are not numbers ({exc})") from None
        if K.shape != (3, 3) or wfc.shape != (4, 4):
            raise ValueError(f"camera {name!r}: K must be 3x3 and world_from_cam 4x4, got {K.shape}, {wfc.shape}")
        return cls(K=K, width=d["width"], height=d["height"], world_from_cam=wfc, name=name).validate()
