"""Camera paths imported from glTF / GLB (Blender, our gltf-camera export) and Nuke .chan:
our exporter -> importer reproduces every frame's pose to 1e-5 and focal length to 1e-4."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from engine.export.gltf import GltfBuilder
from engine.export.gltf_camera import camera_path_glb_bytes
from engine.export.nuke_chan import chan_text
from engine.geometry import se3
from engine.geometry.conventions import gltf_node_matrix_from_world_from_cam
from engine.trajectory import (
    CameraPathFormatError,
    Keyframe,
    Trajectory,
    orbit,
    read_trajectory_file,
)

W, H = 160, 90


def _path() -> list:
    """An arc with changing FOV (a zoom) and a roll, 13 frames at 6 fps."""
    base = orbit(np.array([0.2, -0.1, 4.0]), 2.5, -0.5, num_keyframes=4, duration=2.0, arc_deg=80.0,
                 width=W, height=H, fps=6.0)
    roll = se3.make_transform(se3.quat_to_matrix(np.array([np.cos(0.1), 0, 0, np.sin(0.1)])), np.zeros(3))
    kfs = tuple(Keyframe(k.world_from_cam @ roll, f, k.time) for k, f in zip(base.keyframes, (40.0, 55.0, 30.0, 62.0)))
    return Trajectory(kfs, fps=6.0, width=W, height=H).sample()


def _focal_px(fov_deg, height=H):
    return 0.5 * height / np.tan(np.radians(fov_deg) / 2)


def _assert_same(traj: Trajectory, cams: list, check_size=True):
    assert len(traj.keyframes) == len(cams)
    got = traj.sample()
    assert len(got) == len(cams)
    for c, k, g in zip(cams, traj.keyframes, got):
        np.testing.assert_allclose(k.world_from_cam, c.world_from_cam, atol=1e-5)
        np.testing.assert_allclose(g.world_from_cam, c.world_from_cam, atol=1e-5)
        assert abs(k.fov_y_deg - c.fov_y_deg) < 1e-4
        assert abs(_focal_px(g.fov_y_deg) - c.K[1, 1] * H / c.height) < 1e-4 * c.K[1, 1]
    if check_size:
        assert (traj.width, traj.height) == (W, H)


def test_our_glb_round_trips_poses_focal_and_timing(tmp_path):
    cams = _path()
    path = tmp_path / "path.glb"
    path.write_bytes(camera_path_glb_bytes(cams, fps=6.0))
    traj = read_trajectory_file(path)
    _assert_same(traj, cams)
    assert traj.fps == 6.0
    np.testing.assert_allclose(traj.times, np.arange(len(cams)) / 6.0, atol=1e-6)


def _blender_like_gltf(cams, fps, tmp_path):
    """What Blender writes: a .gltf (JSON, base64 buffer), no extras, the camera under a parent
    with its own static transform, the lens animated through KHR_animation_pointer, STEP on
    translation keys every frame and LINEAR rotation."""
    parent = se3.make_transform(se3.quat_to_matrix(np.array([0.9, 0.1, -0.3, 0.2])), np.array([1.0, -2.0, 0.5]))
    node_m = np.linalg.inv(parent) @ gltf_node_matrix_from_world_from_cam(np.stack([c.world_from_cam for c in cams]))
    q = se3.quat_from_matrix(node_m[:, :3, :3])[:, [1, 2, 3, 0]]
    b = GltfBuilder()
    b.add("cameras", {"type": "perspective", "name": "Camera", "perspective": {
        "yfov": float(np.radians(cams[0].fov_y_deg)), "aspectRatio": W / H, "znear": 0.1, "zfar": 100.0}})
    b.add("nodes", {"name": "Camera", "camera": 0})
    pq = se3.quat_from_matrix(parent[:3, :3])
    b.add_root_node({"name": "Rig", "children": [0], "translation": parent[:3, 3].tolist(),
                     "rotation": [pq[1], pq[2], pq[3], pq[0]]})
    times = b.accessor(np.arange(len(cams)) / fps + 1.0, min_max=True)          # Blender starts at frame 1
    fov = np.radians([c.fov_y_deg for c in cams])
    b.add("animations", {"name": "CameraAction", "samplers": [
        {"input": times, "output": b.accessor(node_m[:, :3, 3]), "interpolation": "STEP"},
        {"input": times, "output": b.accessor(q), "interpolation": "LINEAR"},
        {"input": times, "output": b.accessor(fov), "interpolation": "LINEAR"}], "channels": [
        {"sampler": 0, "target": {"node": 0, "path": "translation"}},
        {"sampler": 1, "target": {"node": 0, "path": "rotation"}},
        {"sampler": 2, "target": {"path": "pointer", "extensions": {
            "KHR_animation_pointer": {"pointer": "/cameras/0/perspective/yfov"}}}}]})
    doc = b.doc
    doc["buffers"] = [{"byteLength": len(b.blob), "uri": "data:application/octet-stream;base64,"
                       + base64.b64encode(bytes(b.blob)).decode()}]
    path = tmp_path / "blender.gltf"
    path.write_text(json.dumps(doc))
    return path


def test_blender_like_gltf_with_parent_and_pointer_fov(tmp_path):
    cams = _path()
    traj = read_trajectory_file(_blender_like_gltf(cams, 24.0, tmp_path))
    assert abs(traj.fps - 24.0) < 1e-3 and traj.times[0] == 0.0
    assert traj.width == 640 and traj.height == round(640 / (W / H))          # no extras: 640 wide at the aspect
    _assert_same(traj, cams, check_size=False)


def test_nuke_chan_round_trips_poses_and_focal(tmp_path):
    cams = _path()
    path = tmp_path / "path.chan"
    path.write_text(chan_text(cams, first_frame=1001))
    traj = read_trajectory_file(path)
    assert traj.fps == 24.0                                                   # .chan has no rate: Nuke's default
    assert len(traj.keyframes) == len(cams)
    for c, k in zip(cams, traj.keyframes):
        np.testing.assert_allclose(k.world_from_cam, c.world_from_cam, atol=1e-5)
        assert abs(k.fov_y_deg - c.fov_y_deg) < 1e-4


def test_bad_inputs_are_clear(tmp_path):
    b = GltfBuilder()
    b.add_root_node({"name": "just_a_node"})
    nocam = tmp_path / "mesh_only.glb"
    nocam.write_bytes(b.glb_bytes())
    with pytest.raises(CameraPathFormatError, match="mesh_only.glb: the file has no camera"):
        read_trajectory_file(nocam)
    (tmp_path / "junk.glb").write_bytes(b"not a glb at all")
    with pytest.raises(CameraPathFormatError, match="junk.glb"):
        read_trajectory_file(tmp_path / "junk.glb")
    (tmp_path / "bad.chan").write_text("1 0 0 0 0 0\n")
    with pytest.raises(CameraPathFormatError, match="7 or 8 columns"):
        read_trajectory_file(tmp_path / "bad.chan")
    (tmp_path / "path.abc").write_text("")
    with pytest.raises(CameraPathFormatError, match="unknown camera path type"):
        read_trajectory_file(tmp_path / "path.abc")


def test_generate_cli_reads_glb_and_chan_paths(tmp_path):
    from argparse import Namespace

    from engine.cli.generate import _trajectory
    cams = _path()
    (tmp_path / "shot.glb").write_bytes(camera_path_glb_bytes(cams, fps=6.0))
    (tmp_path / "shot.chan").write_text(chan_text(cams))
    for name in ("shot.glb", "shot.chan"):
        got_name, traj = _trajectory(Namespace(trajectory=tmp_path / name, name=None, preset=None, frames=None), None)
        assert got_name == "shot" and len(traj.keyframes) == len(cams)
    b = GltfBuilder()
    b.add_root_node({"name": "no_camera"})
    (tmp_path / "nocam.glb").write_bytes(b.glb_bytes())
    with pytest.raises(ValueError, match="nocam.glb: the file has no camera"):
        _trajectory(Namespace(trajectory=tmp_path / "nocam.glb", name=None, preset=None, frames=None), None)


def _bpy_python():
    import importlib.util
    import os
    import sys
    env = os.environ.get("ANYRECON_BPY_PYTHON")
    return env or (sys.executable if importlib.util.find_spec("bpy") is not None else None)


@pytest.mark.skipif(_bpy_python() is None, reason="bpy not installed (set ANYRECON_BPY_PYTHON)")
def test_round_trip_through_blenders_own_gltf_exporter(tmp_path):
    """Our GLB -> Blender's importer -> Blender's exporter -> our importer: the same frames."""
    import subprocess
    from pathlib import Path
    cams = _path()
    src, dst = tmp_path / "ours.glb", tmp_path / "blender.glb"
    src.write_bytes(camera_path_glb_bytes(cams, fps=6.0))
    script = Path(__file__).parents[1] / "export" / "blender_roundtrip.py"
    r = subprocess.run([_bpy_python(), str(script), str(src), str(dst), "6", str(len(cams))], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path, check=False)
    assert r.returncode == 0 and dst.exists(), r.stdout[-2000:] + r.stderr[-2000:]
    traj = read_trajectory_file(dst)
    assert abs(traj.fps - 6.0) < 1e-3
    _assert_same(traj, cams, check_size=False)
