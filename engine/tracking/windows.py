"""Window-parallel tracking of long videos, the parts that need no scheduler: how a video's
keyframes are cut into overlapping windows, what one window's tracking sends back, and how
the windows are chained into one gauge by Sim(3) on the keyframes they share.

A window is tracked on its own (:func:`track_window`: the pose backend's feature extraction,
matching and mapper on the window's keyframes, chunk by chunk as the streaming tracker does,
then the plane sweep of the depth-reference keyframes the window *owns*); its result is a
:class:`WindowResult` with cameras in the window's own gauge, a compact sparse model (the 2D
observations of every 3D point, for the global bundle adjustment of
:mod:`engine.tracking.windows_merge`) and raw depth sweeps at working resolution. Ownership
splits every overlap in its middle, so each keyframe's depth is swept exactly once.

Chaining: window k is mapped into the gauge of window 0 by the similarity that carries its
cameras onto the (already chained) cameras of the keyframes it shares with window k-1
(:func:`sim3_from_cameras`: rotation from the shared camera orientations, scale and
translation from their centers, least squares).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from engine.geometry import Camera


@dataclass(frozen=True)
class WindowOptions:
    """size: keyframes per window; overlap: keyframes two consecutive windows share (chained
    on them; at least 3); max_windows_in_flight: None = as many as the cluster runs at once."""

    size: int = 48
    overlap: int = 12

    def validate(self) -> None:
        if self.overlap < 3 or self.size < 2 * self.overlap:
            raise ValueError("windows need an overlap of at least 3 keyframes and a size of at least "
                             f"twice the overlap (got size {self.size}, overlap {self.overlap})")


def window_bounds(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[(start, stop)] windows over range(n): ``size`` keyframes each, consecutive windows
    sharing ``overlap``; a last window shorter than half a window is merged into the one before."""
    if n <= size:
        return [(0, n)]
    step = size - overlap
    out = []
    start = 0
    while True:
        stop = min(n, start + size)
        out.append((start, stop))
        if stop == n:
            break
        start += step
    if len(out) > 1 and out[-1][1] - out[-1][0] < size // 2:
        out.pop()
        out[-1] = (out[-1][0], n)
    return out


