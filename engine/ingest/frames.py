"""Decoded input frames and the ingest result (plain numpy, no tracking yet)."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


class IngestError(ValueError):
    """An input cannot be ingested; the message names the file and the reason."""


@dataclass
class Frame:
    """One decoded keyframe.

    name      ``frame_000120`` (video: source frame index) or the photo's file stem
    index     source frame index (video) or position in the sorted photo list
    image     [H,W,3] uint8 RGB, upright (EXIF orientation applied), possibly downscaled
    scale     image size / source size (1.0 when not downscaled)
    source    the file it came from
    focal_px  focal length in pixels of ``image`` when known (EXIF), else None
    sharpness variance of the Laplacian of the grey image at the analysis size
    """

    name: str
    index: int
    image: np.ndarray
    scale: float = 1.0
    source: str = ""
    focal_px: float | None = None
    sharpness: float = 0.0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass
class IngestResult:
    """Frames of one input and what was learned while reading it.

    kind              "video" or "images"
    frames            the selected keyframes, in source order
    num_source_frames frames in the input (decoded count for videos)
    fps               frames per second (videos), else None
    warnings          human-readable notes (blurred frames dropped, no parallax, ...)
    rejected          names of inputs that could not be read (photo sets), with reasons
    """

    kind: str
    frames: list[Frame]
    num_source_frames: int
    fps: float | None = None
    warnings: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


def downscale_to_max_side(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Shrink [H,W,C] so that max(H,W) <= max_side (area filter); returns (image, scale)."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0
    scale = max_side / float(max(h, w))
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return out, size[0] / float(w)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image [H,W] uint8/float (higher = sharper)."""
    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=3).var())


def analysis_gray(image: np.ndarray, side: int = 320) -> np.ndarray:
    """A small grey copy [h,w] uint8 (max side ``side``) for sharpness and motion measures."""
    small, _ = downscale_to_max_side(image, side)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
