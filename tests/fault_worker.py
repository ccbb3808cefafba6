"""Kill -9 fault injection, run as its own process by tests/test_faults_kill.py:

    python -m tests.fault_worker WORK SEED MODE=KILLS [MODE=KILLS]

MODE "save": a saved project is changed (name, views, memory points, paths, segments) and
saved; MODE "generate": a saved project's path is regenerated along another camera path
(segments replaced on disk as they finish) and saved. The worker builds the old project
once, runs the change to completion once (the new state, and how long it takes), then for
each of KILLS trials: copies the old project, forks a child that makes the change, kills it
with SIGKILL after a random delay (half of them uniform over the whole run, half within its
final save), reopens the folder and compares it with the old and new states. Prints one JSON
line: {MODE: {"kills", "old", "new", "bad": [...], "full_s", "save_s"}, "seconds"}.

It forks (a fresh interpreter per kill would cost seconds); torch runs single-threaded here
so that the forked children are safe.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def signature(project) -> dict:
    """Everything a user would call the project's state, as comparable plain data."""
    mem = project.memory
    return {
        "name": project.name,
        "views": [(v.name, _md5(v.image.tobytes()), None if v.depth is None else _md5(v.depth.tobytes()))
                  for v in project.views],
        "memory": None if mem is None else (len(mem), _md5(mem.snapshot().xyz.tobytes())),
        "segments": sorted((s.segment_id, s.trajectory, s.frame_start, s.frame_stop, s.status)
                           for s in project.segments),
        "trajectories": sorted((n, t.num_frames) for n, t in project.trajectories.items()),
        "frames": sorted((sid, idx, _md5(png.read_bytes()), _md5(png.with_suffix(".npz").read_bytes()))
                         for sid, idx, png in project.generated_frames()),
    }


def _traj(cams, a: int, b: int, frames: int):
    from engine.trajectory import Keyframe, Trajectory

    return Trajectory((Keyframe(cams[a].world_from_cam, cams[a].fov_y_deg, 0.0),
                       Keyframe(cams[b].world_from_cam, cams[b].fov_y_deg, 1.0)),
                      fps=frames - 1, width=cams[0].width, height=cams[0].height)


def build_old(root: Path, cap) -> None:
    """The old state: 6 views, memory, a held-out view, path "path" generated in 2 segments
    of 2 frames."""
    from engine.ingest.views import ViewBank
    from engine.memory import GeometryMemory
    from engine.project import Project
    from engine.session import run_job
    from engine.workflows import GenerateOptions, Workspace, generate_job

    views = ViewBank()
    memory = GeometryMemory(0.06, device="cpu")
    for i, v in enumerate(list(cap.views)[:6]):
        views.add(v)
        memory.insert_depth(v.camera, v.depth, v.image, view=i)
    project = Project(root, name="old", views=views, memory=memory,
                      trajectories={"path": _traj(cap.cameras, 1, 3, 4)})
    project.holdout = [list(cap.views)[-1]]
    project.save()
    ws = Workspace(project=project, saved=True)
    run_job(generate_job("path", options=GenerateOptions(segment_length=2)), ws)
    project.save()


_BUILT: dict = {}


def built_old(cap) -> Path:
    """:func:`build_old` made once per test process (a temporary folder removed at exit);
    tests copy it."""
    if "old" not in _BUILT:
        import atexit
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="anyrecon_faults_"))
        atexit.register(shutil.rmtree, folder, True)
        build_old(folder / "old", cap)
        _BUILT["old"] = folder / "old"
    return _BUILT["old"]


