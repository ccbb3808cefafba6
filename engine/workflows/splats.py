"""Train (or resume) the open project's Gaussian splats (CLI ``splat``, studio menu)."""
from __future__ import annotations


def default_iterations(device) -> int:
    """Steps a Train Splats run takes by default: 7k on CUDA (under a minute on an H200),
    a few hundred on a CPU."""
    from engine.device import resolve_device

    return 7000 if resolve_device(device).type == "cuda" else 300


def train_splats_job(iterations: int | None = None, options=None, resume: bool = True, scale: float | None = None,
                     holdout_every: int = 8):
    """Session job: engine.splat.job.splat_train_job on the open, saved project (checkpoints
    live in its folder); generators built on the old splats are dropped afterwards."""
    if iterations is not None and iterations <= 0:
        raise ValueError(f"iterations must be positive, got {iterations}")

    def job(ws, cancel):
        from engine.splat.job import splat_train_job

        if ws.project is None:
            raise ValueError("Training splats needs a project: open or save one first")
        if not ws.saved:
            raise ValueError("save the project first (File > Save): splat checkpoints live in its folder")
        device = ws.memory.device if ws.memory is not None else ws.settings.device
        steps = iterations or default_iterations(device)
        try:
            return (yield from splat_train_job(steps, options, device=device, resume=resume, scale=scale,
                                               holdout_every=holdout_every)(ws, cancel))
        finally:
            ws.generators.invalidate("splat")
    return job
