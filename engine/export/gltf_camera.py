"""A GLB holding the path camera, animated frame by frame (and optionally the mesh).

The camera node's TRS per frame is :func:`engine.geometry.conventions.gltf_node_matrix_from_world_from_cam`
of the path camera (glTF's +Y-up world, camera looking down -Z): ``translation`` and
``rotation`` (xyzw; consecutive quaternions kept on one hemisphere) are animated with
LINEAR samplers at ``frame / fps`` seconds. The camera is perspective with the first
frame's ``yfov`` (radians) and the path's aspect ratio; the per-frame vertical FOV is
animated through ``KHR_animation_pointer`` on ``/cameras/0/perspective/yfov`` (listed in
extensionsUsed, not required: viewers without it keep the first FOV) and also stored in
the node's ``extras.anyrecon_fov_y_deg``. The mesh, if given, is in the same y-up world.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.export.common import ExportError, write_file_atomic
from engine.export.gltf import (ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, UNSIGNED_INT, GltfBuilder,
                                read_glb)
from engine.export.mesh import MeshData
from engine.geometry import Camera, se3
from engine.geometry.conventions import (gltf_node_matrix_from_world_from_cam, gltf_world_from_world,
                                         world_from_cam_from_gltf_node_matrix)

POINTER_EXT = "KHR_animation_pointer"


def _trs(cameras: list[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """Node translations [N,3] and rotations [N,4] xyzw (hemisphere-continuous)."""
    m = gltf_node_matrix_from_world_from_cam(np.stack([c.world_from_cam for c in cameras]))
    q = se3.quat_from_matrix(m[:, :3, :3])                    # wxyz
    for i in range(1, len(q)):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    return m[:, :3, 3], q[:, [1, 2, 3, 0]]                    # glTF wants xyzw


def _add_mesh(b: GltfBuilder, mesh: MeshData) -> None:
    verts = se3.transform_points(gltf_world_from_world, mesh.vertices)
    attrs = {"POSITION": b.accessor(verts, target=ARRAY_BUFFER, min_max=True),
             "COLOR_0": b.accessor(np.clip(mesh.colors, 0, 1), target=ARRAY_BUFFER)}
    idx = b.accessor(mesh.faces.reshape(-1), UNSIGNED_INT, ELEMENT_ARRAY_BUFFER)
    mat = b.add("materials", {"name": "vertex_colors", "pbrMetallicRoughness": {
        "baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0, "roughnessFactor": 1.0}})
    m = b.add("meshes", {"name": "scene", "primitives": [{"attributes": attrs, "indices": idx, "material": mat}]})
    b.add_root_node({"name": "scene_mesh", "mesh": m})


def camera_path_glb_bytes(cameras: list[Camera], fps: float, mesh: MeshData | None = None,
                          name: str = "path_camera") -> bytes:
    """The GLB bytes (see the module docstring) of ``cameras`` played at ``fps``."""
    if not cameras:
        raise ExportError("the camera path has no frames")
    b = GltfBuilder()
    t, r = _trs(cameras)
    fov = np.array([c.fov_y_deg for c in cameras])
    cam0 = cameras[0]
    b.add("cameras", {"type": "perspective", "name": name, "perspective": {
        "yfov": float(np.radians(fov[0])), "aspectRatio": cam0.width / cam0.height, "znear": 0.01, "zfar": 1000.0}})
    node = b.add_root_node({"name": name, "camera": 0, "translation": t[0].tolist(), "rotation": r[0].tolist(),
                            "extras": {"anyrecon_fov_y_deg": fov.tolist(), "fps": float(fps),
                                       "width": cam0.width, "height": cam0.height}})
    times = b.accessor(np.arange(len(cameras)) / float(fps), min_max=True)
    samplers = [{"input": times, "output": b.accessor(v), "interpolation": "LINEAR"}
                for v in (t, r, np.radians(fov))]
    channels = [{"sampler": 0, "target": {"node": node, "path": "translation"}},
                {"sampler": 1, "target": {"node": node, "path": "rotation"}},
                {"sampler": 2, "target": {"path": "pointer", "extensions": {
                    POINTER_EXT: {"pointer": "/cameras/0/perspective/yfov"}}}}]
    b.use_extension(POINTER_EXT)
    b.add("animations", {"name": "camera_path", "samplers": samplers, "channels": channels})
    if mesh is not None:
        _add_mesh(b, mesh)
    return b.glb_bytes()


def write_camera_path_glb(path: str | Path, cameras: list[Camera], fps: float, mesh: MeshData | None = None) -> Path:
    return write_file_atomic(path, camera_path_glb_bytes(cameras, fps, mesh))


@dataclass(frozen=True)
class GltfCameraPath:
    """What a GLB says about its animated camera: times [N] s, world_from_cam [N,4,4]
    (project world, OpenCV axes), fov_y_deg [N] (from the yfov pointer animation), aspect,
    and the triangle count of any meshes."""

    times: np.ndarray
    world_from_cam: np.ndarray
    fov_y_deg: np.ndarray
    aspect: float
    num_mesh_faces: int


def read_camera_path_glb(path: str | Path) -> GltfCameraPath:
    """Read the animated camera of a GLB written by :func:`write_camera_path_glb`."""
    g = read_glb(path)
    doc = g.doc
    node = next(i for i, n in enumerate(doc["nodes"]) if "camera" in n)
    anim = doc["animations"][0]
    out, times = {}, None
    for ch in anim["channels"]:
        s = anim["samplers"][ch["sampler"]]
        tgt = ch["target"]
        key = tgt["path"] if tgt.get("node") == node else tgt.get("extensions", {}).get(POINTER_EXT, {}).get("pointer")
        out[key] = g.accessor(s["output"])
        times = g.accessor(s["input"])
    q_xyzw = out["rotation"]
    rot = se3.quat_to_matrix(q_xyzw[:, [3, 0, 1, 2]])          # back to wxyz
    node_m = se3.make_transform(rot, out["translation"])
    persp = doc["cameras"][doc["nodes"][node]["camera"]]["perspective"]
    yfov = out.get("/cameras/0/perspective/yfov", np.full(len(times), persp["yfov"]))
    faces = sum(doc["accessors"][p["indices"]]["count"] // 3 for m in doc.get("meshes", []) for p in m["primitives"])
    return GltfCameraPath(times, world_from_cam_from_gltf_node_matrix(node_m), np.degrees(yfov),
                          float(persp.get("aspectRatio", 0.0)), int(faces))
