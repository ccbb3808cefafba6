"""Meshes: TSDF and Poisson on the fixture, written as GLB / OBJ+MTL+PNG / PLY and read back
by open3d and trimesh with the right counts, in the right place, with the right colors."""
import importlib.util

import numpy as np
import pytest

from engine.export import ExportOptions, export
from engine.export.mesh import MeshOptions, build_mesh
from engine.export.mesh_atlas import build_atlas
from engine.export.mesh_files import read_mesh
from engine.geometry import se3
from engine.geometry.conventions import gltf_world_from_world

# skipped without them; found, not imported at collection (open3d pulls in its plotly viewer,
# ~2.6 s on every xdist worker): the functions that use them import them
if importlib.util.find_spec("open3d") is None or importlib.util.find_spec("trimesh") is None:
    pytest.skip("needs open3d and trimesh", allow_module_level=True)


def _distance_to_surface(points, scene, n=200_000):
    import open3d as o3d
    gt, _ = scene.sample_surface(n, seed=2)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(gt))
    q = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    return np.asarray(q.compute_point_cloud_distance(pcd))


CAPTURED_TSDF = MeshOptions(method="tsdf", target_faces=4000, use_generated=False)


@pytest.fixture(scope="module")
def tsdf_mesh(project_dir):
    from engine.project import Project

    # captured views only: the geometry checks below must not depend on the generator's quality
    return build_mesh(Project.load(project_dir, device="cpu"), CAPTURED_TSDF)


def test_tsdf_mesh_lies_on_the_surface_with_its_colors(tsdf_mesh, scene, project):
    import open3d as o3d
    assert 3000 <= tsdf_mesh.num_faces <= 4000
    # voxel 0.05 m; ground-truth samples are ~3 cm apart, so exact points score ~1.6 cm here
    d = _distance_to_surface(tsdf_mesh.vertices, scene)
    assert np.median(d) < 0.04 and np.quantile(d, 0.95) < 0.08
    full = build_mesh(project, MeshOptions(method="tsdf", use_generated=False))
    snap = project.memory.snapshot()
    snap_cap = snap.segment < 0
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(snap.xyz.astype(np.float64)))
    tree = o3d.geometry.KDTreeFlann(pcd)
    idx = [tree.search_knn_vector_3d(v, 1)[1][0] for v in full.vertices[::20]]
    near = snap_cap[idx]
    assert near.mean() > 0.9
    err = np.abs(snap.rgb[idx][near] - full.colors[::20][near]).mean()
    shuffled = np.abs(snap.rgb[idx][near] - np.random.default_rng(0).permutation(full.colors[::20][near])).mean()
    assert err < 0.07 and shuffled > 2 * err      # textured surfaces, 5 cm voxels


def test_tsdf_integrates_generated_frames_without_invented_pixels(project):
    from engine.export.mesh import project_depth_frames

    frames = project_depth_frames(project, MeshOptions())
    gen = project.generated_frame_paths()
    assert len(frames) == len(project.views) + len(gen)
    with np.load(gen[0].with_suffix(".npz")) as z:
        invented, depth = z["invented"], z["depth"]
    assert invented.any()
    np.testing.assert_array_equal(frames[len(project.views)].depth[invented], 0)
    np.testing.assert_array_equal(frames[len(project.views)].depth[~invented], depth[~invented])
    with_invented = project_depth_frames(project, MeshOptions(use_invented=True))
    np.testing.assert_array_equal(with_invented[len(project.views)].depth, depth)
    assert build_mesh(project, MeshOptions(method="tsdf")).num_faces > 0


