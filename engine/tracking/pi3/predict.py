"""Running Pi3 on a batch of keyframes: resizing, inference, and per-frame results in this
project's conventions (numpy, OpenCV axes, pixel centers at +0.5).

A batch of frames is resized to one working size (about ``max_pixels`` pixels, sides
multiples of 14, the first frame's aspect, as the original demo does) and predicted jointly.
Each frame gets :class:`FramePrediction`: its ``world_from_cam`` in the batch's frame, the
z-depth and confidence of its local point map, and pinhole intrinsics fitted to the rays of
that point map (principal point at the image center; one focal per batch for a video).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.tracking.pi3.network import PATCH

_MODELS: dict[tuple, object] = {}   # (path, mtime, device, dtype) -> Pi3: the last model loaded


@dataclass
class FramePrediction:
    """world_from_cam [4,4] OpenCV axes (batch frame, prediction scale); K [3,3] pixels at the
    working size; depth [h,w] float32 z (prediction scale); confidence [h,w] float32 in [0,1];
    image [h,w,3] uint8 RGB at the working size."""

    world_from_cam: np.ndarray
    K: np.ndarray
    depth: np.ndarray
    confidence: np.ndarray
    image: np.ndarray


def working_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """(w, h), multiples of 14, about the aspect of ``width x height``, w*h <= max_pixels."""
    scale = math.sqrt(max_pixels / (width * height))
    k, m = max(1, round(width * scale / PATCH)), max(1, round(height * scale / PATCH))
    while k * m * PATCH * PATCH > max_pixels and k * m > 1:
        if k / m > width / height:
            k -= 1
        else:
            m -= 1
    return k * PATCH, m * PATCH


def cached_model(path: Path, device, dtype):
    """Pi3 loaded from ``path`` (kept for the next call with the same file, device, dtype)."""
    from engine.tracking.pi3.weights import load_pi3

    key = (str(path), path.stat().st_mtime_ns, str(device), str(dtype))
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_pi3(path, device, dtype)
    return _MODELS[key]


def fit_focal(local_points: np.ndarray, weight: np.ndarray) -> float:
    """Focal (pixels) of a pinhole with a centered principal point that best maps the rays of
    ``local_points`` [h,w,3] (camera frame) to the pixel centers, weighted by ``weight`` [h,w]
    (least squares of ``f * x/z = u - w/2``, same for v)."""
    h, w = local_points.shape[:2]
    z = local_points[..., 2]
    ok = (z > 1e-6) & (weight > 0)
    if ok.sum() < 4:
        return float(max(w, h))            # no usable rays: a ~53 degree field of view
    u = np.arange(w) + 0.5 - w / 2
    v = np.arange(h) + 0.5 - h / 2
    du, dv = np.broadcast_to(u[None, :], (h, w))[ok], np.broadcast_to(v[:, None], (h, w))[ok]
    x, y = local_points[..., 0][ok] / z[ok], local_points[..., 1][ok] / z[ok]
    wt = weight[ok]
    den = float(np.sum(wt * (x * x + y * y)))
    f = float(np.sum(wt * (du * x + dv * y))) / max(den, 1e-12)
    return f if np.isfinite(f) and f > 1 else float(max(w, h))


def resize_rgb(image: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    if image.shape[1] == w and image.shape[0] == h:
        return image
    interp = cv2.INTER_AREA if image.shape[1] > w else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def predict_frames(model, images: list[np.ndarray], max_pixels: int, shared_focal: bool,
                   autocast_dtype=None) -> list[FramePrediction]:
    """Pi3 on ``images`` ([H,W,3] uint8 RGB each) jointly; one :class:`FramePrediction` each."""
    import torch

    device = model.image_mean.device
    w, h = working_size(images[0].shape[1], images[0].shape[0], max_pixels)
    small = [resize_rgb(im, w, h) for im in images]
    x = torch.from_numpy(np.stack(small)).to(device).permute(0, 3, 1, 2).float().div_(255.0)[None]
    with torch.inference_mode():
        if autocast_dtype is not None and device.type == "cuda":
            with torch.autocast("cuda", dtype=autocast_dtype):
                out = model(x)
        else:
            out = model(x)
    wfc = out.world_from_cam[0].double().cpu().numpy()
    local = out.local_points[0].cpu().numpy()
    conf = torch.sigmoid(out.conf_logits[0]).cpu().numpy().astype(np.float32)
    focals = [fit_focal(local[i], conf[i]) for i in range(len(images))]
    if shared_focal:
        focals = [float(np.median(focals))] * len(images)
    preds = []
    for i, f in enumerate(focals):
        K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)
        depth = np.where(local[i, ..., 2] > 0, local[i, ..., 2], 0).astype(np.float32)
        preds.append(FramePrediction(wfc[i], K, depth, conf[i], small[i]))
    return preds
