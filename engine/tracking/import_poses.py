"""Import known poses: COLMAP models, nerfstudio / instant-ngp ``transforms.json``, LLFF
``poses_bounds.npy``. Images + poses become captured views without tracking; every axis
change goes through :mod:`engine.geometry.conventions`.

``holdout=N`` keeps every N-th view (indices 0, N, 2N, ... in name order: the LLFF
protocol) out of the view bank; those views are returned separately for evaluation.

LLFF rows are in the order LLFF's ``imgs2poses`` wrote them: Python ``sorted()`` of the image
file names (byte order: ``IMG_10`` before ``IMG_2``), or the order of ``view_imgs.txt`` /
``image_names_pose_order.txt`` next to ``poses_bounds.npy`` when one exists. Never the natural
order the image folder is listed in elsewhere (see :func:`llff_image_order`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.geometry import Camera
from engine.geometry.conventions import (cameras_from_llff_rows, intrinsics_from_nerfstudio,
                                         world_from_cam_from_nerfstudio_transform_matrix)
from engine.ingest.frames import IngestError, downscale_to_max_side
from engine.ingest.images import list_images, read_image_file
from engine.ingest.views import CapturedView, ViewBank
from engine.tracking.colmap_io import (SparsePoints, read_colmap_model,
                                       read_points3d_bin, rescale_K, undistort)


@dataclass
class PosedScene:
    """Posed captured views from a reference.

    views     training views (OpenCV ``world_from_cam``, K of the stored image)
    holdout   held-out views (never fused), same form
    points    sparse 3D points in the same world, when the reference has them
    near_far  per view name (near, far) depth bounds when the reference has them (LLFF)
    """

    views: ViewBank
    holdout: list[CapturedView] = field(default_factory=list)
    points: SparsePoints | None = None
    near_far: dict[str, tuple[float, float]] = field(default_factory=dict)
    kind: str = ""
    source: str = ""


def detect_reference(path: str | Path) -> str:
    """'colmap' | 'transforms' | 'llff' for a reference path; raises ValueError otherwise."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        return "transforms"
    if p.suffix.lower() == ".npy" or (p.is_dir() and (p / "poses_bounds.npy").exists()):
        return "llff"
    if p.is_dir() and any((p / f"cameras.{e}").exists() for e in ("bin", "txt")):
        return "colmap"
    if p.is_dir() and (p / "sparse" / "0").is_dir():
        return "colmap"
    raise ValueError(f"{p}: not a COLMAP model folder, transforms.json or poses_bounds.npy")


def import_poses(reference: str | Path, images: str | Path | None = None, holdout: int = 0,
                 max_side: int | None = 1600) -> PosedScene:
    """Read a pose reference (see module docstring); ``images`` overrides the image folder."""
    kind = detect_reference(reference)
    reader = {"colmap": _import_colmap, "transforms": _import_transforms, "llff": _import_llff}[kind]
    views, points, near_far = reader(Path(reference), Path(images) if images else None, max_side)
    if not views:
        raise ValueError(f"{reference}: no image of the reference could be read")
    return split_holdout(PosedScene(ViewBank(), [], points, near_far, kind, str(reference)), views, holdout)


def split_holdout(scene: PosedScene, views: list[CapturedView], holdout: int) -> PosedScene:
    """Views in name order; every ``holdout``-th (0, N, 2N, ...) goes to ``scene.holdout``."""
    for i, v in enumerate(views):
        if holdout and holdout > 0 and i % holdout == 0:
            scene.holdout.append(v)
        else:
            scene.views.add(v)
    if holdout and len(scene.views) == 0:
        raise ValueError(f"--holdout {holdout} leaves no training view")
    return scene