def change(project, mode: str, cap, timing: dict) -> None:
    """The new state (runs in the child)."""
    from engine.session import run_job
    from engine.workflows import GenerateOptions, Workspace, generate_job

    if mode == "save":
        project.name = "new"
        for i in (6, 7):
            vid = project.views.add(cap.views[i])
            project.memory.insert_depth(cap.views[i].camera, cap.views[i].depth, cap.views[i].image, view=vid)
        project.memory.remove_segment(1)
        project.segments = [s for s in project.segments if s.segment_id != 1]
        project.trajectories["extra"] = _traj(cap.cameras, 0, 5, 6)
    else:
        ws = Workspace(project=project, saved=True)
        traj = _traj(cap.cameras, 2, 5, 6)
        run_job(generate_job("path", traj, GenerateOptions(segment_length=2)), ws)
        project.name = "regenerated"
    timing["save_start"] = time.monotonic()
    project.save()


def _run_child(trial: Path, mode: str, cap, report: Path | None) -> int:
    from engine.project import Project

    project = Project.load(trial, device="cpu")
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:                                   # the child: make the change, report timing
        code = 0
        try:
            timing: dict = {}
            change(project, mode, cap, timing)
            if report is not None:
                report.write_text(json.dumps({"save_from_start": timing["save_start"] - t0}))
        except BaseException:                      # noqa: BLE001 - reported through the exit code
            traceback.print_exc()
            code = 3
        os._exit(code)
    return pid


def run_mode(mode: str, kills: int, work: Path, base: Path, old: dict, cap, rng: random.Random) -> dict:
    from engine.project import Project

    # the change run to completion once: the new state and its timing
    full = work / f"{mode}_full"
    shutil.copytree(base, full)
    report = work / f"{mode}_timing.json"
    t0 = time.monotonic()
    pid = _run_child(full, mode, cap, report)
    _, status = os.waitpid(pid, 0)
    full_s = time.monotonic() - t0
    if status != 0:
        return {"error": f"{mode}: the change failed (status {status})"}
    new = signature(Project.load(full, device="cpu"))
    save_from = json.loads(report.read_text())["save_from_start"]
    if old == new:
        return {"error": f"{mode}: old and new states are equal"}
    counts = {"old": 0, "new": 0}
    bad = []
    for k in range(kills):
        trial = work / f"{mode}_trial_{k}"
        shutil.copytree(base, trial)
        delay = rng.uniform(0, full_s * 1.05) if k % 2 == 0 else rng.uniform(save_from - 0.02, full_s * 1.02)
        pid = _run_child(trial, mode, cap, None)
        time.sleep(max(delay, 0.0))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        try:
            state = signature(Project.load(trial, device="cpu"))
        except Exception as exc:                    # noqa: BLE001 - every failure is reported
            bad.append(f"{mode} trial {k} (kill at {delay:.3f} s): {type(exc).__name__}: {exc}")
        else:
            if state == old:
                counts["old"] += 1
            elif state == new:
                counts["new"] += 1
            else:
                as_old = [key for key in old if state[key] == old[key] != new[key]]
                as_new = [key for key in old if state[key] == new[key] != old[key]]
                neither = [key for key in old if state[key] not in (old[key], new[key])]
                bad.append(f"{mode} trial {k} (kill at {delay:.3f} s): a mix: old {as_old}, new {as_new}, "
                           f"neither {neither}")
        shutil.rmtree(trial, ignore_errors=True)
    return {"kills": kills, **counts, "bad": bad, "full_s": round(full_s, 3),
            "save_s": round(full_s - save_from, 3)}


def main(argv: list[str]) -> int:
    work, seed = Path(argv[0]), int(argv[1])
    plan = [(a.split("=")[0], int(a.split("=")[1])) for a in argv[2:]]
    import torch

    torch.set_num_threads(1)
    from engine.project import Project
    from tests.conftest import make_capture

    started = time.monotonic()
    cap = make_capture(n=8, width=96, height=64)
    base = work / "old"
    build_old(base, cap)
    old = signature(Project.load(base, device="cpu"))
    rng = random.Random(seed)
    out = {mode: run_mode(mode, kills, work, base, old, cap, rng) for mode, kills in plan}
    out["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
