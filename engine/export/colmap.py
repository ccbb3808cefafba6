"""COLMAP sparse models (text and binary) for a list of cameras and their exported images.

Layout written by :func:`write_colmap_model` into a model folder (e.g. ``sparse/0``):
``cameras``, ``images`` and ``points3D`` as ``.txt`` and/or ``.bin``, byte-compatible with
COLMAP's ``read_write_model.py``. Cameras are ``PINHOLE`` (fx fy cx cy, pixels, COLMAP's
pixel-center convention = ours), one per distinct intrinsics; images carry COLMAP's
``cam_from_world`` (qvec wxyz, tvec) from :func:`engine.geometry.conventions.colmap_from_world_from_cam`;
an image ``NAME`` is relative to the images folder. Points have empty tracks (the memory
has no 2D feature observations).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.export.common import check_cameras, write_file_atomic
from engine.geometry import Camera
from engine.geometry.conventions import colmap_from_world_from_cam, world_from_cam_from_colmap

PINHOLE_MODEL_ID = 1


@dataclass(frozen=True)
class ColmapModel:
    """A parsed model. cameras: id -> (model name, width, height, params [P]);
    images: list of (image_id, qvec_wxyz [4], tvec [3], camera_id, name) in file order;
    points_xyz [M,3] world; points_rgb [M,3] uint8."""

    cameras: dict
    images: list
    points_xyz: np.ndarray
    points_rgb: np.ndarray

    def world_from_cam(self, name: str) -> np.ndarray:
        for _, q, t, _, n in self.images:
            if n == name:
                return world_from_cam_from_colmap(q, t)
        raise KeyError(name)


def _camera_table(cameras: list[Camera]) -> tuple[list[tuple], list[int]]:
    """Distinct PINHOLE cameras [(id, w, h, fx, fy, cx, cy)] and each image's camera id."""
    table, ids = {}, []
    for cam in cameras:
        key = (cam.width, cam.height, *(float(v) for v in (cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2])))
        if key not in table:
            table[key] = len(table) + 1
        ids.append(table[key])
    return [(i, *k) for k, i in table.items()], ids


def _text_files(cam_rows, cam_ids, cameras, names, xyz, rgb) -> dict[str, str]:
    cams = ["# Camera list with one line of data per camera:",
            "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]", f"# Number of cameras: {len(cam_rows)}"]
    cams += [f"{i} PINHOLE {w} {h} {fx!r} {fy!r} {cx!r} {cy!r}" for i, w, h, fx, fy, cx, cy in cam_rows]
    imgs = ["# Image list with two lines of data per image:",
            "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
            "#   POINTS2D[] as (X, Y, POINT3D_ID)", f"# Number of images: {len(cameras)}, mean observations per image: 0"]
    for k, (cam, name) in enumerate(zip(cameras, names)):
        q, t = colmap_from_world_from_cam(cam.world_from_cam)
        vals = " ".join(repr(float(v)) for v in (*q, *t))
        imgs += [f"{k + 1} {vals} {cam_ids[k]} {name}", ""]
    pts = ["# 3D point list with one line of data per point:",
           "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
           f"# Number of points: {len(xyz)}, mean track length: 0"]
    pts += [f"{j + 1} {p[0]!r} {p[1]!r} {p[2]!r} {c[0]} {c[1]} {c[2]} 0" for j, (p, c) in
            enumerate(zip(xyz.astype(np.float64).tolist(), rgb.tolist()))]
    return {"cameras.txt": "\n".join(cams) + "\n", "images.txt": "\n".join(imgs) + "\n",
            "points3D.txt": "\n".join(pts) + "\n"}


def _binary_files(cam_rows, cam_ids, cameras, names, xyz, rgb) -> dict[str, bytes]:
    cams = [struct.pack("<Q", len(cam_rows))]
    cams += [struct.pack("<iiQQdddd", i, PINHOLE_MODEL_ID, w, h, fx, fy, cx, cy)
             for i, w, h, fx, fy, cx, cy in cam_rows]
    imgs = [struct.pack("<Q", len(cameras))]
    for k, (cam, name) in enumerate(zip(cameras, names)):
        q, t = colmap_from_world_from_cam(cam.world_from_cam)
        imgs.append(struct.pack("<idddddddi", k + 1, *q, *t, cam_ids[k]) + name.encode() + b"\x00"
                    + struct.pack("<Q", 0))
    rec = np.empty(len(xyz), dtype=[("id", "<u8"), ("xyz", "<f8", (3,)), ("rgb", "u1", (3,)),
                                    ("err", "<f8"), ("track", "<u8")])
    rec["id"] = np.arange(1, len(xyz) + 1)
    rec["xyz"], rec["rgb"], rec["err"], rec["track"] = xyz, rgb, 0.0, 0
    return {"cameras.bin": b"".join(cams), "images.bin": b"".join(imgs),
            "points3D.bin": struct.pack("<Q", len(xyz)) + rec.tobytes()}