def _load_view(path: Path, K: np.ndarray, size: tuple[int, int], world_from_cam: np.ndarray, name: str,
               dist: np.ndarray | None, max_side: int | None, rgb: np.ndarray | None = None) -> CapturedView:
    """Read (unless ``rgb`` is given), resize to the model's aspect if needed, undistort,
    downscale; K follows."""
    rgb = read_image_file(path) if rgb is None else rgb
    h, w = rgb.shape[:2]
    if (w, h) != size:
        K = rescale_K(K, size, (w, h))
    if dist is not None:
        rgb = undistort(rgb, K, dist)
    small, scale = downscale_to_max_side(rgb, max_side)
    if scale != 1.0:
        K = rescale_K(K, (w, h), (small.shape[1], small.shape[0]))
    cam = Camera(K, small.shape[1], small.shape[0], world_from_cam, name=name)
    return CapturedView(cam, np.ascontiguousarray(small))


def _find_file(folder: Path, name: str) -> Path:
    p = folder / name
    if p.exists():
        return p
    for ext in (".png", ".jpg", ".jpeg", ".JPG", ".PNG"):
        if p.with_name(p.name + ext).exists():
            return p.with_name(p.name + ext)
    raise IngestError(f"{p}: image named by the reference is missing")


def _import_colmap(ref: Path, images: Path | None, max_side):
    model_dir = ref / "sparse" / "0" if (ref / "sparse" / "0").is_dir() else ref
    model = read_colmap_model(model_dir)
    if images is None:
        candidates = [model_dir.parent.parent / "images", model_dir.parent / "images", ref / "images"]
        images = next((c for c in candidates if c.is_dir()), None)
        if images is None:
            raise ValueError(f"{ref}: no images folder found next to the model; pass it as INPUT")
    views = []
    for cam, dist in zip(model.cameras, model.distortion):
        path = _find_file(images, cam.name)
        views.append(_load_view(path, cam.K, (cam.width, cam.height), cam.world_from_cam,
                                Path(cam.name).stem, dist, max_side))
    return views, model.points, {}


def frame_intrinsics(meta: dict, frame: dict, image_size: tuple[int, int]):
    d = {**meta, **frame}
    w, h = int(d.get("w", image_size[0])), int(d.get("h", image_size[1]))
    if "fl_x" not in d:
        if "camera_angle_x" not in d:
            raise ValueError("transforms.json has neither fl_x nor camera_angle_x")
        d["fl_x"] = 0.5 * w / np.tan(0.5 * float(d["camera_angle_x"]))
    if "fl_y" not in d:
        d["fl_y"] = (0.5 * h / np.tan(0.5 * float(d["camera_angle_y"]))) if "camera_angle_y" in d else d["fl_x"]
    d.setdefault("cx", w / 2.0)
    d.setdefault("cy", h / 2.0)
    K, w, h = intrinsics_from_nerfstudio({**d, "w": w, "h": h})
    dist = np.array([d.get(k, 0.0) for k in ("k1", "k2", "p1", "p2", "k3")], dtype=np.float64)
    return K, (w, h), dist


