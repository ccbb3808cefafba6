"""Camera paths from other tools: glTF / GLB animated cameras and Nuke ``.chan`` files.

- **glTF / GLB** (what Blender's glTF exporter writes, and ``anyrecon export --format
  gltf-camera``): the scene's camera node (the animated one when there are several) is
  evaluated at every key time of the animation channels that move it or its ancestors
  (LINEAR: lerp / slerp, STEP, CUBICSPLINE: Hermite), parents composed, scale dropped; the
  node matrix (glTF's +Y-up world, camera looking down -Z) becomes ``world_from_cam`` through
  :func:`engine.geometry.conventions.world_from_cam_from_gltf_node_matrix`. The vertical FOV
  per frame comes from a ``KHR_animation_pointer`` channel on ``/cameras/i/perspective/yfov``
  (Blender 4.x's animation-pointer export of the lens, and ours), else from our
  ``extras.anyrecon_fov_y_deg``, else the camera's static ``yfov``. Frame rate: ``extras.fps``
  or 1 / the median key spacing. Image size: ``extras.width/height``, else 640 wide at the
  camera's ``aspectRatio``.
- **Nuke .chan**: ``frame tx ty tz rx ry rz [vfov]`` per line (Nuke y-up world, rotation
  order ZXY in degrees, vertical FOV in degrees), through
  :func:`engine.geometry.conventions.world_from_cam_from_nuke_chan_row`. A .chan carries no
  frame rate (``fps`` argument, Nuke's default 24) and, without its 8th column, no FOV (Nuke's
  default camera: 50 mm on an 18.672 mm vertical aperture).

Each file becomes a :class:`Trajectory` with one keyframe per frame (time = frame index / fps),
so the path plays back the file's poses and focal lengths at its frames.
"""
from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.geometry import se3
from engine.geometry.conventions import (
    nuke_fov_from_focal_mm,
    world_from_cam_from_gltf_node_matrix,
    world_from_cam_from_nuke_chan_row,
)
from engine.trajectory.keyframes import Keyframe, Trajectory
from engine.trajectory.nerfstudio_path import CameraPathFormatError, read_camera_path

POINTER_EXT = "KHR_animation_pointer"
NUKE_DEFAULT_FPS = 24.0
DEFAULT_WIDTH = 640


@dataclass(frozen=True)
class ImportedCameraPath:
    """times [N] s (from 0, increasing); world_from_cam [N,4,4] OpenCV axes, project world;
    fov_y_deg [N]; fps; width, height pixels; source: the file."""

    times: np.ndarray
    world_from_cam: np.ndarray
    fov_y_deg: np.ndarray
    fps: float
    width: int
    height: int
    source: str

    def to_trajectory(self) -> Trajectory:
        """One keyframe per frame (see the module docstring)."""
        try:
            kfs = tuple(Keyframe(w, f, t) for w, f, t in zip(self.world_from_cam, self.fov_y_deg, self.times))
            return Trajectory(kfs, fps=self.fps, width=self.width, height=self.height)
        except (TypeError, ValueError) as exc:
            raise CameraPathFormatError(f"{self.source}: {exc}") from None


# ------------------------------------------------------------------------------ glTF
_COMPONENTS = {5120: ("<i1", 127.0), 5121: ("<u1", 255.0), 5122: ("<i2", 32767.0), 5123: ("<u2", 65535.0),
               5125: ("<u4", None), 5126: ("<f4", None)}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


class _Gltf:
    def __init__(self, path: Path):
        raw = path.read_bytes()
        self.path, self.bin = path, b""
        if raw[:4] == b"glTF":
            _, version, _length = struct.unpack_from("<III", raw)
            if version != 2:
                raise CameraPathFormatError(f"{path}: GLB version {version}, expected 2")
            pos, doc = 12, None
            while pos + 8 <= len(raw):
                length, kind = struct.unpack_from("<II", raw, pos)
                chunk = raw[pos + 8:pos + 8 + length]
                if kind == 0x4E4F534A:
                    doc = json.loads(chunk)
                elif kind == 0x004E4942:
                    self.bin = chunk
                pos += 8 + length
            if doc is None:
                raise CameraPathFormatError(f"{path}: the GLB has no JSON chunk")
        else:
            try:
                doc = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CameraPathFormatError(f"{path}: neither a GLB nor glTF JSON ({exc})") from None
        if not isinstance(doc, dict) or not str(doc.get("asset", {}).get("version", "")).startswith("2"):
            raise CameraPathFormatError(f"{path}: not a glTF 2.0 asset")
        self.doc = doc
        self._buffers: dict[int, bytes] = {}

    def buffer(self, i: int) -> bytes:
        if i not in self._buffers:
            uri = self.doc["buffers"][i].get("uri")
            if uri is None:
                data = self.bin
            elif uri.startswith("data:"):
                data = base64.b64decode(uri.split(",", 1)[1])
            else:
                data = (self.path.parent / uri).read_bytes()
            self._buffers[i] = data
        return self._buffers[i]

    def accessor(self, i: int) -> np.ndarray:
        acc = self.doc["accessors"][i]
        dtype, norm = _COMPONENTS[acc["componentType"]]
        width, count = _WIDTH[acc["type"]], acc["count"]
        view = self.doc["bufferViews"][acc["bufferView"]]
        buf = self.buffer(view["buffer"])
        itemsize = np.dtype(dtype).itemsize
        stride = view.get("byteStride") or itemsize * width
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        rows = np.ndarray((count, width), dtype, buf, start, (stride, itemsize)).astype(np.float64)
        if acc.get("normalized") and norm:
            rows = np.maximum(rows / norm, -1.0)
        return rows if width > 1 else rows[:, 0]


