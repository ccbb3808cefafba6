"""Photo sets: a folder (or a list) of images of any sizes and orientations.

Images are decoded with OpenCV's ``imdecode`` (reads non-ASCII paths, applies the EXIF
orientation so portrait photos come out upright). The EXIF focal length (35 mm equivalent)
is read when present and turned into pixels. Unreadable files are reported, not fatal.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from engine.ingest.exif import exif_focal_35mm
from engine.ingest.frames import Frame, IngestError, IngestResult, analysis_gray, downscale_to_max_side, sharpness

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order (image2 before image10)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise IngestError(f"{folder}: not a folder")
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=_natural_key)


def read_image_file(path: str | Path) -> np.ndarray:
    """-> RGB uint8 [H,W,3], upright (EXIF orientation applied). Raises IngestError."""
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read ({exc})") from exc
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise IngestError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_images(paths: list[Path] | str | Path, max_side: int | None = 1600,
                stride: int | None = None) -> IngestResult:
    """Read a photo set (a folder or a list of paths); frames are named by file stem."""
    if isinstance(paths, (str, Path)):
        paths = list_images(paths)
    if stride:
        paths = paths[::stride]
    result = IngestResult("images", [], len(paths))
    used: set[str] = set()
    for i, path in enumerate(paths):
        try:
            rgb = read_image_file(path)
        except IngestError as exc:
            result.rejected[path.name] = str(exc)
            result.warnings.append(str(exc))
            continue
        h0, w0 = rgb.shape[:2]
        image, scale = downscale_to_max_side(rgb, max_side)
        focal = _focal_px(path, w0, h0)
        name = _unique(_safe_name(path.stem), used)
        result.frames.append(Frame(name, i, np.ascontiguousarray(image), scale, str(path),
                                   focal * scale if focal else None, sharpness(analysis_gray(image))))
    if not result.frames:
        raise IngestError(f"no readable image among {len(paths)} file(s)" +
                          (f" in {Path(paths[0]).parent}" if paths else ""))
    if len(result.frames) == 1:
        result.warnings.append("a single photo cannot be tracked (it needs at least 2)")
    return result


def _focal_px(path: Path, width: int, height: int) -> float | None:
    f35 = exif_focal_35mm(path)
    if not f35:
        return None
    return float(f35) / 36.0 * max(width, height)   # 35 mm film is 36 mm along its long side


def _safe_name(stem: str) -> str:
    """File stems become frame names; path separators and control characters are replaced."""
    return re.sub(r"[\x00-\x1f/\\:]", "_", stem) or "image"


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 1
    while out in used:
        k += 1
        out = f"{name}_{k}"
    used.add(out)
    return out
