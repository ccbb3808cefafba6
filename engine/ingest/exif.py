"""A minimal EXIF reader (no PIL here): the 35 mm-equivalent focal length of a JPEG.

Only what tracking needs: APP1 "Exif" -> TIFF header -> IFD0 -> Exif sub-IFD (tag 0x8769)
-> FocalLengthIn35mmFilm (tag 0xA405, SHORT). Anything unexpected returns None.
"""
from __future__ import annotations

import struct
from pathlib import Path

_EXIF_IFD = 0x8769
_FOCAL_35MM = 0xA405


def _tiff_block(data: bytes) -> bytes | None:
    start = data.find(b"Exif\x00\x00")
    if start < 0:
        return None
    return data[start + 6:]


def _ifd_entries(tiff: bytes, offset: int, endian: str):
    if offset + 2 > len(tiff):
        return
    (count,) = struct.unpack_from(endian + "H", tiff, offset)
    for k in range(count):
        pos = offset + 2 + 12 * k
        if pos + 12 > len(tiff):
            return
        tag, typ, num = struct.unpack_from(endian + "HHI", tiff, pos)
        yield tag, typ, num, pos + 8


def exif_focal_35mm(path: str | Path) -> float | None:
    """FocalLengthIn35mmFilm in mm, or None when absent or unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read(256 * 1024)
    except OSError:
        return None
    if not data.startswith(b"\xff\xd8"):
        return None
    tiff = _tiff_block(data)
    if not tiff or tiff[:2] not in (b"II", b"MM"):
        return None
    endian = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd0,) = struct.unpack_from(endian + "I", tiff, 4)
        for tag, _, _, value_pos in _ifd_entries(tiff, ifd0, endian):
            if tag == _EXIF_IFD:
                (sub,) = struct.unpack_from(endian + "I", tiff, value_pos)
                for tag2, typ2, _, vpos2 in _ifd_entries(tiff, sub, endian):
                    if tag2 == _FOCAL_35MM and typ2 == 3:
                        (val,) = struct.unpack_from(endian + "H", tiff, vpos2)
                        return float(val) if val > 0 else None
    except struct.error:
        return None
    return None
