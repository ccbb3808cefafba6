"""The splat exporters (splat-ply, splat): Gaussians initialised from the project's memory."""
import numpy as np
import pytest

from engine.export import export
from engine.splat.files import read_splat_ply
from engine.splat.model import splats_from_memory


def test_splats_from_memory_and_export(project, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    mem = project.memory
    s = splats_from_memory(mem)
    snap = mem.snapshot()
    assert len(s) == len(snap)
    np.testing.assert_allclose(s.means, snap.xyz)
    np.testing.assert_allclose(s.colors, snap.rgb, atol=1e-5)
    scales = np.exp(s.log_scales)
    assert (scales <= 3 * mem.voxel_size + 1e-6).all() and (scales[:, :2] >= 0.25 * mem.voxel_size - 1e-6).all()
    assert 0.5 * mem.voxel_size < np.median(scales[:, 0]) < 2 * mem.voxel_size   # ~ the point spacing
    hi, lo = np.argmax(snap.conf), np.argmin(snap.conf)
    assert s.opacities[hi] > s.opacities[lo]
    # the flat axis (local z) of each Gaussian is its point's normal
    from engine.geometry import se3
    has_n = np.linalg.norm(snap.normal, axis=1) > 0.5
    z = se3.quat_to_matrix(s.quats[has_n].astype(np.float64))[:, :, 2]
    np.testing.assert_allclose(np.abs(np.sum(z * snap.normal[has_n], 1)), 1.0, atol=1e-4)

    res = export(project, "splat-ply", tmp_path / "scene.ply")
    assert res.count == len(s)
    assert len(trimesh.load(str(tmp_path / "scene.ply")).vertices) == len(s)
    back = read_splat_ply(tmp_path / "scene.ply")
    np.testing.assert_allclose(back.means, s.means)
    res = export(project, "splat", tmp_path / "scene")
    assert res.out.suffix == ".splat" and res.out.stat().st_size == 32 * len(s)
