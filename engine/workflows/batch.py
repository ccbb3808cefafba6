"""Batches of captures on Ray: every input (video, photo folder, posed dataset) becomes a
project under ``OUT/<name>``, optionally with trained splats and exports.

One Ray task chain per input: ``scene`` -> ``splats`` -> ``export:<format>``..., each stage a
task with its own resources (splats ask for a GPU when the cluster has one) and retries for
crashed workers. A stage calls the same workflow functions as the CLI and the studio, writes
its output into the project and then a marker ``OUT/<name>/batch/<stage>.json``; a rerun (or a
retried task) skips stages whose marker exists, so a restarted batch resumes where it stopped.
Only small metadata (paths, names, numbers) travels through Ray's object store.

Without an address a local Ray starts with this machine's cores, bound to loopback.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

MARKERS = "batch"


@dataclass(frozen=True)
class BatchOptions:
    """exports: export formats per project (engine.export names); splats: train splats (None:
    when the cluster has a GPU, as ``anyrecon track`` does on CUDA);
    splat_iterations: None = the device's default; retries: re-runs of a stage whose worker
    died; max_keyframes / holdout: as ``anyrecon track``; windows: track videos as parallel
    windows (``anyrecon track --parallel-windows``; its tasks run on the same Ray)."""

    exports: tuple[str, ...] = ()
    splats: bool | None = None
    splat_iterations: int | None = None
    retries: int = 2
    max_keyframes: int = 150
    holdout: int = 0
    windows: object = None       # engine.tracking.windows.WindowOptions: videos tracked window-parallel

    def stages(self, gpu: bool = False) -> list[str]:
        """The stage chain of one input; ``gpu``: the cluster has one (splats by default)."""
        splats = gpu if self.splats is None else self.splats
        return ["scene"] + (["splats"] if splats else []) + [f"export:{f}" for f in self.exports]

    def validate(self) -> None:
        from engine.export import EXPORTERS

        unknown = [f for f in self.exports if f not in EXPORTERS]
        if unknown:
            raise ValueError(f"unknown export format(s) {', '.join(unknown)}; available: {', '.join(EXPORTERS)}")
        if self.retries < 0 or self.max_keyframes < 2 or self.holdout < 0:
            raise ValueError("retries must be >= 0, max-keyframes >= 2 and holdout >= 0")
        if self.splat_iterations is not None and self.splat_iterations < 1:
            raise ValueError("splat iterations must be at least 1")
        if self.windows is not None:
            self.windows.validate()


@dataclass(frozen=True)
class StageResult:
    """What one stage of one input did (small: it crosses Ray's object store)."""

    input: str
    project: str
    stage: str
    skipped: bool
    seconds: float
    summary: str = ""


@dataclass
class InputOutcome:
    input: str
    project: str
    stages: list[StageResult] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class BatchSummary:
    outcomes: list[InputOutcome]
    seconds: float

    @property
    def failed(self) -> list[InputOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def table(self) -> str:
        lines = ["| input | project | stages run | skipped | seconds | result |", "|---|---|---|---|---|---|"]
        for o in self.outcomes:
            ran = [s for s in o.stages if not s.skipped]
            lines.append(f"| {Path(o.input).name} | {o.project} | {len(ran)} | {len(o.stages) - len(ran)} | "
                         f"{sum(s.seconds for s in o.stages):.1f} | {'ok' if o.ok else 'FAILED: ' + o.error} |")
        return "\n".join(lines)


def project_names(inputs: list[Path]) -> list[str]:
    """A folder name per input: its stem made file-system safe, unique within the batch."""
    from engine.workflows.inputs import VIDEO_EXT

    names, seen = [], set()
    for path in inputs:
        path = Path(path)
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem if path.suffix.lower() in VIDEO_EXT else path.name)
        base = base.strip("._") or "input"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _marker(project: Path, stage: str) -> Path:
    return project / MARKERS / (stage.replace(":", "_") + ".json")


def run_stage(input_path: str, project_dir: str, stage: str, options: BatchOptions, *after) -> StageResult:
    """Run one stage (idempotent: a finished stage, marked on disk, is skipped). ``after``
    are the results of the stages it waits for (Ray passes them once they are done)."""
    from engine.atomic_io import write_atomic

    project = Path(project_dir)
    marker = _marker(project, stage)
    if marker.exists():
        done = json.loads(marker.read_text())
        return StageResult(input_path, project_dir, stage, True, 0.0, done.get("summary", ""))
    t0 = time.perf_counter()
    if stage == "scene":
        summary = _scene(Path(input_path), project, options)
    elif stage == "splats":
        summary = _splats(project, options)
    elif stage.startswith("export:"):
        summary = _export(project, stage.split(":", 1)[1])
    else:
        raise ValueError(f"unknown batch stage {stage!r}")
    result = StageResult(input_path, project_dir, stage, False, time.perf_counter() - t0, summary)
    write_atomic(marker, json.dumps(asdict(result)).encode())
    return result


def _scene(source: Path, project: Path, options: BatchOptions) -> str:
    from engine.ingest import IngestOptions
    from engine.session import run_job
    from engine.tracking.pipeline import TrackOptions
    from engine.workflows.inputs import classify_input, scene_job_for
    from engine.workflows.project_io import save_project
    from engine.workflows.scene import ImportOptions
    from engine.workflows.workspace import Workspace

    found = classify_input(source)
    if found.kind not in ("video", "images", "colmap", "transforms", "llff"):
        raise ValueError(found.message if found.kind == "error" else f"{source}: a {found.kind} is not a capture")
    if (project / MARKERS).is_dir() and project.exists():
        shutil.rmtree(project)            # an interrupted earlier attempt of this batch: start over
    track_options = TrackOptions(ingest=IngestOptions(max_keyframes=options.max_keyframes))
    if found.kind == "video" and options.windows is not None:
        from engine.workflows.scene import open_capture_job
        from engine.workflows.windows import track_factory

        job = open_capture_job(found.path, track_options, track=track_factory(options.windows))
    else:
        job = scene_job_for(found, track_options, ImportOptions(holdout=options.holdout))
    ws = Workspace()
    loaded = run_job(job, ws)
    ws.project.name = project.name
    save_project(ws, project)
    return f"{loaded.num_views} views, {loaded.num_points} points ({found.kind})"


def _splats(project: Path, options: BatchOptions) -> str:
    from engine.project import Project
    from engine.session import run_job
    from engine.workflows.splats import train_splats_job
    from engine.workflows.workspace import Workspace

    ws = Workspace(project=Project.load(project), saved=True)
    s = run_job(train_splats_job(options.splat_iterations), ws)
    after = "n/a" if s.psnr_after is None else f"{s.psnr_after:.2f} dB"
    return f"{s.steps_run} steps, {s.num_splats} Gaussians, held-out {after}"


def _export(project: Path, fmt: str) -> str:
    from engine.export import EXPORTERS, export
    from engine.project import Project

    out = project / "exports" / f"{fmt}{EXPORTERS[fmt].suffix}"
    result = export(Project.load(project), fmt, out)
    return f"{result.count} {result.count_label} -> {result.out}"


# ---------------------------------------------------------------------------------- driver
def start_ray(address: str | None = None, num_cpus: int | None = None):
    """Connect to ``address`` (a running cluster) or start a local Ray on loopback with this
    machine's cores (no dashboard, token auth off: nothing listens beyond 127.0.0.1)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray renices its workers to 15 (the driver first); here the workers do the work, and on a
    # shared machine a niced worker gets a fraction of a core
    os.environ.setdefault("RAY_worker_niceness", "0")
    if not address:
        # Ray resolves 127.0.0.1 to the host's primary address for any "cluster" node; a node
        # that is not a cluster node (Ray's own switch, read by its processes from the
        # environment) takes loopback, and its servers bind there
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray._private import ray_constants

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray_constants.ENABLE_RAY_CLUSTER = False     # in case ray was imported before the variable was set
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 object_store_memory=150 * 2**20)
    return ray


def run_batch(inputs, out: Path | str, options: BatchOptions = BatchOptions(), address: str | None = None,
              num_cpus: int | None = None, on_progress: Callable[[str], None] | None = None,
              stage_fn: Callable = run_stage) -> BatchSummary:
    """Run every input's stage chain on Ray; returns per input what ran, what was skipped and
    any error (a failed input never stops the others). ``stage_fn`` is ``run_stage`` (tests wrap it)."""
    options.validate()
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise ValueError("no inputs given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ray = start_ray(address, num_cpus)
    gpus = ray.cluster_resources().get("GPU", 0)
    cpu_task = ray.remote(num_cpus=1, max_retries=options.retries)(stage_fn)
    gpu_task = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=options.retries)(stage_fn)
    started = time.perf_counter()
    outcomes, pending = [], {}
    for path, name in zip(inputs, project_names(inputs)):
        outcome = InputOutcome(str(path), str(out / name))
        outcomes.append(outcome)
        previous = None
        for stage in options.stages(gpu=bool(gpus)):
            task = gpu_task if stage == "splats" else cpu_task
            args = (str(path), outcome.project, stage, options) + ((previous,) if previous is not None else ())
            previous = task.remote(*args)
            pending[previous] = (outcome, stage)
    total = len(pending)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
        for ref in ready:
            outcome, stage = pending.pop(ref)
            try:
                result = ray.get(ref)
                outcome.stages.append(result)
                state = "skipped (done before)" if result.skipped else f"done in {result.seconds:.1f} s"
            except Exception as exc:  # noqa: BLE001 - the input fails alone; its later stages fail with it
                outcome.error = outcome.error or _cause(exc)
                state = "failed"
            if on_progress is not None:
                done = total - len(pending)
                eta = (time.perf_counter() - started) / done * (total - done)
                on_progress(f"[{done / total * 100:5.1f}%] {Path(outcome.input).name}: {stage} {state} "
                            f"({done}/{total} stages, ETA {eta:.0f} s)")
    return BatchSummary(outcomes, time.perf_counter() - started)


def _cause(exc: Exception) -> str:
    """The original error of a failed Ray task, in one line."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:300]
