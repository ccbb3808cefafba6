"""Only studio/bridge.py subscribes to the engine's session events (the import rules of
ARCHITECTURE.md are import-linter contracts: tests/test_import_contracts.py)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_only_the_bridge_subscribes_to_engine_events():
    users = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "studio").rglob("*.py"))
             if ".subscribe(" in p.read_text()]
    assert users == ["studio/bridge.py"], users
