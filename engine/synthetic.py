"""Deterministic procedural scenes with exact ground truth (the demo scene, every test's fixture).

World frame: OpenCV-like, +y points DOWN, meters. The room spans x, z in [-4, 4] and
y in [-1.5, 1.5]: the floor is the plane y = +1.5 and the ceiling y = -1.5, so every
ray cast from inside the room hits something. Objects (boxes, a stacked box, spheres,
vertical cylinders) stand on the floor within ~2 m of the room's vertical axis.

Shading is Lambert (fixed directional light + ambient) on solid textures that are pure
functions of the 3D position, so a surface point has exactly the same color from every
view. Geometry is fixed; the seed changes the textures (palettes, noise, patterns).
Rendering is analytic, vectorised numpy ray casting: no per-pixel Python loops.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine.geometry import se3
from engine.geometry.camera import Camera, intrinsics_from_fov
from engine.synthetic_scene import (CHUNK, Box, Cylinder, Primitive, Rays, Sphere, make_materials,
                                    room_quads, solid_albedo)

ROOM_MIN = np.array([-4.0, -1.5, -4.0])   # world m
ROOM_MAX = np.array([4.0, 1.5, 4.0])      # world m; floor at y = ROOM_MAX[1]
FLOOR_Y = float(ROOM_MAX[1])
LIGHT_DIR = np.array([0.35, -1.0, -0.45]) / np.linalg.norm([0.35, -1.0, -0.45])  # world, toward the light
AMBIENT, DIFFUSE = 0.35, 0.75


@dataclass(frozen=True, eq=False)
class SyntheticFrame:
    """Exact ground truth of one rendered view.

    rgb     [H,W,3] float32 in [0,1]
    depth   [H,W] float32 z-depth in m along camera +z (OpenCV); np.inf where nothing is hit
    normal  [H,W,3] float32 world-frame unit normals facing free space (zeros where no hit)
    camera  the camera that produced it
    """

    rgb: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    camera: Camera


def _demo_objects() -> tuple[Primitive, ...]:
    """The demo objects, all standing on the floor (y = 1.5, y down), world m."""
    f = FLOOR_Y
    return (
        Box("crate", (-1.30, 0.70, -0.40), (-0.50, f, 0.40)),
        Box("crate_top", (-1.15, 0.30, -0.25), (-0.70, 0.70, 0.15)),   # stacked on the crate
        Sphere("ball", (0.75, f - 0.50, -0.35), 0.50),
        Sphere("small_ball", (0.05, f - 0.28, 0.85), 0.28),
        Cylinder("column", -0.20, 1.70, 0.28, 0.10, f),
        Cylinder("drum", -1.60, 0.90, 0.32, 1.05, f),
        Box("bench", (0.80, 1.20, 0.55), (1.70, f, 1.05)),
        Box("block", (-0.75, 0.60, 1.00), (-0.40, f, 1.35)),
    )


class SyntheticScene:
    """A closed textured room with objects on its floor; everything analytic.

    bounds_min, bounds_max  [3] world m, the whole room
    center                  [3] world m, the point the objects cluster around
    primitives              room quads (6) followed by the objects; index = material id
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.bounds_min = ROOM_MIN.copy()
        self.bounds_max = ROOM_MAX.copy()
        self.center = np.array([0.0, 0.9, 0.0])
        self.room = room_quads(self.bounds_min, self.bounds_max)
        self.objects = _demo_objects()
        self.primitives: tuple[Primitive, ...] = self.room + self.objects
        kinds = ["room"] * len(self.room) + ["object"] * len(self.objects)
        self.materials = make_materials(kinds, self.seed)
        self.light_dir = LIGHT_DIR.copy()

    def find(self, name: str) -> Primitive:
        """The primitive called ``name`` (e.g. "crate", "floor")."""
        for prim in self.primitives:
            if prim.name == name:
                return prim
        raise KeyError(name)

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit of rays o + t d.

        origins     [3] or [N,3] world m;  directions [N,3] world (any length)
        returns     t [N] (np.inf on a miss; z-depth when d has camera z = 1),
                    primitive index [N] int (-1 on a miss)
        """
        directions = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
        origins = np.asarray(origins, dtype=np.float64)
        per_ray = origins.ndim == 2
        t = np.empty(len(directions))
        prim = np.empty(len(directions), dtype=np.int64)
        for s in range(0, len(directions), CHUNK):
            sl = slice(s, s + CHUNK)
            t[sl], prim[sl] = self._cast_chunk(Rays(origins[sl] if per_ray else origins, directions[sl]))
        return t, prim

    def _cast_chunk(self, rays: Rays) -> tuple[np.ndarray, np.ndarray]:
        best_t = np.full(rays.n, np.inf)
        best_i = np.full(rays.n, -1, dtype=np.int64)
        for i, prim in enumerate(self.primitives):
            t = prim.intersect(rays)
            closer = t < best_t
            best_t = np.where(closer, t, best_t)
            best_i[closer] = i
        return best_t, best_i

    def surface_normals(self, points: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """Unit normals [N,3] world facing free space at points [N,3] world on primitives [N]."""
        out = np.zeros_like(points, dtype=np.float64)
        for i in np.unique(prim):
            m = prim == i
            out[m] = self.primitives[i].normal_at(points[m])
        return out

    def shade(self, points: np.ndarray, normals: np.ndarray, prim: np.ndarray) -> np.ndarray:
        """View-independent Lambert color [N,3] float32 in [0,1] of surface points [N,3] world
        with normals [N,3] world on primitives [N] int."""
        albedo = solid_albedo(points, prim, self.materials)
        light = AMBIENT + DIFFUSE * np.clip(normals @ self.light_dir, 0.0, None)
        return np.clip(albedo * light[:, None].astype(np.float32), 0.0, 1.0)

    def render(self, camera: Camera) -> SyntheticFrame:
        """Exact color, z-depth and normals of every pixel center of ``camera``."""
        h, w = camera.height, camera.width
        dirs = camera.pixel_rays().reshape(-1, 3) @ camera.world_from_cam[:3, :3].T  # camera z = 1
        t, prim = self.cast(camera.center, dirs)
        hit = np.flatnonzero(prim >= 0)
        points = camera.center + t[hit, None] * dirs[hit]
        normals = self.surface_normals(points, prim[hit])
        rgb = np.zeros((h * w, 3), np.float32)
        nrm = np.zeros((h * w, 3), np.float32)
        rgb[hit] = self.shade(points, normals, prim[hit])
        nrm[hit] = normals
        return SyntheticFrame(rgb=rgb.reshape(h, w, 3), depth=t.astype(np.float32).reshape(h, w),
                              normal=nrm.reshape(h, w, 3), camera=camera)

    def _exposed(self, points: np.ndarray, index: int, tol: float = 1e-6) -> np.ndarray:
        """[N] bool: points on primitive ``index`` not buried in another object or the floor."""
        keep = np.ones(len(points), dtype=bool)
        if index >= len(self.room):
            inside = np.all((points > self.bounds_min + tol) & (points < self.bounds_max - tol), axis=-1)
            keep &= inside
        for j, obj in enumerate(self.objects, start=len(self.room)):
            if j != index:
                keep &= ~obj.contains(points, tol)
        return keep

    def sample_surface(self, n: int, seed: int = 0, include_room: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Points [n,3] world m and unit normals [n,3] world, uniform by area on every
        exposed surface (faces on the floor or inside another object are left out).
        ``include_room=False`` samples the objects only."""
        rng = np.random.default_rng([seed, 0x5A3])
        first = 0 if include_room else len(self.room)
        prims = list(range(first, len(self.primitives)))
        areas = np.array([self.primitives[i].area() for i in prims])
        pts, nrms, got = [np.zeros((0, 3))], [np.zeros((0, 3))], 0
        while got < n:
            counts = rng.multinomial(int(1.3 * (n - got)) + 64, areas / areas.sum())
            for i, c in zip(prims, counts):
                p, nn = self.primitives[i].sample(int(c), rng)
                keep = self._exposed(p, i)
                pts.append(p[keep])
                nrms.append(nn[keep])
                got += int(keep.sum())
        p, nn = np.concatenate(pts), np.concatenate(nrms)
        order = rng.permutation(len(p))[:n]
        return p[order], nn[order]


