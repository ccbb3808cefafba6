"""``anyrecon batch`` on a local Ray with 2 CPUs: three tiny posed datasets and one bad input
give three projects equal to plain ``anyrecon track`` runs and one clear failure; a rerun skips
finished work; a worker killed mid-stage is retried; nothing listens beyond loopback."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.project import Project, write_image
from engine.workflows.batch import BatchOptions, project_names, run_batch, run_stage
from tests.conftest import make_capture

# skipped without Ray; found, not imported: importing ray costs ~2 CPU-s, which every xdist
# worker would pay at collection, while only the worker running the "ray" unit needs it
# (the local_ray fixture imports it)
if importlib.util.find_spec("ray") is None:
    pytest.skip("needs ray", allow_module_level=True)


def _dataset(root: Path, arc: float) -> Path:
    from engine.export.transforms import write_transforms

    cap = make_capture(n=5, width=128, height=72, arc_deg=arc)
    paths = [f"images/v{i}.png" for i in range(len(cap.cameras))]
    for rel, view in zip(paths, cap.views):
        write_image(root / rel, view.image)
    write_transforms(root / "transforms.json", cap.cameras, paths)
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("inputs")
    good = [_dataset(base / name, arc) for name, arc in (("hall", 50.0), ("garden", 60.0), ("attic", 70.0))]
    (base / "empty").mkdir()
    return good + [base / "empty"]


def _same_project(a: Path, b: Path) -> None:
    pa, pb = Project.load(a), Project.load(b)
    assert [v.name for v in pa.views] == [v.name for v in pb.views]
    for va, vb in zip(pa.views, pb.views):
        assert np.allclose(va.camera.world_from_cam, vb.camera.world_from_cam) and np.allclose(va.camera.K, vb.camera.K)
        assert np.array_equal(va.image, vb.image)
        both = (va.depth > 0) & (vb.depth > 0)
        assert both.sum() >= 0.98 * max((va.depth > 0).sum(), (vb.depth > 0).sum())
        assert np.allclose(va.depth[both], vb.depth[both], rtol=1e-3)
    assert abs(len(pa.memory) - len(pb.memory)) <= 0.01 * len(pb.memory)


@pytest.mark.slow   # three batch projects and three plain track runs
def test_a_batch_gives_the_projects_of_plain_track_runs(local_ray, inputs, tmp_path):
    from engine.cli import main

    lines = []
    summary = run_batch(inputs, tmp_path / "out", BatchOptions(exports=("points-ply",)), on_progress=lines.append)
    ok = [o for o in summary.outcomes if o.ok]
    assert len(ok) == 3 and len(summary.failed) == 1
    assert "no images" in summary.failed[0].error and summary.failed[0].input.endswith("empty")
    assert any("ETA" in line and "%" in line for line in lines)
    assert "FAILED" in summary.table()
    for outcome, source in zip(ok, inputs):
        plain = tmp_path / f"plain_{source.name}"
        assert main(["track", str(source / "transforms.json"), "--poses", str(source / "transforms.json"),
                     "--out", str(plain)]) == 0
        _same_project(Path(outcome.project), plain)
        assert (Path(outcome.project) / "exports" / "points-ply.ply").stat().st_size > 1000

    again = run_batch(inputs, tmp_path / "out", BatchOptions(exports=("points-ply",)))
    assert all(s.skipped for o in again.outcomes if o.ok for s in o.stages)
    assert len([o for o in again.outcomes if o.ok]) == 3


def crash_once(input_path, project_dir, stage, options, *after):
    """The worker dies (as if killed) in the middle of its first scene stage."""
    flag = Path(project_dir).parent / f".crashed_{Path(project_dir).name}"
    if stage == "scene" and not flag.exists():
        flag.write_text("killed")
        (Path(project_dir) / "batch").mkdir(parents=True, exist_ok=True)   # half-done work left behind
        os._exit(1)
    return run_stage(input_path, project_dir, stage, options, *after)


def test_a_killed_stage_is_retried_and_the_batch_completes(local_ray, inputs, tmp_path):
    summary = run_batch(inputs[:1], tmp_path / "out", BatchOptions(retries=2), stage_fn=crash_once)
    assert not summary.failed, summary.table()
    assert (tmp_path / "out" / ".crashed_hall").exists()
    assert json.loads((tmp_path / "out" / "hall" / "batch" / "scene.json").read_text())["stage"] == "scene"
    assert len(Project.load(tmp_path / "out" / "hall").views) == 5


def test_nothing_listens_beyond_loopback(local_ray):
    psutil = pytest.importorskip("psutil")
    ray_pids = {p.pid for p in psutil.process_iter(["cmdline"])
                if any("ray" in part for part in (p.info["cmdline"] or []))}
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ray_pids]
    assert listening, "expected Ray's own listening sockets"
    assert all(c.laddr.ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for c in listening), [c.laddr for c in listening]


def test_names_and_options_are_checked():
    assert project_names([Path("a/clip 1.mp4"), Path("b/clip 1.mp4"), Path("../x")]) == ["clip_1", "clip_1_2", "x"]
    with pytest.raises(ValueError, match="unknown export"):
        BatchOptions(exports=("nope",)).validate()
    from engine.tracking.windows import WindowOptions

    with pytest.raises(ValueError, match="overlap"):
        BatchOptions(windows=WindowOptions(size=10, overlap=8)).validate()
    assert BatchOptions(windows=WindowOptions()).stages() == ["scene"]
