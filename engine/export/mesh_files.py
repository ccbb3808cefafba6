"""Mesh files through trimesh: GLB (glTF 2.0), OBJ + MTL + PNG, PLY.

World frames: GLB is glTF's +Y-up world in meters and OBJ uses the same y-up frame (what
Blender's, Unity's and Unreal's OBJ importers assume), both through
:data:`engine.geometry.conventions.gltf_world_from_world`; PLY keeps the project world, so
it lines up with the point-cloud, splat and COLMAP exports. GLB and PLY carry vertex
colors (and GLB the texture when the mesh has one); OBJ always carries a texture atlas
(baked from the captured views, else from the vertex colors) as MTL + PNG.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.export.common import ExportError, write_file_atomic
from engine.export.mesh import MeshData
from engine.geometry import se3
from engine.geometry.conventions import gltf_world_from_world


def _trimesh(mesh: MeshData, world_from_project: np.ndarray | None, name: str = "mesh"):
    import trimesh
    from PIL import Image

    verts = mesh.vertices if world_from_project is None else se3.transform_points(world_from_project, mesh.vertices)
    if mesh.texture is not None and mesh.uv is not None:
        material = trimesh.visual.material.SimpleMaterial(
            image=Image.fromarray(mesh.texture), name=name, diffuse=(255, 255, 255, 255),
            ambient=(255, 255, 255, 255), specular=(0, 0, 0, 255))
        visual = trimesh.visual.TextureVisuals(uv=mesh.uv, material=material)
        return trimesh.Trimesh(verts, mesh.faces, visual=visual, process=False)
    rgba = np.concatenate([np.clip(mesh.colors * 255 + 0.5, 0, 255), np.full((len(verts), 1), 255)], 1)
    return trimesh.Trimesh(verts, mesh.faces, vertex_colors=rgba.astype(np.uint8), process=False)


def write_mesh_glb(path: str | Path, mesh: MeshData) -> Path:
    """GLB in glTF's y-up world (meters), vertex colors or texture."""
    return write_file_atomic(path, _trimesh(mesh, gltf_world_from_world).export(file_type="glb"))


def write_mesh_ply(path: str | Path, mesh: MeshData) -> Path:
    """Binary PLY in the project world with vertex colors (no texture)."""
    plain = MeshData(mesh.vertices, mesh.faces, mesh.colors)
    return write_file_atomic(path, _trimesh(plain, None).export(file_type="ply", encoding="binary"))


def write_mesh_obj(path: str | Path, mesh: MeshData) -> list[Path]:
    """``NAME.obj`` + ``NAME.mtl`` + the texture PNG, y-up world; the mesh must carry a texture
    (see :func:`engine.export.mesh_atlas.build_atlas`). The OBJ is written last, so no OBJ
    ever points at missing files; a failure removes what this call wrote."""
    from trimesh.exchange.obj import export_obj

    path = Path(path)
    if mesh.texture is None:
        raise ExportError("OBJ export needs a textured mesh (build_atlas)")
    text, extra = export_obj(_trimesh(mesh, gltf_world_from_world, path.stem), include_normals=False,
                             include_color=False, include_texture=True, return_texture=True,
                             write_texture=False, mtl_name=f"{path.stem}.mtl")
    written: list[Path] = []
    try:
        for name, data in extra.items():
            written.append(write_file_atomic(path.with_name(name), data))
        written.append(write_file_atomic(path, text.encode()))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return written


def read_mesh(path: str | Path, to_project_world: bool = False) -> MeshData:
    """Load a mesh file with trimesh (vertices [V,3], faces [F,3], vertex colors where present).
    ``to_project_world`` undoes the y-up conversion of GLB / OBJ files."""
    import trimesh

    loaded = trimesh.load(str(path), force="mesh", process=False)
    verts = np.asarray(loaded.vertices, np.float64)
    if to_project_world:
        verts = se3.transform_points(se3.invert(gltf_world_from_world), verts)
    colors = np.full((len(verts), 3), 0.7, np.float32)
    if getattr(loaded.visual, "kind", None) == "vertex":
        colors = np.asarray(loaded.visual.vertex_colors, np.float32)[:, :3] / 255.0
    return MeshData(verts, np.asarray(loaded.faces, np.int32), colors)
