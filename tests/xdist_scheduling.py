"""How ``make test`` (``pytest -n 2 --dist loadgroup``) splits the suite between its workers.

pytest-xdist 3.8's own ``loadgroup`` is inert with pytest 9 (it appends the ``xdist_group`` to
``item._nodeid``, which pytest 9 no longer reads), so it distributed test by test: module-scoped
fixtures and the shared tracking run were built on both workers. ``GroupScheduling`` (chosen by
``pytest_xdist_make_scheduler`` in tests/conftest.py for ``--dist loadgroup``) replaces it:

- one work unit per test module, so a module's fixtures are built once, as in a serial run;
- the modules that start a local Ray form one unit ("ray": one Ray cluster at a time, and
  test_batch's "nothing listens beyond loopback" sees only its own Ray);
- the modules that read one expensive session fixture form one unit (``SHARED_FIXTURES``),
  so the fixture is built once per run, not once per worker;
- units go out longest first (``UNIT_SECONDS``, measured; others count ``DEFAULT_TEST_SECONDS``
  per test), the greedy longest-processing-time order, so the two workers finish together
  instead of one waiting for a long unit that started last.

The grouping is by node id only (the controller process does not collect), so the fixture
users are listed here; ``check_shared_fixture_users`` (called at collection) warns when a
module that uses one of the fixtures is missing from its list.
"""
from __future__ import annotations

import warnings

import pytest

# Modules that start a local Ray (the ``local_ray`` module fixture or their own ``start_ray``).
RAY_MODULES = ("tests/test_batch.py", "tests/test_pool.py", "tests/tracking/test_windows.py")

# Expensive session fixture -> the modules that use it (one unit: the fixture is built once).
SHARED_FIXTURES = {
    "tracked_demo": ("tests/tracking/test_track.py", "tests/tracking/test_session_job.py"),
}

# Measured seconds per unit on the 2-core box (``--durations=0``, summed per unit, or
# ``ANYRECON_TEST_TIMELINE=DIR`` + ``python -m tests.timeline DIR``: tests/timeline.py; only the
# order matters). Units not listed count DEFAULT_TEST_SECONDS per test.
UNIT_SECONDS = {
    "tests/studio/test_window.py": 75,
    "ray": 50,
    "tracked_demo": 50,
    "tests/tracking/test_cli.py": 38,
    "tests/studio/test_open_datasets.py": 18,
    "tests/export/test_mesh.py": 30,
    "tests/tracking/test_dense.py": 24,
    "tests/studio/test_panels.py": 22,
    "tests/generate/test_auto.py": 22,
    "tests/studio/test_auto_splats.py": 18,
    "tests/test_faults_kill.py": 17,
    "tests/export/test_cameras.py": 16,
    "tests/tracking/test_determinism.py": 13,
    "tests/export/test_errors.py": 9,
    "tests/splat/test_generator.py": 6,
    "tests/splat/test_job_cli.py": 12,
    "tests/tracking/test_localize.py": 11,
    "tests/studio/test_viewport_region.py": 11,
    "tests/generate/test_loop.py": 11,
    "tests/test_faults_property.py": 11,
    "tests/test_project.py": 10,
    "tests/splat/test_train.py": 8,
}
DEFAULT_TEST_SECONDS = 0.3


def unit_of(nodeid: str) -> str:
    """The work unit of a test: "ray", a SHARED_FIXTURES name, or its module's path."""
    module = nodeid.split("::", 1)[0]
    if module in RAY_MODULES:
        return "ray"
    for fixture, modules in SHARED_FIXTURES.items():
        if module in modules:
            return fixture
    return module


def check_shared_fixture_users(items) -> None:
    """Warn when a module uses a SHARED_FIXTURES fixture but is not listed with it (the run
    still passes; the fixture is then built once more on the other worker)."""
    missing = set()
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        for fixture, modules in SHARED_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()) and module not in modules:
                missing.add((fixture, module))
    for fixture, module in sorted(missing):
        warnings.warn(pytest.PytestWarning(
            f"{module} uses the session fixture {fixture!r}: add it to SHARED_FIXTURES in "
            "tests/xdist_scheduling.py so that one worker builds it"))


def unit_cost(unit: str, num_tests: int) -> float:
    return UNIT_SECONDS.get(unit, DEFAULT_TEST_SECONDS * num_tests)


def make_group_scheduling(config, log):
    """A LoadScopeScheduling whose scopes are ``unit_of`` and whose queue is longest first."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def schedule(self) -> None:
            """LoadScopeScheduling.schedule with the work queue sorted by ``unit_cost``."""
            assert self.collection_is_completed
            if self.collection is not None:          # initial distribution done: top up
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            units: dict[str, dict[str, bool]] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for unit in sorted(units, key=lambda u: -unit_cost(u, len(units[u]))):
                self.workqueue[unit] = units[unit]
            for _ in range(max(0, len(self.nodes) - len(self.workqueue))):
                unused, _assigned = self.assigned_work.popitem()
                unused.shutdown()
            for node in self.nodes:
                self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)
            if not self.workqueue:
                for node in self.nodes:
                    node.shutdown()

    return GroupScheduling(config, log)
