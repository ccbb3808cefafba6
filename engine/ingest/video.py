"""Video decoding with PyAV (mp4, mov, mkv, webm, ...) and two-pass keyframe extraction.

Pass 1 decodes every frame at a small grey size to measure sharpness and motion; the
keyframes are chosen (engine.ingest.keyframes); pass 2 decodes again and keeps only the
chosen frames at full size (downscaled to ``max_side``). A truncated file keeps the frames
decoded before the damage, with a warning.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.ingest.frames import Frame, IngestError, IngestResult, downscale_to_max_side
from engine.ingest.keyframes import KeyframeOptions, StatsAccumulator, select_keyframes

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg"}
ANALYSIS_SIDE = 320


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float | None
    num_frames: int | None   # container's count (may be missing or wrong)
    codec: str


def _open(path: Path):
    import av

    if not path.exists():
        raise IngestError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: file is empty")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from exc
    if not container.streams.video:
        container.close()
        raise IngestError(f"{path}: contains no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def probe_video(path: str | Path) -> VideoInfo:
    container, stream = _open(Path(path))
    with container:
        fps = float(stream.average_rate) if stream.average_rate else None
        return VideoInfo(stream.codec_context.width, stream.codec_context.height, fps,
                         int(stream.frames) or None, stream.codec_context.name)


def iter_video(path: str | Path, gray_side: int | None = None,
               warnings: list[str] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, image) for every frame: RGB uint8 [H,W,3] at full size, or grey
    [h,w] uint8 with max side ``gray_side``. Decoding errors end the iteration with a warning."""
    import av

    path = Path(path)
    container, stream = _open(path)
    index = 0
    with container:
        try:
            for frame in container.decode(stream):
                if gray_side:
                    w, h = frame.width, frame.height
                    s = min(1.0, gray_side / max(w, h))
                    img = frame.to_ndarray(format="gray", width=max(2, int(w * s) // 2 * 2),
                                           height=max(2, int(h * s) // 2 * 2))
                else:
                    img = frame.to_ndarray(format="rgb24")
                yield index, img
                index += 1
        except (av.error.FFmpegError, ValueError) as exc:
            msg = f"{path}: decoding stopped after {index} frames ({exc.__class__.__name__}: {exc}); file truncated or damaged"
            log.warning(msg)
            if warnings is not None:
                warnings.append(msg)


def read_video(path: str | Path, options: KeyframeOptions = KeyframeOptions(),
               max_side: int | None = 1600) -> IngestResult:
    """Decode ``path`` and return its keyframes (see module docstring)."""
    path = Path(path)
    info = probe_video(path)
    warnings: list[str] = []
    acc = StatsAccumulator()
    for _, gray in iter_video(path, ANALYSIS_SIDE, warnings):
        acc.add(gray)
    stats = acc.stats()
    n = len(stats.sharpness)
    if n == 0:
        raise IngestError(f"{path}: no frame could be decoded" + (f" ({warnings[0]})" if warnings else ""))
    if info.num_frames and n < info.num_frames:
        warnings.append(f"{path}: only {n} of {info.num_frames} frames could be decoded (truncated?)")
    chosen = select_keyframes(stats, options)
    if not chosen:
        raise IngestError(f"{path}: all {n} frames are black or blank")
    warnings += _motion_warnings(path, stats, chosen)
    frames = list(_extract(path, set(chosen), stats, max_side))
    if not frames:
        raise IngestError(f"{path}: no usable frame could be decoded")
    if len(frames) == 1:
        warnings.append(f"{path}: a single frame cannot be tracked (it needs at least 2)")
    return IngestResult("video", frames, n, info.fps, warnings)


def _motion_warnings(path: Path, stats, chosen: list[int]) -> list[str]:
    out = []
    if float(stats.motion.sum()) < KeyframeOptions().min_motion_px:
        out.append(f"{path}: the frames are (nearly) identical: no camera motion, no parallax")
    dark = int((stats.brightness < 8.0).sum())
    if dark:
        out.append(f"{path}: {dark} black frame(s) skipped")
    return out


def _extract(path: Path, chosen: set[int], stats, max_side: int | None) -> Iterator[Frame]:
    last = max(chosen)
    for index, rgb in iter_video(path):
        if index in chosen:
            image, scale = downscale_to_max_side(rgb, max_side)
            yield Frame(f"frame_{index:06d}", index, np.ascontiguousarray(image), scale, str(path),
                        None, float(stats.sharpness[index]))
        if index >= last:
            break
