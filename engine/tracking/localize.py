"""Registering photos added to a tracked project later (ReconViaGen's render-and-match).

A new photo has no pose. Its SIFT features (at a working size) are matched against the
captured views'; the best-matching views' pixels are lifted to 3D with the memory rendered at
those views (a captured photo matches a new one better than a point render does, and the
render's depth is dense where the view's own depth map has holes); PnP with RANSAC gives a
first pose, and render-and-match (:mod:`engine.tracking.refine`) tightens it. A photo is
registered only when enough matches agree and its final reprojection error is small;
otherwise it is reported with the reason.

Intrinsics of a new photo: its EXIF focal length when known, else those of the captured
cameras with the same aspect ratio scaled to its size (the same phone), else COLMAP's guess
of 1.2 x the larger side; the principal point is the image center.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field

import numpy as np

from engine.geometry import Camera
from engine.tracking.refine import RefineOptions, SiftFeatures, refine_pose, solve_pnp


@dataclass(frozen=True)
class LocalizeOptions:
    working_side: int = 800        # SIFT works on images this large (longer side)
    max_features: int = 4000
    ratio: float = 0.8             # Lowe's ratio test
    candidates: int = 3            # best-matching captured views tried, best first
    min_inliers: int = 30          # PnP inliers needed to register
    max_error_px: float = 2.0      # median reprojection error of the inliers, final pose
    refine: RefineOptions = field(default_factory=lambda: RefineOptions(min_inliers=30))


@dataclass
class Registration:
    """One photo's outcome. camera: OpenCV ``world_from_cam`` at the photo's size, or None;
    reference: name of the captured view it was matched to; reason: why it was not registered
    ('' when it was)."""

    name: str
    camera: Camera | None
    reference: str | None
    num_inliers: int
    error_px: float
    reason: str = ""

    @property
    def registered(self) -> bool:
        return self.camera is not None


def photo_intrinsics(width: int, height: int, focal_px: float | None, known: list[Camera]) -> np.ndarray:
    """K [3,3] in pixels for a photo of ``width`` x ``height`` (see module docstring)."""
    if focal_px:
        f = float(focal_px)
    else:
        same_aspect = [c for c in known if abs(c.width / c.height - width / height) < 0.01]
        f = (float(np.median([c.K[0, 0] * width / c.width for c in same_aspect])) if same_aspect
             else 1.2 * max(width, height))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


class PhotoLocalizer:
    """Registers new photos against a project's captured views and geometry memory. View
    features are computed once, on first use."""

    def __init__(self, memory, views, options: LocalizeOptions = LocalizeOptions()) -> None:
        if memory is None or memory.is_empty:
            raise ValueError("photos can be registered only in a project with a geometry memory (track it first)")
        if len(views) == 0:
            raise ValueError("photos can be registered only in a project with captured views")
        self.memory, self.views, self.options = memory, views, options
        self._features: list[SiftFeatures] | None = None

    def view_features(self) -> list[SiftFeatures]:
        if self._features is None:
            self._features = [SiftFeatures(v.image, self.options.max_features, self.options.working_side) for v in self.views]
        return self._features

    def register(self, name: str, image: np.ndarray, focal_px: float | None = None) -> Registration:
        """Pose of ``image`` [H,W,3] uint8 RGB in the memory's world (see module docstring)."""
        opt = self.options
        h, w = image.shape[:2]
        K = photo_intrinsics(w, h, focal_px, self.views.cameras)
        photo = SiftFeatures(image, opt.max_features, opt.working_side)
        matches = [photo.match(f, opt.ratio) for f in self.view_features()]
        order = np.argsort([-len(m[0]) for m in matches])[:opt.candidates]
        best = Registration(name, None, None, 0, np.inf, "no captured view shares enough features with it")
        for vid in order:
            uv_photo, uv_view = matches[vid]
            if len(uv_photo) < opt.min_inliers:
                break
            attempt = self._from_view(name, int(vid), K, image, uv_photo, uv_view)
            if attempt.registered:
                return attempt
            if attempt.num_inliers > best.num_inliers:
                best = attempt
        return best

    def _from_view(self, name, vid, K, image, uv_photo, uv_view) -> Registration:
        from engine.render.points import render_memory

        opt = self.options
        view = self.views[vid]
        depth = render_memory(self.memory, view.camera).numpy().depth
        xyz, keep = view.camera.backproject_at(uv_view, depth)
        if keep.sum() < opt.min_inliers:
            return Registration(name, None, view.name, 0, np.inf, f"too few matches with depth in {view.name}")
        h, w = image.shape[:2]
        guess = Camera(K, w, h, view.camera.world_from_cam, name=name)
        cam, inliers = solve_pnp(guess, xyz, uv_photo[keep], opt.refine)
        if cam is None or len(inliers) < opt.min_inliers:
            n = 0 if inliers is None else len(inliers)
            return Registration(name, None, view.name, n, np.inf, f"PnP found {n} consistent matches with {view.name}")
        refined = refine_pose(self.memory, cam, image, opt.refine)
        if refined.accepted:
            cam = refined.camera
        proj, z = cam.project(xyz[inliers])
        error = float(np.median(np.where(z > 0, np.linalg.norm(proj - uv_photo[keep][inliers], axis=1), np.inf)))
        if error > opt.max_error_px:
            return Registration(name, None, view.name, len(inliers), error,
                                f"reprojection error {error:.1f} px after refinement")
        return Registration(name, cam, view.name, len(inliers), error)


