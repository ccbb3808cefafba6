# Two entry points for a fresh Debian 12 machine (run as root so system packages install):
#   make run    the studio on the built-in demo scene (headless demo when there is no display)
#   make test   the test suite (GUI tests under Xvfb)
.PHONY: setup run demo test test-slow bench

# make test runs on this many pytest-xdist workers (each with its own Xvfb; CI has 2 cores);
# ANYRECON_TEST_TIMELINE=DIR make test writes each worker's test timeline into DIR
# (summary: .venv/bin/python -m tests.timeline DIR; see tests/timeline.py)
TEST_WORKERS ?= 2

setup:
	@bash scripts/setup_env.sh

run: setup
	@bash scripts/run_main.sh

demo: setup
	.venv/bin/anyrecon demo --out demo_output --overwrite

test: setup
	QT_API=pyside6 .venv/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-slow: setup
	QT_API=pyside6 .venv/bin/python -m pytest -m slow

bench: setup
	.venv/bin/python benchmarks/bench_engine.py
