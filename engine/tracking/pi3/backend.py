"""Pi3 behind the tracking seams: ``--pose-backend pi3`` (cameras) and ``--depth-backend pi3``
(its depth and confidence, straight into the memory).

Keyframes arrive in chunks (engine.tracking.pipeline). Each chunk is predicted in batches of
at most ``Pi3Options.batch`` frames, each batch led by up to ``overlap`` frames already
placed (the latest ones). The first batch defines the world: its first camera is the origin
(``world_from_cam`` = identity) and its scale is Pi3's. A later batch is moved into that world
by the similarity its overlap frames give: scale = median ratio of their depths (pixels
confident in both predictions), rotation = the rotation nearest to the sum of
``R_world_i R_batch_i^T``, translation = mean offset of their centers. Placed frames never
move again, so the pipeline's chunk-to-chunk alignment is the identity.

Cameras come out at the frame's image size (intrinsics scaled from Pi3's working size,
principal point centered, no distortion). The sparse points the pipeline uses for near/far
and pure-rotation tests are a confident sample of each frame's depth.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.geometry import Camera
from engine.tracking.colmap_io import SparsePoints
from engine.tracking.dense import DepthMap
from engine.tracking.pi3.options import Pi3Options
from engine.tracking.pi3.predict import FramePrediction, cached_model, predict_frames, resize_rgb
from engine.tracking.pi3.weights import discover
from engine.tracking.sfm import SfmResult, TrackingError


def similarity_from_overlap(placed: list[FramePrediction], batch: list[FramePrediction],
                            min_conf: float) -> tuple[float, np.ndarray, np.ndarray]:
    """(s, R [3,3], t [3]) with world = s R x_batch + t, from frames predicted in both."""
    ratios = []
    for a, b in zip(placed, batch):
        bd, bc = b.depth, b.confidence
        if bd.shape != a.depth.shape:   # predicted at another working size (photos of other sizes)
            import cv2

            size = (a.depth.shape[1], a.depth.shape[0])
            bd, bc = cv2.resize(bd, size, interpolation=cv2.INTER_NEAREST), cv2.resize(bc, size)
        ok = (a.depth > 0) & (bd > 0) & (a.confidence >= min_conf) & (bc >= min_conf)
        if ok.sum() < 16:
            ok = (a.depth > 0) & (bd > 0)
        ratios.append(a.depth[ok] / bd[ok])
    r = np.concatenate(ratios) if ratios else np.zeros(0)
    s = float(np.median(r)) if len(r) else 1.0
    if not np.isfinite(s) or s <= 0:
        s = 1.0
    m = sum(a.world_from_cam[:3, :3] @ b.world_from_cam[:3, :3].T for a, b in zip(placed, batch))
    u, _, vt = np.linalg.svd(m)
    R = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    t = np.mean([a.world_from_cam[:3, 3] - s * R @ b.world_from_cam[:3, 3] for a, b in zip(placed, batch)], axis=0)
    return s, R, t


def moved(pred: FramePrediction, s: float, R: np.ndarray, t: np.ndarray) -> FramePrediction:
    """``pred`` in the world x -> s R x + t (depth scaled by s)."""
    wfc = np.eye(4)
    wfc[:3, :3] = R @ pred.world_from_cam[:3, :3]
    wfc[:3, 3] = s * R @ pred.world_from_cam[:3, 3] + t
    return FramePrediction(wfc, pred.K, pred.depth * np.float32(s), pred.confidence, pred.image)


class Pi3PoseBackend:
    """The pose-backend protocol (engine.tracking.pose_backend) on Pi3 predictions."""

    name = "pi3"

    def __init__(self, checkpoint: Path, device, is_video: bool, options: Pi3Options = Pi3Options()) -> None:
        import torch

        self.checkpoint, self.is_video, self.options = Path(checkpoint), is_video, options
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else None
        self.order: list[str] = []
        self.frames: dict[str, object] = {}
        self.predictions: dict[str, FramePrediction] = {}   # name -> prediction in the world frame

    @classmethod
    def from_models_dir(cls, models_dir: Path, device, is_video: bool,
                        options: Pi3Options = Pi3Options()) -> "Pi3PoseBackend":
        """The backend on ``<models_dir>/Pi3/model.safetensors``; FileNotFoundError naming the
        exact file when it is not there (nothing is downloaded)."""
        found = discover(models_dir, check_keys=False)
        if not found.ready:
            raise FileNotFoundError(f"pose backend 'pi3': {found.problem}")
        return cls(found.path, device, is_video, options)

    def add_frames(self, frames) -> None:
        """Take a chunk and predict every frame not placed yet (after :meth:`forget_model`:
        all of them again, the first batch defining a new world)."""
        for f in frames:
            if f.name not in self.frames:
                self.order.append(f.name)
            self.frames[f.name] = f
        new = [self.frames[n] for n in self.order if n not in self.predictions]
        opt = self.options
        i = 0
        while i < len(new):
            lead = self.order_placed()[-opt.overlap:] if self.predictions and opt.overlap > 0 else []
            take = new[i:i + max(1, opt.batch - len(lead))]
            self._predict(lead, take)
            i += len(take)

    def order_placed(self) -> list[str]:
        return [n for n in self.order if n in self.predictions]

    def _predict(self, lead: list[str], frames) -> None:
        model = cached_model(self.checkpoint, self.device, self.dtype)
        images = [self.frames[n].image for n in lead] + [f.image for f in frames]
        preds = predict_frames(model, images, self.options.max_pixels, shared_focal=self.is_video,
                               autocast_dtype=self.dtype)
        if not lead:   # the first batch: its first camera is the world origin
            origin = np.linalg.inv(preds[0].world_from_cam)
            s, R, t = 1.0, origin[:3, :3], origin[:3, 3]
        else:
            s, R, t = similarity_from_overlap([self.predictions[n] for n in lead], preds[:len(lead)],
                                              self.options.min_confidence)
        for f, p in zip(frames, preds[len(lead):]):
            self.predictions[f.name] = moved(p, s, R, t)

    def camera(self, name: str) -> Camera:
        """The frame's camera at its own image size (K scaled from the working size)."""
        p, f = self.predictions[name], self.frames[name]
        h, w = p.depth.shape
        H, W = f.image.shape[:2]
        K = np.diag([W / w, H / h, 1.0]) @ p.K
        return Camera(K, W, H, p.world_from_cam, name=name)

    def solve(self) -> SfmResult:
        names = self.order_placed()
        if not names:
            raise TrackingError("pose backend 'pi3': no frames were predicted")
        cams = {n: self.camera(n) for n in names}
        return SfmResult(cams, {n: np.zeros(4) for n in names}, names,
                         [n for n in self.order if n not in self.predictions], self.sparse_points(names))

    def sparse_points(self, names: list[str]) -> SparsePoints:
        """A confident sample of each frame's depth, back-projected (tracks: that frame)."""
        rng = np.random.default_rng(0)
        xyz, rgb, tracks = [], [], []
        for i, n in enumerate(names):
            p = self.predictions[n]
            ok = np.flatnonzero(((p.depth > 0) & (p.confidence >= self.options.min_confidence)).ravel())
            if len(ok) == 0:
                continue
            pick = rng.choice(ok, size=min(len(ok), self.options.sparse_per_view), replace=False)
            v, u = np.divmod(pick, p.depth.shape[1])
            z = p.depth.ravel()[pick].astype(np.float64)
            rays = np.linalg.solve(p.K, np.stack([u + 0.5, v + 0.5, np.ones_like(z)]))
            cam_pts = (rays * z).T
            xyz.append(cam_pts @ p.world_from_cam[:3, :3].T + p.world_from_cam[:3, 3])
            rgb.append(p.image.reshape(-1, 3)[pick])
            tracks.extend(np.array([i], dtype=np.int64) for _ in pick)
        if not xyz:
            return SparsePoints(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0), [])
        xyz = np.concatenate(xyz)
        return SparsePoints(xyz, np.concatenate(rgb).astype(np.uint8), np.zeros(len(xyz)), tracks)

    def forget_model(self) -> None:
        self.predictions.clear()

    def panoramic_fraction(self) -> float:
        return 0.0     # Pi3 predicts translation and depth for a rotation-only capture too

    def notes(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class Pi3DepthBackend:
    """The depth-backend protocol (engine.tracking.depth_backend) on the predictions of the
    Pi3 pose backend of the same job: each view's depth and confidence at Pi3's working size
    (at most ``max_side`` pixels: the dense working size of the other depth backends, so the
    memory's density does not depend on the backend), with the view's current pose; pixels
    under ``min_confidence`` carry no depth."""

    name = "pi3"

    def __init__(self, source: Pi3PoseBackend, max_side: int | None = None) -> None:
        if not isinstance(source, Pi3PoseBackend):
            raise ValueError("depth backend 'pi3' uses the Pi3 predictions of the pose backend: "
                             "choose pose backend 'pi3' too")
        self.source, self.max_side = source, max_side
        self.cameras: dict[int, Camera] = {}
        self.images: dict[int, np.ndarray] = {}

    def estimate(self, view_ids, cameras, images, points_xyz=None, near_far=None, cancel=None):
        for vid in view_ids:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if cameras[vid].name not in self.source.predictions:
                continue
            self.cameras[vid], self.images[vid] = cameras[vid], images[vid]
            yield self._map(vid)

    def update_poses(self, cameras) -> None:
        for i, cam in cameras.items():
            if i in self.cameras:
                self.cameras[i] = self.cameras[i].with_pose(cam.world_from_cam)

    def final_maps(self, cancel=None) -> list[DepthMap]:
        return [self._map(i) for i in sorted(self.cameras)]

    def _map(self, vid: int) -> DepthMap:
        cam = self.cameras[vid]
        p = self.source.predictions[cam.name]
        h, w = p.depth.shape
        work = Camera(p.K, w, h, cam.world_from_cam, name=cam.name)
        depth = np.where(p.confidence >= self.source.options.min_confidence, p.depth, 0).astype(np.float32)
        conf = p.confidence.astype(np.float32)
        if self.max_side and max(w, h) > self.max_side:
            import cv2

            work = work.scaled(self.max_side / max(w, h))
            size = (work.width, work.height)
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)   # no depth mixed across edges
            conf = cv2.resize(conf, size, interpolation=cv2.INTER_AREA)
        img = resize_rgb(self.images[vid], work.width, work.height)
        return DepthMap(vid, work, img, depth, conf)
