"""The engine never imports Qt, VisPy, pyqtgraph or the studio (ARCHITECTURE.md), and only
studio/bridge.py subscribes to the engine's session events."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qtpy", "vispy", "pyqtgraph", "superqt", "studio")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def test_engine_imports_no_gui_library():
    offenders = [f"{p.relative_to(ROOT)}:{line} imports {name}"
                 for p in sorted((ROOT / "engine").rglob("*.py"))
                 for line, name in _imports(p) if name.split(".")[0] in FORBIDDEN]
    assert not offenders, "\n".join(offenders)


def test_only_the_bridge_subscribes_to_engine_events():
    users = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "studio").rglob("*.py"))
             if ".subscribe(" in p.read_text()]
    assert users == ["studio/bridge.py"], users