def owned_ranges(bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The keyframes each window owns (sweeps depth for): every overlap is split in its middle,
    so the owned ranges partition range(n)."""
    out = []
    for k, (a, b) in enumerate(bounds):
        lo = a if k == 0 else (a + bounds[k - 1][1]) // 2
        hi = b if k == len(bounds) - 1 else (bounds[k + 1][0] + b) // 2
        out.append((lo, hi))
    return out


# ------------------------------------------------------------------------------ Sim(3) math
@dataclass(frozen=True)
class Sim3:
    """The similarity x -> scale * rotation @ x + translation of world points (world m)."""

    scale: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def points(self, xyz: np.ndarray) -> np.ndarray:
        """[N,3] -> [N,3]."""
        return self.scale * np.asarray(xyz) @ self.rotation.T + self.translation

    def world_from_cam(self, wfc: np.ndarray) -> np.ndarray:
        """A camera's 4x4 world_from_cam moved with the world (the camera stays rigid)."""
        out = np.array(wfc, dtype=np.float64, copy=True)
        out[:3, :3] = self.rotation @ out[:3, :3]
        out[:3, 3] = self.points(out[None, :3, 3])[0]
        return out

    def camera(self, cam: Camera) -> Camera:
        return cam.with_pose(self.world_from_cam(cam.world_from_cam))

    def compose(self, inner: Sim3) -> Sim3:
        """self after inner: x -> self(inner(x))."""
        return Sim3(self.scale * inner.scale, self.rotation @ inner.rotation,
                    self.scale * self.rotation @ inner.translation + self.translation)


def sim3_from_cameras(src: list[np.ndarray], dst: list[np.ndarray]) -> Sim3:
    """The similarity T with T(src_i) ~= dst_i for pairs of 4x4 world_from_cam of the same
    cameras in two gauges (>= 2 pairs): rotation = the chordal mean of dst_R src_R^T, then
    scale and translation by least squares on the centers (engine.metrics.pose_alignment_sim3).
    Well-posed for cameras on a short, nearly straight path, where centers alone leave the
    rotation about the path free."""
    from engine.metrics import pose_alignment_sim3

    if len(src) < 2 or len(src) != len(dst):
        raise ValueError("need at least 2 cameras seen in both gauges")
    scale, rotation, translation = pose_alignment_sim3(np.asarray(src, dtype=np.float64),
                                                       np.asarray(dst, dtype=np.float64))
    if not scale > 0:
        raise ValueError("the shared cameras disagree (scale is not positive)")
    return Sim3(scale, rotation, translation)


# ------------------------------------------------------------------------- one window's work
@dataclass
class SparseModel:
    """A window's sparse model, compact (crosses Ray's object store) and in its own gauge.

    camera_model, width, height, params   the COLMAP camera (SIFT-size pixels) all images share
    cam_from_world   name -> [3,4] (COLMAP convention: x_cam = R x_world + t)
    observations     name -> ([M,2] float64 SIFT-size pixel xy, [M] int64 index into xyz)
    xyz              [P,3] window world; rgb [P,3] uint8
    """

    camera_model: str
    width: int
    height: int
    params: np.ndarray
    cam_from_world: dict[str, np.ndarray]
    observations: dict[str, tuple[np.ndarray, np.ndarray]]
    xyz: np.ndarray
    rgb: np.ndarray


@dataclass
class RawSweep:
    """One owned reference keyframe's raw plane sweep (working resolution, window gauge):
    camera (working size), image [h,w,3] uint8, depth / confidence [h,w] float32, near_far."""

    camera: Camera
    image: np.ndarray
    depth: np.ndarray
    confidence: np.ndarray
    near_far: tuple[float, float]


@dataclass
class WindowResult:
    """What :func:`track_window` sends back (small: cameras, a sparse model, a few depth maps).
    cameras / distortion: frame-size pinhole cameras (window gauge) and OpenCV coefficients
    of the registered keyframes; sweeps: name -> RawSweep of the owned references."""

    index: int
    cameras: dict[str, Camera]
    distortion: dict[str, np.ndarray]
    unregistered: list[str]
    model: SparseModel
    sweeps: dict[str, RawSweep]
    notes: list[str]
    seconds: dict[str, float]


def sparse_model(rec, names: dict[str, str], keep: set[str]) -> SparseModel:
    """pycolmap.Reconstruction (workspace ascii names -> frame ``names``) -> SparseModel of
    the images named in ``keep`` (points re-indexed, those seen by no kept image dropped)."""
    cams = list(rec.cameras.values())
    cam = cams[0]
    cfw, obs_xy, obs_pid = {}, {}, {}
    used: dict[int, int] = {}
    for iid in sorted(rec.reg_image_ids()):
        img = rec.images[iid]
        name = names[img.name]
        if name not in keep:
            continue
        pose = img.cam_from_world() if callable(img.cam_from_world) else img.cam_from_world
        cfw[name] = np.asarray(pose.matrix(), dtype=np.float64)
        xy, pid = [], []
        for p2 in img.points2D:
            if p2.has_point3D():
                xy.append(np.asarray(p2.xy, dtype=np.float64))
                pid.append(used.setdefault(int(p2.point3D_id), len(used)))
        obs_xy[name], obs_pid[name] = xy, pid
    ids = list(used)
    xyz = np.array([rec.points3D[i].xyz for i in ids], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([rec.points3D[i].color for i in ids], dtype=np.uint8).reshape(-1, 3)
    observations = {n: (np.array(obs_xy[n], dtype=np.float64).reshape(-1, 2), np.array(obs_pid[n], dtype=np.int64))
                    for n in cfw}
    return SparseModel(cam.model.name, int(cam.width), int(cam.height), np.asarray(cam.params, dtype=np.float64),
                       cfw, observations, xyz, rgb)


def track_window(index: int, frames, reference_names: list[str], options) -> WindowResult:
    """Track one window of keyframes (``engine.ingest.Frame``, video order; images may be
    downscaled, cameras come back at the size of these images) with ``options``
    (``TrackOptions``: the colmap pose backend, chunked like the streaming tracker) and sweep
    depth for the owned ``reference_names``. Raises TrackingError when nothing can be mapped."""
    import pycolmap

    from engine.tracking.colmap_io import undistort
    from engine.tracking.consistency import consistent_keyframes
    from engine.tracking.dense import DenseState, sweep_views
    from engine.tracking.pipeline import chunk_bounds
    from engine.tracking.pose_backend import ColmapPoseBackend, without_views
    from engine.tracking.sfm import TrackingError

    t0 = time.perf_counter()
    backend = ColmapPoseBackend(options.sfm, True)
    try:
        result = None
        for a, b in chunk_bounds(len(frames), options.first_chunk, options.chunk_size):
            backend.add_frames(frames[a:b])
            try:
                result = backend.solve()
            except TrackingError:
                if b >= len(frames):
                    raise
        order = {f.name: i for i, f in enumerate(frames)}
        if options.steps is not None and len(result.registered) >= 3:
            names = sorted(result.registered, key=order.get)
            keep = consistent_keyframes(np.stack([result.cameras[n].world_from_cam for n in names]),
                                        np.array([order[n] for n in names]), options.steps)
            result = without_views(result, [n for n, k in zip(names, keep) if not k])
        model = sparse_model(pycolmap.Reconstruction(str(backend.ws.model_dir)), backend.ws.names,
                             set(result.registered))
        notes = backend.notes()
    finally:
        backend.close()
    sfm_s = time.perf_counter() - t0
    by_name = {f.name: f for f in frames}
    ids = {n: i for i, n in enumerate(result.registered)}
    cams = {ids[n]: result.cameras[n] for n in result.registered}
    imgs = {ids[n]: undistort(by_name[n].image, result.cameras[n].K, result.distortion[n]) for n in result.registered}
    state = DenseState(options.mvs, options.device or "cpu")
    refs = [ids[n] for n in reference_names if n in ids]
    swept = list(sweep_views(state, refs, cams, imgs, result.points.xyz))
    sweeps = {result.registered[v]: RawSweep(state.cameras[v], state.images[v], state.raw[v].depth.cpu().numpy(),
                                             state.raw[v].confidence.cpu().numpy(), state.ranges[v])
              for v in swept}
    seconds = {"sfm_s": sfm_s, "dense_s": time.perf_counter() - t0 - sfm_s}
    return WindowResult(index, result.cameras, result.distortion, list(result.unregistered), model, sweeps,
                        notes, seconds)
