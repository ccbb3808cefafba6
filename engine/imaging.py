"""Dark lines at a photo's border: found once, kept out of everything that reads the photo.

Some captures carry a few dark rows / columns at a side of the frame (undistorted or
sensor-cropped images): TUM fr3 office's 640x480 Kinect frames have a last row 35-60% and a
last column 20-45% darker than the lines next to them. Sampled as colour they print thin dark
lines into whatever is made of the photo (polygon outlines in a generated frame wherever a
reference's border crosses it, a dark seam in the memory's colours, splats trained to draw
a dark edge). :func:`dark_border` finds them, per side; the consumers:

- the surface generator's and ``ibr``'s backward sampling (:func:`dark_border_inset`:
  projections that close to a side are not "inside" the reference),
- the memory's colours at fusion (``engine.memory.backproject``: :func:`inset_colors`),
- the splat trainer's loss (``engine.splat.data``: :func:`clean_pixels` as a weight).

Clean photos (LLFF fern, livingroom, ...) have no dark border: every pixel is kept.
numpy only (torch tensors are generated frames, on the GPU: never examined).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

# a border line darker (mean luminance) than this share of the two lines inside it: TUM office's
# last rows are at 0.42-0.67 of the next ones, its last columns at 0.54-0.79; the outermost lines
# of the clean captures in shared/data/real (fern, livingroom, kitchen, statue, tower, valley)
# at 0.96-1.10
DARK_BORDER_RATIO = 0.85
DARK_BORDER_STEP = 8.0     # ... and darker by at least this much (0-255 levels): not a dark, noisy image
DARK_BORDER_MAX_PX = 4     # at most this many dark lines per side


class DarkBorder(NamedTuple):
    """How many dark lines (rows / columns, in pixels) each side of an image has."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    @property
    def found(self) -> bool:
        return max(self) > 0

    def inset(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in pixels: a bilinear sample at least this far inside
        each side (pixel i spans [i, i+1)) never touches a dark line: n + 0.5 where a side has
        n > 0 dark lines, else 0 (the side's outermost pixels count)."""
        return tuple(n + 0.5 if n else 0.0 for n in self)

    def keep(self, height: int, width: int) -> np.ndarray:
        """[height, width] bool: the pixels not on a dark line."""
        keep = np.zeros((height, width), bool)
        keep[self.top:height - self.bottom, self.left:width - self.right] = True
        return keep

    def clamp_indices(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows [height], cols [width]) int: each row / column index moved onto the nearest
        line that is not dark (``image[rows][:, cols]`` repeats the inset's edge lines)."""
        rows = np.clip(np.arange(height), self.top, height - 1 - self.bottom)
        cols = np.clip(np.arange(width), self.left, width - 1 - self.right)
        return rows, cols


def _dark_lines(lines: np.ndarray) -> int:
    """Dark lines at the start of ``lines`` [K+2] (mean luminance of the outermost line first,
    0-255): the largest n <= K whose first n lines are all darker than DARK_BORDER_RATIO of
    both of the next two lines (and by DARK_BORDER_STEP levels)."""
    best = 0
    for n in range(1, len(lines) - 1):
        dark = float(lines[:n].max())
        ref = float(min(lines[n], lines[n + 1]))
        if dark < DARK_BORDER_RATIO * ref and ref - dark >= DARK_BORDER_STEP:
            best = n
    return best


def dark_border(image) -> DarkBorder:
    """The dark lines at each side of ``image`` [H,W,3] (numpy, uint8 or float in [0,1]):
    per side, up to DARK_BORDER_MAX_PX outermost rows / columns whose mean luminance is below
    DARK_BORDER_RATIO of the next two lines inside them (see :func:`_dark_lines`). TUM office:
    right 1, bottom 1; LLFF fern, livingroom: none. Not a numpy image (a tensor, a grey image,
    one too small to tell): none."""
    if not isinstance(image, np.ndarray) or image.ndim != 3:
        return DarkBorder()
    h, w = image.shape[:2]
    k = DARK_BORDER_MAX_PX + 2
    if min(h, w) < 4 * k:
        return DarkBorder()
    scale = 255.0 if image.dtype.kind == "f" else 1.0

    def lum(strip: np.ndarray, axis: int) -> np.ndarray:
        return strip[..., :3].astype(np.float32).mean(axis=(axis, 2)) * scale

    top, bottom = lum(image[:k], 1), lum(image[-k:], 1)[::-1]
    left, right = lum(image[:, :k], 0), lum(image[:, -k:], 0)[::-1]
    return DarkBorder(_dark_lines(left), _dark_lines(top), _dark_lines(right), _dark_lines(bottom))


def dark_border_inset(image) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) pixels at the border of ``image`` never to sample
    (:meth:`DarkBorder.inset` of :func:`dark_border`); all 0 for a clean image or a tensor."""
    return dark_border(image).inset()


def inset_colors(image, border: DarkBorder | None = None):
    """``image`` [H,W,C] (numpy or torch) with its dark lines replaced by the nearest line
    that is not dark (the inset's edge repeated outward); ``image`` itself when clean.
    ``border``: :func:`dark_border` of the image (found here when None; a tensor has none)."""
    border = dark_border(image) if border is None else border
    if not border.found:
        return image
    rows, cols = border.clamp_indices(image.shape[0], image.shape[1])
    if not isinstance(image, np.ndarray):
        import torch

        rows, cols = (torch.as_tensor(a, device=image.device) for a in (rows, cols))
    return image[rows][:, cols]


def clean_pixels(image, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """[h,w] bool: the pixels of ``image`` [H,W,3] that no dark border line touches, after an
    area-filter resize to ``size`` = (w, h) (None: not resized): a resized pixel that mixes in
    any of a dark line is not clean. None when ``image`` has no dark border (all clean)."""
    border = dark_border(image)
    if not border.found:
        return None
    h, w = image.shape[:2]
    keep = border.keep(h, w)
    if size is None or tuple(size) == (w, h):
        return keep
    import cv2

    return cv2.resize(keep.astype(np.float32), tuple(size), interpolation=cv2.INTER_AREA) >= 1.0 - 1e-4
