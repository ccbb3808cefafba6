"""Video (H.264 mp4 via PyAV + PNG sequence) and the generated dataset (COLMAP +
transforms.json + masks of generated pixels)."""
import json

import cv2
import numpy as np
import pytest

from engine.export import ExportOptions, export
from engine.export.video import read_video
from engine.metrics import psnr
from engine.project import read_image


def test_mp4_of_generated_frames_and_png_sequence(project, tmp_path):
    res = export(project, "video", tmp_path / "path.mp4", ExportOptions(png_sequence=True))
    pngs = project.generated_frame_paths()
    assert res.count == len(pngs) == project.trajectories["main"].num_frames
    assert "source: generated" in res.notes
    info = read_video(res.out)
    assert info.codec == "h264" and (info.width, info.height) == (160, 90) and len(info.frames) == len(pngs)
    assert info.fps == pytest.approx(project.trajectories["main"].fps)
    for decoded, png in zip(info.frames, pngs):
        assert psnr(decoded / 255.0, read_image(png) / 255.0) > 28
    seq = sorted((tmp_path / "path_frames").glob("frame_*.png"))
    assert len(seq) == len(pngs)
    np.testing.assert_array_equal(read_image(seq[3]), read_image(pngs[3]))


def test_png_sequence_of_memory_render(project, tmp_path):
    res = export(project, "video", tmp_path / "frames", ExportOptions(video_source="render", num_frames=4))
    assert res.count == 4 and "source: render" in res.notes
    imgs = [cv2.imread(str(p)) for p in res.files]
    assert len(imgs) == 4 and all(i.shape == (90, 160, 3) for i in imgs)
    assert all((i.sum(-1) > 0).mean() > 0.5 for i in imgs)      # the memory covers most of the view


def test_dataset_has_captured_and_generated_frames_in_both_layouts(project, tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    out = tmp_path / "ds"
    res = export(project, "dataset", out)
    n_cap, n_gen = len(project.views), len(project.generated_frame_paths())
    assert res.count == n_cap + n_gen
    rec = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert rec.num_images() == n_cap + n_gen
    data = json.loads((out / "transforms.json").read_text())
    assert len(data["frames"]) == n_cap + n_gen
    gen = [f for f in data["frames"] if f["anyrecon_generated"]]
    assert len(gen) == n_gen
    by_name = {img.name: img for img in rec.images.values()}
    for f in gen:
        name = f["file_path"].split("/")[-1]
        seg, idx = name[len("gen_"):-len(".png")].split("_")
        with np.load(project.root / f"segments/seg_{seg}/frame_{idx}.npz") as z:
            invented, w2c = z["invented"], z["world_from_cam"]
        mask = cv2.imread(str(out / f["anyrecon_mask_path"]), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(mask == 255, invented)
        np.testing.assert_array_equal(np.unique(mask)[np.isin(np.unique(mask), [0, 255], invert=True)], [])
        m = by_name[name].cam_from_world() if callable(by_name[name].cam_from_world) else by_name[name].cam_from_world
        np.testing.assert_allclose(m.matrix(), np.linalg.inv(w2c)[:3], atol=1e-6)
        assert (out / f["file_path"]).is_file()
    captured_masks = [cv2.imread(str(out / f["anyrecon_mask_path"]), 0) for f in data["frames"]
                      if not f["anyrecon_generated"]]
    assert all(m.max() == 0 for m in captured_masks)
    assert sum(int(np.load(p.with_suffix(".npz"))["invented"].sum()) for p in project.generated_frame_paths()) > 0
