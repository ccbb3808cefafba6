"""engine.imaging: dark lines at a photo's border, found per side (up to a few pixels), and
clean photos left whole; checked on synthetic images and on the real captures (TUM office's
dark last row and column; fern and livingroom clean: every pixel kept)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.imaging import (
    DarkBorder,
    clean_pixels,
    dark_border,
    dark_border_inset,
    inset_colors,
)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A textured uint8 image (smooth gradient + noise): no dark border."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 90 + 60 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    return np.clip(base[..., None] + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("side", ["left", "top", "right", "bottom"])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_dark_lines_are_counted_per_side(side, n):
    img = _photo().astype(np.float32)
    sl = {"left": np.s_[:, :n], "top": np.s_[:n], "right": np.s_[:, -n:], "bottom": np.s_[-n:]}[side]
    img[sl] *= 0.5
    expect = DarkBorder(**{side: n})
    assert dark_border(img.astype(np.uint8)) == expect
    assert dark_border(img / 255.0) == expect                    # float images in [0,1] alike
    inset = dark_border_inset(img.astype(np.uint8))
    assert inset[["left", "top", "right", "bottom"].index(side)] == n + 0.5 and sorted(inset)[:3] == [0, 0, 0]


def test_a_partly_dark_line_inside_a_dark_one_counts():
    """A dark line and a half-dark one inside it (a resized capture): both are dark lines."""
    img = _photo().astype(np.float32)
    img[-1] *= 0.3
    img[-2] *= 0.7
    assert dark_border(img.astype(np.uint8)) == DarkBorder(bottom=2)


def test_clean_and_dark_images_keep_every_pixel():
    """Natural variation, a dark image with noise, a flat black image, a tensor: nothing dark."""
    import torch

    dark = (_photo() // 12).astype(np.uint8)          # luminance ~0-20: no step of 8 levels
    black = np.zeros((48, 64, 3), np.uint8)
    for img in (_photo(), _photo(seed=3), dark, black, torch.zeros(48, 64, 3)):
        assert not dark_border(img).found and dark_border_inset(img) == (0.0, 0.0, 0.0, 0.0)
        assert clean_pixels(img) is None and inset_colors(img) is img


def test_inset_colors_repeat_the_nearest_clean_line():
    img = _photo()
    img[:, -1] = 10
    img[-2:] = 5
    out = inset_colors(img)
    assert out.shape == img.shape
    np.testing.assert_array_equal(out[:-2, :-1], img[:-2, :-1])     # the clean pixels unchanged
    np.testing.assert_array_equal(out[:-2, -1], img[:-2, -2])       # the dark column: its neighbour
    np.testing.assert_array_equal(out[-1, :-1], img[-3, :-1])       # the dark rows: the last clean row
    np.testing.assert_array_equal(out[-2:, -1], np.repeat(img[-3:-2, -2], 2, axis=0))


def test_clean_pixels_after_a_resize_exclude_pixels_mixed_with_a_dark_line():
    img = _photo()
    img[-1] = 0
    keep = clean_pixels(img)
    assert keep.shape == (48, 64) and not keep[-1].any() and keep[:-1].all()
    half = clean_pixels(img, (32, 24))
    assert half.shape == (24, 32) and not half[-1].any() and half[:-1].all()
    third = clean_pixels(img, (21, 16))               # ~3 x 3 source pixels per pixel
    assert not third[-1].any() and third[:-1].all()


def _images(folder: Path, pattern: str) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob(pattern))]


needs_real = pytest.mark.skipif(not (REAL / "tum_fr3_office_superglue").is_dir(), reason="real data absent")


@needs_real
def test_office_has_a_dark_last_row_and_column_and_fern_livingroom_none():
    office = _images(REAL / "tum_fr3_office_superglue" / "images", "*.png")
    assert office and all(dark_border(i) == DarkBorder(right=1, bottom=1) for i in office)
    clean = _images(REAL / "llff_fern" / "images_8", "*.png") + _images(REAL / "cut3r_livingroom" / "images", "*")
    assert len(clean) >= 30
    for img in clean:
        assert not dark_border(img).found
        assert clean_pixels(img) is None and inset_colors(img) is img    # every pixel kept
