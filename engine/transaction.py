"""Saves that are all or nothing: a redo journal over a folder.

A :class:`SaveTransaction` writes every new file of a save under ``ROOT/.txn-ID/new/`` (the
same relative paths as their final places), each through :mod:`engine.atomic_io` (fsync'ed).
Nothing at a final name changes until :meth:`SaveTransaction.commit`:

1. the staged folders are fsync'ed and the journal ``{"txn": ID, "ops": [...]}`` is written
   to ``.txn-ID/journal.json`` (fsync'ed);
2. **the commit point**: one ``rename`` of that journal to ``ROOT/.anyrecon-journal.json``;
3. :func:`roll_forward` applies the operations (``put``: rename the staged file or folder
   over its final name; ``delete``: move the final one into ``.txn-ID/trash``), fsyncs the
   folders, removes the journal, then the transaction folder.

Every operation is idempotent, so a kill at any instant is repaired by :func:`recover` (run
when the folder is opened): with a journal the save is completed (roll forward: the new
state); without one the staged files are dropped (the old state). Temporary files of
processes that died are removed.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from engine.atomic_io import fsync_dir, pid_alive, remove_stale_temps, write_atomic
from engine.safepath import UnsafePathError, check_relative, ensure_inside, resolve_inside

JOURNAL = ".anyrecon-journal.json"
TXN_PREFIX = ".txn-"
_TXN_ID = re.compile(r"^(\d+)-[0-9a-f]{8}$")
_OPS = ("put", "delete")


class TransactionError(ValueError):
    """A journal or transaction folder that cannot be applied; the message names it."""


def txn_owner(name: str) -> int | None:
    """Process id of a transaction folder name (``.txn-PID-HEX``), None for other names."""
    if not name.startswith(TXN_PREFIX):
        return None
    m = _TXN_ID.match(name[len(TXN_PREFIX):])
    return int(m.group(1)) if m else None


class SaveTransaction:
    """New files staged under ``root/.txn-ID/new``; :meth:`commit` makes them current at once.

    ``staged(rel)`` returns the path to write the new ``rel`` (a root-relative POSIX path) to;
    ``delete(rel)`` removes ``rel`` at commit. Use as a context manager: leaving it with an
    exception (or without commit) drops everything staged."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.dir = self.root / f"{TXN_PREFIX}{self.id}"
        self.new = self.dir / "new"
        self.ops: list[list[str]] = []
        self._targets: set[str] = set()
        self.new.mkdir(parents=True)
        self.committed = False

    def __enter__(self) -> "SaveTransaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            self.abort()

    def _claim(self, rel: str) -> Path:
        p = check_relative(rel, f"{self.root}: saved file")
        rel = p.as_posix()
        if rel in self._targets:
            raise ValueError(f"{self.root / rel}: written twice in one save")
        ensure_inside(self.root, self.root.joinpath(*p.parts).parent, f"{self.root}: saved file {rel}")
        self._targets.add(rel)
        return p

    def staged(self, rel: str) -> Path:
        """The path to write the new content of ``rel`` to (its folder exists)."""
        p = self._claim(rel)
        self.ops.append(["put", p.as_posix()])
        path = self.new.joinpath(*p.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def copy_in(self, rel: str, source: Path) -> None:
        """Stage a copy of the file or folder ``source`` as ``rel`` (every file fsync'ed)."""
        dst = self.staged(rel)
        if source.is_dir():
            dst.mkdir(exist_ok=True)
            for item in sorted(source.rglob("*")):
                if item.is_file() and not item.is_symlink():
                    write_atomic(dst / item.relative_to(source), item.read_bytes())
        else:
            write_atomic(dst, source.read_bytes())

    def delete(self, rel: str) -> None:
        """Remove ``rel`` (file or folder) when the transaction commits."""
        p = self._claim(rel)
        self.ops.append(["delete", p.as_posix()])

    def commit(self) -> None:
        """Make every staged file current and every deletion happen, all or nothing."""
        puts = [op for op in self.ops if op[0] == "put"]
        last = [op for op in puts if op[1] == "project.json"]   # the manifest goes last
        ops = [op for op in puts if op[1] != "project.json"] + last + [op for op in self.ops if op[0] == "delete"]
        for folder, _, _ in os.walk(self.new, topdown=False):
            fsync_dir(folder)
        staged_journal = self.dir / "journal.json"
        write_atomic(staged_journal, json.dumps({"format": 1, "txn": self.id, "ops": ops}).encode())
        fsync_dir(self.dir)
        os.replace(staged_journal, self.root / JOURNAL)           # the commit point
        self.committed = True
        fsync_dir(self.root)
        roll_forward(self.root)

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _read_journal(root: Path) -> tuple[str, list]:
    path = root / JOURNAL
    try:
        data = json.loads(path.read_bytes())
        txn, ops = data["txn"], data["ops"]
        if not (isinstance(txn, str) and _TXN_ID.match(txn) and isinstance(ops, list)):
            raise ValueError("bad header")
        for op in ops:
            if not (isinstance(op, list) and len(op) == 2 and op[0] in _OPS):
                raise ValueError(f"bad operation {op!r}")
            check_relative(op[1], str(path))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise TransactionError(f"{path}: damaged save journal ({exc})") from exc
    if not (root / f"{TXN_PREFIX}{txn}").is_dir():
        raise TransactionError(f"{path}: the save it records is missing ({TXN_PREFIX}{txn}); "
                               f"remove the journal to keep the previous state")
    return txn, ops


def _to_trash(path: Path, trash: Path, index: int) -> None:
    trash.mkdir(parents=True, exist_ok=True)
    target = trash / str(index)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif os.path.lexists(target):
        target.unlink()
    os.replace(path, target)


def roll_forward(root: Path | str) -> bool:
    """Complete the committed save of ``root`` (if its journal is there); True when one was
    applied. Raises TransactionError for a damaged journal, OSError when it cannot write."""
    root = Path(root)
    if not os.path.lexists(root / JOURNAL):
        return False
    txn, ops = _read_journal(root)
    tdir = root / f"{TXN_PREFIX}{txn}"
    new, trash = tdir / "new", tdir / "trash"
    touched = {root}
    for i, (kind, rel) in enumerate(ops):
        try:
            dst = resolve_inside(root, rel, str(root / JOURNAL))
        except UnsafePathError as exc:
            raise TransactionError(str(exc)) from exc
        if kind == "put":
            src = new / rel
            if not os.path.lexists(src):
                continue                                            # already applied
            dst.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(dst) and (src.is_dir() or dst.is_dir()):
                _to_trash(dst, trash, i)
            os.replace(src, dst)
        elif os.path.lexists(dst):
            _to_trash(dst, trash, i)
        touched.add(dst.parent)
    for folder in touched:
        fsync_dir(folder)
    (root / JOURNAL).unlink()
    fsync_dir(root)
    shutil.rmtree(tdir, ignore_errors=True)
    return True


def recover(root: Path | str, temp_folders=(), wait_s: float = 10.0) -> None:
    """Bring ``root`` to a consistent state after a crash: a committed save is completed, an
    uncommitted one (of a process that is gone) is dropped, and stale temporary files in
    ``root`` and ``temp_folders`` are removed. A save still running in another process is
    waited for (up to ``wait_s``)."""
    root = Path(root)
    journal = root / JOURNAL
    deadline = time.monotonic() + wait_s
    while os.path.lexists(journal):
        owner = _journal_owner(journal)
        if owner is None or owner == os.getpid() or not pid_alive(owner) or time.monotonic() > deadline:
            roll_forward(root)
            break
        time.sleep(0.05)
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for e in entries:
        pid = txn_owner(e.name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            shutil.rmtree(e.path, ignore_errors=True)
    for folder in (root, *temp_folders):
        remove_stale_temps(folder)


def _journal_owner(path: Path) -> int | None:
    try:
        m = _TXN_ID.match(str(json.loads(path.read_bytes()).get("txn", "")))
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return None
    return int(m.group(1)) if m else None
