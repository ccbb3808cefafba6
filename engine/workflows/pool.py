"""Generation of many camera paths over many projects on a pool of Ray actors, one per GPU,
each building its generator once (engine.generate.registry.GeneratorCache) and keeping it
for every project it is given (a diffusion model loads its weights once per worker, not once
per path).

A project's paths run in order on one worker, each through the same ``generate_job`` as
``anyrecon generate``: a path is conditioned on the memory the paths before it grew, as one
path's segments are on the segments before them, so each project ends up exactly as
sequential ``anyrecon generate`` runs leave it. Different projects run in parallel, one per
worker at a time. Without GPUs the workers run on CPU cores (``num_gpus=0``). Only paths,
names and numbers travel through Ray; frames and memory are written into the project folders
(on a cluster: a shared folder).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PathRequest:
    """One camera path to generate: ``preset`` (orbit, spiral, ...) or ``trajectory`` (a
    camera-path file), stored in the project as ``name``; ``frames``: resample to this many."""

    name: str
    preset: str | None = None
    trajectory: str | None = None
    frames: int | None = None


@dataclass(frozen=True)
class PathOutcome:
    project: str
    path: str
    frames: int = 0
    segments: tuple[int, ...] = ()
    seconds: float = 0.0
    worker: int = -1
    error: str = ""
    skipped: bool = False        # done by an earlier run (resume)


@dataclass
class PoolSummary:
    outcomes: list[PathOutcome]
    builds: list[int]            # generators each worker built
    seconds: float
    workers: int = 0
    failed: list[PathOutcome] = field(init=False)

    def __post_init__(self) -> None:
        self.failed = [o for o in self.outcomes if o.error]

    def table(self) -> str:
        lines = ["| project | path | frames | segments | worker | seconds | result |", "|---|---|---|---|---|---|---|"]
        for o in self.outcomes:
            lines.append(f"| {Path(o.project).name} | {o.path} | {o.frames} | {len(o.segments)} | {o.worker} | "
                         f"{o.seconds:.1f} | {'ok' if not o.error else 'FAILED: ' + o.error} |")
        return "\n".join(lines)


def path_trajectory(project, request: PathRequest):
    """The request's camera path in ``project`` (a preset placed in its memory, or a file)."""
    from engine.workflows.generate import path_in_project

    if not (request.trajectory or request.preset):
        raise ValueError(f"path {request.name!r}: give a preset or a trajectory file")
    return path_in_project(project, request.preset, request.trajectory, request.frames)


def _marker(project_root, name: str) -> Path:
    import re

    return Path(project_root) / "batch" / ("generate_" + re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".json")


def generate_paths(project_root, requests: list[PathRequest], options, cache=None, device=None,
                   worker: int = -1, resume: bool = False) -> list[PathOutcome]:
    """Generate ``requests`` in order into the project at ``project_root`` (saved after each
    path, like ``anyrecon generate``); ``cache``: the GeneratorCache to build generators in
    (kept by the caller across projects). A failing path is reported; the others still run.
    ``resume``: a path marked done by an earlier run (``batch/generate_<name>.json``) is skipped."""
    import json
    from dataclasses import asdict

    from engine.atomic_io import write_atomic
    from engine.generate.registry import GeneratorCache
    from engine.project import Project
    from engine.session import run_job
    from engine.workflows import EngineSettings, Workspace, generate_job

    cache = cache if cache is not None else GeneratorCache()
    try:
        project = Project.load(project_root, device=device)
    except Exception as exc:  # noqa: BLE001 - reported per path
        return [PathOutcome(str(project_root), r.name, worker=worker, error=_one_line(exc)) for r in requests]
    ws = Workspace(project=project, saved=True, settings=EngineSettings(device=device), generators=cache)
    out = []
    for r in requests:
        t0 = time.perf_counter()
        if resume and _marker(project_root, r.name).exists():
            done = json.loads(_marker(project_root, r.name).read_text())
            out.append(PathOutcome(str(project_root), r.name, done["frames"], tuple(done["segments"]),
                                   worker=worker, skipped=True))
            continue
        try:
            result = run_job(generate_job(r.name, path_trajectory(project, r), options), ws)
            project.save()
            out.append(PathOutcome(str(project_root), r.name, result.frames, result.segments,
                                   time.perf_counter() - t0, worker))
            if resume:
                write_atomic(_marker(project_root, r.name), json.dumps(asdict(out[-1])).encode())
        except Exception as exc:  # noqa: BLE001 - one path fails alone
            out.append(PathOutcome(str(project_root), r.name, seconds=time.perf_counter() - t0, worker=worker,
                                   error=_one_line(exc)))
    return out


