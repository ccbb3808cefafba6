"""Meshes from the project's depth maps (TSDF) or from the memory's oriented points (Poisson).

- **TSDF** (Open3D's sparse ``VoxelBlockGrid``): every captured view with a depth map (completed
  pixels only where verified: ``completed_min_confidence``) and every
  generated frame (its stored depth, invented pixels left out unless asked) is integrated;
  the zero crossing is extracted with marching cubes. Surfaces only appear where some depth
  map saw them, so nothing balloons over unobserved space.
- **Poisson** (Open3D screened Poisson) on the memory points that carry a normal, followed
  by the density cut: vertices whose Poisson density is in the lowest ``density_quantile``
  or that lie farther than ``max_distance_voxels`` from every input point are removed
  (Poisson closes the surface everywhere; the cut removes what no point supports).
- ``auto`` picks TSDF when depth maps exist and the memory is under ``tsdf_max_points``
  (TSDF cost grows with the surface area in voxels), else Poisson.

Vertex colors come from the integrated images (TSDF) or the point colors (Poisson); a
``target_faces`` budget is met by quadric decimation. Vertices are in the project world.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.export.common import ExportError
from engine.geometry import Camera
from engine.geometry.conventions import open3d_intrinsic_matrix_from_K

METHODS = ("auto", "tsdf", "poisson")


@dataclass(frozen=True, eq=False)
class MeshData:
    """A triangle mesh. vertices [V,3] float64 project world (m); faces [F,3] int32;
    colors [V,3] float32 in [0,1]; optional texture: uv [V,2] (OpenGL/OBJ convention,
    v up from the image bottom) and texture [T,T,3] uint8 RGB."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])


@dataclass(frozen=True)
class MeshOptions:
    """method auto|tsdf|poisson; voxel_size m (None = the memory's); target_faces (None =
    keep all); use_generated: integrate generated frames; use_invented: also their invented
    (hallucinated) pixels; Poisson: octree depth, density cut and support distance."""

    method: str = "auto"
    voxel_size: float | None = None
    sdf_trunc_voxels: float = 4.0
    target_faces: int | None = None
    use_generated: bool = True
    use_invented: bool = False
    tsdf_max_points: int = 3_000_000
    tsdf_block_count: int | None = None   # None: estimated from the memory's size
    tsdf_min_weight: float = 1.0          # observations a voxel needs (Open3D's default 3 drops
                                          # surfaces seen by fewer than 3 views)
    completed_min_confidence: float = 0.3  # a view's completed (filled, not matched) depth is
                                          # integrated only at this confidence or more (verified
                                          # against its neighbours; as the memory's fusion)
    poisson_depth: int = 9
    density_quantile: float = 0.03
    max_distance_voxels: float = 2.0
    min_component_faces: int = 20


@dataclass(frozen=True, eq=False)
class DepthFrame:
    """One depth map to integrate: camera, color [H,W,3] uint8, depth [H,W] float32 m (0 none)."""

    camera: Camera
    color: np.ndarray
    depth: np.ndarray


def _integrated_depth(view, completed_min_confidence: float) -> np.ndarray:
    """A captured view's depth [H,W] float32 m to integrate: 0 (left out) where it was
    completed with a confidence under ``completed_min_confidence`` (a guess: the edge-aware
    fill, a blank wall's plane) or is not finite."""
    depth = np.nan_to_num(view.depth, nan=0.0, posinf=0.0).astype(np.float32)
    if getattr(view, "completed", None) is None:
        return depth
    weak = np.asarray(view.completed, bool)
    if view.confidence is not None:
        weak = weak & (np.asarray(view.confidence) < completed_min_confidence)
    return np.where(weak, 0.0, depth).astype(np.float32)


def project_depth_frames(project, options: MeshOptions) -> list[DepthFrame]:
    """Captured views with depth, then (optionally) the stored generated frames."""
    from engine.project import read_image

    frames = [DepthFrame(v.camera, v.image, _integrated_depth(v, options.completed_min_confidence))
              for v in project.views if v.depth is not None]
    if not options.use_generated:
        return frames
    for png in project.generated_frame_paths():
        with np.load(png.with_suffix(".npz")) as z:
            depth = z["depth"].astype(np.float32)
            if not options.use_invented and "invented" in z:
                depth = np.where(z["invented"], 0.0, depth).astype(np.float32)
            color = read_image(png)
            cam = Camera(z["K"], color.shape[1], color.shape[0], z["world_from_cam"], png.stem)
        frames.append(DepthFrame(cam, color, depth))
    return frames


def _to_mesh_data(mesh) -> MeshData:
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.triangles, dtype=np.int32)
    c = np.asarray(mesh.vertex_colors, dtype=np.float32) if mesh.has_vertex_colors() else np.full((len(v), 3), 0.7, np.float32)
    return MeshData(v, f, np.clip(c, 0.0, 1.0))