def _import_transforms(ref: Path, images: Path | None, max_side):
    try:
        meta = json.loads(ref.read_text())
        frames = meta["frames"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise ValueError(f"{ref}: not a transforms.json ({exc})") from exc
    base = images or ref.parent
    views = []
    for fr in sorted(frames, key=lambda f: str(f["file_path"])):
        rel = str(fr["file_path"])
        path = _find_file(base, Path(rel).name if images else rel)
        probe = read_image_file(path)
        K, size, dist = frame_intrinsics(meta, fr, (probe.shape[1], probe.shape[0]))
        wfc = world_from_cam_from_nerfstudio_transform_matrix(np.array(fr["transform_matrix"], dtype=np.float64))
        views.append(_load_view(path, K, size, wfc, Path(rel).stem, dist, max_side))
    return views, None, {}


#: Files that list the images of ``poses_bounds.npy`` in row order (LLFF writes ``view_imgs.txt``).
LLFF_ORDER_FILES = ("image_names_pose_order.txt", "view_imgs.txt")


def llff_image_order(images: Path, ref_dir: Path, num_rows: int) -> list[Path]:
    """The image files of ``images`` in ``poses_bounds.npy`` row order.

    With an order file (:data:`LLFF_ORDER_FILES`) in ``ref_dir`` or ``images``, its names, matched
    by file name or by stem (``images_4`` holds PNGs of the full-size JPGs LLFF listed). Otherwise
    ``sorted()`` of the names LLFF saw: those of ``ref_dir/images`` when it holds the same stems
    (the downscaled folders may change the extension), else of ``images`` itself. Raises
    ValueError, saying what differs, when the count does not match ``num_rows``.
    """
    paths = list_images(images)
    for folder in (ref_dir, images):
        order_file = next((folder / f for f in LLFF_ORDER_FILES if (folder / f).is_file()), None)
        if order_file is not None:
            break
    if order_file is not None:
        listed = [ln.strip() for ln in order_file.read_text().splitlines() if ln.strip()]
        by_name = {p.name: p for p in paths}
        by_stem = {p.stem: p for p in paths}
        missing = [n for n in listed if n not in by_name and Path(n).stem not in by_stem]
        if missing:
            raise ValueError(f"{order_file}: {len(missing)} listed image(s) missing from {images} "
                             f"(first: {missing[0]})")
        ordered = [by_name.get(n) or by_stem[Path(n).stem] for n in listed]
        source = f"{order_file.name} lists {len(listed)} images"
    else:
        original = {}
        if (ref_dir / "images").is_dir() and (ref_dir / "images").resolve() != images.resolve():
            original = {p.stem: p.name for p in list_images(ref_dir / "images")}
            if set(original) != {p.stem for p in paths}:
                original = {}
        ordered = sorted(paths, key=lambda p: original.get(p.stem, p.name))
        source = f"{images} holds {len(paths)} images"
    if len(ordered) != num_rows:
        raise ValueError(f"{source} but poses_bounds.npy has {num_rows} rows: the rows cannot be "
                         f"matched to the images (LLFF rows follow sorted() of the image names)")
    return ordered


def check_llff_size(path: Path, size: tuple[int, int], row_size: tuple[float, float], row: int) -> None:
    """Refuse an image whose shape is not the row's (W, H) scaled by one factor (LLFF's
    downscaled folders keep the aspect ratio; a rotated or cropped image would get a wrong K)."""
    (w, h), (w0, h0) = size, row_size
    if abs(w / w0 - h / h0) > 0.01 * max(w / w0, h / h0) + 1.0 / min(w0, h0):
        raise ValueError(f"{path.name}: image is {w}x{h} but poses_bounds.npy row {row} says {w0:.0f}x{h0:.0f} "
                         f"(not the same shape at any scale): the images do not belong to these poses, "
                         f"or are rotated")


def _import_llff(ref: Path, images: Path | None, max_side):
    npy = ref if ref.suffix.lower() == ".npy" else ref / "poses_bounds.npy"
    rows = np.load(npy)
    cams = cameras_from_llff_rows(rows)
    if images is None:
        order = {"images": 0, "images_2": 1, "images_4": 2, "images_8": 3}
        folders = sorted((p for p in npy.parent.glob("images*") if p.is_dir()),
                         key=lambda p: (order.get(p.name, 9), p.name))
        if not folders:
            raise ValueError(f"{npy.parent}: no images, images_4 or images_8 folder")
        images = folders[0]
    paths = llff_image_order(images, npy.parent, len(cams.width))
    views, near_far = [], {}
    for i, path in enumerate(paths):
        w0, h0, f = cams.width[i], cams.height[i], cams.focal[i]
        rgb = read_image_file(path)
        check_llff_size(path, (rgb.shape[1], rgb.shape[0]), (w0, h0), i)
        K = np.array([[f, 0, w0 / 2.0], [0, f, h0 / 2.0], [0, 0, 1.0]])
        v = _load_view(path, K, (int(w0), int(h0)), cams.world_from_cam[i], path.stem, None, max_side, rgb)
        views.append(v)
        near_far[v.name] = (float(cams.near[i]), float(cams.far[i]))
    points = None
    pb = npy.parent / "sparse" / "0" / "points3D.bin"
    if pb.exists():
        points = read_points3d_bin(pb)
    return views, points, near_far