def read_photos(paths) -> tuple[list, list[str]]:
    """Frames (engine.ingest.Frame) and warnings of photo files and folders of photos. What
    can be read is read; each file that cannot (not a photo, corrupt, missing, a folder with
    no photo) is one warning naming that file, never an error for the whole batch. Frame
    names are distinct across the batch."""
    from pathlib import Path

    from engine.ingest import IngestError
    from engine.ingest.images import IMAGE_SUFFIXES, list_images, read_images

    frames, warnings, used = [], [], set()
    for path in map(Path, paths):
        if not path.exists():
            warnings.append(f"{path}: does not exist")
            continue
        if path.is_dir():
            try:
                files = list_images(path)
            except (IngestError, OSError) as exc:
                warnings.append(str(exc))
                continue
            if not files:
                warnings.append(f"{path}: no photos in this folder ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            warnings.append(f"{path}: not a photo ({', '.join(sorted(IMAGE_SUFFIXES))})")
            continue
        else:
            files = [path]
        for file in files:
            try:
                result = read_images([file])
            except (IngestError, OSError, ValueError) as exc:
                warnings.append(f"{file}: cannot be read ({exc})" if str(file) not in str(exc) else str(exc))
                continue
            for frame in result.frames:
                name, k = frame.name, 1
                while name in used:
                    k += 1
                    name = f"{frame.name}_{k}"
                used.add(name)
                frames.append(frame if name == frame.name else dataclasses.replace(frame, name=name))
            warnings += [w for w in result.warnings if "single photo" not in w]
    return frames, warnings


def register_photos_job(frames, options: LocalizeOptions = LocalizeOptions(), depth_side: int = 400):
    """A session job ``fn(state, cancel)`` registering ``frames`` (engine.ingest.Frame) into
    ``state.views`` against ``state.memory``: yields Progress and, when any photo was added,
    CamerasChanged; returns the list of :class:`Registration` (every photo, in order). A new
    view's depth is the memory rendered at it (``depth_side`` working size)."""
    from engine.events import CamerasChanged, Progress
    from engine.ingest.views import CapturedView
    from engine.tracking.dense import memory_depth

    def job(state, cancel):
        localizer = PhotoLocalizer(state.memory, state.views, options)
        known = {v.name for v in state.views}
        results = []
        yield Progress(0.0, "matching the captured views")
        for i, frame in enumerate(frames):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if frame.name in known:
                results.append(Registration(frame.name, None, None, 0, np.inf,
                                            "a view of this name is already in the project"))
                continue
            reg = localizer.register(frame.name, frame.image, frame.focal_px)
            results.append(reg)
            if reg.registered:
                view = CapturedView(reg.camera, frame.image)
                view.depth, view.confidence = memory_depth(state.memory, reg.camera, depth_side)
                state.views.add(view)
                known.add(frame.name)
            yield Progress((i + 1) / len(frames), f"{frame.name}: " + ("registered" if reg.registered else reg.reason))
        if any(r.registered for r in results):
            yield CamerasChanged(tuple(state.views.cameras))
        return results

    return job
