"""One entry point for any input: a video file, a folder of photos, or a list of photos."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.ingest.frames import IngestError, IngestResult
from engine.ingest.images import IMAGE_SUFFIXES, read_images
from engine.ingest.keyframes import KeyframeOptions
from engine.ingest.video import VIDEO_SUFFIXES, read_video


@dataclass(frozen=True)
class IngestOptions:
    max_keyframes: int = 150          # video keyframe target
    stride: int | None = None         # take every stride-th frame (video) / photo exactly
    max_side: int | None = 1600       # downscale larger frames (scale recorded per frame)


def load_input(path: str | Path, options: IngestOptions = IngestOptions()) -> IngestResult:
    """Video file -> keyframes; folder or image file -> photo set. Raises IngestError."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: does not exist")
    if path.is_dir():
        return read_images(path, options.max_side, options.stride)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return read_images([path], options.max_side)
    if suffix in VIDEO_SUFFIXES or suffix == "":
        kf = KeyframeOptions(target=options.max_keyframes, stride=options.stride)
        return read_video(path, kf, options.max_side)
    # unknown suffix: let the decoder decide (it raises a clear IngestError if not a video)
    kf = KeyframeOptions(target=options.max_keyframes, stride=options.stride)
    return read_video(path, kf, options.max_side)
