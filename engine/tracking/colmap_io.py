"""Reading COLMAP models: through pycolmap (text or binary), plus a tiny points3D.bin reader
for incomplete models (e.g. LLFF's sparse/0 that ships without images.bin)."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.geometry import Camera
from engine.geometry.conventions import world_from_cam_from_colmap

#: COLMAP models whose distortion we remove with OpenCV (params after f/fx, fy, cx, cy).
_PINHOLE_LIKE = {"SIMPLE_PINHOLE", "PINHOLE"}
_SUPPORTED = _PINHOLE_LIKE | {"SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV"}


@dataclass
class SparsePoints:
    """Sparse 3D points: xyz [N,3] world, rgb [N,3] uint8, error [N] px, and per point the
    images that observed it (indices into the model's camera list; COLMAP image ids when
    read straight from ``points3D.bin``)."""

    xyz: np.ndarray
    rgb: np.ndarray
    error: np.ndarray
    tracks: list[np.ndarray]


def read_points3d_bin(path: str | Path) -> SparsePoints:
    """COLMAP ``points3D.bin`` -> :class:`SparsePoints` (no pycolmap needed)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    off = 8
    xyz = np.zeros((n, 3))
    rgb = np.zeros((n, 3), np.uint8)
    err = np.zeros(n)
    tracks = []
    for i in range(n):
        _, x, y, z, r, g, b, e, tl = struct.unpack_from("<QdddBBBdQ", data, off)
        off += 51
        xyz[i], rgb[i], err[i] = (x, y, z), (r, g, b), e
        tr = np.frombuffer(data, dtype="<i4", count=2 * tl, offset=off).reshape(-1, 2)
        tracks.append(tr[:, 0].copy())
        off += 8 * tl
    return SparsePoints(xyz, rgb, err, tracks)


def pinhole_and_distortion(model: str, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COLMAP camera model + params -> (K [3,3] pixels, OpenCV distortion coefficients [k1,k2,p1,p2,k3...])."""
    p = np.asarray(params, dtype=np.float64)
    if model not in _SUPPORTED:
        raise ValueError(f"COLMAP camera model {model} is not supported (use a pinhole-like model "
                         "or undistort with colmap image_undistorter first)")
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        f, cx, cy = p[:3]
        K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
        extra = p[3:]
        dist = np.zeros(5)
        dist[: len(extra)] = extra   # k1 (SIMPLE_RADIAL) or k1, k2 (RADIAL)
        return K, dist
    fx, fy, cx, cy = p[:4]
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    dist = np.zeros(8)
    extra = p[4:]                     # OPENCV: k1 k2 p1 p2; FULL_OPENCV: k1 k2 p1 p2 k3 k4 k5 k6
    dist[: len(extra)] = extra
    return K, dist


def undistort(image: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Remove lens distortion; the output is a pinhole image with the same K and size.
    K [3,3] pixels with COLMAP's corner-origin convention; OpenCV maps use pixel centers at
    integers, so the principal point is shifted by 0.5 for OpenCV and back."""
    if not np.any(np.abs(dist) > 0):
        return image
    Kcv = K.copy()
    Kcv[0, 2] -= 0.5
    Kcv[1, 2] -= 0.5
    return cv2.undistort(image, Kcv, dist, None, Kcv)


def rescale_K(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """K [3,3] for an image of (w, h) = from_size resized to to_size (corner-origin pixels)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    out = np.asarray(K, dtype=np.float64).copy()
    out[0] *= sx
    out[1] *= sy
    out[2] = [0, 0, 1]
    return out


@dataclass
class ColmapModel:
    """A COLMAP model read by pycolmap: per registered image its name, pinhole camera
    (``world_from_cam`` OpenCV axes, K of the model's image size) and distortion."""

    cameras: list[Camera]
    distortion: list[np.ndarray]
    points: SparsePoints


def read_colmap_model(path: str | Path) -> ColmapModel:
    """Read a COLMAP sparse model folder (text or binary) through pycolmap."""
    import pycolmap

    rec = pycolmap.Reconstruction(str(path))
    return colmap_model_from_reconstruction(rec)


def colmap_model_from_reconstruction(rec) -> ColmapModel:
    """pycolmap.Reconstruction -> :class:`ColmapModel` (images sorted by name)."""
    cams, dists = [], []
    image_ids = sorted(rec.reg_image_ids(), key=lambda i: rec.images[i].name)
    for iid in image_ids:
        img = rec.images[iid]
        cam = rec.cameras[img.camera_id]
        K, dist = pinhole_and_distortion(cam.model.name, cam.params)
        cfw = img.cam_from_world() if callable(img.cam_from_world) else img.cam_from_world
        xyzw = np.asarray(cfw.rotation.quat, dtype=np.float64)   # pycolmap quaternions are xyzw
        wxyz = np.array([xyzw[3], xyzw[0], xyzw[1], xyzw[2]])
        wfc = world_from_cam_from_colmap(wxyz, np.asarray(cfw.translation, dtype=np.float64))
        cams.append(Camera(K, cam.width, cam.height, wfc, name=img.name))
        dists.append(dist)
    pts = rec.points3D
    ids = list(pts.keys())
    xyz = np.array([pts[i].xyz for i in ids]).reshape(-1, 3)
    rgb = np.array([pts[i].color for i in ids], dtype=np.uint8).reshape(-1, 3)
    err = np.array([pts[i].error for i in ids])
    tracks = [np.array([e.image_id for e in pts[i].track.elements]) for i in ids]
    index_of = {iid: k for k, iid in enumerate(image_ids)}
    tracks = [np.array([index_of[t] for t in tr if t in index_of], dtype=np.int64) for tr in tracks]
    return ColmapModel(cams, dists, SparsePoints(xyz, rgb, err, tracks))
