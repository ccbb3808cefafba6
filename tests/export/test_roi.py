"""The scene frame's region of interest crops exports (points, meshes, splats); an empty one,
or asking for a crop without one, is a clear error with nothing written."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.export import ExportError, ExportOptions, export
from engine.export.mesh import MeshData, MeshOptions
from engine.export.points import memory_points, read_points_ply
from engine.export.roi import Roi, crop_mesh
from engine.geometry import se3
from engine.geometry.scene_frame import SceneFrame
from engine.project import Project


def _turned_box(center, half) -> tuple:
    """A box turned 30 degrees about the world y axis (the ROI is oriented, not axis-aligned)."""
    a = np.radians(30.0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return tuple(map(tuple, se3.make_transform(rot, np.asarray(center, float)))), tuple(half)


@pytest.fixture()
def roi_project(project_dir, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(project_dir, root)
    project = Project.load(root, device="cpu")
    xyz = memory_points(project.memory).xyz
    box, half = _turned_box(np.median(xyz, axis=0), (0.4, 0.4, 0.4))
    project.scene_frame = SceneFrame((0.0, -1.0, 0.0), box, half)
    project.save(root)
    return Project.load(root, device="cpu")


def _inside(project, xyz):
    f = project.scene_frame
    return Roi(np.asarray(f.roi_world_from_box), np.asarray(f.roi_half_extent)).contains(xyz)


def test_points_are_cropped_by_default_and_not_with_no_crop(roi_project, tmp_path):
    full = memory_points(roi_project.memory)
    expect = _inside(roi_project, full.xyz)
    assert 0 < expect.sum() < len(full) // 2                      # a real crop of this scene
    res = export(roi_project, "points-ply", tmp_path / "roi.ply")
    back = read_points_ply(tmp_path / "roi.ply")
    assert res.count == expect.sum() == len(back)
    assert res.notes == (f"cropped to the region of interest: kept {res.count} of {len(full)} (--no-crop keeps all)",)
    assert _inside(roi_project, back.xyz).all()
    np.testing.assert_allclose(np.sort(back.xyz[:, 0]), np.sort(full.xyz[expect, 0]))
    res = export(roi_project, "points-ply", tmp_path / "all.ply", ExportOptions(crop_to_roi=False))
    assert res.count == len(full)


def test_splats_are_cropped(roi_project, tmp_path):
    pytest.importorskip("gaussforge")
    full = memory_points(roi_project.memory)
    res = export(roi_project, "splat-glb", tmp_path / "roi.glb")
    assert res.count == _inside(roi_project, full.xyz).sum()
    assert any(n.startswith("cropped to the region of interest: kept ") for n in res.notes)
    from engine.export.splat_gltf import read_splat_glb
    assert _inside(roi_project, read_splat_glb(res.out).splats.means).all()


def test_mesh_crop_keeps_whole_faces_inside_and_compacts_vertices(roi_project, tmp_path):
    verts = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [2, 0, 0], [2, 0.1, 0]], float)
    mesh = MeshData(verts, np.array([[0, 1, 2], [1, 3, 4], [0, 2, 1]], np.int32), np.eye(5, 3, dtype=np.float32))
    roi = Roi(np.eye(4), np.array([0.5, 0.5, 0.5]))
    out = crop_mesh(mesh, roi)
    assert out.num_faces == 2 and len(out.vertices) == 3
    np.testing.assert_array_equal(out.vertices[out.faces], verts[mesh.faces[[0, 2]]])
    np.testing.assert_array_equal(out.colors, mesh.colors[:3])

    res = export(roi_project, "mesh-ply", tmp_path / "roi_mesh.ply",
                 ExportOptions(mesh=MeshOptions(method="tsdf", voxel_size=0.1, use_generated=False)))
    import trimesh
    m = trimesh.load(str(res.out), process=False)
    assert res.count == len(m.faces) > 0
    assert _inside(roi_project, np.asarray(m.vertices)).all()


def test_empty_or_missing_region_is_a_clear_error_and_writes_nothing(roi_project, project, tmp_path):
    box, half = _turned_box([50.0, 50.0, 50.0], (0.1, 0.1, 0.1))          # far from the scene
    roi_project.scene_frame = SceneFrame((0.0, -1.0, 0.0), box, half)
    for fmt in ("points-ply", "splat-ply", "mesh-ply"):
        with pytest.raises(ExportError, match="region of interest holds none"):
            export(roi_project, fmt, tmp_path / f"x_{fmt}.ply")
    roi_project.scene_frame = SceneFrame((0.0, -1.0, 0.0), box, (0.0, 0.1, 0.1))
    with pytest.raises(ExportError, match="region of interest is empty"):
        export(roi_project, "points-ply", tmp_path / "x_zero.ply")
    project.scene_frame = None
    with pytest.raises(ExportError, match="has no region of interest"):
        export(project, "points-ply", tmp_path / "x_none.ply", ExportOptions(crop_to_roi=True))
    assert not list(tmp_path.glob("x_*")) and not list(tmp_path.glob(".x_*"))


def test_cli_crop_flags(roi_project, tmp_path, capsys):
    import json

    from engine.cli import main
    n_all = len(memory_points(roi_project.memory))
    assert main(["export", str(roi_project.root), "-f", "points-ply", "-o", str(tmp_path / "a.ply"), "--no-crop", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["points"] == n_all
    assert main(["export", str(roi_project.root), "-f", "points-ply", "-o", str(tmp_path / "b.ply"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["points"] < n_all


def test_cli_generate_fuse_in_roi_needs_a_region(roi_project, project_dir, tmp_path, capsys):
    """``anyrecon generate --fuse-in-roi``: refused without a region (nothing generated), runs
    with one and keeps any point it fuses inside the box (tests/test_region.py checks the crop
    itself on a path that invents)."""
    from engine.cli import main

    bare = tmp_path / "bare"
    shutil.copytree(project_dir, bare)
    args = ["--preset", "orbit", "--frames", "4", "--segment-length", "2", "--name", "cropped", "--fuse-in-roi"]
    assert main(["generate", str(bare), *args]) == 2
    assert "no region of interest" in capsys.readouterr().err
    assert "cropped" not in Project.load(bare, device="cpu").trajectories
    assert main(["generate", str(roi_project.root), *args]) == 0
    back = Project.load(roi_project.root, device="cpu")
    new = {s.segment_id for s in back.segments if s.trajectory == "cropped"}
    snap = back.memory.snapshot()
    mine = snap.xyz[np.isin(snap.segment, list(new))]
    f = back.scene_frame
    grown = np.asarray(f.roi_half_extent) * (1 + 1e-4) + 1e-5            # float32 storage
    assert new and Roi(np.asarray(f.roi_world_from_box), grown).contains(mine).all()