def make_demo_scene(seed: int = 0) -> SyntheticScene:
    """The built-in demo scene."""
    return SyntheticScene(seed)


def _smooth_jitter(s: np.ndarray, rng: np.random.Generator, dims: int, amplitude: float) -> np.ndarray:
    """Smooth deterministic wobble [len(s), dims] of the path parameter s [N] in [0,1]."""
    freqs = np.array([0.8, 1.7, 3.1])                        # cycles over the whole path
    phase = rng.uniform(0, 2 * np.pi, (dims, len(freqs)))
    amp = amplitude * np.array([1.0, 0.5, 0.25]) / 1.75
    waves = np.sin(2 * np.pi * freqs[None, None, :] * s[:, None, None] + phase[None])
    return (waves * amp).sum(-1)


def demo_capture_cameras(scene: SyntheticScene, n: int = 48, width: int = 640, height: int = 360,
                         fov_y_deg: float = 55.0, arc_deg: float = 120.0) -> list[Camera]:
    """A handheld-like capture: ``n`` cameras on an ``arc_deg`` arc of radius ~3 m around
    ``scene.center``, 1.3 m above the floor, looking at the center with smooth jitter
    (±~5 cm position, ±~10 cm aim, ±~1.5° roll). Names are ``frame_000000``, ...; the
    path is a function of the arc parameter, so a smaller ``n`` samples the same path."""
    K = intrinsics_from_fov(fov_y_deg, width, height)
    rng = np.random.default_rng([scene.seed, 0xCA4])
    s = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    theta = np.radians(arc_deg) * (s - 0.5)
    eye_offset = np.stack([3.0 * np.sin(theta), np.full(n, -0.7), -3.0 * np.cos(theta)], axis=-1)
    eyes = scene.center + eye_offset + _smooth_jitter(s, rng, 3, 0.05)
    targets = scene.center + _smooth_jitter(s, rng, 3, 0.10)
    rolls = np.radians(_smooth_jitter(s, rng, 1, 1.5)[:, 0])
    cams = []
    for i in range(n):
        world_from_cam = se3.look_at(eyes[i], targets[i])
        world_from_cam[:3, :3] = world_from_cam[:3, :3] @ se3.so3_exp(np.array([0.0, 0.0, rolls[i]]))
        cams.append(Camera(K=K, width=width, height=height, world_from_cam=world_from_cam,
                           name=f"frame_{i:06d}"))
    return cams


