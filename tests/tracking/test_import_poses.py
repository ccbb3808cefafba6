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


def _unpadded_llff(tmp_path, cap, names):
    """LLFF rows written as imgs2poses does: in sorted() order of the image file names."""
    cams = {n: c for n, c in zip(names, cap.cameras)}
    order = sorted(names, key=lambda n: f"{n}.png")
    rows = llff_rows_from_cameras(np.stack([cams[n].world_from_cam for n in order]), cap.cameras[0].K[0, 0],
                                  160, 90, np.full(len(order), 1.0), np.full(len(order), 9.0))
    np.save(tmp_path / "poses_bounds.npy", rows)
    folder = tmp_path / "images"
    folder.mkdir()
    for n, v in zip(names, cap.views):
        cv2.imwrite(str(folder / f"{n}.png"), cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))
    return cams, order


def test_llff_rows_follow_sorted_names_without_zero_padding(tmp_path):
    """IMG_2 and IMG_10: rows are in sorted() order (IMG_10 before IMG_2), not natural order;
    every image gets its own pose and the holdout takes rows 0, N, 2N of that order."""
    cap = make_capture(n=12, width=160, height=90)
    names = [f"IMG_{i}" for i in range(12)]
    cams, order = _unpadded_llff(tmp_path, cap, names)
    assert order[:4] == ["IMG_0", "IMG_1", "IMG_10", "IMG_11"]
    scene = import_poses(tmp_path, holdout=8)
    got = {v.name: v.camera for v in list(scene.views) + list(scene.holdout)}
    assert set(got) == set(names)
    for n in names:
        np.testing.assert_allclose(got[n].world_from_cam, cams[n].world_from_cam, atol=1e-6)
    assert [v.name for v in scene.holdout] == [order[0], order[8]] == ["IMG_0", "IMG_6"]


def test_llff_order_file_overrides_sorted_names(tmp_path):
    """view_imgs.txt (or image_names_pose_order.txt) gives the row order; names may carry the
    full-size extension (.JPG) while the folder holds PNGs."""
    cap = make_capture(n=4, width=160, height=90)
    names = ["b", "a", "d", "c"]                 # the rows' order, not sorted
    rows = llff_rows_from_cameras(np.stack([c.world_from_cam for c in cap.cameras]), cap.cameras[0].K[0, 0],
                                  160, 90, np.full(4, 1.0), np.full(4, 9.0))
    np.save(tmp_path / "poses_bounds.npy", rows)
    _write_images(tmp_path / "images", cap)
    for old, new in zip(cap.views, names):
        (tmp_path / "images" / f"{old.name}.png").rename(tmp_path / "images" / f"{new}.png")
    (tmp_path / "view_imgs.txt").write_text("".join(f"{n}.JPG\n" for n in names))
    scene = import_poses(tmp_path)
    got = {v.name: v.camera for v in scene.views}
    for n, cam in zip(names, cap.cameras):
        np.testing.assert_allclose(got[n].world_from_cam, cam.world_from_cam, atol=1e-6)


def test_llff_refuses_wrong_count_or_shape(tmp_path):
    cap = make_capture(n=4, width=160, height=90)
    names = [f"IMG_{i}" for i in range(4)]
    _unpadded_llff(tmp_path, cap, names)
    (tmp_path / "images" / "IMG_3.png").unlink()
    with pytest.raises(ValueError, match="3 images but poses_bounds.npy has 4 rows"):
        import_poses(tmp_path)
    img = np.zeros((160, 90, 3), np.uint8)              # portrait: a rotated image
    cv2.imwrite(str(tmp_path / "images" / "IMG_3.png"), img)
    with pytest.raises(ValueError, match="IMG_3.png: image is 90x160 but poses_bounds.npy row 3 says 160x90"):
        import_poses(tmp_path)
