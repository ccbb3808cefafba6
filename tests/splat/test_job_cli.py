"""Training as a job on a project: checkpoint save / resume / cancel, the CLI, the export."""
from __future__ import annotations

import json

import pytest

from engine.events import SplatTrainingProgress
from engine.generate.protocol import CancelToken, Cancelled
from engine.project import Project
from engine.session import run_job
from engine.workflows import Workspace
from engine.splat.checkpoint import CHECKPOINT, SPLAT_PLY, load_checkpoint, load_trained_splats
from engine.splat.job import splat_train_job


def _state(root):
    project = Project.load(root, device="cpu")
    return Workspace(project=project, saved=True)


def test_train_save_resume(tiny_project):
    root = tiny_project.root
    first = run_job(splat_train_job(30, device="cpu"), _state(root))
    assert not first.resumed and first.step == 30 and first.held_out_views == 2 and first.train_views == 8
    assert (root / CHECKPOINT).exists() and (root / SPLAT_PLY).exists()
    saved = load_trained_splats(root)
    assert len(saved) == first.num_splats and saved.sh_degree == 3
    second = run_job(splat_train_job(20, device="cpu"), _state(root))
    assert second.resumed and second.step == 50 and second.steps_run == 20
    assert abs(second.psnr_before - first.psnr_after) < 1e-4       # resumed exactly where it stopped
    assert load_checkpoint(root)["step"] == 50


def test_cancel_saves_a_checkpoint(tiny_project):
    """Cancelled at its first progress event (every 5th step here, not the default 100th: the
    claim is the same and it costs 5 training steps instead of ~100)."""
    from dataclasses import replace

    from engine.splat.train import scaled_schedule

    options = replace(scaled_schedule(400), init_opacity=None, progress_every=5)   # as the job's default
    cancel = CancelToken()
    seen = []

    def on_event(e):
        if isinstance(e, SplatTrainingProgress):
            seen.append(e.iteration)
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_job(splat_train_job(400, options, device="cpu"), _state(tiny_project.root), cancel, on_event)
    assert load_checkpoint(tiny_project.root)["step"] == seen[0] == 5


def test_cli_reports_psnr_before_and_after(tiny_project, capsys):
    from engine.cli import main

    assert main(["splat", str(tiny_project.root), "--iterations", "60", "--device", "cpu", "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["command"] == "splat" and summary["steps_run"] == 60
    assert summary["psnr_after"] > summary["psnr_before"]
    assert "held-out PSNR (2 views): before" in out


def test_cli_errors_without_views(tmp_path, capsys):
    from engine.cli import main
    from engine.ingest.views import ViewBank

    Project(tmp_path / "empty", views=ViewBank()).save()
    assert main(["splat", str(tmp_path / "empty"), "--device", "cpu"]) == 2
    assert "no captured views" in capsys.readouterr().err


def test_damaged_checkpoint_names_the_file(tiny_project):
    (tiny_project.root / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    (tiny_project.root / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint.pt: damaged"):
        run_job(splat_train_job(5, device="cpu"), _state(tiny_project.root))
