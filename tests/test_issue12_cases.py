"""Issue 12, "Nothing lost, nothing written outside the project": one test per numbered case
(each failed before the fix). The kill -9 runs are in test_faults_kill.py, the file-damage
sweeps, hostile names and the full disk in test_faults_files.py, the property test in
test_faults_property.py."""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli import build_parser, main
from engine.project import Project, ProjectError
from engine.session import run_job
from engine.trajectory.nerfstudio_path import write_camera_path
from engine.workflows import GenerateOptions, Workspace, generate_job, save_project
from tests.fault_worker import _traj, built_old, signature


@pytest.fixture(scope="module")
def _base(tmp_path_factory, capture) -> Path:
    return built_old(capture)


@pytest.fixture()
def old(_base, tmp_path) -> Path:
    """A saved project: 6 views, memory, path "path" generated as segments 0 and 1."""
    root = tmp_path / "proj"
    shutil.copytree(_base, root)
    return root


# ---------------------------------------------------------------------------- case 1
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_case1_a_generate_that_dies_midway_leaves_the_saved_frames(old, capture):
    """Ctrl-C / a crash after the first new segment: the project still holds the old path's
    frames, all of them (not segment 0 of the new path next to segment 1 of the old)."""
    from engine.events import SegmentFinished

    before = signature(Project.load(old, device="cpu"))
    pid = os.fork()
    if pid == 0:
        try:
            project = Project.load(old, device="cpu")
            ws = Workspace(project=project, saved=True)

            def die(event):
                if isinstance(event, SegmentFinished):
                    os._exit(0)                 # no cleanup, no save: like a kill

            run_job(generate_job("path", _traj(capture.cameras, 2, 5, 4), GenerateOptions(segment_length=2)),
                    ws, on_event=die)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert signature(Project.load(old, device="cpu")) == before


