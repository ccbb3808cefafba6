"""The references' verified completed depth as the guessed depth's start (issue 13; office's
orbit): a surface the tracker completed but never matched (office's untextured floor) took
the push-pull sheet at the depth of the things around it, a fresh guess every frame, and the
frames of a path stitched pieces of different wrong floors. Warped from the references like
the measured depth, it is the same surface in every frame; it stays a guess (a hint: never
known depth, the sweep may still move it). See benchmarks/RESULTS.md (floor-s24)."""
from types import SimpleNamespace

import numpy as np

from engine.generate.protocol import ReferenceView
from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions
from engine.geometry import Camera, se3
from engine.geometry.camera import intrinsics_from_fov

H, W = 64, 96
WALL, FLOOR = 4.0, 1.0        # a wall at z = 4 m, a floor 1 m below the cameras (OpenCV: +y down)
K = intrinsics_from_fov(60.0, W, H)


def _cam(x: float) -> Camera:
    return Camera(K, W, H, se3.make_transform(np.eye(3), np.array([x, 0.0, 0.0])))


def _view(x: float):
    """What a camera at (x, 0, 0) looking down +z sees: its true z-depth [H,W], a floor mask
    (nearer than the wall), and an image: a textured wall, an untextured grey floor."""
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    dy = (v - K[1, 2]) / K[1, 1]
    floor_z = np.where(dy > 1e-6, FLOOR / np.maximum(dy, 1e-6), np.inf)
    floor = floor_z < WALL
    depth = np.where(floor, floor_z, WALL).astype(np.float32)
    wx = x + (u - K[0, 2]) * WALL / K[0, 0]
    wy = dy * WALL
    wall = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * wx / 0.6), 0.5 + 0.4 * np.cos(2 * np.pi * wy / 0.37),
                     0.5 + 0.4 * np.sin(2 * np.pi * (wx + wy) / 0.9)], axis=-1)
    img = np.where(floor[..., None], 0.45, wall).astype(np.float32)
    return depth, floor, img


def _reference(i: int, x: float) -> ReferenceView:
    """A reference whose wall depth is matched and whose floor depth is completed (verified by
    the neighbour views: confidence 0.5, over the fusion's 0.3)."""
    depth, floor, img = _view(x)
    conf = np.where(floor, 0.5, 1.0).astype(np.float32)
    return ReferenceView(i, _cam(x), img, depth, 1.0, completed=floor, confidence=conf)


def _depth(options: SurfaceGeneratorOptions):
    gen = SurfaceGenerator(options, device="cpu")
    sources = gen.reference_sources(SimpleNamespace(references=[_reference(0, -0.3), _reference(1, 0.3)]))
    gen.trace = {}
    gen.render_frame(_cam(0.0), None, sources, None, voxel_size=0.02)
    return gen.trace


def test_the_guessed_floor_takes_the_references_verified_completed_depth():
    true, floor, _ = _view(0.0)
    rows = floor & (np.arange(H)[:, None] > 0.75 * H)       # the near floor, far from the wall's edge
    on = _depth(SurfaceGeneratorOptions())
    # a guess, not a measurement: the floor is not known depth
    assert not on["known"][rows].any()
    err = np.abs(on["depth"] - true) / true
    assert np.median(err[rows]) < 0.04
    # off: the push-pull sheet at the wall's depth (the old guess)
    off = _depth(SurfaceGeneratorOptions(completed_hint=0))
    assert np.median((np.abs(off["depth"] - true) / true)[rows]) > 0.3


def test_unverified_completed_depth_is_no_hint():
    """Completed pixels under the fusion's confidence (not verified) give nothing."""
    gen = SurfaceGenerator(SurfaceGeneratorOptions(), device="cpu")
    refs = [_reference(0, -0.3), _reference(1, 0.3)]
    for r in refs:
        r.confidence[r.completed] = 0.1
    sources = gen.reference_sources(SimpleNamespace(references=refs))
    gen.trace = {}
    gen.render_frame(_cam(0.0), None, sources, None, voxel_size=0.02)
    assert not gen.trace["completed_hint"].any()
