"""What the studio asks of the open scene while an artist works: the memory rendered at the
playhead (latest request wins), and how much of each path frame the memory already covers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.events import Progress


def preview_render(camera, max_width: int = 320):
    """``render(workspace) -> (color uint8 [H,W,3], coverage in [0,1])`` of the memory at
    ``camera`` (downscaled to at most ``max_width`` pixels wide)."""
    if camera.width > max_width:
        camera = camera.scaled(max_width / camera.width)

    def render(ws):
        from engine.render.points import render_memory

        if ws.memory is None or ws.memory.is_empty:
            return np.zeros((camera.height, camera.width, 3), np.uint8), 0.0
        return preview_image(render_memory(ws.memory, camera))
    return render


def preview_image(result) -> tuple[np.ndarray, float]:
    """A RenderResult -> (color uint8 [H,W,3], coverage in [0,1]): what previews show."""
    import torch

    return (result.color.clamp(0, 1) * 255 + 0.5).to(dtype=torch.uint8).cpu().numpy(), result.coverage


def coverage_job(cameras, width: int = 48):
    """Session job: fraction [N] float32 of each path frame the memory covers (rendered at
    ``width`` pixels)."""
    cameras = list(cameras)

    def job(ws, cancel):
        from engine.render.points import render_memory

        out = np.zeros(len(cameras), np.float32)
        if ws.memory is None or ws.memory.is_empty:
            return out
        for i, cam in enumerate(cameras):
            cancel.raise_if_cancelled()
            small = cam.scaled(width / cam.width) if cam.width > width else cam
            out[i] = render_memory(ws.memory, small, max_radius_px=2.0).coverage
            if i % 8 == 7:
                yield Progress((i + 1) / len(cameras), "coverage")
        return out
    return job


def view_image_request(view_id: int):
    """``fn(workspace) -> (view id, image uint8 [H,W,3] or None)``: a captured view's photo,
    answered on the engine thread (the studio shows it when a camera is clicked)."""
    def fn(ws):
        views = ws.views
        if views is None or not 0 <= view_id < len(views):
            return view_id, None
        image = views[view_id].image
        if image.dtype != np.uint8:
            image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
        return view_id, np.ascontiguousarray(image[..., :3])
    return fn


def generator_choices(ws) -> list[tuple[str, str]]:
    """(name, one-line summary) of the generators usable now, the default first: learned ones
    only when their files are in the models folder (answered on the engine thread)."""
    from engine.generate.registry import (
        DEFAULT_GENERATOR,
        available_generators,
        generator_spec,
    )

    names = sorted(available_generators(ws.generator_context()), key=lambda n: n != DEFAULT_GENERATOR)
    return [(name, generator_spec(name).summary) for name in names]


@dataclass(frozen=True)
class NearestPhoto:
    """The captured photo nearest to a camera pose: its view id and name, the photo
    downscaled to at most ``max_width`` (uint8 [H,W,3]), the camera-center distance (scene
    units) and the angle between the viewing directions (degrees)."""

    view_id: int
    name: str
    image: np.ndarray
    distance: float
    angle_deg: float


def nearest_view_index(world_from_cam: np.ndarray, captured_world_from_cam: np.ndarray) -> int:
    """Index of the captured camera nearest by pose to ``world_from_cam`` [4,4] among
    ``captured_world_from_cam`` [N,4,4] (OpenCV axes; -1 when N = 0). Score: center distance
    in units of the capture's spread (median distance of the centers to their median) plus
    the angle between the optical axes in radians, so a photo looking the other way loses."""
    cams = np.asarray(captured_world_from_cam, dtype=np.float64).reshape(-1, 4, 4)
    if len(cams) == 0:
        return -1
    centers = cams[:, :3, 3]
    spread = float(np.median(np.linalg.norm(centers - np.median(centers, axis=0), axis=1)))
    spread = spread if spread > 1e-9 else 1.0
    dist = np.linalg.norm(centers - np.asarray(world_from_cam)[:3, 3], axis=1) / spread
    angle = np.arccos(np.clip(cams[:, :3, 2] @ np.asarray(world_from_cam)[:3, 2], -1.0, 1.0))
    return int(np.argmin(dist + angle))


def nearest_photo_request(world_from_cam: np.ndarray, max_width: int = 480):
    """``fn(workspace) -> NearestPhoto or None``: the captured photo nearest by pose to
    ``world_from_cam`` [4,4] (world, OpenCV axes), answered on the engine thread as plain
    data (the studio's compare view)."""
    world_from_cam = np.array(world_from_cam, dtype=np.float64)

    def fn(ws):
        import cv2

        views = ws.views
        if views is None or len(views) == 0:
            return None
        i = nearest_view_index(world_from_cam, np.stack([v.camera.world_from_cam for v in views]))
        view = views[i]
        image = view.image if view.image.dtype == np.uint8 else (np.clip(view.image, 0, 1) * 255 + 0.5).astype(np.uint8)
        image = image[..., :3]
        if image.shape[1] > max_width:
            h = max(1, round(image.shape[0] * max_width / image.shape[1]))
            image = cv2.resize(image, (max_width, h), interpolation=cv2.INTER_AREA)
        w = view.camera.world_from_cam
        angle = np.degrees(np.arccos(np.clip(w[:3, 2] @ world_from_cam[:3, 2], -1.0, 1.0)))
        return NearestPhoto(i, view.name, np.ascontiguousarray(image),
                            float(np.linalg.norm(w[:3, 3] - world_from_cam[:3, 3])), float(angle))
    return fn
