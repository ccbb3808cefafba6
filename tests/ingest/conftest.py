"""Fixtures for ingest tests: tiny videos written with PyAV (H.264), photo folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10, codec: str = "libx264") -> Path:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A random blocky texture [h,w,3] uint8 (corners for the motion measure)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(small, 8, 0), 8, 1)[:h, :w])


def panning(n: int, h: int = 72, w: int = 128, step: int = 2) -> list[np.ndarray]:
    """n frames of a texture panning ``step`` px per frame."""
    big = textured(h, w + n * step + 8)
    return [np.ascontiguousarray(big[:h, i * step:i * step + w]) for i in range(n)]


@pytest.fixture(scope="session")
def small_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("vid") / "pan.mp4", panning(30))
