"""The studio's choices over the engine workflows (Qt-free): its demo size, and opening a
synthetic demo video with its exact cameras. Every job the studio submits is an
``engine.workflows`` function; nothing here reimplements one."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engine.workflows.scene import demo_job as engine_demo_job
from engine.workflows.scene import insert_view, loaded_result

DEMO_VOXEL = 0.05


def studio_demo_options(num_views: int = 12, width: int = 192, height: int = 108, stride: int = 2,
                        voxel_size: float = DEMO_VOXEL, seed: int = 0):
    """The studio's demo: engine.demo's options at a size llvmpipe draws smoothly."""
    from engine.demo import DemoOptions

    return DemoOptions(num_views=num_views, width=width, height=height, stride=stride,
                       voxel_size=voxel_size, seed=seed)


def demo_job(options=None, cache_renders: bool = False):
    """The built-in demo at the studio's size, without a path (the artist adds one);
    ``cache_renders``: reuse the capture's renders of an earlier load (engine.demo.demo_views)."""
    return engine_demo_job(options or studio_demo_options(), with_path=False, cache_renders=cache_renders)


def demo_video_job(video: Path, options=None):
    """A synthetic demo video with its ``<stem>_cameras.json``: decoded frames with the
    ground-truth cameras and the synthetic scene's depth (tests and demos; no tracking)."""
    options = options or studio_demo_options()

    def job(ws, cancel):
        from engine.ingest.views import CapturedView
        from engine.memory import GeometryMemory
        from engine.project import Project
        from engine.synthetic import make_demo_scene, read_demo_cameras

        cams = read_demo_cameras(video)
        frames = decode_video(video, max_frames=len(cams))
        if not frames:
            raise ValueError(f"{video.name}: no frames could be decoded")
        ws.replace_scene(Project(root=Path(video.stem), name=video.stem, memory=GeometryMemory(options.voxel_size)),
                         saved=False)
        scene = make_demo_scene(options.seed)
        picks = np.unique(np.linspace(0, min(len(cams), len(frames)) - 1, options.num_views).round().astype(int))
        started = time.perf_counter()
        for n, i in enumerate(picks):
            cancel.raise_if_cancelled()
            small = cams[i].scaled(options.width / cams[i].width)
            image = _resize(frames[i], small.width, small.height)
            depth = scene.render(small).depth
            depth = np.where(np.isfinite(depth), depth, 0).astype(np.float32)
            yield from insert_view(ws, CapturedView(small, image, depth), options.stride, len(picks),
                                   started, n + 1, video.name)
        return loaded_result(ws, "demo video: ground-truth cameras")
    return job


def decode_video(path: Path, max_frames: int = 100000) -> list[np.ndarray]:
    """RGB uint8 frames of a video (PyAV); raises ValueError naming the file when broken."""
    import av

    try:
        with av.open(str(path)) as container:
            out = []
            for frame in container.decode(video=0):
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) >= max_frames:
                    break
            return out
    except (av.error.FFmpegError, IndexError, StopIteration) as exc:
        raise ValueError(f"{path.name}: not a readable video ({exc})") from exc


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    if image.shape[1] == width and image.shape[0] == height:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


__all__ = ["DEMO_VOXEL", "decode_video", "demo_job", "demo_video_job", "studio_demo_options"]