def write_colmap_model(folder: str | Path, cameras: list[Camera], image_names: list[str],
                       points_xyz: np.ndarray | None = None, points_rgb: np.ndarray | None = None,
                       text: bool = True, binary: bool = True) -> list[Path]:
    """Write a COLMAP model of ``cameras`` (named ``image_names``) and optional points
    [M,3] world with colors [M,3] uint8 into ``folder``; returns the files written."""
    folder = Path(folder)
    if len(cameras) != len(image_names) or not cameras:
        raise ValueError("need one image name per camera and at least one camera")
    check_cameras(cameras, f"COLMAP model {folder}")
    xyz = np.zeros((0, 3)) if points_xyz is None else np.asarray(points_xyz, np.float64).reshape(-1, 3)
    rgb = np.zeros((len(xyz), 3), np.uint8) if points_rgb is None else np.asarray(points_rgb, np.uint8)
    finite = np.all(np.isfinite(xyz), axis=1)
    if not finite.all():                        # a point without a position is no point
        xyz, rgb = xyz[finite], rgb[finite]
    cam_rows, cam_ids = _camera_table(cameras)
    files = {}
    if text:
        files.update({k: v.encode() for k, v in _text_files(cam_rows, cam_ids, cameras, image_names, xyz, rgb).items()})
    if binary:
        files.update(_binary_files(cam_rows, cam_ids, cameras, image_names, xyz, rgb))
    return [write_file_atomic(folder / name, data) for name, data in files.items()]


# ------------------------------------------------------------------------------ reading
def _read_text(folder: Path) -> ColmapModel:
    def rows(name):
        return [l for l in (folder / name).read_text().splitlines() if l.strip() and not l.startswith("#")]

    cameras = {int(p[0]): (p[1], int(p[2]), int(p[3]), np.array(p[4:], float))
               for p in (l.split() for l in rows("cameras.txt"))}
    lines = [l for l in (folder / "images.txt").read_text().splitlines() if not l.startswith("#")]
    images = []
    for head in lines[0::2]:
        if not head.strip():
            continue
        p = head.split(maxsplit=9)
        images.append((int(p[0]), np.array(p[1:5], float), np.array(p[5:8], float), int(p[8]), p[9]))
    pts = [l.split() for l in rows("points3D.txt")]
    xyz = np.array([p[1:4] for p in pts], float).reshape(-1, 3)
    rgb = np.array([p[4:7] for p in pts], np.uint8).reshape(-1, 3)
    return ColmapModel(cameras, images, xyz, rgb)


def _read_binary(folder: Path) -> ColmapModel:
    raw = (folder / "cameras.bin").read_bytes()
    cameras, pos = {}, 8
    for _ in range(struct.unpack_from("<Q", raw)[0]):
        cid, model, w, h = struct.unpack_from("<iiQQ", raw, pos)
        if model != PINHOLE_MODEL_ID:
            raise ValueError(f"{folder / 'cameras.bin'}: camera model {model} is not PINHOLE")
        cameras[cid] = ("PINHOLE", w, h, np.array(struct.unpack_from("<dddd", raw, pos + 24)))
        pos += 24 + 32
    raw = (folder / "images.bin").read_bytes()
    images, pos = [], 8
    for _ in range(struct.unpack_from("<Q", raw)[0]):
        vals = struct.unpack_from("<idddddddi", raw, pos)
        pos += 64
        end = raw.index(b"\x00", pos)
        name = raw[pos:end].decode()
        n2d = struct.unpack_from("<Q", raw, end + 1)[0]
        pos = end + 9 + 24 * n2d
        images.append((vals[0], np.array(vals[1:5]), np.array(vals[5:8]), vals[8], name))
    raw = (folder / "points3D.bin").read_bytes()
    xyz, rgb, pos = [], [], 8
    for _ in range(struct.unpack_from("<Q", raw)[0]):
        p = struct.unpack_from("<QdddBBBd", raw, pos)
        track = struct.unpack_from("<Q", raw, pos + 43)[0]
        xyz.append(p[1:4])
        rgb.append(p[4:7])
        pos += 51 + 8 * track
    return ColmapModel(cameras, images, np.array(xyz, float).reshape(-1, 3), np.array(rgb, np.uint8).reshape(-1, 3))


def read_colmap_model(folder: str | Path, binary: bool | None = None) -> ColmapModel:
    """Read a model folder (binary when ``cameras.bin`` exists unless ``binary`` says otherwise)."""
    folder = Path(folder)
    use_bin = (folder / "cameras.bin").exists() if binary is None else binary
    return _read_binary(folder) if use_bin else _read_text(folder)
