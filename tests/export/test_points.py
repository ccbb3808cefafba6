"""Point-cloud PLY: own reader, open3d and trimesh read it with the right counts and values."""
import numpy as np
import pytest

from engine.export import ExportError, ExportOptions, export
from engine.ply import read_ply
from engine.export.points import read_points_ply


def test_points_ply_round_trip_with_three_readers(project, tmp_path):
    o3d = pytest.importorskip("open3d")
    trimesh = pytest.importorskip("trimesh")
    out = tmp_path / "cloud.ply"
    res = export(project, "points-ply", out)
    snap = project.memory.snapshot()
    assert res.count == len(snap) > 1000

    ply = read_ply(out)
    assert ply.format == "binary_little_endian"
    assert ply.property_names() == ["x", "y", "z", "nx", "ny", "nz", "red", "green", "blue",
                                    "confidence", "segment", "generated", "view"]
    back = read_points_ply(out)
    np.testing.assert_allclose(back.xyz, snap.xyz)
    np.testing.assert_allclose(back.normal, snap.normal)
    np.testing.assert_allclose(back.conf, snap.conf)
    np.testing.assert_array_equal(back.segment, snap.segment)
    np.testing.assert_array_equal(back.view, snap.view)
    assert np.abs(back.rgb - snap.rgb).max() <= 0.5 / 255 + 1e-6
    assert set(np.unique(ply.data["vertex"]["generated"])) == {0, 1}

    pcd = o3d.io.read_point_cloud(str(out))
    assert len(pcd.points) == len(snap) and pcd.has_colors() and pcd.has_normals()
    np.testing.assert_allclose(np.asarray(pcd.points), snap.xyz, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pcd.colors), back.rgb, atol=1e-6)
    tm = trimesh.load(str(out))
    assert len(tm.vertices) == len(snap)


def test_captured_and_generated_subsets_partition_the_memory(project, tmp_path):
    n_cap = export(project, "points-ply", tmp_path / "c.ply", ExportOptions(subset="captured")).count
    n_gen = export(project, "points-ply", tmp_path / "g.ply", ExportOptions(subset="generated")).count
    assert n_cap > 0 and n_gen > 0
    assert n_cap + n_gen == len(project.memory)
    assert (read_points_ply(tmp_path / "c.ply").segment == -1).all()
    assert (read_points_ply(tmp_path / "g.ply").segment >= 0).all()


def test_unknown_subset_is_a_clear_error(project, tmp_path):
    with pytest.raises(ExportError, match="subset"):
        export(project, "points-ply", tmp_path / "x.ply", ExportOptions(subset="weird"))
    assert not list(tmp_path.iterdir())