def test_tsdf_integrates_completed_depth_only_where_verified(project):
    """A view's completed (not matched) depth goes into the TSDF only at
    ``completed_min_confidence`` or more; matched depth always; the view is left unchanged."""
    from types import SimpleNamespace

    from engine.export.mesh import project_depth_frames

    v = project.views[0]
    h, w = v.depth.shape
    completed = np.zeros((h, w), bool)
    completed[:, : w // 2] = True
    conf = np.where(np.arange(h)[:, None] < h // 2, 0.1, 0.6).repeat(w, 1).astype(np.float32)
    view = SimpleNamespace(camera=v.camera, image=v.image, depth=v.depth, confidence=conf, completed=completed)
    opts = MeshOptions(use_generated=False)
    depth = project_depth_frames(SimpleNamespace(views=[view]), opts)[0].depth
    weak = completed & (conf < opts.completed_min_confidence)
    assert weak.any() and (~weak & completed).any()
    np.testing.assert_array_equal(depth[weak], 0)
    np.testing.assert_array_equal(depth[~weak], np.nan_to_num(v.depth, posinf=0.0)[~weak])
    assert completed[:, : w // 2].all()


def test_poisson_density_cut_leaves_no_balloons(project, scene):
    import open3d as o3d
    mesh = build_mesh(project, MeshOptions(method="poisson", poisson_depth=7, target_faces=6000,
                                           use_generated=False))
    assert mesh.num_faces > 1000
    snap = project.memory.snapshot()
    snap = type(snap)(**{**snap.__dict__, "xyz": snap.xyz[snap.segment < 0]})
    pts = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(snap.xyz.astype(np.float64)))
    verts = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(mesh.vertices))
    support = np.asarray(verts.compute_point_cloud_distance(pts))
    assert support.max() < 4 * project.memory.voxel_size        # nothing far from any point
    assert np.median(_distance_to_surface(mesh.vertices, scene)) < 0.04


@pytest.mark.parametrize("fmt", ["mesh-glb", "mesh-obj", "mesh-ply"])
def test_mesh_export_reads_back_with_open3d_and_trimesh(project, tmp_path, fmt):
    import open3d as o3d
    import trimesh
    res = export(project, fmt, tmp_path / "scene", ExportOptions(mesh=CAPTURED_TSDF))
    assert 3000 <= res.count <= 4000
    tm = trimesh.load(str(res.out), force="mesh", process=False)
    om = o3d.io.read_triangle_mesh(str(res.out))
    assert len(tm.faces) == len(np.asarray(om.triangles)) == res.count
    if fmt == "mesh-obj":
        assert {p.suffix for p in res.files} == {".obj", ".mtl", ".png"}
        assert "map_Kd scene.png" in (tmp_path / "scene.mtl").read_text()
    else:
        assert om.has_vertex_colors()


@pytest.mark.parametrize("fmt", ["glb", "obj", "ply"])
def test_mesh_writers_keep_geometry_in_the_right_frame(project, tmp_path, tsdf_mesh, fmt):
    """The same MeshData through each writer: exact counts, positions and frames."""
    import open3d as o3d
    import trimesh
    from engine.export.mesh_files import write_mesh_glb, write_mesh_obj, write_mesh_ply

    out = tmp_path / f"scene.{fmt}"
    if fmt == "obj":
        write_mesh_obj(out, build_atlas(tsdf_mesh, list(project.views)))
    else:
        (write_mesh_glb if fmt == "glb" else write_mesh_ply)(out, tsdf_mesh)
    tm = trimesh.load(str(out), force="mesh", process=False)
    assert len(tm.faces) == tsdf_mesh.num_faces
    back = read_mesh(out, to_project_world=fmt != "ply")
    np.testing.assert_allclose(back.vertices.min(0), tsdf_mesh.vertices.min(0), atol=1e-5)
    np.testing.assert_allclose(back.vertices.max(0), tsdf_mesh.vertices.max(0), atol=1e-5)
    if fmt != "obj":
        assert len(tm.vertices) == len(tsdf_mesh.vertices)
        assert np.abs(back.colors - tsdf_mesh.colors).max() < 1 / 255 + 1e-6 or fmt == "glb"
    if fmt == "glb":   # +Y up: the floor (our y = +1.5, y down) is at glTF y = -1.5
        raw = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(tm.vertices, np.float64)))
        want = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(
            se3.transform_points(gltf_world_from_world, tsdf_mesh.vertices)))
        assert np.asarray(raw.compute_point_cloud_distance(want)).max() < 1e-5
        assert np.asarray(want.compute_point_cloud_distance(raw)).max() < 1e-5
        assert np.asarray(tm.vertices)[:, 1].min() == pytest.approx(-tsdf_mesh.vertices[:, 1].max(), abs=1e-5)


def test_texture_atlas_is_baked_from_the_captured_views(project, tsdf_mesh):
    views = [v for v in project.views if v.depth is not None]
    tex = build_atlas(tsdf_mesh, views)
    assert tex.texture.shape[0] == tex.texture.shape[1] and len(tex.uv) == 3 * tsdf_mesh.num_faces
    size = tex.texture.shape[0]
    view = views[2]
    cam = view.camera
    tri = tex.vertices[tex.faces]                         # [F,3,3]
    centroid = tri.mean(1)
    uv_c = tex.uv[tex.faces].mean(1)
    pix, z = cam.project(centroid)
    inside = (z > 0) & (pix[:, 0] > 1) & (pix[:, 0] < cam.width - 1) & (pix[:, 1] > 1) & (pix[:, 1] < cam.height - 1)
    col, row = pix[inside, 0].astype(int), pix[inside, 1].astype(int)
    visible = np.abs(view.depth[row, col] - z[inside]) < 0.02
    assert visible.sum() > 200
    x = (uv_c[inside][visible, 0] * size).astype(int)
    y = ((1 - uv_c[inside][visible, 1]) * size).astype(int)
    texel = tex.texture[y, x].astype(float)
    image = view.image[row[visible], col[visible]].astype(float)
    assert np.median(np.abs(texel - image).mean(1)) < 20          # 0-255 scale, 160x90 views
