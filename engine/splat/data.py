"""Training views for the splat trainer: captured views (every 8th held out for evaluation,
the LLFF / NeRF protocol) and generated frames (weighted down where invented)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.geometry import Camera
from engine.imaging import clean_pixels


@dataclass
class TrainView:
    """One view to fit or evaluate.

    camera  Camera (OpenCV axes; K in pixels of ``image``)
    image   [H,W,3] float32 RGB in [0,1], on the training device
    weight  [H,W] float32 per-pixel loss weight on the device, or None (all 1)
    name    frame name; source: "captured" or "generated"
    """

    camera: Camera
    image: torch.Tensor
    weight: torch.Tensor | None = None
    name: str = ""
    source: str = "captured"


def holdout_indices(n: int, every: int = 8) -> list[int]:
    """Indices held out for evaluation: 0, every, 2*every, ... (none when every <= 0 or n < 2)."""
    if every <= 0 or n < 2:
        return []
    return list(range(0, n, every))


def _to_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    return img[..., :3]


def make_view(camera: Camera, image: np.ndarray, device, scale: float = 1.0, weight: np.ndarray | None = None,
              source: str = "captured") -> TrainView:
    """A TrainView from an image [H,W,3] (uint8 or float [0,1]) seen by ``camera``, resized by
    ``scale`` (area filter; the camera is scaled with it). Pixels on or mixed with a dark line
    at the image's border (engine.imaging.clean_pixels: TUM office's last row and column) get
    weight 0: out of the loss."""
    img = _to_image(image)
    if img.shape[:2] != (camera.height, camera.width):
        raise ValueError(f"view {camera.name!r}: image {img.shape[1]}x{img.shape[0]} does not match its "
                         f"camera {camera.width}x{camera.height}")
    full = img
    if scale != 1.0:
        camera = camera.scaled(scale)
        img = cv2.resize(img, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
        if weight is not None:
            weight = cv2.resize(weight.astype(np.float32), (camera.width, camera.height), interpolation=cv2.INTER_AREA)
    clean = clean_pixels(full, (camera.width, camera.height))   # None: no dark border line
    if clean is not None:
        weight = clean.astype(np.float32) if weight is None else weight * clean
    w = None if weight is None else torch.as_tensor(np.ascontiguousarray(weight, np.float32), device=device)
    return TrainView(camera, torch.as_tensor(np.ascontiguousarray(img), device=device), w, camera.name, source)


def split_views(bank, device, scale: float = 1.0, holdout_every: int = 8) -> tuple[list[TrainView], list[TrainView]]:
    """Captured views of a ViewBank -> (train, held-out) TrainViews."""
    if bank is None or len(bank) == 0:
        raise ValueError("no captured views to train the splats on (ingest and track a capture first)")
    held = set(holdout_indices(len(bank), holdout_every))
    views = [make_view(v.camera, v.image, device, scale) for v in bank]
    return [v for i, v in enumerate(views) if i not in held], [v for i, v in enumerate(views) if i in held]


def view_from_generated(frame, device, invented_weight: float = 0.1, observed_weight: float = 0.5,
                        scale: float = 1.0) -> TrainView:
    """A generated frame (engine.generate.GeneratedFrame) as a training view: weight
    ``observed_weight`` where its pixels are backed by observations, ``invented_weight``
    where they were invented."""
    weight = np.where(frame.invented, invented_weight, observed_weight).astype(np.float32)
    return make_view(frame.camera, frame.color, device, scale, weight, source="generated")
