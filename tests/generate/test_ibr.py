import numpy as np
import pytest

from engine.events import FrameGenerated
from engine.generate import make_generator
from engine.generate.ibr import IBRGenerator, warp_single_view
from engine.generate.loop import LoopOptions, generate_path
from engine.generate.protocol import ReferenceView
from engine.generate.pushpull import push_pull
from engine.metrics import psnr
from engine.render.points import render_memory
from engine.render.retrieval import nearest_camera_views
from tests.conftest import between_poses


def _frames(events):
    return [e.frame for e in events if isinstance(e, FrameGenerated)]


def test_generated_frames_beat_memory_render_and_single_view_warp(capture):
    mem = capture.memory(0.03)
    reference_mem = capture.memory(0.03)
    targets = between_poses(capture.cameras)
    frames = _frames(generate_path(mem, capture.views, targets, IBRGenerator(device="cpu"),
                                   LoopOptions(segment_length=6)))
    assert len(frames) == len(targets)
    p_gen, p_mem, p_near = [], [], []
    for frame, cam in zip(frames, targets):
        gt = capture.scene.render(cam).rgb
        p_gen.append(psnr(frame.color, gt))
        p_mem.append(psnr(render_memory(reference_mem, cam).numpy().color, gt))
        n = nearest_camera_views(capture.views, cam, 1)[0]
        v = capture.views[n]
        p_near.append(psnr(warp_single_view(ReferenceView(n, v.camera, v.image_float(), v.depth), cam).color, gt))
    assert np.mean(p_gen) > np.mean(p_mem) + 1.0
    assert np.mean(p_gen) > np.mean(p_near) + 0.3
    assert np.mean(np.array(p_gen) > np.array(p_near)) >= 0.8


def test_frame_outputs_are_well_formed(capture):
    mem = capture.memory(0.05)
    targets = between_poses(capture.cameras)[:2]
    for f in _frames(generate_path(mem, capture.views, targets, make_generator("ibr", device="cpu"))):
        h, w = f.camera.height, f.camera.width
        assert f.color.shape == (h, w, 3) and f.color.dtype == np.float32
        assert 0 <= f.color.min() and f.color.max() <= 1
        assert f.depth.shape == (h, w) and (f.depth > 0).all()
        assert ((0 <= f.confidence) & (f.confidence <= 1)).all()
        assert f.invented.dtype == bool and f.invented_fraction < 0.2
        # invented pixels carry low confidence, observed ones high
        assert f.confidence[f.invented].max(initial=0) <= 0.1 + 1e-6
        assert f.confidence[~f.invented].mean() > 0.4


def test_generated_depth_matches_ground_truth(capture):
    mem = capture.memory(0.03)
    cam = between_poses(capture.cameras)[4]
    frame = _frames(generate_path(mem, capture.views, [cam], IBRGenerator(device="cpu")))[0]
    gt = capture.scene.render(cam).depth
    seen = ~frame.invented
    rel = np.abs(frame.depth[seen] - gt[seen]) / gt[seen]
    assert np.median(rel) < 0.01 and np.mean(rel < 0.05) > 0.9


def test_push_pull_fills_holes_and_keeps_known_pixels():
    import torch

    img = torch.rand(3, 32, 48)
    known = torch.ones(32, 48)
    known[10:20, 10:30] = 0
    out = push_pull(img, known)
    assert torch.equal(out[:, known > 0], img[:, known > 0])
    hole = out[:, 10:20, 10:30]
    assert torch.isfinite(hole).all() and hole.min() >= 0 and hole.max() <= 1


def test_unknown_generator_lists_the_valid_names():
    with pytest.raises(ValueError, match="ibr"):
        make_generator("nope")


def test_a_dark_border_line_of_a_reference_never_reaches_the_frame():
    """TUM office's photos have a dark last row and column (engine.imaging.dark_border): ``ibr``
    neither samples them backward nor warps their colour forward. A grey reference with black
    border lines, seen by a target shifted so that its right border crosses the frame."""
    from engine.geometry import Camera
    from engine.geometry.camera import intrinsics_from_fov

    w, h = 64, 48

    def cam(x):
        wfc = np.eye(4)
        wfc[0, 3] = x
        return Camera(intrinsics_from_fov(50.0, w, h), w, h, wfc)

    depth = np.full((h, w), 2.0, np.float32)

    def darkest(image):
        frame = warp_single_view(ReferenceView(0, cam(0.0), image, depth), cam(0.3))
        seen = ~frame.invented
        assert seen.mean() > 0.5
        return float(frame.color[seen].mean(-1).min())

    grey = np.full((h, w, 3), 0.6, np.float32)
    dark = grey.copy()
    dark[-1] = 0.0
    dark[:, -1] = 0.0
    assert darkest(grey) > 0.55
    assert darkest(dark) > 0.55                  # was 0.0: the black column drawn into the frame
