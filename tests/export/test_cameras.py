"""Cameras and paths: COLMAP (read back by pycolmap), transforms.json (checked against an
independent reading of nerfstudio's documented convention), camera_path.json, the animated
GLB camera and Nuke .chan, frame by frame."""
import json

import numpy as np
import pytest

from engine.export import ExportOptions, export
from engine.export.colmap import read_colmap_model
from engine.export.gltf import read_glb
from engine.export.gltf_camera import read_camera_path_glb
from engine.export.mesh import MeshOptions
from engine.export.nuke_chan import read_chan
from engine.export.transforms import read_transforms
from engine.trajectory import read_camera_path

FLIP_YZ = np.diag([1.0, -1.0, -1.0])  # our y-down world -> a y-up world (glTF / Nuke), by hand


def _quat_xyzw_to_matrix(q):
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@pytest.mark.parametrize("binary", [True, False])
def test_colmap_model_read_by_pycolmap(project, tmp_path, binary):
    pycolmap = pytest.importorskip("pycolmap")
    out = tmp_path / "colmap"
    export(project, "colmap", out)
    model_dir = out / "sparse" / "0"
    if not binary:                       # read the text files alone
        for f in model_dir.glob("*.bin"):
            f.unlink()
    rec = pycolmap.Reconstruction(str(model_dir))
    assert rec.num_images() == len(project.views)
    assert rec.num_points3D() == len(project.memory)
    by_name = {img.name: img for img in rec.images.values()}
    for view in project.views:
        img = by_name[f"{view.name}.png"]
        assert (out / "images" / img.name).is_file()
        m = img.cam_from_world() if callable(img.cam_from_world) else img.cam_from_world
        np.testing.assert_allclose(m.matrix(), view.camera.cam_from_world[:3], atol=1e-6)
        cam = rec.cameras[img.camera_id]
        assert cam.model.name == "PINHOLE" and (cam.width, cam.height) == (view.camera.width, view.camera.height)
        K = view.camera.K
        np.testing.assert_allclose(cam.params, [K[0, 0], K[1, 1], K[0, 2], K[1, 2]], atol=1e-9)
    own = read_colmap_model(model_dir)
    np.testing.assert_allclose(own.world_from_cam(f"{project.views[2].name}.png"),
                               project.views[2].camera.world_from_cam, atol=1e-9)


def test_transforms_json_matches_nerfstudio_convention_independently(project, tmp_path):
    out = tmp_path / "ns"
    export(project, "transforms", out)
    data = json.loads((out / "transforms.json").read_text())
    assert data["camera_model"] == "PINHOLE" and len(data["frames"]) == len(project.views)
    assert (out / data["ply_file_path"]).is_file()
    for view, f in zip(project.views, data["frames"]):
        assert (out / f["file_path"]).is_file()
        c2w = np.array(f["transform_matrix"])
        fx, fy, cx, cy = (f.get(k, data.get(k)) for k in ("fl_x", "fl_y", "cx", "cy"))
        cam = view.camera
        assert (data["w"], data["h"]) == (cam.width, cam.height)
        # nerfstudio (cameras.py generate_rays): pixel (u, v) -> camera-space direction
        # ((u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -1), rotated by c2w, origin c2w[:3, 3]
        u = np.array([0, 17, 159, 80]); v = np.array([0, 44, 89, 3])
        d_ns = np.stack([(u + 0.5 - cx) / fx, -(v + 0.5 - cy) / fy, -np.ones(4)], 1) @ c2w[:3, :3].T
        d_ours = cam.pixel_rays()[v, u] @ cam.world_from_cam[:3, :3].T
        np.testing.assert_allclose(d_ns, d_ours, atol=1e-9)
        np.testing.assert_allclose(c2w[:3, 3], cam.center, atol=1e-12)
    back = read_transforms(out / "transforms.json")
    for cam, view in zip(back, project.views):
        np.testing.assert_allclose(cam.world_from_cam, view.camera.world_from_cam, atol=1e-12)
        np.testing.assert_allclose(cam.K, view.camera.K)


