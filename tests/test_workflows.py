"""The workflow layer: generation validates before it replaces anything, keeps its generator
across jobs, and an unsaved scene's frames reach the folder on its first save."""
from __future__ import annotations

import pytest

from engine.generate.registry import GeneratorCache, GeneratorContext, generator_spec, make_generator
from engine.project import Project
from engine.session import Session, run_job
from engine.trajectory import Keyframe, Trajectory
from engine.workflows import GenerateOptions, Workspace, generate_job, save_project


def _traj(capture, frames=4):
    cams = capture.cameras
    return Trajectory((Keyframe(cams[2].world_from_cam, cams[2].fov_y_deg, 0.0),
                       Keyframe(cams[5].world_from_cam, cams[5].fov_y_deg, 1.0)),
                      fps=frames - 1, width=cams[0].width, height=cams[0].height)


def _saved_workspace(tmp_path, capture) -> Workspace:
    project = Project(tmp_path / "proj", name="t", views=capture.views, memory=capture.memory(0.05),
                      trajectories={"path": _traj(capture)})
    ws = Workspace(project=project)
    save_project(ws)
    return ws


def test_a_second_generate_in_one_session_reuses_its_generator(tmp_path, capture):
    ws = _saved_workspace(tmp_path, capture)
    session = Session(ws)
    try:
        for _ in range(2):
            _, fut = session.submit("generate", generate_job("path", options=GenerateOptions(segment_length=2)))
            assert fut.result(120).frames == 4
        assert ws.generators.builds == 1
    finally:
        assert not session.close()


@pytest.mark.parametrize("bad", [dict(generator="nope"), dict(segment_length=0), dict(top_k=0)])
def test_bad_options_fail_before_earlier_work_is_touched(tmp_path, capture, bad):
    ws = _saved_workspace(tmp_path, capture)
    run_job(generate_job("path", options=GenerateOptions(segment_length=2)), ws)
    before = (len(ws.memory), [s.segment_id for s in ws.project.segments], ws.project.generated_frame_paths())
    with pytest.raises(ValueError):
        run_job(generate_job("path", options=GenerateOptions(**{"segment_length": 2, **bad})), ws)
    assert (len(ws.memory), [s.segment_id for s in ws.project.segments], ws.project.generated_frame_paths()) == before
    assert all(p.exists() for p in before[2])


def test_unknown_path_or_segment_is_refused(tmp_path, capture):
    ws = _saved_workspace(tmp_path, capture)
    with pytest.raises(ValueError, match="no camera path named 'other'"):
        run_job(generate_job("other"), ws)
    with pytest.raises(ValueError, match="has no segment 7"):
        run_job(generate_job("path", options=GenerateOptions(segment_length=2), only_segments={7}), ws)


def test_unsaved_frames_are_written_on_the_first_save(tmp_path, capture):
    project = Project(tmp_path / "later", views=capture.views, memory=capture.memory(0.05),
                      trajectories={"path": _traj(capture)})
    ws = Workspace(project=project)
    run_job(generate_job("path", options=GenerateOptions(segment_length=3)), ws)
    assert not (tmp_path / "later").exists() and sum(len(f) for f in ws.pending_frames.values()) == 4
    save_project(ws)
    assert ws.saved and not ws.pending_frames
    assert [i for _, i, _ in Project.load(tmp_path / "later").generated_frames()] == [0, 1, 2, 3]


def test_regenerating_one_segment_keeps_the_others(tmp_path, capture):
    ws = _saved_workspace(tmp_path, capture)
    run_job(generate_job("path", options=GenerateOptions(segment_length=2)), ws)
    first = {p.name: p.read_bytes() for p in ws.project.generated_frame_paths()}
    result = run_job(generate_job("path", options=GenerateOptions(segment_length=2), only_segments={1}), ws)
    assert result.segments == (1,)
    assert sorted(s.segment_id for s in ws.project.segments) == [0, 1]
    assert sorted(p.name for p in ws.project.generated_frame_paths()) == sorted(first)
    assert not list((ws.project.root / "segments").glob(".staging_*"))


def test_generator_specs_build_from_a_context():
    spec = generator_spec("ibr")
    assert spec.options_from({"angle_scale_deg": 5.0}).angle_scale_deg == 5.0
    with pytest.raises(ValueError, match="no option"):
        spec.options_from({"bogus": 1})
    with pytest.raises(ValueError, match="available"):
        make_generator("nope")
    cache = GeneratorCache()
    ctx = GeneratorContext(device="cpu")
    assert cache.get("ibr", ctx) is cache.get("ibr", ctx) and cache.builds == 1
    assert cache.get("ibr", ctx, {"angle_scale_deg": 5.0}) is not cache.get("ibr", ctx) and cache.builds == 2
    cache.invalidate("ibr")
    cache.get("ibr", ctx)
    assert cache.builds == 3


def test_workspace_scene_is_the_projects(capture):
    ws = Workspace()
    assert ws.memory is None and ws.views is None
    ws.memory = capture.memory(0.05)
    ws.views = capture.views
    assert ws.project.memory is ws.memory and ws.project.views is ws.views
    assert len(ws.memory) == len(capture.memory(0.05)) > 0


def test_generate_lowers_the_gil_switch_interval_only_while_it_runs(tmp_path, capture):
    """The job keeps Python's switch interval short (the engine thread launches many small
    kernels between the worker threads' turns) and gives the old value back when it ends,
    on success and on failure."""
    import sys

    from engine.workflows.generate import GENERATE_SWITCH_INTERVAL_S

    ws = _saved_workspace(tmp_path, capture)
    before = sys.getswitchinterval()
    seen = []
    run_job(generate_job("path", options=GenerateOptions(segment_length=2),
                         on_frame=lambda i, f: seen.append(sys.getswitchinterval())), ws)
    assert seen and max(seen) <= GENERATE_SWITCH_INTERVAL_S
    assert sys.getswitchinterval() == before

    def boom(i, f):
        raise RuntimeError("stop")
    with pytest.raises(RuntimeError, match="stop"):
        run_job(generate_job("path", options=GenerateOptions(segment_length=2), on_frame=boom), ws)
    assert sys.getswitchinterval() == before
