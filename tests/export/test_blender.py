"""Blender check: Blender's own glTF importer puts the animated path camera and the mesh
where the studio shows them.

Needs ``bpy`` (Blender as a Python module, ``pip install bpy``; ~370 MB, Python 3.11, and it
pins numpy < 2 so it usually lives in a separate environment). The test runs
``blender_check.py`` in a subprocess with the interpreter named by ``ANYRECON_BPY_PYTHON``,
or with this one when ``bpy`` imports here; otherwise it skips.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.export import ExportOptions, export
from engine.export.mesh import MeshOptions, build_mesh

#: our y-down world -> Blender's z-up world, written out by hand: (x, y, z) -> (x, z, -y)
BLENDER_FROM_OURS = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


def _bpy_python() -> str | None:
    env = os.environ.get("ANYRECON_BPY_PYTHON")
    if env:
        return env
    return sys.executable if importlib.util.find_spec("bpy") is not None else None


@pytest.mark.skipif(_bpy_python() is None, reason="bpy not installed (set ANYRECON_BPY_PYTHON)")
def test_blender_imports_camera_path_and_mesh_where_the_studio_shows_them(project, tmp_path):
    traj = project.trajectories["main"]
    cams = traj.sample()
    opts = ExportOptions(with_mesh=True, mesh=MeshOptions(method="tsdf", target_faces=2000))
    glb = export(project, "gltf-camera", tmp_path / "path.glb", opts).out
    out = tmp_path / "blender.json"
    script = Path(__file__).with_name("blender_check.py")
    subprocess.run([_bpy_python(), str(script), str(glb), str(out), str(int(traj.fps)), str(len(cams))],
                   check=True, capture_output=True, timeout=300, cwd=tmp_path)
    info = json.loads(out.read_text())
    by_frame = {f["frame"]: f for f in info["frames"]}
    for i, cam in enumerate(cams):              # Blender puts glTF time t at frame t * fps
        m = np.array(by_frame[i]["matrix_world"])
        np.testing.assert_allclose(m[:3, 3], BLENDER_FROM_OURS @ cam.center, atol=1e-4)
        np.testing.assert_allclose(-m[:3, 2], BLENDER_FROM_OURS @ cam.forward, atol=1e-4)   # looks down -Z
        np.testing.assert_allclose(m[:3, 1], BLENDER_FROM_OURS @ -cam.world_from_cam[:3, 1], atol=1e-4)
        assert np.degrees(by_frame[i]["angle_y"]) == pytest.approx(cam.fov_y_deg, abs=1e-3)
    mesh = build_mesh(project, opts.mesh)
    verts = mesh.vertices @ BLENDER_FROM_OURS.T
    (bounds,) = info["meshes"]
    assert bounds["faces"] == mesh.num_faces
    np.testing.assert_allclose(bounds["min"], verts.min(0), atol=1e-4)
    np.testing.assert_allclose(bounds["max"], verts.max(0), atol=1e-4)
