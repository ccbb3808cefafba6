"""Splats after tracking / import (engine.workflows.splats): by default on CUDA only; an unsaved
scene trains into a scratch folder, the auto generator finds the splats there, and the first
save carries them into the project folder."""
from __future__ import annotations

from engine.events import Progress
from engine.session import run_job
from engine.workflows import Workspace, auto_splats_job, save_project, splats_by_default
from engine.workflows.splats import CPU_HINT, splat_folder
from tests.splat.conftest import tiny_memory


def _unsaved(tiny_capture, tmp_path):
    from engine.project import Project

    ws = Workspace()
    ws.replace_scene(Project(tmp_path / "not_yet", "tiny", tiny_capture.views, tiny_memory(tiny_capture)), saved=False)
    return ws


def test_on_the_cpu_splats_do_not_train_by_themselves_and_it_says_how(tiny_capture, tmp_path):
    ws = _unsaved(tiny_capture, tmp_path)
    assert not splats_by_default(ws)
    events = []
    assert run_job(auto_splats_job(), ws, on_event=events.append) is None
    assert any(isinstance(e, Progress) and e.message == CPU_HINT for e in events)
    assert "anyrecon splat" in CPU_HINT


def test_an_unsaved_scene_trains_into_scratch_and_save_carries_the_splats(tiny_capture, tmp_path, monkeypatch):
    monkeypatch.setenv("ANYRECON_SCRATCH", str(tmp_path / "scratch"))
    ws = _unsaved(tiny_capture, tmp_path)
    folder = splat_folder(ws)
    assert folder.parent == tmp_path / "scratch" and folder.name == ws.project.id
    summary = run_job(auto_splats_job(requested=True, iterations=3), ws)
    assert summary.steps_run == 3 and (folder / "splats" / "splats.ply").is_file()
    assert not (tmp_path / "not_yet").exists()
    ctx = ws.generator_context()
    assert ctx.project_root == folder                               # the auto generator finds them
    auto = ws.generators.get("auto", ctx, {"splats": "always"})
    assert auto.uses_splats
    save_project(ws, tmp_path / "saved")
    assert (tmp_path / "saved" / "splats" / "checkpoint.pt").is_file()
    assert ws.generator_context().project_root == tmp_path / "saved"
