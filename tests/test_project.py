import json

import numpy as np
import pytest

from engine.project import Project, ProjectError
from engine.session import run_job
from engine.workflows import GenerateOptions, Workspace, generate_job
from engine.trajectory import Keyframe, Trajectory


def _project(tmp_path, capture, frames=4):
    mem = capture.memory(0.05)
    cams = capture.cameras
    traj = Trajectory((Keyframe(cams[2].world_from_cam, cams[2].fov_y_deg, 0.0),
                       Keyframe(cams[5].world_from_cam, cams[5].fov_y_deg, 1.0)),
                      fps=frames - 1, width=cams[0].width, height=cams[0].height)
    return Project(tmp_path / "proj", name="t", views=capture.views, memory=mem, trajectories={"path": traj})


def test_save_and_load_round_trip(tmp_path, capture):
    project = _project(tmp_path, capture)
    state = Workspace(project=project, saved=True)
    project.save()
    summary = run_job(generate_job("path", options=GenerateOptions(segment_length=2)), state)
    assert summary.frames == 4 and len(summary.segments) == 2
    project.save()
    loaded = Project.load(project.root)
    assert len(loaded.views) == len(capture.views)
    for a, b in zip(loaded.views, capture.views):
        assert a.name == b.name and np.allclose(a.camera.world_from_cam, b.camera.world_from_cam)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.depth, b.depth)
    assert len(loaded.memory) == len(project.memory)
    assert [s.segment_id for s in loaded.segments] == [0, 1]
    assert len(loaded.generated_frame_paths()) == 4
    cams_a = loaded.trajectories["path"].sample()
    cams_b = project.trajectories["path"].sample()
    assert np.allclose(cams_a[-1].world_from_cam, cams_b[-1].world_from_cam, atol=1e-6)
    meta = json.loads((project.root / "project.json").read_text())
    assert meta["schema"] == 1
    cams_json = json.loads((project.root / "cameras.json").read_text())["frames"][0]
    assert {"name", "world_from_cam", "K", "width", "height"} <= set(cams_json)


def test_regenerating_replaces_the_old_segments(tmp_path, capture):
    project = _project(tmp_path, capture)
    state = Workspace(project=project, saved=True)
    project.save()
    run_job(generate_job("path", options=GenerateOptions(segment_length=2)), state)
    n = len(project.memory)
    run_job(generate_job("path", options=GenerateOptions(segment_length=2)), state)
    assert len(project.memory) == n
    assert sorted(s.segment_id for s in project.segments) == [0, 1]
    assert len(project.generated_frame_paths()) == 4


def test_newer_schema_damaged_and_missing_files_name_the_file(tmp_path, capture):
    project = _project(tmp_path, capture)
    project.save()
    root = project.root
    meta = json.loads((root / "project.json").read_text())
    (root / "project.json").write_text(json.dumps(dict(meta, schema=99)))
    with pytest.raises(ProjectError, match=r"project\.json.*newer"):
        Project.load(root)
    (root / "project.json").write_text("{ not json")
    with pytest.raises(ProjectError, match=r"project\.json.*damaged"):
        Project.load(root)
    (root / "project.json").write_text(json.dumps(meta))
    (root / "cameras.json").unlink()
    with pytest.raises(ProjectError, match=r"cameras\.json.*missing"):
        Project.load(root)
    project.save()
    (root / "memory.npz").write_bytes(b"garbage")
    with pytest.raises(ProjectError, match=r"memory\.npz"):
        Project.load(root)
    with pytest.raises(ProjectError, match="does not exist"):
        Project.load(tmp_path / "nowhere")


def test_a_failed_save_keeps_the_previous_project_readable(tmp_path, capture, monkeypatch):
    project = _project(tmp_path, capture)
    project.save()
    import engine.project as proj

    def boom(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(proj, "write_json_atomic", boom)
    project.name = "renamed"
    with pytest.raises(OSError):
        project.save()
    monkeypatch.undo()
    assert Project.load(project.root).name == "t"
    assert not list(project.root.rglob("*.tmp-*"))
