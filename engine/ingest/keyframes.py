"""Keyframe selection: sharp frames spread evenly along the camera's apparent motion.

Per frame we measure, on a small grey copy, the sharpness (variance of the Laplacian) and
the image motion since the previous frame (median sparse Lucas-Kanade flow in pixels of
the analysis size, a cheap parallax proxy; mean absolute difference when no corners).
The cumulative motion curve is cut into equal pieces and the sharpest frame of each piece is
kept, skipping frames much blurrier than their neighbourhood. There are ``target`` pieces,
or fewer when the camera moves little: a piece spans at least ``min_step_px`` of motion
(parallax between keyframes, as SLAM systems choose keyframes), so a slow 10-s clip does
not become 150 nearly identical keyframes.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class KeyframeOptions:
    target: int = 150             # wanted number of keyframes (fewer if the video is short)
    stride: int | None = None     # take exactly every stride-th frame instead
    blur_ratio: float = 0.35      # reject frames below this fraction of the local median sharpness
    min_motion_px: float = 0.5    # total motion below this (analysis pixels) = no parallax
    min_step_px: float = 3.0      # motion between keyframes at least this (analysis pixels,
                                  # ~1% of the 320-px analysis side); 0 = always ``target``


@dataclass
class FrameStats:
    """Per-frame measures: sharpness [N], motion [N] (pixels vs the previous frame, 0 for the first),
    brightness [N] (mean grey level 0-255)."""

    sharpness: np.ndarray
    motion: np.ndarray
    brightness: np.ndarray


def frame_motion(prev: np.ndarray, cur: np.ndarray) -> float:
    """Median image motion in pixels between two grey frames [h,w] uint8."""
    pts = cv2.goodFeaturesToTrack(prev, maxCorners=200, qualityLevel=0.01, minDistance=6)
    if pts is not None and len(pts) >= 8:
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(15, 15), maxLevel=3)
        ok = status.ravel() == 1
        if ok.sum() >= 8:
            return float(np.median(np.linalg.norm((nxt - pts)[ok].reshape(-1, 2), axis=1)))
    # textureless: brightness change as a weak proxy (scaled to be comparable to pixels)
    return float(np.mean(np.abs(prev.astype(np.float32) - cur.astype(np.float32)))) / 8.0


class StatsAccumulator:
    """Feeds grey analysis frames one by one and collects :class:`FrameStats`."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self.sharp: list[float] = []
        self.motion: list[float] = []
        self.bright: list[float] = []

    def add(self, gray: np.ndarray) -> None:
        from engine.ingest.frames import sharpness

        self.sharp.append(sharpness(gray))
        self.bright.append(float(gray.mean()))
        self.motion.append(0.0 if self._prev is None or self._prev.shape != gray.shape
                           else frame_motion(self._prev, gray))
        self._prev = gray

    def stats(self) -> FrameStats:
        return FrameStats(np.array(self.sharp), np.array(self.motion), np.array(self.bright))


def select_keyframes(stats: FrameStats, options: KeyframeOptions = KeyframeOptions()) -> list[int]:
    """Indices (sorted) of the keyframes among ``len(stats.sharpness)`` frames."""
    n = len(stats.sharpness)
    if n == 0:
        return []
    usable = (stats.brightness > 8.0) & (stats.sharpness > 1e-3)   # not black / not blank
    if options.stride:
        if options.stride < 1:
            raise ValueError(f"stride must be >= 1, got {options.stride}")
        return [i for i in range(0, n, options.stride) if usable[i]]
    target = max(1, int(options.target))
    cum = np.cumsum(stats.motion)
    total = cum[-1]
    if total < options.min_motion_px:   # no motion: spread by time instead
        cum = np.arange(n, dtype=np.float64)
        total = float(n - 1) or 1.0
    elif options.min_step_px > 0:
        target = min(target, max(2, int(total / options.min_step_px) + 1))
    if n <= target:
        return [i for i in range(n) if usable[i]]
    local = _local_median(stats.sharpness, max(9, 4 * (n // target) + 1))
    good = usable & (stats.sharpness >= options.blur_ratio * local)
    edges = np.linspace(0.0, total, target + 1)
    bins = np.clip(np.searchsorted(edges, cum, side="right") - 1, 0, target - 1)
    chosen = []
    for b in range(target):
        members = np.flatnonzero((bins == b) & good)   # a bin of only blurred frames is skipped
        if len(members):
            chosen.append(int(members[np.argmax(stats.sharpness[members])]))
    return sorted(set(chosen))


def _local_median(values: np.ndarray, window: int) -> np.ndarray:
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    return np.array([np.median(padded[i:i + window]) for i in range(len(values))])
