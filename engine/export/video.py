"""Frames of a camera path as H.264 mp4 (PyAV, libx264, yuv420p) and as a PNG sequence.

Frame sources: ``generated`` (the stored frames of the path's generated segments, in
order), ``render`` (the geometry memory rendered into every sampled path camera), ``auto``
(generated when the path's segments cover every frame, else render). yuv420p needs even
sizes: an odd width or height is padded by repeating the last column / row.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from engine.export.common import ExportError, atomic_path, staged_folder, write_file_atomic

SOURCES = ("auto", "generated", "render")


def generated_frame_paths(project, trajectory_name: str) -> list[Path]:
    """PNG paths of the generated frames of ``trajectory_name`` by frame index (gaps = None)."""
    found = {index: png for _, index, png in project.generated_frames(trajectory_name)}
    return [found[i] for i in sorted(found)] if found and sorted(found) == list(range(len(found))) else []


def path_frames(project, trajectory_name: str, source: str = "auto",
                num_frames: int | None = None) -> tuple[Iterator[np.ndarray], int, str]:
    """(iterator of RGB uint8 [H,W,3] frames, frame count, source used)."""
    from engine.project import read_image

    if source not in SOURCES:
        raise ExportError(f"unknown video source {source!r}; choose one of {', '.join(SOURCES)}")
    traj = project.trajectories[trajectory_name]
    n = traj.num_frames if num_frames is None else int(num_frames)
    pngs = generated_frame_paths(project, trajectory_name)
    if source == "generated" or (source == "auto" and len(pngs) == n):
        if not pngs:
            raise ExportError(f"the path {trajectory_name!r} has no generated frames; generate it or use --source render")
        return (read_image(p) for p in pngs), len(pngs), "generated"
    if project.memory is None or project.memory.is_empty:
        raise ExportError("the geometry memory is empty: nothing to render")
    cameras = traj.sample(n)

    def render():
        from engine.render.points import render_memory

        for cam in cameras:
            color = render_memory(project.memory, cam).numpy().color
            yield (np.clip(color, 0, 1) * 255 + 0.5).astype(np.uint8)
    return render(), n, "render"


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(path: str | Path, frames, fps: float, crf: int = 18) -> int:
    """Encode RGB uint8 frames as H.264 mp4 (atomically); returns the frame count."""
    import av
    from fractions import Fraction

    count = 0
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w") as container:
            stream = None
            for frame in frames:
                frame = _even(frame)
                if stream is None:
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
                    stream.options = {"crf": str(int(crf))}
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise ExportError("the path has no frames to encode")
            for packet in stream.encode():
                container.mux(packet)
    return count


def write_png_sequence(folder: str | Path, frames) -> int:
    """``frame_000000.png``, ... in ``folder`` (assembled in a temporary folder first)."""
    count = 0
    with staged_folder(folder) as tmp:
        for i, frame in enumerate(frames):
            ok, buf = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if not ok:
                raise ExportError(f"could not encode frame {i} as PNG")
            write_file_atomic(tmp / f"frame_{i:06d}.png", buf.tobytes())
            count += 1
        if count == 0:
            raise ExportError("the path has no frames to write")
    return count


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float
    frames: list  # RGB uint8 [H,W,3] each


def read_video(path: str | Path) -> VideoInfo:
    """Decode every frame of a video with PyAV."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return VideoInfo(stream.codec_context.name, stream.width, stream.height, float(stream.average_rate or 0),
                         frames)