def _one_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


class GeneratorWorker:
    """A Ray actor: one GeneratorCache for its life, so its generator is built once and
    serves every project it is given. The previous project stays referenced until the next
    one is done: generators may cache per-view work keyed by object identity, and a freed
    object's id could otherwise be reused by the next project's."""

    def __init__(self, index: int, device: str | None = None) -> None:
        from engine.generate.registry import GeneratorCache

        self.index, self.device = index, device
        self.cache = GeneratorCache()
        self._previous = None

    def run(self, project_root: str, requests: list[PathRequest], options, resume: bool = False) -> list[PathOutcome]:
        outcomes = generate_paths(project_root, requests, options, self.cache, self.device, self.index, resume)
        self._previous = (project_root, outcomes)
        return outcomes

    def builds(self) -> int:
        return self.cache.builds


def run_generation_pool(jobs: list[tuple[str, list[PathRequest]]], options, address: str | None = None,
                        num_cpus: int | None = None, workers: int | None = None, resume: bool = False,
                        on_progress: Callable[[str], None] | None = None) -> PoolSummary:
    """Generate ``jobs`` ([(project folder, [PathRequest, ...])]) on a pool of Ray actors: one
    per GPU of the cluster (``workers`` overrides; without GPUs: one, each on a CPU core).
    Outcomes come back in the order of ``jobs``; ``resume``: skip paths an earlier run finished."""
    from engine.workflows.batch import start_ray

    options.validate()
    if not jobs:
        raise ValueError("no projects to generate")
    ray = start_ray(address, num_cpus)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    count = max(1, min(len(jobs), workers or gpus or 1))
    actor = ray.remote(num_cpus=0 if gpus else 1, num_gpus=1 if gpus else 0)(GeneratorWorker)
    pool = [actor.remote(i, "cuda" if gpus else None) for i in range(count)]
    started = time.perf_counter()
    idle, pending, results = list(range(count)), {}, {}
    queue = list(enumerate(jobs))
    while queue or pending:
        while queue and idle:
            k, (project, requests) = queue.pop(0)
            w = idle.pop(0)
            pending[pool[w].run.remote(str(project), list(requests), options, resume)] = (k, w)
        ready, _ = ray.wait(list(pending), num_returns=1)
        k, w = pending.pop(ready[0])
        idle.append(w)
        try:
            results[k] = ray.get(ready[0])
        except Exception as exc:  # noqa: BLE001 - the worker died: its project fails, the pool goes on
            results[k] = [PathOutcome(str(jobs[k][0]), r.name, worker=w, error=_one_line(getattr(exc, "cause", None) or exc))
                          for r in jobs[k][1]]
        if on_progress is not None:
            done = len(results)
            eta = (time.perf_counter() - started) / done * (len(jobs) - done)
            on_progress(f"[{done / len(jobs) * 100:5.1f}%] {Path(jobs[k][0]).name}: "
                        f"{sum(not o.error for o in results[k])}/{len(results[k])} paths on worker {w} "
                        f"({done}/{len(jobs)} projects, ETA {eta:.0f} s)")
    builds = ray.get([a.builds.remote() for a in pool])
    for a in pool:
        ray.kill(a)
    outcomes = [o for k in range(len(jobs)) for o in results[k]]
    return PoolSummary(outcomes, builds, time.perf_counter() - started, count)
