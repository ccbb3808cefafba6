"""A synthetic scene that breaks trackers the way casual videos do (issue 14): a rotationally
symmetric can standing on a floor, in a square room whose floor, walls and ceiling all carry
one repeated tile, filmed by a handheld-like orbit with exact cameras.

Why it is hard: with the can at the room's center, a tile corner under it and light falling
straight down, the scene looks the same from viewpoints a quarter turn apart (the can's label
repeats ``can_repeats`` times around it, a multiple of 4), and every tile is the same tile up
to a faint per-tile variation (``tile_variation``), as real tiles are. Appearance-based loop
candidates then verify with many inliers between frames 90, 180 or 270 degrees apart, and a
mapper that trusts them flips cameras. Only the video's continuity tells the views apart.

World frame as in :mod:`engine.synthetic`: OpenCV-like, +y DOWN, meters; the floor is at
``y = half_height``, the can's axis is the y axis.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.geometry import se3
from engine.geometry.camera import Camera, intrinsics_from_fov
from engine.synthetic import SyntheticScene, write_demo_video
from engine.synthetic_scene import Cylinder, fbm, make_materials, room_quads, value_noise

TILE_M = 0.4            # tile side, m (floor, walls and ceiling alike)
GROUT_M = 0.012         # grout line half-width, m


class SymmetricScene(SyntheticScene):
    """A square room of ``half_size`` m (x, z) by ``2 * half_height`` m with one can.

    bounds_min, bounds_max [3] world m; center [3] world m, the can's middle.
    """

    def __init__(self, seed: int = 0, half_size: float = 2.4, half_height: float = 1.2,
                 can_radius: float = 0.22, can_height: float = 0.55, can_repeats: int = 4,
                 tile_variation: float = 0.12) -> None:
        self.seed = int(seed)
        self.bounds_min = np.array([-half_size, -half_height, -half_size])
        self.bounds_max = np.array([half_size, half_height, half_size])
        floor = float(half_height)
        self.center = np.array([0.0, floor - 0.5 * can_height, 0.0])
        self.room = room_quads(self.bounds_min, self.bounds_max)
        self.objects = (Cylinder("can", 0.0, 0.0, can_radius, floor - can_height, floor),)
        self.primitives = self.room + self.objects
        self.materials = make_materials(["room"] * len(self.room) + ["object"], self.seed)
        self.light_dir = np.array([0.0, -1.0, 0.0])      # straight down: every wall lit alike
        self.can_repeats = int(can_repeats)
        self.tile_variation = float(tile_variation)

    def shade(self, points: np.ndarray, normals: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """Tile albedo on the room, the can's label on the can; ambient + light from above,
        plus a faint light from the viewer's side of each wall so the walls are not black."""
        albedo = np.empty((len(points), 3), np.float32)
        can = prim == len(self.room)
        albedo[~can] = self._tile_albedo(points[~can], normals[~can])
        albedo[can] = self._can_albedo(points[can], normals[can])
        light = 0.55 + 0.45 * np.clip(normals @ self.light_dir, 0.0, None)
        return np.clip(albedo * light[:, None].astype(np.float32), 0.0, 1.0)

    def _tile_albedo(self, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        """The same tile everywhere: in-plane coordinates (the two axes the normal is not on)
        modulo :data:`TILE_M`; a textured tile face, dark grout lines, and a faint per-tile
        variation (each tile's integer index salts a low-contrast noise)."""
        axis = np.argmax(np.abs(n), axis=1)
        uv = np.where(axis[:, None] == 0, p[:, [2, 1]], np.where(axis[:, None] == 1, p[:, [0, 2]], p[:, [0, 1]]))
        cell = np.floor(uv / TILE_M)
        f = uv / TILE_M - cell                                              # [0,1)^2 within the tile
        q = np.stack([f[:, 0] * 7.0, f[:, 1] * 7.0, np.zeros(len(f))], axis=-1)
        a = fbm(q, 1234)
        blobs = value_noise(q * 1.9 + 5.3, 99)
        base = np.array([0.78, 0.74, 0.66])[None] * (0.55 + 0.6 * a[:, None])
        base = base * (1.0 - 0.45 * (blobs > 0.62)[:, None])
        per_tile = fbm(np.stack([f[:, 0] * 3.0, f[:, 1] * 3.0, (cell[:, 0] * 31.0 + cell[:, 1] * 17.0 + axis * 7.0)],
                                axis=-1), 77)
        base = base * (1.0 + self.tile_variation * (per_tile[:, None] - 0.5) * 2.0)
        g = np.minimum(np.minimum(f, 1.0 - f).min(axis=1) * TILE_M, 1.0)
        grout = g < GROUT_M
        base[grout] = 0.25
        return base.astype(np.float32)

    def _can_albedo(self, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        """A label that repeats ``can_repeats`` times around the axis (side) and rings (caps)."""
        ang = np.arctan2(p[:, 2], p[:, 0])
        sector = 2.0 * np.pi / self.can_repeats
        phi = np.mod(ang, sector) / sector                                   # [0,1) within a repeat
        side = np.abs(n[:, 1]) < 0.5
        r = np.hypot(p[:, 0], p[:, 2])
        q = np.where(side[:, None], np.stack([phi * 6.0, p[:, 1] * 9.0, np.zeros(len(p))], -1),
                     np.stack([r * 25.0, np.zeros(len(p)), np.full(len(p), 3.0)], -1))
        a = fbm(q, 4321)
        red = np.array([0.85, 0.15, 0.12])[None]
        white = np.array([0.92, 0.9, 0.85])[None]
        mix = np.clip((a - 0.45) * 4.0, 0.0, 1.0)[:, None]
        bands = (np.floor(p[:, 1] * 12.0) % 3 == 0)[:, None]
        col = red + (white - red) * mix
        return np.where(bands & side[:, None], col * 0.35, col).astype(np.float32)


def orbit_cameras(scene: SymmetricScene, n: int = 48, width: int = 256, height: int = 192,
                  fov_y_deg: float = 60.0, turns: float = 1.0, radius: float = 1.3,
                  eye_height: float = 0.75, seed: int = 0) -> list[Camera]:
    """A handheld-like orbit around the can: ``n`` cameras over ``turns`` full turns at
    ~``radius`` m from the axis, ``eye_height`` m above the can's middle, aiming at the can
    with wobble (±4 cm position, ±8 cm aim, ±2 degree roll, the radius breathing ±10 cm).
    Names ``frame_000000``, ...; OpenCV ``world_from_cam``."""
    K = intrinsics_from_fov(fov_y_deg, width, height)
    rng = np.random.default_rng([seed, 0x0B17])
    s = np.linspace(0.0, 1.0, n, endpoint=False) if n > 1 else np.zeros(1)

    def wobble(dims: int, amp: float) -> np.ndarray:
        freqs = np.array([1.3, 2.9, 6.1]) * turns
        phase = rng.uniform(0, 2 * np.pi, (dims, 3))
        return (np.sin(2 * np.pi * freqs[None, None] * s[:, None, None] + phase[None])
                * amp * np.array([1.0, 0.5, 0.25]) / 1.75).sum(-1)

    theta = 2.0 * np.pi * turns * s + 0.3
    rad = radius + wobble(1, 0.10)[:, 0]
    eyes = np.stack([rad * np.sin(theta), np.full(n, -eye_height), -rad * np.cos(theta)], -1) + scene.center
    eyes = eyes + wobble(3, 0.04)
    targets = scene.center + wobble(3, 0.08)
    rolls = np.radians(wobble(1, 2.0)[:, 0])
    cams = []
    for i in range(n):
        wfc = se3.look_at(eyes[i], targets[i])
        wfc[:3, :3] = wfc[:3, :3] @ se3.so3_exp(np.array([0.0, 0.0, rolls[i]]))
        cams.append(Camera(K=K, width=width, height=height, world_from_cam=wfc, name=f"frame_{i:06d}"))
    return cams


def write_symmetric_video(path: str | Path, n: int = 48, width: int = 256, height: int = 192,
                          fps: int = 8, seed: int = 0, **orbit) -> Path:
    """Render the orbit to an H.264 mp4 at ``path`` with ``<stem>_cameras.json`` next to it
    (read with :func:`engine.synthetic.read_demo_cameras`)."""
    scene = SymmetricScene(seed)
    return write_demo_video(path, scene, orbit_cameras(scene, n, width, height, seed=seed, **orbit), fps)
