"""Pose import: COLMAP text models, transforms.json, LLFF rows, --holdout."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from engine.geometry.conventions import (colmap_from_world_from_cam, intrinsics_to_nerfstudio,
                                         llff_rows_from_cameras, nerfstudio_transform_matrix_from_world_from_cam)
from engine.tracking.import_poses import detect_reference, import_poses
from tests.conftest import make_capture


@pytest.fixture(scope="module")
def cap():
    return make_capture(n=6, width=160, height=90)


def _write_images(folder, cap, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for v in cap.views:
        cv2.imwrite(str(folder / f"{v.name}{ext}"), cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))


def _same_poses(scene, cap, holdout_names=()):
    got = {v.name: v.camera for v in list(scene.views) + list(scene.holdout)}
    for cam in cap.cameras:
        np.testing.assert_allclose(got[cam.name].world_from_cam, cam.world_from_cam, atol=1e-6)
        np.testing.assert_allclose(got[cam.name].K, cam.K, atol=1e-6)
    assert [v.name for v in scene.holdout] == list(holdout_names)


def test_colmap_text_model_round_trip(tmp_path, cap):
    model = tmp_path / "sparse" / "0"
    model.mkdir(parents=True)
    K = cap.cameras[0].K
    (model / "cameras.txt").write_text(f"1 PINHOLE 160 90 {K[0,0]} {K[1,1]} {K[0,2]} {K[1,2]}\n")
    lines = []
    for i, cam in enumerate(cap.cameras):
        q, t = colmap_from_world_from_cam(cam.world_from_cam)
        lines.append(f"{i + 1} {' '.join(map(str, q))} {' '.join(map(str, t))} 1 {cam.name}.png\n\n")
    (model / "images.txt").write_text("".join(lines))
    (model / "points3D.txt").write_text("")
    _write_images(tmp_path / "images", cap)
    assert detect_reference(tmp_path) == "colmap"
    scene = import_poses(tmp_path, holdout=3)
    _same_poses(scene, cap, ["frame_000000", "frame_000003"])
    assert len(scene.views) == 4


def test_transforms_json_round_trip(tmp_path, cap):
    frames = [{"file_path": f"images/{c.name}.png",
               "transform_matrix": nerfstudio_transform_matrix_from_world_from_cam(c.world_from_cam).tolist()}
              for c in cap.cameras]
    meta = {**intrinsics_to_nerfstudio(cap.cameras[0].K, 160, 90), "frames": frames}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    _write_images(tmp_path / "images", cap)
    scene = import_poses(tmp_path / "transforms.json")
    _same_poses(scene, cap)


def test_llff_rows_round_trip_with_downscaled_images(tmp_path, cap):
    cams = cap.cameras
    rows = llff_rows_from_cameras(np.stack([c.world_from_cam for c in cams]), cams[0].K[0, 0] * 2,
                                  320, 180, np.full(len(cams), 1.0), np.full(len(cams), 9.0))
    np.save(tmp_path / "poses_bounds.npy", rows)
    _write_images(tmp_path / "images_2", cap)            # half of the poses' resolution
    scene = import_poses(tmp_path / "poses_bounds.npy", holdout=8)
    _same_poses(scene, cap, ["frame_000000"])
    assert scene.near_far["frame_000001"] == (1.0, 9.0)


def test_missing_image_and_bad_reference(tmp_path, cap):
    with pytest.raises(ValueError, match="not a COLMAP model"):
        import_poses(tmp_path)
    bad = tmp_path / "transforms.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a transforms.json"):
        import_poses(bad)