def test_camera_path_json_keeps_keyframes_fov_and_timing(project, tmp_path):
    traj = project.trajectories["main"]
    res = export(project, "camera-path", tmp_path / "path")
    assert res.out.name == "path.json"
    back = read_camera_path(res.out)
    np.testing.assert_allclose(back.times, traj.times)
    np.testing.assert_allclose([k.fov_y_deg for k in back.keyframes], [k.fov_y_deg for k in traj.keyframes])
    data = json.loads(res.out.read_text())
    cams = traj.sample()
    assert len(data["camera_path"]) == len(cams) and data["fps"] == traj.fps
    for cam, fr in zip(cams, data["camera_path"]):
        c2w = np.array(fr["camera_to_world"]).reshape(4, 4)      # OpenGL axes: looks down -z
        np.testing.assert_allclose(-c2w[:3, 2], cam.forward, atol=1e-9)
        np.testing.assert_allclose(c2w[:3, 3], cam.center, atol=1e-9)
        assert fr["fov"] == pytest.approx(cam.fov_y_deg)


def test_gltf_camera_node_matches_every_path_frame(project, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    traj = project.trajectories["main"]
    cams = traj.sample()
    opts = ExportOptions(with_mesh=True, mesh=MeshOptions(target_faces=2000))
    out = export(project, "gltf-camera", tmp_path / "path.glb", opts).out
    g = read_glb(out)
    anim = g.doc["animations"][0]
    samplers = {ch["target"].get("path"): anim["samplers"][ch["sampler"]] for ch in anim["channels"]}
    times = g.accessor(samplers["translation"]["input"])
    trans = g.accessor(samplers["translation"]["output"])
    rots = g.accessor(samplers["rotation"]["output"])
    fovs = np.degrees(g.accessor(samplers["pointer"]["output"]))
    np.testing.assert_allclose(times, np.arange(len(cams)) / traj.fps, atol=1e-6)
    for cam, t, q, fov in zip(cams, trans, rots, fovs):
        rot = _quat_xyzw_to_matrix(q.astype(np.float64))      # glTF camera: looks down -Z, +Y up
        np.testing.assert_allclose(FLIP_YZ @ t, cam.center, atol=1e-5)
        np.testing.assert_allclose(FLIP_YZ @ -rot[:, 2], cam.forward, atol=1e-5)
        np.testing.assert_allclose(FLIP_YZ @ rot[:, 1], -cam.world_from_cam[:3, 1], atol=1e-5)
        assert fov == pytest.approx(cam.fov_y_deg, abs=1e-4)
    back = read_camera_path_glb(out)
    np.testing.assert_allclose(back.world_from_cam, np.stack([c.world_from_cam for c in cams]), atol=1e-5)
    assert back.aspect == pytest.approx(cams[0].width / cams[0].height)
    scene = trimesh.load(str(out))                            # an independent reader of the mesh
    faces = sum(len(geom.faces) for geom in scene.geometry.values())
    assert faces == back.num_mesh_faces > 1000


def test_nuke_chan_matches_every_path_frame(project, tmp_path):
    cams = project.trajectories["main"].sample()
    out = export(project, "chan", tmp_path / "cam.chan").out
    rows = np.loadtxt(out)
    assert rows.shape == (len(cams), 8)
    np.testing.assert_array_equal(rows[:, 0], np.arange(1, len(cams) + 1))
    for cam, row in zip(cams, rows):
        rx, ry, rz = np.radians(row[4:7])
        Rx = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
        Ry = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
        Rz = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
        rot = Ry @ Rx @ Rz                                     # Nuke's ZXY order
        np.testing.assert_allclose(FLIP_YZ @ row[1:4], cam.center, atol=1e-8)
        np.testing.assert_allclose(FLIP_YZ @ -rot[:, 2], cam.forward, atol=1e-8)
        np.testing.assert_allclose(FLIP_YZ @ rot[:, 1], -cam.world_from_cam[:3, 1], atol=1e-8)
        assert row[7] == pytest.approx(cam.fov_y_deg, abs=1e-8)
    back = read_chan(out)
    np.testing.assert_allclose(back.world_from_cam, np.stack([c.world_from_cam for c in cams]), atol=1e-8)
