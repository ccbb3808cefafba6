"""Kill -9 at random instants during a save and during a generate (issue 12, case 4 and
the kill part of case 1): every reopened project equals the old state or the new one.

The work runs in tests/fault_worker.py (its own process, forking one child per kill). The
default run makes a few kills; the slow variant makes more than 200 and prints the counts
(``pytest -m slow tests/test_faults_kill.py -s``)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _kill_run(tmp_path: Path, seed: int, timeout: int, **kills: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "tests.fault_worker", str(tmp_path), str(seed),
                           *(f"{m}={n}" for m, n in kills.items())],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print("kill -9 results:", json.dumps(result))
    for mode, n in kills.items():
        r = result[mode]
        assert "error" not in r, r
        assert r["bad"] == [], r["bad"]
        assert r["kills"] == n and r["old"] + r["new"] == n
    return result


def test_kills_during_save_and_generate_leave_the_old_or_the_new_project(tmp_path):
    _kill_run(tmp_path, seed=12, timeout=170, save=4, generate=2)


@pytest.mark.slow
def test_two_hundred_kills_leave_the_old_or_the_new_project(tmp_path):
    r = _kill_run(tmp_path, seed=2026, timeout=3000, save=170, generate=50)
    assert r["save"]["kills"] + r["generate"]["kills"] >= 200
    # the random instants hit both sides of the commit point
    assert r["save"]["old"] > 0 and r["save"]["new"] > 0 and r["generate"]["old"] > 0 and r["generate"]["new"] > 0
