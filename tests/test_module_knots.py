"""Import directions untied by issue 11 (item 4): splat never imports export (export depends
on splat), and the memory journal is plain data that never imports the store. Checked on
the source (any import statement, also inside functions); import-linter may take these over."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _offenders(files, forbidden: str) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p in files for m in sorted(_imported_modules(p))
            if m == forbidden or m.startswith(forbidden + ".")]


def test_splat_never_imports_export():
    offenders = _offenders(sorted((ROOT / "engine" / "splat").rglob("*.py")), "engine.export")
    assert not offenders, "\n".join(offenders)


def test_memory_journal_and_rows_never_import_the_store():
    files = [ROOT / "engine" / "memory" / f for f in ("journal.py", "rows.py", "persist.py")]
    offenders = _offenders(files, "engine.memory.store")
    assert not offenders, "\n".join(offenders)
