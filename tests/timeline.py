"""Opt-in per-worker timeline of a test run: ``ANYRECON_TEST_TIMELINE=DIR pytest -n 2 ...``
writes ``DIR/<worker>.tsv`` (gw0, gw1, or "main" without xdist): one row per test with its
start (seconds after the worker's pytest_configure, collection included), wall seconds and CPU seconds (this process
and the children it waited for, e.g. CLI subprocesses; not Ray's daemons), and a first
``#session`` row with the worker's totals. ``python -m tests.timeline DIR`` sums it per work
unit (tests/xdist_scheduling.py) in the order each worker ran them: the rows to read when the
two workers of ``make test`` finish far apart, and the numbers for ``UNIT_SECONDS``.
Without the variable nothing is recorded."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ENV = "ANYRECON_TEST_TIMELINE"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Timeline:
    """The pytest plugin (registered by tests/conftest.py when ``ANYRECON_TEST_TIMELINE`` is set)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.rows: list[tuple[str, float, float, float]] = []
        self.wall0 = time.perf_counter()
        self.cpu0 = _cpu()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        start, cpu = time.perf_counter(), _cpu()
        try:
            return (yield)
        finally:
            self.rows.append((item.nodeid, start - self.wall0, time.perf_counter() - start, _cpu() - cpu))

    def pytest_sessionfinish(self, session):
        if not self.rows:                           # the xdist controller runs no test
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        lines = [f"#session\t0.00\t{time.perf_counter() - self.wall0:.2f}\t{_cpu() - self.cpu0:.2f}"]
        lines += [f"{n}\t{s:.2f}\t{w:.2f}\t{c:.2f}" for n, s, w, c in self.rows]
        (self.folder / f"{worker}.tsv").write_text("\n".join(lines) + "\n")


def register(config) -> None:
    folder = os.environ.get(ENV)
    if folder:
        config.pluginmanager.register(Timeline(folder), "anyrecon-timeline")


def summary(folder: str) -> str:
    """Per worker: its totals, then its units in the order it ran them (start, wall, CPU, tests)."""
    from tests.xdist_scheduling import unit_of

    out = []
    for path in sorted(Path(folder).glob("*.tsv")):
        rows = [line.split("\t") for line in path.read_text().splitlines()]
        head, tests = rows[0], rows[1:]
        units: dict[str, list[float]] = {}
        for nodeid, start, wall, cpu in tests:
            u = units.setdefault(unit_of(nodeid), [float(start), 0.0, 0.0, 0])
            u[1] += float(wall)
            u[2] += float(cpu)
            u[3] += 1
        out.append(f"{path.stem}: session wall {float(head[2]):.1f} s, CPU {float(head[3]):.1f} s, {len(tests)} tests")
        for unit, (start, wall, cpu, n) in units.items():
            out.append(f"  {start:8.1f}  {unit:48s} wall {wall:7.1f}  cpu {cpu:7.1f}  ({n})")
    return "\n".join(out)


if __name__ == "__main__":
    print(summary(sys.argv[1]))