def test_case1_generate_refuses_to_replace_a_paths_frames_unless_asked(old, capture, tmp_path, capsys):
    path_file = tmp_path / "path.json"
    write_camera_path(path_file, _traj(capture.cameras, 1, 3, 4))
    before = signature(Project.load(old, device="cpu"))
    assert main(["generate", str(old), "--trajectory", str(path_file), "--name", "path",
                 "--segment-length", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert signature(Project.load(old, device="cpu")) == before
    for bad in (["--segment-length", "0"], ["--generator", "nope"], ["--top-k", "0"]):
        with pytest.raises(SystemExit):
            main(["generate", str(old), "--trajectory", str(path_file), "--name", "path", "--overwrite", *bad])
        assert signature(Project.load(old, device="cpu")) == before
    assert main(["generate", str(old), "--trajectory", str(path_file), "--name", "path",
                 "--segment-length", "2", "--overwrite"]) == 0
    assert len(Project.load(old, device="cpu").generated_frames("path")) == 4


# ---------------------------------------------------------------------------- case 2
def test_case2_track_into_an_existing_project_is_refused_before_any_work(old, tmp_path, capsys):
    assert main(["track", str(tmp_path / "no such video.mp4"), "--out", str(old)]) == 2
    err = capsys.readouterr().err
    assert "holds another AnyRecon project" in err and "--overwrite" in err


def test_case2_overwrite_replaces_the_project_wholly(old, capture):
    from engine.ingest.views import ViewBank

    small = ViewBank()
    for v in list(capture.views)[8:11]:
        small.add(v.__class__(v.camera.scaled(0.5), cv2.resize(v.image, (80, 45)), None))
    other = Project(old.parent / "elsewhere", name="other", views=small, memory=capture.memory(0.1))
    ws = Workspace(project=other)
    with pytest.raises(ProjectError, match="holds another AnyRecon project"):
        save_project(ws, old)
    save_project(ws, old, overwrite=True)
    loaded = Project.load(old, device="cpu")
    assert loaded.name == "other" and not loaded.trajectories and not loaded.segments
    assert sorted(p.name for p in (old / "images").iterdir()) == sorted(f"{v.name}.png" for v in small)
    assert all(v.image.shape == (45, 80, 3) for v in loaded.views)
    assert not (old / "segments").exists() or not any((old / "segments").iterdir())
    assert not (old / "depth").exists() or not any((old / "depth").iterdir())


def test_case2_an_unwritable_destination_fails_before_the_long_work(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == locked else real(p, mode, **k))
    assert main(["track", str(tmp_path / "no such video.mp4"), "--out", str(locked / "proj")]) == 2
    assert "not writable" in capsys.readouterr().err


# ---------------------------------------------------------------------------- case 3
def test_case3_a_camera_named_outside_the_project_is_written_inside(old, capture, tmp_path):
    from engine.export import export
    from engine.geometry import Camera
    from engine.ingest.views import CapturedView

    project = Project.load(old, device="cpu")
    v = project.views[0]
    c = v.camera
    project.views.views[0] = CapturedView(Camera(c.K, c.width, c.height, c.world_from_cam, "../../x"), v.image,
                                          v.depth)
    project.save()
    export(project, "dataset", tmp_path / "out" / "ds")
    assert not (tmp_path / "x.png").exists() and not (old.parent / "x.png").exists()
    assert not list(tmp_path.rglob("x.npz")) and not (tmp_path / "out" / "x.png").exists()
    assert Project.load(old, device="cpu").views[0].name == "../../x"


def test_case3_image_paths_outside_the_project_are_refused(old, tmp_path):
    secret = tmp_path / "secret.png"
    shutil.copy(next((old / "images").iterdir()), secret)
    data = json.loads((old / "cameras.json").read_text())
    for bad in ("../secret.png", str(secret)):
        data["frames"][0]["image"] = bad
        (old / "cameras.json").write_text(json.dumps(data))
        with pytest.raises(ProjectError, match=r"cameras\.json: frame 0.*(outside|absolute)"):
            Project.load(old)


# ---------------------------------------------------------------------------- case 4
def test_case4_a_save_that_fails_before_project_json_keeps_memory_and_project_together(old, capture, monkeypatch):
    import engine.project as proj

    before = signature(Project.load(old, device="cpu"))
    project = Project.load(old, device="cpu")
    n = len(project.memory)
    v = capture.views[7]
    project.memory.insert_depth(v.camera, v.depth, v.image, view=project.views.add(v))
    assert len(project.memory) > n
    project.segments = [s for s in project.segments if s.segment_id != 0]
    real = proj.write_json_atomic

    def fail_on_project_json(path, obj):
        if Path(path).name == "project.json":
            raise OSError(errno.EIO, "I/O error")
        real(path, obj)

    monkeypatch.setattr(proj, "write_json_atomic", fail_on_project_json)
    with pytest.raises(OSError):
        project.save()
    monkeypatch.undo()
    assert signature(Project.load(old, device="cpu")) == before
    assert not [p for p in old.rglob("*") if ".tmp" in p.name or p.name.startswith(".txn-")]


def test_case4_save_memory_fsyncs_and_leaves_no_empty_temporary_file(tmp_path, capture, monkeypatch):
    import engine.memory.persist as persist

    mem = capture.memory(0.06)
    calls = []
    real = os.fsync
    monkeypatch.setattr(persist.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    mem.save(tmp_path / "memory.npz")
    assert calls

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persist, "_savez_deflate", full)            # the .npz writer fails
    with pytest.raises(OSError):
        mem.save(tmp_path / "memory.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["memory.npz"]


# ---------------------------------------------------------------------------- case 5
def test_case5_damaged_files_raise_project_error_naming_the_file(old):
    for rel in ("memory.npz", f"depth/{sorted(os.listdir(old / 'depth'))[0]}"):
        path = old / rel
        data = path.read_bytes()
        mid = len(data) // 2
        for damaged in (data[:mid], data[:-30] + bytes(30), data[:mid] + bytes([data[mid] ^ 0x10]) + data[mid + 1:]):
            path.write_bytes(damaged)
            with pytest.raises(ProjectError, match=Path(rel).name):
                Project.load(old, device="cpu")
        path.write_bytes(data)
    meta = (old / "project.json").read_text()
    (old / "project.json").write_text("[]")
    with pytest.raises(ProjectError, match=r"project\.json"):
        Project.load(old)
    m = json.loads(meta)
    m["segments"][0]["colour"] = "red"
    (old / "project.json").write_text(json.dumps(m))
    with pytest.raises(ProjectError, match=r"project\.json.*colour"):
        Project.load(old)


# ---------------------------------------------------------------------------- case 6
def test_case6_nan_cameras_never_reach_colmap_or_transforms(old, tmp_path):
    from engine.export import ExportError
    from engine.export.colmap import write_colmap_model
    from engine.export.transforms import write_transforms
    from engine.geometry import Camera

    cam = Project.load(old, device="cpu").views[0].camera
    wfc = cam.world_from_cam.copy()
    wfc[1, 3] = np.nan
    bad = Camera(cam.K, cam.width, cam.height, wfc, "bad")
    with pytest.raises(ExportError, match="non-finite"):
        write_colmap_model(tmp_path / "sparse", [bad], ["bad.png"])
    with pytest.raises(ExportError, match="non-finite"):
        write_transforms(tmp_path / "transforms.json", [bad], ["images/bad.png"])
    assert not list(tmp_path.rglob("*.txt")) and not (tmp_path / "transforms.json").exists()
    data = json.loads((old / "cameras.json").read_text())
    data["frames"][0]["K"][0][0] = float("nan")
    (old / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=r"cameras\.json: frame 0.*non-finite"):
        Project.load(old)


def test_case6_huge_cameras_and_absurd_frame_rates_are_refused(old, capture):
    from engine.trajectory import Keyframe, Trajectory

    data = json.loads((old / "cameras.json").read_text())
    data["frames"][0]["width"] = 100000
    (old / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(ProjectError, match="100000"):
        Project.load(old)
    c = capture.cameras
    with pytest.raises(ValueError, match="fps"):
        Trajectory((Keyframe(c[0].world_from_cam, 50, 0.0), Keyframe(c[1].world_from_cam, 50, 1.0)), fps=1e7)


@pytest.mark.parametrize("argv", [
    ["generate", "P", "--preset", "orbit", "--top-k", "0"],
    ["generate", "P", "--preset", "orbit", "--frames", "0"],
    ["generate", "P", "--preset", "orbit", "--segment-length", "-1"],
    ["track", "V", "--out", "O", "--max-side", "0"],
    ["track", "V", "--out", "O", "--stride", "0"],
    ["export", "P", "-f", "mesh-ply", "-o", "m.ply", "--voxel", "-0.1"],
    ["export", "P", "-f", "video", "-o", "v.mp4", "--frames", "0"],
    ["export", "P", "-f", "video", "-o", "v.mp4", "--fps", "1e7"],
    ["demo", "--out", "O", "--width", "100000"],
    ["demo", "--out", "O", "--top-k", "0"],
    ["register", "P", "x.png", "--max-error", "-1"],
    ["splat", "P", "--iterations", "0"],
])
def test_case6_option_values_are_range_checked_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "out of range" in capsys.readouterr().err


def test_case6_register_reads_what_it_can_and_names_each_bad_file(tmp_path, capture):
    from engine.tracking.localize import read_photos

    good = tmp_path / "good.png"
    cv2.imwrite(str(good), cv2.cvtColor(capture.views[0].image, cv2.COLOR_RGB2BGR))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    folder = tmp_path / "more"
    folder.mkdir()
    shutil.copy(good, folder / "good.png")
    (folder / "broken.png").write_bytes(good.read_bytes()[:50])
    frames, warnings = read_photos([good, corrupt, notes, tmp_path / "missing.png", folder])
    assert [f.name for f in frames] == ["good", "good_2"]
    text = " | ".join(warnings)
    for bad in (corrupt, notes, tmp_path / "missing.png", folder / "broken.png"):
        assert str(bad) in text, text
