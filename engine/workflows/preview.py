"""What the studio asks of the open scene while an artist works: the memory rendered at the
playhead (latest request wins), and how much of each path frame the memory already covers."""
from __future__ import annotations

import numpy as np

from engine.events import Progress


def preview_render(camera, max_width: int = 320):
    """``render(workspace) -> (color uint8 [H,W,3], coverage in [0,1])`` of the memory at
    ``camera`` (downscaled to at most ``max_width`` pixels wide)."""
    if camera.width > max_width:
        camera = camera.scaled(max_width / camera.width)

    def render(ws):
        import torch

        from engine.render.points import render_memory

        if ws.memory is None or ws.memory.is_empty:
            return np.zeros((camera.height, camera.width, 3), np.uint8), 0.0
        result = render_memory(ws.memory, camera)
        color = (result.color.clamp(0, 1) * 255 + 0.5).to(dtype=torch.uint8).cpu().numpy()
        return color, result.coverage
    return render


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
    from engine.generate.registry import DEFAULT_GENERATOR, available_generators, generator_spec

    names = sorted(available_generators(ws.generator_context()), key=lambda n: n != DEFAULT_GENERATOR)
    return [(name, generator_spec(name).summary) for name in names]
