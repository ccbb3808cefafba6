"""The generation pool on a local Ray with 2 CPUs: three tiny projects, two paths each, on two
CPU workers (``num_gpus=0``) with the default generator: each worker builds its generator
once (one of them serves two projects with it), every project ends up as sequential
``generate`` runs leave it (slow), and a rerun with ``resume`` skips the finished paths; a bad
project or path fails alone; ``anyrecon batch PROJECT --generate`` generates and resumes."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.project import Project, read_image

# skipped without Ray; found, not imported: importing ray costs ~2 CPU-s, which every xdist
# worker would pay at collection, while only the worker running the "ray" unit needs it
# (the local_ray fixture imports it)
if importlib.util.find_spec("ray") is None:
    pytest.skip("needs ray", allow_module_level=True)


def _project(root: Path, arc: float) -> Path:
    from engine.session import run_job
    from engine.workflows import Workspace, import_dataset_job, save_project
    from tests.test_batch import _dataset

    ds = _dataset(root.parent / f"{root.name}_dataset", arc)
    ws = Workspace()
    run_job(import_dataset_job(ds / "transforms.json"), ws)
    save_project(ws, root)
    return root


@pytest.fixture(scope="module")
def one_project(tmp_path_factory):
    return _project(tmp_path_factory.mktemp("pool") / "hall", 50.0)


@pytest.fixture(scope="module")
def projects(one_project):
    return [one_project] + [_project(one_project.parent / name, arc) for name, arc in (("garden", 60.0), ("attic", 70.0))]


def _frames(root: Path) -> dict[tuple[str, int], np.ndarray]:
    project = Project.load(root)
    by_segment = {s.segment_id: s.trajectory for s in project.segments}
    return {(by_segment[sid], idx): read_image(path) for sid, idx, path in project.generated_frames()}


@pytest.mark.slow   # three projects generated twice (~45 s on 2 cores)
def test_the_pool_builds_each_generator_once_and_equals_the_sequential_run(local_ray, projects, tmp_path):
    from engine.generate.registry import GeneratorCache
    from engine.workflows import GenerateOptions
    from engine.workflows.pool import PathRequest, generate_paths, run_generation_pool

    requests = [PathRequest("orbit", preset="orbit", frames=2), PathRequest("dolly", preset="dolly-in", frames=2)]
    options = GenerateOptions(segment_length=1)           # two segments per path: the second one
    sequential, pooled = [], []                           # is conditioned on the first
    for p in projects:
        sequential.append(shutil.copytree(p, tmp_path / "seq" / p.name))
        pooled.append(shutil.copytree(p, tmp_path / "pool" / p.name))
    cache = GeneratorCache()
    for p in sequential:
        assert not any(o.error for o in generate_paths(p, requests, options, cache))
    lines = []
    summary = run_generation_pool([(str(p), requests) for p in pooled], options, workers=2, resume=True,
                                  on_progress=lines.append)
    assert not summary.failed, summary.table()
    assert summary.workers == 2 and sorted(summary.builds) == [1, 1]      # 3 projects, 2 builds
    assert {o.worker for o in summary.outcomes} == {0, 1}
    assert [(Path(o.project).name, o.path) for o in summary.outcomes] == \
        [(p.name, r.name) for p in projects for r in requests]
    assert all(o.frames == 2 and len(o.segments) == 2 for o in summary.outcomes)
    assert len(lines) == 3 and "ETA" in lines[-1]
    for a, b in zip(sequential, pooled):
        fa, fb = _frames(a), _frames(b)
        assert sorted(fa) == sorted(fb) and len(fa) == 4
        for key in fa:
            assert np.array_equal(fa[key], fb[key]), key
        ma, mb = Project.load(a).memory, Project.load(b).memory
        assert len(ma) == len(mb) > 0

    again = run_generation_pool([(str(p), requests) for p in pooled], options, workers=2, resume=True)
    assert all(o.skipped for o in again.outcomes) and sum(again.builds) == 0
    assert [(o.frames, o.segments) for o in again.outcomes] == [(o.frames, o.segments) for o in summary.outcomes]


def test_a_bad_project_fails_alone(local_ray, one_project, tmp_path):
    from engine.workflows import GenerateOptions
    from engine.workflows.pool import PathRequest, run_generation_pool

    good = shutil.copytree(one_project, tmp_path / "good")
    summary = run_generation_pool([(str(tmp_path / "missing"), [PathRequest("orbit", preset="orbit", frames=2)]),
                                   (str(good), [PathRequest("orbit", preset="orbit", frames=2),
                                                PathRequest("bad", preset="no-such-preset", frames=2)])],
                                  GenerateOptions(segment_length=2), workers=1)
    errors = [o.error for o in summary.outcomes]
    assert errors[0] and "missing" in errors[0]
    assert not errors[1] and summary.outcomes[1].frames == 2
    assert errors[2] and "no-such-preset" in errors[2]
    assert summary.builds == [1]          # one worker, two projects: its generator was built once


def test_batch_generates_paths_in_projects_and_a_rerun_skips_them(local_ray, one_project, tmp_path, capsys):
    import json

    from engine.cli import main

    project = shutil.copytree(one_project, tmp_path / "garden")
    args = ["batch", str(project), "--out", str(tmp_path / "out"), "--generate", "orbit", "--frames", "2",
            "--segment-length", "2", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["generate"] == [{"project": str(project), "path": "orbit", "frames": 2, "skipped": False, "error": ""}]
    assert len(_frames(project)) == 2
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["generate"][0]["skipped"] is True