def _slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1, 1))
    s = np.sin(theta)
    small = s < 1e-8
    a = np.where(small, 1 - u, np.sin((1 - u) * theta) / np.where(small, 1, s))
    b = np.where(small, u, np.sin(u * theta) / np.where(small, 1, s))
    q = a * q0 + b * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _sample(g: _Gltf, sampler: dict, t: np.ndarray, rotation: bool) -> np.ndarray:
    """A sampler's value at times t [M] (clamped to its key range)."""
    keys = g.accessor(sampler["input"])
    out = g.accessor(sampler["output"])
    interp = sampler.get("interpolation", "LINEAR")
    out = out.reshape(len(keys) * (3 if interp == "CUBICSPLINE" else 1), -1)
    if interp == "CUBICSPLINE":
        a, v, b = out[0::3], out[1::3], out[2::3]
    else:
        v = out
    if len(keys) == 1:
        return np.repeat(v[:1], len(t), axis=0)
    tc = np.clip(t, keys[0], keys[-1])
    i = np.clip(np.searchsorted(keys, tc, side="right") - 1, 0, len(keys) - 2)
    dt = keys[i + 1] - keys[i]
    u = ((tc - keys[i]) / dt)[:, None]
    if interp == "STEP":
        res = np.where(u >= 1.0, v[i + 1], v[i])
    elif interp == "CUBICSPLINE":
        u2, u3 = u * u, u * u * u
        res = ((2 * u3 - 3 * u2 + 1) * v[i] + (u3 - 2 * u2 + u) * dt[:, None] * b[i]
               + (-2 * u3 + 3 * u2) * v[i + 1] + (u3 - u2) * dt[:, None] * a[i + 1])
    elif rotation:
        res = _slerp(v[i], v[i + 1], u)
    else:
        res = (1 - u) * v[i] + u * v[i + 1]
    if rotation:
        res = res / np.linalg.norm(res, axis=-1, keepdims=True)
    return res


