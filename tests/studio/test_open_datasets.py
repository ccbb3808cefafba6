"""Posed datasets dropped on the studio are imported with their own cameras (not tracked):
a COLMAP folder (images/ + sparse/0/) and a transforms.json dataset, written by the test."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.project import write_image
from tests.conftest import make_capture
from tests.studio.conftest import non_background_fraction, save_shot, wait_idle
from tests.studio.test_window import drop


@pytest.fixture(scope="module")
def small_capture():
    """6 views of 128x72 (was 8 of 160x90: the studio's import with depth completion took
    ~7 CPU-s per test, now ~2.6; it still fuses ~8.8k points, the checks need > 1000)."""
    return make_capture(n=6, width=128, height=72, arc_deg=90.0)


def _write_colmap_dataset(root, capture):
    from engine.export.colmap import write_colmap_model

    names = [f"img_{i:02d}.png" for i in range(len(capture.cameras))]
    for name, view in zip(names, capture.views):
        write_image(root / "images" / name, view.image)
    snap = capture.memory(0.05).snapshot()
    keep = slice(None, None, max(1, len(snap.xyz) // 500))       # a sparse model's few hundred points
    write_colmap_model(root / "sparse" / "0", capture.cameras, names, snap.xyz[keep],
                       (np.clip(snap.rgb[keep], 0, 1) * 255).astype(np.uint8), text=False)
    return names


def _write_transforms_dataset(root, capture):
    from engine.export.transforms import write_transforms

    paths = [f"images/frame_{i:02d}.png" for i in range(len(capture.cameras))]
    for rel, view in zip(paths, capture.views):
        write_image(root / rel, view.image)
    write_transforms(root / "transforms.json", capture.cameras, paths)
    return paths


def _assert_imported(win, capture, names):
    cams = win.ctl.project.cameras
    assert [c.name for c in cams] == [n.rsplit("/", 1)[-1].rsplit(".", 1)[0] for n in names]
    for got, truth in zip(cams, capture.cameras):     # the dataset's own poses, not re-tracked ones
        assert np.allclose(got.world_from_cam, truth.world_from_cam, atol=1e-5)
        assert np.allclose(got.K, truth.K, atol=1e-4)
    assert win.ctl.project.points.size > 1000
    assert non_background_fraction(win.viewport.render_image()) > 0.01


def test_dropping_a_colmap_folder_imports_its_poses(qtbot, make_window, tmp_path, small_capture, artifacts):
    names = _write_colmap_dataset(tmp_path / "scene", small_capture)
    win = make_window()
    drop(win, tmp_path / "scene")
    qtbot.waitUntil(lambda: len(win.ctl.project.cameras) == len(names), timeout=120000)
    wait_idle(qtbot, win, timeout_ms=120000)
    _assert_imported(win, small_capture, names)
    save_shot(win, artifacts / "10_colmap_dropped.png")


def test_dropping_a_transforms_dataset_imports_its_poses(qtbot, make_window, tmp_path, small_capture):
    paths = _write_transforms_dataset(tmp_path / "ns", small_capture)
    win = make_window()
    drop(win, tmp_path / "ns")
    qtbot.waitUntil(lambda: len(win.ctl.project.cameras) == len(paths), timeout=120000)
    wait_idle(qtbot, win, timeout_ms=120000)
    _assert_imported(win, small_capture, paths)


def test_the_studio_command_prints_every_view_of_a_dataset(tmp_path, small_capture):
    names = _write_colmap_dataset(tmp_path / "scene", small_capture)
    shot = tmp_path / "shot.png"
    out = subprocess.run([sys.executable, "-m", "studio", str(tmp_path / "scene"), "--screenshot", str(shot),
                          "--exit-when-idle", "--settings", str(tmp_path / "s.ini"),
                          "--autosave-dir", str(tmp_path / "autosave")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["views"] == len(names)
    assert summary["view_names"] == [n.rsplit(".", 1)[0] for n in names]
    assert summary["points"] > 1000 and shot.exists()


def test_a_world_with_another_up_is_shown_upright(qtbot, make_window):
    """A COLMAP world is not y-down in general: the viewport turns the scene frame's up to
    screen-up, and still takes and returns world coordinates."""
    win = make_window()
    vp = win.viewport
    up = np.array([0.0, 0.6, 0.8])
    vp.set_world_up(up)
    eye, center = np.array([2.0, -1.0, 0.5]), np.array([0.0, 0.0, 0.0])
    vp.look_from(eye, center)
    wfc = vp.view_world_from_cam()
    assert np.allclose(wfc[:3, 3], eye, atol=1e-4)                       # world coordinates out
    forward = (center - eye) / np.linalg.norm(center - eye)
    assert wfc[:3, 2] @ forward > 0.999
    image_up = -wfc[:3, 1]
    assert image_up @ up > 0.5 and abs(wfc[:3, 0] @ up) < 1e-3           # upright: no roll about up
    screen = vp._screen(np.array([center]))[0]                            # picking maps world points
    size = np.array(vp.canvas.size, float)
    assert np.allclose(screen, size / 2, atol=2.0)


def test_save_into_a_folder_holding_another_project_asks_first(qtbot, make_window, tmp_path):
    """Nothing is replaced without the artist's yes: No leaves the folder as it was, Yes saves."""
    from engine.project import Project
    from tests.studio.conftest import load_demo

    other = tmp_path / "theirs"
    Project(other, name="theirs").save()
    before = (other / "project.json").read_bytes()
    win = make_window()
    load_demo(qtbot, win, preset=None)
    asked = []
    win.confirm = lambda title, text: asked.append(text) or False
    win.ctl.save_project(other)
    wait_idle(qtbot, win)
    assert asked and "theirs" in asked[0]
    assert (other / "project.json").read_bytes() == before            # No: untouched
    win.confirm = lambda title, text: True
    win.ctl.save_project(other)
    wait_idle(qtbot, win)
    wait_idle(qtbot, win)
    assert Project.load(other).name == "theirs" and len(Project.load(other).views) == len(win.ctl.project.cameras)
