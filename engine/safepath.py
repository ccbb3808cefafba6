"""File names that come from files: checked before anything is read or written.

A project, a dataset or a camera file names other files (``images/NAME.png``, a camera's
``name`` that becomes a file name on export). None of them may lead outside the folder
they belong to:

- :func:`check_relative` refuses absolute paths, drive letters, ``..`` components, empty
  names and control characters (the message names the file that holds the path);
- :func:`resolve_inside` also follows symlinks and refuses a path whose real location is
  outside the folder;
- :func:`safe_stem` turns any name into one file-name component (separators, control
  characters and leading dots replaced; non-ASCII kept) for writing; :func:`unique_stems`
  makes a list of them distinct.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

MAX_NAME_BYTES = 180
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafePathError(ValueError):
    """A path named by a file would lead outside its folder (or is not a path at all)."""


def check_relative(rel, what: str = "path") -> PurePosixPath:
    """``rel`` (a str from a file) as a relative POSIX path that stays inside its folder.
    ``what`` says where it came from (for the message)."""
    if not isinstance(rel, str) or not rel.strip():
        raise UnsafePathError(f"{what}: {rel!r} is not a file name")
    if _CONTROL.search(rel):
        raise UnsafePathError(f"{what}: {rel!r} holds control characters")
    win = PureWindowsPath(rel)
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or win.is_absolute() or win.drive:
        raise UnsafePathError(f"{what}: absolute path {rel!r} refused (paths must be relative to the folder)")
    if any(part == ".." for part in p.parts):
        raise UnsafePathError(f"{what}: path {rel!r} leads outside its folder ('..' refused)")
    if not p.parts or p.parts == (".",):
        raise UnsafePathError(f"{what}: {rel!r} is not a file name")
    return p


def resolve_inside(root: Path, rel, what: str = "path") -> Path:
    """``root / rel`` after :func:`check_relative`, refused when symlinks take it outside
    ``root``. Returns the (unresolved) path under ``root``."""
    p = check_relative(rel, what)
    path = Path(root).joinpath(*p.parts)
    ensure_inside(Path(root), path, what)
    return path


def ensure_inside(root: Path, path: Path, what: str = "path") -> None:
    """Refuse ``path`` when its real location (symlinks followed) is not inside ``root``."""
    try:
        real, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError) as exc:        # symlink loops
        raise UnsafePathError(f"{what}: {path} cannot be resolved ({exc})") from exc
    if real != base and base not in real.parents:
        raise UnsafePathError(f"{what}: {path} leads outside {root} (symlink to {real}); refused")


def safe_stem(name, fallback: str = "frame") -> str:
    """One file-name component made of ``name``: path separators, control and reserved
    characters become ``_``, leading dots and spaces go, at most ``MAX_NAME_BYTES`` bytes of
    UTF-8; ``fallback`` when nothing is left."""
    s = _BAD_CHARS.sub("_", str(name or "")).strip().lstrip(". ")
    if s in ("", ".", ".."):
        s = fallback
    b = s.encode("utf-8")
    if len(b) > MAX_NAME_BYTES:
        s = b[:MAX_NAME_BYTES].decode("utf-8", errors="ignore")
    return s


def unique_stems(names, fallback: str = "frame") -> list[str]:
    """:func:`safe_stem` of each name, made distinct (``_2``, ``_3``... added; compared
    case-insensitively, for case-insensitive file systems)."""
    used, out = set(), []
    for name in names:
        base = safe_stem(name, fallback)
        stem, k = base, 1
        while stem.lower() in used:
            k += 1
            stem = f"{base}_{k}"
        used.add(stem.lower())
        out.append(stem)
    return out
