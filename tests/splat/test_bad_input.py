"""Bad input: no captured views, an empty or tiny memory, running out of device memory."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.ingest.views import ViewBank
from engine.memory import GeometryMemory
from engine.project import Project
from engine.splat.data import split_views
from engine.splat.job import trainer_for_project
from engine.splat.model import SplatInitOptions, splats_from_memory
from engine.splat.params import splats_from_points
from engine.splat.train import SplatOutOfMemory, SplatTrainer, scaled_schedule
from tests.splat.conftest import tiny_memory


def test_no_captured_views(tmp_path, tiny_capture):
    project = Project(tmp_path / "p", views=ViewBank(), memory=tiny_memory(tiny_capture))
    with pytest.raises(ValueError, match="no captured views"):
        trainer_for_project(project, device="cpu")
    with pytest.raises(ValueError, match="no captured views"):
        split_views(ViewBank(), "cpu")


def test_empty_memory(tmp_path, tiny_capture):
    project = Project(tmp_path / "p", views=tiny_capture.views, memory=GeometryMemory(0.5, device="cpu"))
    with pytest.raises(ValueError, match="memory is empty"):
        trainer_for_project(project, device="cpu")


def test_a_handful_of_points_still_trains(tiny_capture):
    mem = GeometryMemory(0.5, device="cpu")
    v = tiny_capture.views[3]
    ok = v.depth > 0
    pts = v.camera.backproject(v.depth)[ok][::200][:5]
    mem.insert_points(pts, v.image[ok][::200][:5] / 255.0, np.ones(len(pts)))
    splats = splats_from_memory(mem, SplatInitOptions())
    assert len(splats) == 5
    train, test = split_views(tiny_capture.views, "cpu", 1.0, 8)
    sched = scaled_schedule(60)
    opts = replace(sched, densify=replace(sched.densify, refine_start_iter=10, refine_every=10, grow_grad2d=1e-5))
    trainer = SplatTrainer(splats, train, test, opts, "cpu")
    before = trainer.evaluate().psnr
    for _ in trainer.run(60):
        pass
    assert trainer.num_splats > 5                      # densification grew them
    assert np.isfinite(trainer.evaluate().psnr) and trainer.evaluate().psnr > before


def _oom_trainer(tiny_capture, limit: int, **kw):
    splats = splats_from_memory(tiny_memory(tiny_capture, 0.6), SplatInitOptions())
    train, _ = split_views(tiny_capture.views, "cpu", 1.0, 8)
    trainer = SplatTrainer(splats, train, [], replace(scaled_schedule(20), **kw), "cpu")
    real = trainer._step_once

    def step(view):          # device memory that holds at most `limit` Gaussians
        if trainer.num_splats > limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(view)

    trainer._step_once = step
    return trainer, len(splats)


def test_out_of_memory_reduces_the_count_and_reports_it(tiny_capture):
    trainer, n = _oom_trainer(tiny_capture, limit=150, min_splats_on_oom=10)
    events = list(trainer.run(3))
    assert trainer.num_splats <= 150 and trainer.max_splats == trainer.num_splats
    assert trainer.step == 3
    notes = [e.message for e in events if getattr(e, "message", "") and "out of memory" in e.message]
    assert notes and f"{n:,} Gaussians" in notes[0]


def test_out_of_memory_below_the_minimum_is_a_clear_error(tiny_capture):
    trainer, _ = _oom_trainer(tiny_capture, limit=5, min_splats_on_oom=100)
    with pytest.raises(SplatOutOfMemory, match="lower resolution"):
        list(trainer.run(2))


def test_points_init_needs_points():
    with pytest.raises(ValueError, match="no points"):
        splats_from_points(np.zeros((0, 3)), np.zeros((0, 3)))
    one = splats_from_points(np.zeros((1, 3)), np.ones((1, 3)))
    assert len(one) == 1 and np.isfinite(one.log_scales).all()
