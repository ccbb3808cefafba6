"""The surface generator beyond the captured views: fill once along a segment (fill layers),
no isolated invented memory points (engine/generate/surface.py)."""
from dataclasses import replace

import numpy as np
import torch

from engine.events import FrameGenerated
from engine.generate.loop import LoopOptions, generate_path
from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions
from engine.geometry import se3
from engine.metrics import psnr
from engine.render.surface import SurfaceRender


def _yaw(camera, degrees):
    rot = camera.world_from_cam[:3, :3] @ se3.so3_exp([0.0, np.radians(degrees), 0.0])
    return camera.with_pose(se3.make_transform(rot, camera.center))


def _segment(capture, reuse: bool):
    """A segment turning away from the captured arc (the memory gets what it invents, as in
    the app); returns the frames and the share of each frame PatchMatch had to fill."""
    base = capture.cameras[-1]
    cams = [_yaw(base, -30 - 4 * i) for i in range(5)]
    gen = SurfaceGenerator(SurfaceGeneratorOptions(reuse_fills=reuse), device="cpu")
    filled, frames = [], []
    for e in generate_path(capture.memory(0.03), capture.views, cams, gen, LoopOptions(segment_length=5)):
        if isinstance(e, FrameGenerated):
            frames.append(e.frame)
            filled.append(float(gen.last_holes.mean()))
    return frames, filled


def _carried(src, cam):
    """Frame ``src`` carried into ``cam`` through its own depth: (color, invented-there mask)."""
    from engine.generate.ibr import _warp_source
    from engine.render.points import render_points

    ws = _warp_source(src.camera, src.color, src.depth, 1.0, "cpu", 0.8, invented=src.invented)
    r = render_points(ws.xyz, ws.rgb, cam, ws.radius).numpy()
    return r.color, ws.invented.numpy()[np.maximum(r.point_index, 0)] & r.mask


def test_what_a_segment_invents_is_filled_once_and_does_not_drift(capture):
    """What the first frame invented, carried into each later frame of the segment through
    its depth, agrees with what that frame shows there. With fill layers it is sampled once
    from the frame that filled it; without them it is re-sampled from frame to frame (each
    frame from the previous one) and drifts away along the segment."""
    out = {}
    for reuse in (True, False):
        frames, filled = _segment(capture, reuse)
        agree = []
        for b in frames[1:]:
            color, inv = _carried(frames[0], b.camera)
            both = inv & b.invented
            assert both.sum() > 1000
            agree.append(psnr(b.color, color, mask=both))
        out[reuse] = (filled, agree)
    (f_on, a_on), (f_off, a_off) = out[True], out[False]
    assert f_on[0] > 0.05 and abs(f_on[0] - f_off[0]) < 1e-6        # the first frame invents alike
    assert max(f_on[1:]) < 0.5 * f_on[0]                             # later frames inpaint only the new edge
    assert a_on[-1] > a_off[-1] + 2.0                                # no drift at the segment's end
    assert min(a_on) > 25.0


def _guide(h, w):
    """A surface render: the left half captured grey wall, on the right a dense block of weak
    generated (invented) content and, elsewhere, isolated weak points (white)."""
    color = torch.zeros(h, w, 3)
    mask = torch.zeros(h, w, dtype=torch.bool)
    seg = torch.full((h, w), -1, dtype=torch.int32)
    conf = torch.zeros(h, w)
    mask[:, : w // 2] = True
    color[:, : w // 2] = 0.4
    conf[:, : w // 2] = 20.0
    block = (slice(10, 40), slice(w // 2 + 10, w // 2 + 40))
    mask[block], color[block], seg[block], conf[block] = True, torch.tensor([0.8, 0.1, 0.1]), 0, 0.1
    iso = torch.zeros_like(mask)
    iso[50::9, w // 2 + 5::9] = True
    mask[iso], color[iso], seg[iso], conf[iso] = True, 1.0, 0, 0.1
    depth = torch.where(mask, torch.full((h, w), 3.0), torch.zeros(h, w))
    return SurfaceRender(color, depth, mask, torch.full((h, w), -1, dtype=torch.int32),
                         torch.full((h, w), -1, dtype=torch.int64), conf, seg, torch.zeros_like(mask)), block, iso


def test_isolated_invented_memory_points_do_not_come_back_as_specks(capture):
    cam = capture.cameras[0]
    guide, block, iso = _guide(cam.height, cam.width)
    opts = replace(SurfaceGeneratorOptions(), fill=replace(SurfaceGeneratorOptions().fill, method="telea"))
    frame = SurfaceGenerator(opts, device="cpu").render_frame(cam, guide, [], None, 0.03)
    assert np.allclose(frame.color[block], [0.8, 0.1, 0.1], atol=0.02)   # a surface: kept
    specks = frame.color[iso.numpy()]
    assert (specks.max(axis=-1) < 0.9).all()                              # isolated: filled over, no white specks
