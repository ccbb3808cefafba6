"""``anyrecon track`` / ``anyrecon render`` end to end on tiny synthetic inputs."""
from __future__ import annotations

import json

import cv2
import numpy as np

from engine.cli import main
from engine.geometry.conventions import llff_rows_from_cameras
from engine.project import Project
from tests.conftest import make_capture


def test_track_video_writes_a_project(tmp_path, demo_video, capsys):
    out = tmp_path / "proj ü"
    rc = main(["track", str(demo_video), "--out", str(out), "--stride", "2", "--mvs-side", "160",
               "--max-dense-views", "4", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["registered"] == 12 and summary["unregistered"] == []
    project = Project.load(out)
    assert len(project.views) == 12 and len(project.memory) == summary["points"] > 1000
    assert project.views[1].name == "frame_000002"
    assert set(np.unique(project.memory.snapshot().view)) == {0, 3, 6, 9}    # every 3rd keyframe swept
    assert project.info["tracking"]["mapper"] == "global"
    # the default depth backend completes the swept keyframes' maps: every pixel has a depth,
    # the filled ones flagged (issue 13: >= 95% of a keyframe's pixels carry depth)
    swept = [project.views[i] for i in (0, 3, 6, 9)]
    assert all((v.depth > 0).mean() >= 0.95 for v in swept)
    assert all(v.completed is not None and 0 < v.completed.mean() < 1 for v in swept)


def test_track_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "clip.mp4"
    bad.write_text("not a video")
    assert main(["track", str(bad), "--out", str(tmp_path / "p")]) == 2
    assert "not a readable video" in capsys.readouterr().err


def _llff_scene(tmp_path, n: int, width: int, height: int, arc_deg: float):
    """A synthetic capture written as an LLFF scene: ``tmp_path/scene/images/*.png`` and
    ``tmp_path/scene/poses_bounds.npy`` (near 1, far 9). Returns (capture, images folder)."""
    cap = make_capture(n=n, width=width, height=height, arc_deg=arc_deg)
    images = tmp_path / "scene" / "images"
    images.mkdir(parents=True)
    for v in cap.views:
        cv2.imwrite(str(images / f"{v.name}.png"), cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))
    rows = llff_rows_from_cameras(np.stack([c.world_from_cam for c in cap.cameras]), cap.cameras[0].K,
                                  width, height, np.full(n, 1.0), np.full(n, 9.0))
    np.save(tmp_path / "scene" / "poses_bounds.npy", rows)
    return cap, images


def test_import_with_holdout_then_render_the_held_out_views(tmp_path, capsys):
    cap, images = _llff_scene(tmp_path, n=9, width=160, height=90, arc_deg=60)
    out = tmp_path / "proj"
    assert main(["track", str(images), "--poses", str(tmp_path / "scene" / "poses_bounds.npy"),
                 "--holdout", "4", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["splats"] is None    # CPU: no splats by default ...
    assert "anyrecon splat" in captured.err and not (out / "splats").exists()     # ... and it says how to ask
    project = Project.load(out)
    held = project.info["holdout"]["names"]
    assert held == ["frame_000000", "frame_000004", "frame_000008"]
    assert [v.name for v in project.views] == [f"frame_{i:06d}" for i in (1, 2, 3, 5, 6, 7)]
    assert set(np.unique(project.memory.snapshot().view)) <= set(range(6))      # held-out never fused
    render_dir = tmp_path / "renders"
    assert main(["render", str(out), "--cameras", str(out / "holdout_cameras.json"), "--out", str(render_dir)]) == 0
    assert sorted(p.stem for p in render_dir.glob("*.png")) == held
    img = cv2.imread(str(render_dir / "frame_000004.png"))
    assert img.shape == (90, 160, 3) and img.mean() > 20


def test_register_adds_photos_to_a_project_and_reports_the_rest(tmp_path, capsys):
    from tests.conftest import between_poses

    cap = make_capture(n=12, width=320, height=180)
    Project(root=tmp_path / "proj", views=cap.views, memory=cap.memory(0.01)).save()
    truth = between_poses(cap.cameras)[3]
    photos = tmp_path / "new photos ü"
    photos.mkdir()
    rgb = (np.clip(cap.scene.render(truth).rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    cv2.imwrite(str(photos / "extra.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(photos / "holiday.png"), np.random.default_rng(0).integers(0, 255, (180, 320, 3), np.uint8))
    assert main(["register", str(tmp_path / "proj"), str(photos), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["registered"] == ["extra"] and list(summary["unregistered"]) == ["holiday"]
    project = Project.load(tmp_path / "proj")
    assert len(project.views) == 13 and project.views[12].name == "extra"
    assert np.linalg.norm(project.views[12].camera.center - truth.center) < 0.03
    # a file that is not a photo is a clear error; nothing is written
    assert main(["register", str(tmp_path / "proj"), str(tmp_path / "proj" / "project.json")]) == 2
    assert "not a photo" in capsys.readouterr().err


def test_track_trains_splats_when_asked_on_the_cpu(tmp_path, capsys):
    """``--splats`` trains through the same workflow that runs by itself on CUDA."""
    cap, images = _llff_scene(tmp_path, n=5, width=96, height=54, arc_deg=40)
    out = tmp_path / "proj"
    assert main(["track", str(images), "--poses", str(tmp_path / "scene" / "poses_bounds.npy"), "--out", str(out),
                 "--splats", "--splat-iterations", "3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["splats"]["steps"] == 3 and summary["splats"]["gaussians"] > 0
    assert (out / "splats" / "splats.ply").is_file() and (out / "splats" / "checkpoint.pt").is_file()
