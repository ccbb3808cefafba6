"""Damaged, hostile and impossible project files (issue 12): truncated and bit-flipped files
of every kind, names that lead outside the folder, NaN / infinite numbers, a full disk, and
a property test: ``Project.load`` on a mutated folder raises ``ProjectError`` or succeeds,
never anything else."""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.project import Project, ProjectError
from tests.fault_worker import built_old, signature


@pytest.fixture(scope="module")
def base(tmp_path_factory, capture) -> Path:
    """A saved project with views, depth, memory, a path, two generated segments and a
    held-out view."""
    return built_old(capture)


@pytest.fixture()
def proj(base, tmp_path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(base, root, symlinks=True)
    return root


def _kinds(root: Path) -> dict[str, Path]:
    """One file of every kind the project holds."""
    return {"project": root / "project.json", "cameras": root / "cameras.json", "memory": root / "memory.npz",
            "depth": sorted((root / "depth").glob("*.npz"))[0], "image": sorted((root / "images").glob("*.png"))[0],
            "trajectory": sorted((root / "trajectories").glob("*.json"))[0],
            "holdout": root / "holdout_cameras.json", "holdout_image": sorted((root / "holdout").glob("*.png"))[0],
            "frame": sorted((root / "segments" / "seg_0000").glob("*.npz"))[0]}


def _open_everything(root: Path, frames: bool = False) -> None:
    """What the engine reads of a project: the project, its held-out views and (``frames``)
    its generated frames, through the dataset export."""
    from engine.export import export

    project = Project.load(root, device="cpu")
    project.read_holdout()
    if frames:
        export(project, "dataset", root.parent / "dataset_out")


def _must_fail_naming(path: Path, root: Path) -> None:
    from engine.export.common import ExportError

    with pytest.raises((ProjectError, ExportError)) as info:
        _open_everything(root, frames=path.parent.name.startswith("seg_"))
    assert path.name in str(info.value), str(info.value)


@pytest.mark.parametrize("kind", ["project", "cameras", "memory", "depth", "image", "trajectory", "holdout",
                                  "holdout_image", "frame"])
def test_truncated_files_of_every_kind_raise_an_error_naming_the_file(proj, kind):
    path = _kinds(proj)[kind]
    data = path.read_bytes()
    for n in (0, len(data) // 2, len(data) - 7):
        path.write_bytes(data[:n])
        _must_fail_naming(path, proj)
    path.write_bytes(data)
    _open_everything(proj, frames=kind == "frame")


@pytest.mark.parametrize("kind", ["project", "cameras", "memory", "depth", "image", "trajectory", "holdout",
                                  "holdout_image", "frame"])
def test_bit_flips_in_files_of_every_kind_never_escape_as_another_exception(proj, kind):
    from engine.export.common import ExportError

    path = _kinds(proj)[kind]
    data = bytearray(path.read_bytes())
    rng = random.Random(kind)
    for _ in range(3 if kind == "frame" else 5):
        pos, bit = rng.randrange(len(data)), rng.randrange(8)
        flipped = bytearray(data)
        flipped[pos] ^= 1 << bit
        path.write_bytes(bytes(flipped))
        try:
            _open_everything(proj, frames=kind == "frame")
        except (ProjectError, ExportError) as exc:
            assert path.name in str(exc), str(exc)
    path.write_bytes(bytes(data))


def test_project_json_that_is_not_an_object_and_unknown_segment_keys(proj):
    meta = json.loads((proj / "project.json").read_text())
    (proj / "project.json").write_text("[1, 2, 3]")
    with pytest.raises(ProjectError, match=r"project\.json.*object"):
        Project.load(proj)
    bad = dict(meta, segments=[dict(meta["segments"][0], colour="blue")])
    (proj / "project.json").write_text(json.dumps(bad))
    with pytest.raises(ProjectError, match=r"project\.json.*unknown key.*colour"):
        Project.load(proj)
    for field, value in (("segment_id", "0"), ("frame_stop", -3), ("reference_view_ids", "abc")):
        bad = dict(meta, segments=[dict(meta["segments"][0], **{field: value})])
        (proj / "project.json").write_text(json.dumps(bad))
        with pytest.raises(ProjectError, match=r"project\.json"):
            Project.load(proj)
    for field, value in (("trajectories", ["a"]), ("info", 3), ("name", {}), ("memory", 7)):
        (proj / "project.json").write_text(json.dumps(dict(meta, **{field: value})))
        with pytest.raises(ProjectError, match=r"project\.json"):
            Project.load(proj)


# ---------------------------------------------------------------------------- hostile names
def _set_frame(root: Path, **values) -> None:
    data = json.loads((root / "cameras.json").read_text())
    data["frames"][0].update(values)
    (root / "cameras.json").write_text(json.dumps(data))


def test_paths_outside_the_project_are_refused(proj, tmp_path):
    outside = tmp_path / "outside.png"
    shutil.copy(_kinds(proj)["image"], outside)
    cams = (proj / "cameras.json").read_text()
    for bad in ("../outside.png", str(outside), "images/../../outside.png", "C:\\outside.png", ""):
        _set_frame(proj, image=bad)
        with pytest.raises(ProjectError, match=r"cameras\.json: frame 0"):
            Project.load(proj)
        (proj / "cameras.json").write_text(cams)
    _set_frame(proj, depth="../outside.npz")
    with pytest.raises(ProjectError, match="outside"):
        Project.load(proj)
    (proj / "cameras.json").write_text(cams)
    meta = (proj / "project.json").read_text()
    for field, value in (("trajectories", {"path": "../x.json"}), ("memory", "/etc/passwd")):
        (proj / "project.json").write_text(json.dumps(dict(json.loads(meta), **{field: value})))
        with pytest.raises(ProjectError, match=r"project\.json"):
            Project.load(proj)
    (proj / "project.json").write_text(meta)
    Project.load(proj)


def test_symlinks_that_leave_the_project_are_refused(proj, tmp_path):
    image = _kinds(proj)["image"]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(image, outside / image.name)
    image.unlink()
    image.symlink_to(outside / image.name)
    with pytest.raises(ProjectError, match="leads outside"):
        Project.load(proj)
    image.unlink()
    shutil.copy(outside / image.name, image)
    shutil.copytree(proj / "images", outside / "images")
    shutil.rmtree(proj / "images")
    (proj / "images").symlink_to(outside / "images")
    with pytest.raises(ProjectError, match="leads outside"):
        Project.load(proj)



def test_a_save_never_writes_through_a_symlink_that_leaves_the_project(proj, capture, tmp_path):
    project = Project.load(proj, device="cpu")
    outside = tmp_path / "elsewhere"
    shutil.copytree(proj / "images", outside)
    shutil.rmtree(proj / "images")
    (proj / "images").symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    project.views.add(capture.views[8])
    with pytest.raises(ValueError, match="leads outside"):
        project.save()
    assert sorted(p.name for p in outside.iterdir()) == before


def test_hostile_and_non_ascii_names_are_written_inside_the_project(proj, capture, tmp_path):
    from engine.export import export
    from engine.geometry import Camera
    from engine.ingest.views import CapturedView, ViewBank

    names = ["../../evil", str(tmp_path / "abs_evil"), ".hidden", "Ünïcødé 画像", "a/b\\c", "..", "", "Ünïcødé 画像"]
    views = ViewBank()
    for v, name in zip(capture.views, names):
        c = v.camera
        views.add(CapturedView(Camera(c.K, c.width, c.height, c.world_from_cam, name), v.image, v.depth))
    project = Project.load(proj, device="cpu")
    project.views = views
    project.trajectories["../../evil path"] = project.trajectories["path"]
    before = {p for p in tmp_path.parent.rglob("*")}
    project.save()
    export(project, "dataset", tmp_path / "ds")
    export(project, "colmap", tmp_path / "colmap")
    created = {p for p in tmp_path.parent.rglob("*")} - before
    allowed = (proj.resolve(), (tmp_path / "ds").resolve(), (tmp_path / "colmap").resolve())
    assert created and all(any(a == p.resolve() or a in p.resolve().parents for a in allowed) for p in created)
    assert not (tmp_path / "abs_evil.png").exists()
    loaded = Project.load(proj, device="cpu")
    assert [v.name for v in loaded.views] == names
    assert all(np.array_equal(a.image, b.image) for a, b in zip(loaded.views, views))
    assert "../../evil path" in loaded.trajectories
    assert len({p.name for p in (proj / "images").iterdir()}) == len(names)


def test_render_cameras_named_outside_the_out_folder_stay_inside(proj, tmp_path):
    from engine.cli import main

    cams = json.loads((proj / "cameras.json").read_text())["frames"][:2]
    cams[0]["name"], cams[1]["name"] = "../../../escaped", str(tmp_path / "escaped_abs")
    cams = [dict(c, width=48, height=32, K=[[40, 0, 24], [0, 40, 16], [0, 0, 1]]) for c in cams]
    (tmp_path / "cams.json").write_text(json.dumps({"frames": cams}))
    out = tmp_path / "renders"
    assert main(["render", str(proj), "--cameras", str(tmp_path / "cams.json"), "--out", str(out)]) == 0
    written = sorted(out.iterdir())
    assert len(written) == 2 and all(p.parent == out and p.suffix == ".png" for p in written)
    assert "escaped" in written[0].name and "escaped_abs" in written[1].name
    assert not [p for p in tmp_path.parent.rglob("*escaped*") if out not in p.parents]
    assert not (tmp_path / "escaped_abs.png").exists()


# ---------------------------------------------------------------------------- impossible numbers
def test_nan_inf_and_huge_cameras_are_refused_by_name(proj):
    cams = (proj / "cameras.json").read_text()
    frame = json.loads(cams)["frames"][0]
    for values in ({"K": [[float("nan"), 0, 1], [0, 1, 1], [0, 0, 1]]},
                   {"world_from_cam": [[1, 0, 0, float("inf")], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
                   {"width": 100000}, {"height": 0}, {"width": 12.5}, {"K": "abc"}, {"K": [[1, 2], [3, 4]]}):
        _set_frame(proj, **values)
        with pytest.raises(ProjectError, match=rf"cameras\.json: frame 0.*{frame['name']}|cameras\.json: frame 0"):
            Project.load(proj)
        (proj / "cameras.json").write_text(cams)


def test_nan_cameras_are_never_written_into_colmap_or_transforms(proj, tmp_path):
    from engine.export import ExportError, export
    from engine.geometry import Camera
    from engine.ingest.views import CapturedView

    project = Project.load(proj, device="cpu")
    v = project.views[0]
    wfc = v.camera.world_from_cam.copy()
    wfc[0, 3] = np.nan
    project.views.views[0] = CapturedView(Camera(v.camera.K, v.camera.width, v.camera.height, wfc, v.name),
                                          v.image, v.depth)
    for fmt in ("colmap", "transforms", "dataset"):
        with pytest.raises(ExportError, match="non-finite"):
            export(project, fmt, tmp_path / fmt)
        assert not (tmp_path / fmt).exists()
    with pytest.raises(ProjectError, match=r"cameras\.json: view 0.*non-finite"):
        project.save()
    project = Project.load(proj, device="cpu")
    project.info["never measured"] = float("nan")
    project.save()
    meta = json.loads((proj / "project.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert meta["info"]["never measured"] is None


def test_camera_paths_with_absurd_rates_or_sizes_are_refused_at_once(proj, tmp_path):
    from engine.trajectory.nerfstudio_path import read_camera_path

    path = _kinds(proj)["trajectory"]
    data = json.loads(path.read_text())
    for values in ({"fps": 1e7}, {"render_width": 100000}, {"fps": float("inf")}, {"render_height": 0}):
        bad = tmp_path / "bad_path.json"
        d = dict(data, **values)
        bad.write_text(json.dumps(d))
        with pytest.raises(ValueError, match="bad_path"):
            read_camera_path(bad)
        path.write_text(json.dumps(d))
        with pytest.raises(ProjectError, match=path.name):
            Project.load(proj)
        path.write_text(json.dumps(data))


# ---------------------------------------------------------------------------- full disk
def _mount_tmpfs(folder: Path, size_bytes: int) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    rc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(folder)],
                        capture_output=True).returncode
    return rc == 0


def _bigger(project: Project, capture) -> None:
    """A change that needs more room than the old project: more views, more points."""
    for v in list(capture.views)[6:]:
        vid = project.views.add(v)
        project.memory.insert_depth(v.camera, v.depth, v.image, view=vid)
    project.name = "bigger"


def test_a_full_disk_keeps_the_old_project(base, capture, tmp_path):
    size = sum(p.stat().st_size for p in base.rglob("*") if p.is_file())
    disk = tmp_path / "disk"
    mounted = _mount_tmpfs(disk, size + 160 * 1024)
    try:
        root = disk / "proj"
        shutil.copytree(base, root)
        old = signature(Project.load(root, device="cpu"))
        project = Project.load(root, device="cpu")
        _bigger(project, capture)
        if mounted:
            with pytest.raises(OSError) as info:
                project.save()
            assert info.value.errno == errno.ENOSPC
        else:   # no tmpfs here: every write of the save fails with ENOSPC after a budget
            _save_with_enospc(project, budgets=(0, 4096, 65536, 400_000))
        assert signature(Project.load(root, device="cpu")) == old
        assert not [p for p in root.rglob("*") if ".tmp-" in p.name or p.name.startswith(".txn-")]
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


def _save_with_enospc(project: Project, budgets) -> None:
    import engine.atomic_io as atomic_io

    real = os.write
    for budget in budgets:
        left = [budget]

        def write(fd, data, left=left):
            if left[0] < len(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            left[0] -= len(data)
            return real(fd, data)

        atomic_io.os.write = write
        try:
            with pytest.raises(OSError) as info:
                project.save()
            assert info.value.errno == errno.ENOSPC
        finally:
            atomic_io.os.write = real


def test_injected_enospc_at_every_stage_of_a_save_keeps_the_old_project(proj, capture):
    old = signature(Project.load(proj, device="cpu"))
    project = Project.load(proj, device="cpu")
    _bigger(project, capture)
    _save_with_enospc(project, budgets=(0, 1000, 20_000, 60_000, 150_000))
    assert signature(Project.load(proj, device="cpu")) == old
    assert not [p for p in proj.rglob("*") if ".tmp-" in p.name or p.name.startswith(".txn-")]
    project.save()
    assert Project.load(proj, device="cpu").name == "bigger"


def test_a_failing_memory_write_leaves_no_temporary_file_and_fsyncs(tmp_path, capture, monkeypatch):
    import engine.memory.persist as persist

    mem = capture.memory(0.06)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(persist.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    mem.save(tmp_path / "memory.npz")
    assert synced and (tmp_path / "memory.npz").stat().st_size > 0
    monkeypatch.undo()

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persist, "_savez_deflate", boom)           # the .npz writer fails
    with pytest.raises(OSError):
        mem.save(tmp_path / "memory.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.npz"]
