"""Shared plumbing of every exporter: the error type, atomic files and folders, option helpers.

Nothing an exporter writes is ever half-written at its final name:

- a file is written to ``.NAME.tmp-PID`` in the destination folder (`engine.atomic_io`),
  flushed, fsync'ed and renamed over ``NAME`` (:func:`write_file_atomic`,
  :func:`atomic_path` for third-party writers that want a path);
- a folder is assembled under ``.NAME.tmp-PID`` next to it and swapped in only once every
  file of it is complete (:func:`staged_folder`).

Any failure (permission, full disk, a bug) removes the temporary file or folder and is
re-raised as :class:`ExportError` whose message names the destination and the cause.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

from engine import atomic_io


class ExportError(ValueError):
    """An export cannot be done (bad input, unwritable destination, full disk).

    The message names what is wrong; nothing is left at the destination."""


def describe_os_error(exc: OSError, path: Path) -> str:
    """A one-line, user-facing description of why writing ``path`` failed."""
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path}: the disk is full (no space left on device)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: the folder {path.parent} is not writable ({exc.strerror})"
    return f"cannot write {path}: {exc.strerror or exc}"


def check_cameras(cameras, what: str = "export") -> None:
    """ExportError naming the first camera with a non-finite number (NaN / infinity) or an
    impossible size: such values would be written silently (COLMAP) or make invalid JSON."""
    import numpy as np

    for i, cam in enumerate(cameras):
        if not (np.all(np.isfinite(cam.K)) and np.all(np.isfinite(cam.world_from_cam))):
            raise ExportError(f"{what}: camera {i} ({cam.name or 'unnamed'}) has a non-finite number "
                              f"(NaN or infinity) in its intrinsics or pose; nothing written")
        if cam.width < 1 or cam.height < 1:
            raise ExportError(f"{what}: camera {i} ({cam.name or 'unnamed'}) has size {cam.width}x{cam.height}")


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def prepare_parent(path: Path) -> None:
    """Create the destination's parent folder; ExportError when impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(describe_os_error(exc, path)) from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {path}: the folder {path.parent} is not writable")


def write_file_atomic(path: str | os.PathLike, data: bytes | Iterable[bytes]) -> Path:
    """Write ``data`` (bytes or an iterable of byte chunks) to ``path`` atomically."""
    path = Path(path)
    prepare_parent(path)
    try:
        return atomic_io.write_atomic(path, data)
    except OSError as exc:
        raise ExportError(describe_os_error(exc, path)) from exc


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_file_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for a third-party writer; rename it to ``path`` on success.

    The temporary name keeps the suffix (``.NAME.tmp-PID.mp4``) for writers that pick
    the format from it."""
    path = Path(path)
    prepare_parent(path)
    try:
        with atomic_io.atomic_path(path) as tmp:
            yield tmp
            if not tmp.exists():
                raise ExportError(f"cannot write {path}: the writer produced no file")
    except OSError as exc:
        raise ExportError(describe_os_error(exc, path)) from exc


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``path`` (a previous export
    there is removed only after the new one is complete)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ExportError(f"cannot write folder {path}: a file of that name exists")
    prepare_parent(path)
    tmp = _tmp_name(path)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        yield tmp
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(describe_os_error(exc, path)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
