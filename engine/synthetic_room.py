"""An office-like synthetic room whose walls, floor, ceiling and table are flat colours (no
texture at all), with a few textured objects and a poster: the scene where plane-sweep
stereo finds depth only on the objects and along the edges between flat surfaces, as on
real captures of white tables and walls. Exact ground truth as in :mod:`engine.synthetic`.

World frame: OpenCV-like, +y DOWN, meters. The room spans x in [-2.5, 2.5], y in
[-1.3, 1.3] (floor y = +1.3), z in [-2.5, 2.5]; the table stands in front of the wall
z = +2.5 that the cameras face.
"""
from __future__ import annotations

import numpy as np

from engine.geometry import se3
from engine.geometry.camera import Camera, intrinsics_from_fov
from engine.synthetic import SyntheticScene
from engine.synthetic_scene import Box, Cylinder, Sphere, make_materials, room_quads

ROOM_MIN = np.array([-2.5, -1.3, -2.5])
ROOM_MAX = np.array([2.5, 1.3, 2.5])
FLOOR_Y = float(ROOM_MAX[1])
TABLE_TOP_Y = FLOOR_Y - 0.75

# Flat albedo (RGB in [0,1]) of the untextured primitives, by name; everything else is textured.
FLAT = {
    "wall_x_min": (0.86, 0.85, 0.82), "wall_x_max": (0.80, 0.80, 0.78),
    "wall_z_min": (0.84, 0.84, 0.84), "wall_z_max": (0.93, 0.92, 0.90),
    "ceiling": (0.97, 0.97, 0.97), "floor": (0.62, 0.58, 0.52), "table": (0.97, 0.97, 0.95),
}


def _room_objects() -> tuple:
    t = TABLE_TOP_Y
    return (
        Box("table", (-0.9, t, 0.6), (0.9, FLOOR_Y, 1.5)),
        Box("carton", (-0.55, t - 0.35, 0.85), (-0.30, t, 1.05)),      # on the table
        Sphere("ball", (0.40, t - 0.14, 1.0), 0.14),                    # on the table
        Cylinder("bin", 1.45, 1.1, 0.22, FLOOR_Y - 0.45, FLOOR_Y),      # on the floor
        Box("poster", (-1.6, -0.5, 2.47), (-0.9, 0.3, 2.5)),            # on the back wall
    )


class UntexturedRoom(SyntheticScene):
    """Flat-coloured room, table and walls (see :data:`FLAT`) with textured objects."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.bounds_min, self.bounds_max = ROOM_MIN.copy(), ROOM_MAX.copy()
        self.center = np.array([0.0, TABLE_TOP_Y, 1.0])
        self.room = room_quads(self.bounds_min, self.bounds_max)
        self.objects = _room_objects()
        self.primitives = self.room + self.objects
        kinds = ["room"] * len(self.room) + ["object"] * len(self.objects)
        self.materials = make_materials(kinds, self.seed)
        self.flat = np.array([FLAT.get(p.name, (np.nan,) * 3) for p in self.primitives], np.float32)  # [P,3]

    def shade(self, points: np.ndarray, normals: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """Lambert colour [N,3]: textured albedo on objects, flat albedo on :data:`FLAT` ones."""
        rgb = super().shade(points, normals, prim)
        flat = self.flat[prim]                                              # [N,3], nan = textured
        is_flat = np.isfinite(flat[:, 0])
        if is_flat.any():
            from engine.synthetic import AMBIENT, DIFFUSE
            light = AMBIENT + DIFFUSE * np.clip(normals[is_flat] @ self.light_dir, 0.0, None)
            rgb[is_flat] = np.clip(flat[is_flat] * light[:, None], 0.0, 1.0)
        return rgb


def render_views(scene: UntexturedRoom, cameras: list[Camera], supersample: int = 2) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images [H,W,3] uint8 (each pixel the mean of ``supersample``^2 samples: edges are
    anti-aliased as by a real lens and sensor, so they carry sub-pixel position) and exact
    z-depths [H,W] float32 at the pixel centers (np.inf = nothing hit) of ``cameras``."""
    images, depths = [], []
    for cam in cameras:
        s = supersample
        big = scene.render(cam.scaled(s)).rgb if s > 1 else scene.render(cam).rgb
        rgb = big.reshape(cam.height, s, cam.width, s, 3).mean((1, 3)) if s > 1 else big
        images.append((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
        depths.append(scene.render(cam).depth)
    return images, depths


def room_cameras(scene: UntexturedRoom, width: int = 192, height: int = 144, fov_y_deg: float = 60.0,
                 rows: int = 2, cols: int = 3, spacing: float = 0.18) -> list[Camera]:
    """A forward-facing capture (LLFF-like): cameras on a ``rows`` x ``cols`` grid ``spacing``
    m apart, 1.5 m above the floor and ~2.6 m from the table, all aimed at the table."""
    K = intrinsics_from_fov(fov_y_deg, width, height)
    target = scene.center + np.array([0.0, 0.1, 0.3])
    cams = []
    for r in range(rows):
        for c in range(cols):
            eye = np.array([(c - (cols - 1) / 2) * spacing, FLOOR_Y - 1.5 + (r - (rows - 1) / 2) * spacing, -1.6])
            cams.append(Camera(K=K, width=width, height=height, world_from_cam=se3.look_at(eye, target),
                               name=f"room_{r * cols + c:03d}"))
    return cams


def blank_wall_cameras(width: int = 96, height: int = 72, n: int = 3) -> list[Camera]:
    """Cameras 0.8 m from the flat wall x = -2.5, looking straight at it, 10 cm apart:
    every pixel sees the same flat colour, nothing can match."""
    K = intrinsics_from_fov(40.0, width, height)
    cams = []
    for i in range(n):
        eye = np.array([-1.7, 0.0, -0.8 + 0.1 * i])
        cams.append(Camera(K=K, width=width, height=height,
                           world_from_cam=se3.look_at(eye, eye + np.array([-1.0, 0.0, 0.0])), name=f"wall_{i:03d}"))
    return cams
