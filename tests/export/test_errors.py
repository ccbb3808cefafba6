"""Bad input: empty memory, no path / a path without keyframes, an unwritable folder and a
full disk give a clear error and leave nothing half-written behind."""
import errno
import json
import os
import shutil

import pytest

from engine.cli import main as cli_main
from engine.export import EXPORTERS, ExportError, ExportOptions, export
from engine.export.mesh import MeshOptions
from engine.memory import GeometryMemory
from engine.project import Project


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*"))


@pytest.mark.parametrize("fmt", ["points-ply", "splat-ply", "splat", "mesh-ply"])
def test_empty_memory(project, tmp_path, fmt):
    project.memory = GeometryMemory(voxel_size=0.05, device="cpu")
    with pytest.raises(ExportError, match="memory is empty"):
        export(project, fmt, tmp_path / "out")
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["camera-path", "gltf-camera", "chan", "video"])
def test_project_without_a_path(project, tmp_path, fmt):
    project.trajectories = {}
    with pytest.raises(ExportError, match="no camera path"):
        export(project, fmt, tmp_path / "out")
    with pytest.raises(ExportError, match="no camera path named 'nope'"):
        project.trajectories = {"main": None}
        export(project, fmt, tmp_path / "out", ExportOptions(trajectory="nope"))
    assert _leftovers(tmp_path) == []


def test_path_file_without_keyframes_is_a_clear_cli_error(project_dir, tmp_path, capsys):
    broken = tmp_path / "proj"
    shutil.copytree(project_dir, broken)
    path_file = broken / "trajectories" / "main.json"
    data = json.loads(path_file.read_text())
    data["keyframes"], data["camera_path"] = [], []
    data.pop("anyrecon", None)
    path_file.write_text(json.dumps(data))
    rc = cli_main(["export", str(broken), "--format", "chan", "--out", str(tmp_path / "x.chan")])
    err = capsys.readouterr().err
    assert rc == 2 and "main.json" in err and "no keyframes" in err
    assert not (tmp_path / "x.chan").exists()


def test_unknown_format(project, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'fbx'"):
        export(project, "fbx", tmp_path / "x.fbx")


def _deny_writes_in(monkeypatch, folder):
    """Make ``folder`` unwritable: chmod for normal users; root ignores modes, so there the
    refusal the kernel would give (EACCES) is injected into os.open / os.mkdir instead."""
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real_open, real_mkdir = os.open, os.mkdir

        def deny_open(path, *a, **k):
            if str(path).startswith(str(folder)):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, *a, **k)

        def deny_mkdir(path, *a, **k):
            if str(path).startswith(str(folder)):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_mkdir(path, *a, **k)
        monkeypatch.setattr(os, "open", deny_open)
        monkeypatch.setattr(os, "mkdir", deny_mkdir)
        monkeypatch.setattr(os, "access", lambda p, m: not str(p).startswith(str(folder)))


@pytest.mark.parametrize("fmt", ["points-ply", "chan", "colmap", "camera-path"])
def test_unwritable_folder(project, tmp_path, monkeypatch, fmt):
    locked = tmp_path / "locked"
    locked.mkdir()
    _deny_writes_in(monkeypatch, locked)
    try:
        with pytest.raises(ExportError, match="not writable"):
            export(project, fmt, locked / "out")
    finally:
        monkeypatch.undo()
        locked.chmod(0o755)
    assert _leftovers(locked) == []


FULL_DISK_OPTIONS = ExportOptions(mesh=MeshOptions(target_faces=2000))


@pytest.fixture(scope="module")
def full_disk_mesh(project_dir):
    """The fixture project's mesh as the mesh exporters build it (``formats._mesh``), built once
    for both mesh formats (~3 CPU-s each): building writes no file, the writing is what fails."""
    from engine.export import formats

    return formats._mesh(Project.load(project_dir, device="cpu"), FULL_DISK_OPTIONS)


@pytest.mark.parametrize("fmt", ["points-ply", "splat-ply", "splat", "colmap", "transforms", "dataset",
                                 "camera-path", "gltf-camera", "chan", "mesh-obj", "mesh-glb"])
def test_full_disk_leaves_nothing(project, tmp_path, monkeypatch, request, fmt):
    """os.write fails with ENOSPC after 512 bytes (a partial file exists when it fails)."""
    if fmt.startswith("mesh-"):
        from engine.export import formats

        mesh = request.getfixturevalue("full_disk_mesh")
        monkeypatch.setattr(formats, "_mesh", lambda _project, _options: mesh)
    real_write = os.write
    budget = {"left": 512}

    def write(fd, data):
        if budget["left"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data[:budget["left"]]))
        budget["left"] -= n
        return n

    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("an unrelated file")
    monkeypatch.setattr(os, "write", write)
    with pytest.raises(ExportError, match="disk is full"):
        export(project, fmt, out_dir / "out", FULL_DISK_OPTIONS)
    monkeypatch.undo()
    assert _leftovers(out_dir) == ["keep.txt"]


def test_failed_folder_export_keeps_the_previous_one(project, tmp_path, monkeypatch):
    out = tmp_path / "colmap"
    export(project, "colmap", out)
    before = _leftovers(out)
    monkeypatch.setattr(os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(ExportError):
        export(project, "colmap", out)
    monkeypatch.undo()
    assert _leftovers(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colmap"]


def test_every_format_is_registered():
    assert list(EXPORTERS) == ["points-ply", "mesh-glb", "mesh-obj", "mesh-ply", "splat-ply", "splat", "splat-spz",
                               "splat-sog", "splat-compressed-ply", "splat-glb", "colmap",
                               "transforms", "camera-path", "gltf-camera", "chan", "video", "dataset"]