def tsdf_mesh(frames: list[DepthFrame], voxel: float, options: MeshOptions, block_count: int = 20_000):
    """Open3D TriangleMesh from integrating ``frames`` in a sparse TSDF (Open3D's
    ``VoxelBlockGrid``; the legacy ``ScalableTSDFVolume`` of open3d 0.20 extracts nothing)."""
    import open3d as o3d
    import open3d.core as o3c

    if not frames:
        raise ExportError("no depth maps to integrate: the project has no captured depth or generated frames")
    trunc = float(options.sdf_trunc_voxels)
    vbg = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"), attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
        attr_channels=((1), (1), (3)), voxel_size=voxel, block_resolution=8,
        block_count=int(block_count), device=o3c.Device("CPU:0"))
    for fr in frames:
        K = o3c.Tensor(open3d_intrinsic_matrix_from_K(fr.camera.K), o3c.float64)
        cam_from_world = o3c.Tensor(fr.camera.cam_from_world, o3c.float64)
        depth_np = np.ascontiguousarray(np.nan_to_num(fr.depth, nan=0.0, posinf=0.0), dtype=np.float32)
        depth_max = float(depth_np.max()) + 1.0
        depth = o3d.t.geometry.Image(o3c.Tensor(depth_np))
        color = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(fr.color[..., :3], dtype=np.float32) / 255.0))
        blocks = vbg.compute_unique_block_coordinates(depth, K, cam_from_world, 1.0, depth_max,
                                                      trunc_voxel_multiplier=trunc)
        vbg.integrate(blocks, depth, color, K, K, cam_from_world, 1.0, depth_max, trunc_voxel_multiplier=trunc)
    return vbg.extract_triangle_mesh(weight_threshold=float(options.tsdf_min_weight)).to_legacy()


def poisson_mesh(cloud, voxel: float, options: MeshOptions):
    """Open3D TriangleMesh by screened Poisson on oriented points, with the density cut."""
    import open3d as o3d

    has_n = np.linalg.norm(cloud.normal, axis=1) > 0.5
    if has_n.sum() < 100:
        raise ExportError(f"Poisson needs oriented points; the memory has only {int(has_n.sum())} with normals")
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.xyz[has_n].astype(np.float64)))
    pcd.normals = o3d.utility.Vector3dVector(cloud.normal[has_n].astype(np.float64))
    pcd.colors = o3d.utility.Vector3dVector(cloud.rgb[has_n].astype(np.float64))
    mesh, dens = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pcd, depth=options.poisson_depth)
    dens = np.asarray(dens)
    verts = o3d.geometry.PointCloud(mesh.vertices)
    dist = np.asarray(verts.compute_point_cloud_distance(pcd))
    cut = (dens < np.quantile(dens, options.density_quantile)) | (dist > options.max_distance_voxels * voxel)
    mesh.remove_vertices_by_mask(cut)
    return mesh


def _clean(mesh, options: MeshOptions):
    mesh.remove_degenerate_triangles()
    mesh.remove_duplicated_triangles()
    mesh.remove_duplicated_vertices()
    mesh.remove_unreferenced_vertices()
    if options.min_component_faces > 0 and len(mesh.triangles):
        labels, counts, _ = mesh.cluster_connected_triangles()
        small = np.asarray(counts)[np.asarray(labels)] < options.min_component_faces
        mesh.remove_triangles_by_mask(small)
        mesh.remove_unreferenced_vertices()
    if options.target_faces and len(mesh.triangles) > options.target_faces:
        mesh = mesh.simplify_quadric_decimation(int(options.target_faces))
        mesh.remove_degenerate_triangles()
        mesh.remove_unreferenced_vertices()
    return mesh


def choose_method(project, options: MeshOptions) -> str:
    if options.method not in METHODS:
        raise ExportError(f"unknown mesh method {options.method!r}; choose one of {', '.join(METHODS)}")
    if options.method != "auto":
        return options.method
    has_depth = any(v.depth is not None for v in project.views) or bool(project.generated_frame_paths())
    small = project.memory is None or len(project.memory) <= options.tsdf_max_points
    return "tsdf" if has_depth and small else "poisson"


def build_mesh(project, options: MeshOptions = MeshOptions()) -> MeshData:
    """The project's mesh (see the module docstring)."""
    from engine.export.points import memory_points

    method = choose_method(project, options)
    mem = project.memory
    if mem is None or mem.is_empty:
        raise ExportError("the geometry memory is empty: nothing to mesh (track or import a scene first)")
    voxel = float(options.voxel_size or mem.voxel_size)
    if method == "tsdf":
        # surface blocks of 8^3 voxels: (surface area / block face) x a margin for the truncation band
        blocks = options.tsdf_block_count or int(max(4_000, 6 * len(mem) * (mem.voxel_size / voxel) ** 2 / 64))
        mesh = tsdf_mesh(project_depth_frames(project, options), voxel, options, blocks)
    else:
        mesh = poisson_mesh(memory_points(mem, "all" if options.use_generated else "captured"), voxel, options)
    mesh = _clean(mesh, options)
    if len(mesh.triangles) == 0:
        raise ExportError(f"the {method} mesh is empty (too little depth or too few oriented points)")
    return _to_mesh_data(mesh)
