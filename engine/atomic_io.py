"""Atomic files: nothing is ever half-written at its final name.

A file is written to ``.STEM.tmp-PID.SUFFIX`` in the destination folder (same file system;
the suffix kept for writers that pick a format from it), flushed, fsync'ed and renamed over
the destination. On any failure the temporary file is removed and the error re-raised as is
(callers turn ``OSError`` into their own user-facing errors: ``ProjectError``, ``ExportError``).
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

_CHUNK = 1 << 20


def temp_name(path: Path) -> Path:
    """The temporary sibling of ``path`` that is renamed over it when complete."""
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write (by any writer); it replaces ``path`` on success and
    is removed on failure. The parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | Iterable[bytes]) -> Path:
    """Write ``data`` (bytes, or an iterable of byte chunks) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for chunk in ([data] if isinstance(data, (bytes, bytearray, memoryview)) else data):
                view = memoryview(chunk).cast("B")
                while len(view):
                    view = view[os.write(fd, view[:_CHUNK]):]
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


_TEMP = re.compile(r"^\..+\.tmp-(\d+)(\.[^.]*)?$")


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the entries of a folder (renames into it) durable; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """True when a process of that id runs (it may be another program that reused the id)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_owner(name: str) -> int | None:
    """The process id in a temporary name made by :func:`temp_name` (or an exporter's
    ``.NAME.tmp-PID``), None for any other name."""
    m = _TEMP.match(name)
    return int(m.group(1)) if m else None


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files in ``folder`` left by processes that died mid-write (a
    live writer's files, and this process's, are kept). Returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        pid = temp_owner(e.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        try:
            if e.is_file(follow_symlinks=False) or e.is_symlink():
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue
    return removed
