"""Photo sets: mixed sizes and orientations, EXIF, unreadable files, odd paths."""
from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from engine.ingest import IngestError, IngestOptions, load_input
from engine.ingest.exif import exif_focal_35mm
from tests.ingest.conftest import textured


def _jpeg_with_exif(img_rgb: np.ndarray, orientation: int | None = None, focal35: int | None = None) -> bytes:
    """Encode a JPEG and splice in an APP1 EXIF block (IFD0 orientation, Exif IFD focal 35mm)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR))
    jpg = buf.tobytes()
    entries0 = []
    if orientation:
        entries0.append(struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0))
    exif_ifd_offset = 8 + 2 + 12 * (len(entries0) + 1) + 4
    entries0.append(struct.pack("<HHII", 0x8769, 4, 1, exif_ifd_offset))
    ifd0 = struct.pack("<H", len(entries0)) + b"".join(entries0) + struct.pack("<I", 0)
    sub = []
    if focal35:
        sub.append(struct.pack("<HHIHH", 0xA405, 3, 1, focal35, 0))
    ifd1 = struct.pack("<H", len(sub)) + b"".join(sub) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + ifd1
    app1 = b"Exif\x00\x00" + tiff
    seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    return jpg[:2] + seg + jpg[2:]


def test_mixed_sizes_and_natural_order(tmp_path):
    for name, (w, h) in {"img10.png": (64, 48), "img2.png": (48, 64), "img1.png": (80, 60)}.items():
        cv2.imwrite(str(tmp_path / name), textured(h, w))
    r = load_input(tmp_path)
    assert [f.name for f in r.frames] == ["img1", "img2", "img10"]
    assert [f.size for f in r.frames] == [(80, 60), (48, 64), (64, 48)]


def test_exif_orientation_rotates_portrait_photos(tmp_path):
    img = textured(40, 64)                                   # stored landscape
    (tmp_path / "p.jpg").write_bytes(_jpeg_with_exif(img, orientation=6, focal35=26))
    r = load_input(tmp_path)
    assert r.frames[0].size == (40, 64)                      # shown portrait (rotated 90°)
    assert exif_focal_35mm(tmp_path / "p.jpg") == 26
    assert r.frames[0].focal_px == pytest.approx(26 / 36 * 64)


def test_unreadable_photo_is_reported_not_fatal(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), textured(48, 64))
    cv2.imwrite(str(tmp_path / "b.png"), textured(48, 64, 1))
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8 broken")
    r = load_input(tmp_path)
    assert [f.name for f in r.frames] == ["a", "b"] and "c.jpg" in r.rejected


def test_empty_folder_and_single_photo(tmp_path):
    with pytest.raises(IngestError, match="no readable image"):
        load_input(tmp_path)
    cv2.imwrite(str(tmp_path / "only.png"), textured(48, 64))
    r = load_input(tmp_path)
    assert len(r.frames) == 1 and any("at least 2" in w for w in r.warnings)


def test_non_ascii_names_and_downscale(tmp_path):
    folder = tmp_path / "photos with spaces ñ 写真"
    folder.mkdir()
    ok, buf = cv2.imencode(".png", textured(300, 400))
    (folder / "café 1.png").write_bytes(buf.tobytes())
    r = load_input(folder, IngestOptions(max_side=100))
    assert r.frames[0].name == "café 1" and r.frames[0].size == (100, 75)
    assert r.frames[0].scale == pytest.approx(0.25)
    assert r.frames[0].image.shape == (75, 100, 3)
