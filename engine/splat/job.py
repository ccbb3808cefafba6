"""Splat training on the open project as a Session job (and for the CLI): start from the
geometry memory's captured points or resume from PROJECT/splats/checkpoint.pt, train,
report held-out PSNR before and after, save the checkpoint (also when cancelled)."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from engine.device import resolve_device
from engine.generate.protocol import Cancelled
from engine.splat.checkpoint import load_checkpoint, restore_trainer, save_checkpoint
from engine.splat.data import split_views
from engine.splat.model import SplatInitOptions, splats_from_memory
from engine.splat.train import SplatTrainer, TrainOptions, scaled_schedule


#: default cap on the CPU (the torch rasterizer: ~25 ms per step for 1k Gaussians at 64x36)
CPU_MAX_SPLATS = 100_000


@dataclass(frozen=True)
class SplatTrainSummary:
    """What a training run did. PSNRs in dB on the held-out views (None without any)."""

    steps_run: int
    step: int
    psnr_before: float | None
    psnr_after: float | None
    held_out_views: int
    train_views: int
    num_splats: int
    seconds: float
    device: str
    backend: str
    resumed: bool
    notes: tuple[str, ...] = ()


def default_scale(device, views) -> float:
    """Training resolution factor: full size on CUDA; on the CPU at most ~320 px wide."""
    if device.type == "cuda" or not len(views):
        return 1.0
    return min(1.0, 320.0 / max(v.camera.width for v in views))


def trainer_for_project(project, options: TrainOptions | None = None, device=None, resume: bool = True,
                        scale: float | None = None, holdout_every: int = 8,
                        iterations: int | None = None, root=None) -> tuple[SplatTrainer, bool]:
    """A trainer on the project's captured views (every ``holdout_every``-th held out),
    resumed from its checkpoint when there is one (under ``root``, default the project's
    folder); returns (trainer, resumed). Without ``options`` the schedule is
    :func:`scaled_schedule` for (checkpoint step + iterations)."""
    device = resolve_device(device)
    if project.views is None or len(project.views) == 0:
        raise ValueError(f"{project.root}: no captured views to train the splats on (ingest and track first)")
    if project.memory is None or project.memory.is_empty:
        raise ValueError(f"{project.root}: the geometry memory is empty; the splats start from its points "
                         "(track the capture first)")
    scale = default_scale(device, project.views) if scale is None else scale
    train, test = split_views(project.views, device, scale, holdout_every)
    state = load_checkpoint(project.root if root is None else root) if resume else None
    if options is None:
        # dense memory points start with their confidence-based opacity (the untrained splat
        # export is then the "before" of the held-out PSNR), not 3DGS's 0.1 for SfM points
        options = replace(scaled_schedule(max((state or {}).get("step", 0) + (iterations or 0), 1)),
                          init_opacity=None)
        if device.type != "cuda":
            options = replace(options, max_splats=min(options.max_splats, CPU_MAX_SPLATS))
    captured = bool((project.memory.rows.segment < 0).any())
    splats = splats_from_memory(project.memory, SplatInitOptions(sh_degree=0), "captured" if captured else "all")
    trainer = SplatTrainer(splats, train, test, options, device)
    if state is not None:
        restore_trainer(trainer, state)
    return trainer, state is not None


def splat_train_job(iterations: int, options: TrainOptions | None = None, device=None, resume: bool = True,
                    scale: float | None = None, save: bool = True, holdout_every: int = 8, root=None):
    """Session job: train ``iterations`` steps on ``state.project``; returns SplatTrainSummary.
    The schedule defaults to :func:`scaled_schedule` for the run's total length. Checkpoints
    under ``root`` (default: the project's folder)."""
    def job(state, cancel):
        project = state.project
        if project is None:
            raise ValueError("no project is open")
        folder = project.root if root is None else root
        t0 = time.perf_counter()
        trainer, resumed = trainer_for_project(project, options, device, resume, scale, holdout_every,
                                               iterations=iterations, root=folder)
        before = trainer.evaluate()
        first = trainer.step
        try:
            for event in trainer.run(iterations, cancel):
                yield event
            result = trainer.evaluate()
        except Cancelled:
            if save:
                save_checkpoint(trainer, folder)
            raise
        if save:
            save_checkpoint(trainer, folder)
        return SplatTrainSummary(trainer.step - first, trainer.step, before and before.psnr, result and result.psnr,
                                 len(trainer.test_views), len(trainer.train_views), trainer.num_splats,
                                 time.perf_counter() - t0, str(trainer.device), trainer.backend, resumed,
                                 tuple(trainer.notes))
    return job
