"""The layer contracts of pyproject.toml ([tool.importlinter]) hold for the code base, and
they do catch a planted violation."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(cwd: Path, *contracts: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}
    only = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run([str(LINT), "--no-cache", *only, str(cwd / "pyproject.toml")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_code_base_keeps_its_layers():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or " 0 broken" in result.stdout.lower()


@pytest.mark.parametrize("planted, contract_id, contract", [
    ("engine/planted.py", "engine-headless", "The engine imports no studio"),
    ("studio/planted.py", "bridge-owns-session", "Only the bridge imports the engine session"),
])
def test_a_planted_violation_fails(tmp_path, planted, contract_id, contract):
    for pkg in ("engine", "studio"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "engine" / "session.py").write_text("")
    (tmp_path / "engine" / "export").mkdir()
    (tmp_path / "engine" / "export" / "__init__.py").write_text("")
    (tmp_path / "studio" / "bridge.py").write_text("import engine.session\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    body = "import studio\n" if planted.startswith("engine") else "from engine import session\n"
    (tmp_path / planted).write_text(body)
    result = _lint(tmp_path, contract_id)
    assert result.returncode != 0
    assert contract in result.stdout and "BROKEN" in result.stdout