def demo_cameras_path(video_path: str | Path) -> Path:
    """``<stem>_cameras.json`` next to a demo video."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.stem + "_cameras.json")


def _render_rgb8(scene: SyntheticScene, camera: Camera) -> np.ndarray:
    """[H,W,3] uint8 render of ``camera`` (what the video encoder gets)."""
    return (np.clip(scene.render(camera).rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


_WORKER_SCENE: SyntheticScene | None = None


def _worker_render(seed: int, camera: Camera) -> np.ndarray:
    global _WORKER_SCENE
    if _WORKER_SCENE is None or _WORKER_SCENE.seed != seed:
        _WORKER_SCENE = make_demo_scene(seed)
    return _render_rgb8(_WORKER_SCENE, camera)


def write_demo_video(path: str | Path, scene: SyntheticScene, cameras: list[Camera], fps: int = 24,
                     processes: int = 1) -> Path:
    """Render ``cameras`` into an H.264 (libx264, yuv420p) mp4 at ``path`` and write the
    exact ground-truth cameras to ``<stem>_cameras.json`` ({"fps", "frames": [...]}).
    ``processes`` > 1 renders frames in that many worker processes (the scene must be
    ``make_demo_scene(scene.seed)``; ~2 s per 1920x1080 frame on one core)."""
    path = Path(path)
    width, height = cameras[0].width, cameras[0].height
    if width % 2 or height % 2 or any((c.width, c.height) != (width, height) for c in cameras):
        raise ValueError("all cameras need the same even width and height for yuv420p")
    path.parent.mkdir(parents=True, exist_ok=True)
    pool = None
    if processes > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(processes)
        frames = pool.map(_worker_render, [scene.seed] * len(cameras), cameras, chunksize=4)
    else:
        frames = (_render_rgb8(scene, cam) for cam in cameras)
    try:
        _encode_video(path, frames, cameras, fps)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return path


def _encode_video(path: Path, frames, cameras: list[Camera], fps: int) -> None:
    """H.264 (libx264, yuv420p, crf 16) of ``frames`` (uint8 [H,W,3] each) at ``path``, and
    ``cameras`` to ``<stem>_cameras.json``."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = cameras[0].width, cameras[0].height, "yuv420p"
        stream.options = {"crf": "16"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    payload = {"fps": int(fps), "frames": [c.to_dict() for c in cameras]}
    demo_cameras_path(path).write_text(json.dumps(payload, indent=1))


def write_cut_video(path: str | Path, clips: list[tuple[SyntheticScene, list[Camera]]], fps: int = 24) -> Path:
    """A video that cuts between places (issue 14's bad input): each clip's ``cameras``
    rendered in its own scene, the clips one after the other. Cameras are renamed
    ``frame_000000``, ... over the whole video; each clip's ground truth stays in its own
    scene's world frame (``<stem>_cameras.json``). All cameras share one even size."""
    path = Path(path)
    cams = [replace(c, name=f"frame_{i:06d}") for i, c in enumerate(c for _, cs in clips for c in cs)]
    if cams[0].width % 2 or cams[0].height % 2 or any((c.width, c.height) != (cams[0].width, cams[0].height)
                                                      for c in cams):
        raise ValueError("all cameras need the same even width and height for yuv420p")
    path.parent.mkdir(parents=True, exist_ok=True)
    _encode_video(path, (_render_rgb8(scene, c) for scene, cs in clips for c in cs), cams, fps)
    return path


def read_demo_cameras(json_path: str | Path) -> list[Camera]:
    """Ground-truth cameras from a ``*_cameras.json`` (or from the demo video's path)."""
    json_path = Path(json_path)
    if json_path.suffix.lower() != ".json":
        json_path = demo_cameras_path(json_path)
    data = json.loads(json_path.read_text())
    return [Camera.from_dict(d) for d in data["frames"]]