def _node_trs(node: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if "matrix" in node:
        m = np.asarray(node["matrix"], np.float64).reshape(4, 4).T      # column-major in JSON
        scale = np.linalg.norm(m[:3, :3], axis=0)
        q = se3.quat_from_matrix(m[:3, :3] / scale)                      # wxyz
        return m[:3, 3].copy(), q[[1, 2, 3, 0]], scale
    return (np.asarray(node.get("translation", [0, 0, 0]), np.float64),
            np.asarray(node.get("rotation", [0, 0, 0, 1]), np.float64),
            np.asarray(node.get("scale", [1, 1, 1]), np.float64))


def _chain(doc: dict, node: int) -> list[int]:
    parent = {c: i for i, n in enumerate(doc.get("nodes", [])) for c in n.get("children", [])}
    chain = [node]
    while chain[-1] in parent:
        chain.append(parent[chain[-1]])
    return chain[::-1]                                                   # root first


def read_gltf_camera_path(path: str | os.PathLike) -> ImportedCameraPath:
    """The animated camera of a glTF / GLB file (see the module docstring)."""
    path = Path(path)
    g = _Gltf(path)
    doc = g.doc
    cams = [i for i, n in enumerate(doc.get("nodes", [])) if "camera" in n]
    if not cams:
        raise CameraPathFormatError(f"{path}: the file has no camera (no node with a 'camera'); in Blender, "
                                    "select the camera and tick Include > Cameras when exporting glTF")
    anims = doc.get("animations", [])

    def channels_for(node: int):
        chain = set(_chain(doc, node))
        return [(a, ch) for a in anims for ch in a.get("channels", [])
                if ch.get("target", {}).get("node") in chain
                and ch["target"].get("path") in ("translation", "rotation", "scale")]

    node = next((c for c in cams if channels_for(c)), cams[0])
    cam_index = doc["nodes"][node]["camera"]
    camera = doc["cameras"][cam_index]
    if camera.get("type") != "perspective":
        raise CameraPathFormatError(f"{path}: the camera is {camera.get('type')!r}; only perspective cameras make a path")
    persp = camera["perspective"]
    pointer = f"/cameras/{cam_index}/perspective/yfov"
    fov_channels = [(a, ch) for a in anims for ch in a.get("channels", [])
                    if ch.get("target", {}).get("extensions", {}).get(POINTER_EXT, {}).get("pointer") == pointer]
    moving = channels_for(node)
    keys = [g.accessor(a["samplers"][ch["sampler"]]["input"]) for a, ch in moving + fov_channels]
    times = np.unique(np.concatenate(keys)) if keys else np.zeros(1)
    extras = doc["nodes"][node].get("extras", {}) or {}

    world = np.tile(np.eye(4), (len(times), 1, 1))
    for n in _chain(doc, node):
        t, r, s = (np.tile(v, (len(times), 1)) for v in _node_trs(doc["nodes"][n]))
        for a, ch in moving:
            if ch["target"]["node"] == n:
                kind = ch["target"]["path"]
                val = _sample(g, a["samplers"][ch["sampler"]], times, kind == "rotation")
                t, r, s = (val if kind == "translation" else t, val if kind == "rotation" else r,
                           val if kind == "scale" else s)
        local = se3.make_transform(se3.quat_to_matrix(r[:, [3, 0, 1, 2]]), t)
        local[:, :3, :3] *= s[:, None, :]
        world = world @ local
    rot = world[:, :3, :3]
    u, _, vt = np.linalg.svd(rot)                                        # drop scale / shear
    world[:, :3, :3] = u @ vt

    if fov_channels:
        a, ch = fov_channels[0]
        fov = np.degrees(_sample(g, a["samplers"][ch["sampler"]], times, False)[:, 0])
    elif len(extras.get("anyrecon_fov_y_deg", [])) == len(times):
        fov = np.asarray(extras["anyrecon_fov_y_deg"], np.float64)
    else:
        fov = np.full(len(times), np.degrees(float(persp["yfov"])))
    fps = float(extras.get("fps") or (1.0 / np.median(np.diff(times)) if len(times) > 1 else NUKE_DEFAULT_FPS))
    aspect = float(persp.get("aspectRatio") or 16 / 9)
    width = int(extras.get("width") or DEFAULT_WIDTH)
    height = int(extras.get("height") or max(1, round(width / aspect)))
    return ImportedCameraPath(times - times[0], world_from_cam_from_gltf_node_matrix(world), fov, fps,
                              width, height, str(path))


# ------------------------------------------------------------------------------ Nuke
def read_chan_camera_path(path: str | os.PathLike, fps: float = NUKE_DEFAULT_FPS,
                          width: int = DEFAULT_WIDTH, height: int = 360) -> ImportedCameraPath:
    """A Nuke .chan file (see the module docstring); frames may start anywhere (times from 0)."""
    path = Path(path)
    try:
        rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        data = np.array(rows, dtype=np.float64)
    except (UnicodeDecodeError, ValueError):
        raise CameraPathFormatError(f"{path}: expected lines of numbers 'frame tx ty tz rx ry rz [vfov]'") from None
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] not in (7, 8):
        raise CameraPathFormatError(f"{path}: expected lines 'frame tx ty tz rx ry rz [vfov]' (7 or 8 columns)")
    frames = data[:, 0]
    if np.any(np.diff(frames) <= 0):
        raise CameraPathFormatError(f"{path}: frame numbers must increase")
    fov = data[:, 7] if data.shape[1] == 8 else np.full(len(data), float(nuke_fov_from_focal_mm(50.0)))
    return ImportedCameraPath((frames - frames[0]) / float(fps), world_from_cam_from_nuke_chan_row(data[:, 1:7]),
                              fov, float(fps), int(width), int(height), str(path))


# ------------------------------------------------------------------------------ dispatch
TRAJECTORY_SUFFIXES = (".json", ".glb", ".gltf", ".chan")


def read_trajectory_file(path: str | os.PathLike) -> Trajectory:
    """A camera path from any file the project reads: nerfstudio camera_path.json, glTF / GLB
    animated camera, Nuke .chan. CameraPathFormatError (a ValueError) with the file named on
    bad input."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise CameraPathFormatError(f"{path}: no such file")
    if suffix in (".glb", ".gltf"):
        try:
            return read_gltf_camera_path(path).to_trajectory()
        except (KeyError, IndexError, TypeError, struct.error) as exc:
            raise CameraPathFormatError(f"{path}: malformed glTF ({type(exc).__name__}: {exc})") from None
    if suffix == ".chan":
        return read_chan_camera_path(path).to_trajectory()
    if suffix == ".json":
        return read_camera_path(path)
    raise CameraPathFormatError(f"{path}: unknown camera path type {suffix!r}; use one of {', '.join(TRAJECTORY_SUFFIXES)}")
