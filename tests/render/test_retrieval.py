import numpy as np

from engine.generate.ibr import IBRGenerator, warp_single_view
from engine.generate.protocol import ReferenceView
from engine.geometry import se3
from engine.ingest.views import CapturedView, ViewBank
from engine.metrics import psnr
from engine.render.points import render_memory
from engine.render.retrieval import (COMPLETED_MIN_CONFIDENCE, contribution_matrix, nearest_camera_views,
                                     retrieve_views, target_surface_samples)


def _turned_around(camera, degrees=180.0):
    rot = camera.world_from_cam[:3, :3] @ se3.so3_exp([0.0, np.radians(degrees), 0.0])
    return camera.with_pose(se3.make_transform(rot, camera.center))


def _bank_with_distractor(capture, target):
    """The captured views plus one right next to the target that looks the other way."""
    scene = capture.scene
    distractor = _turned_around(target).with_pose(
        se3.make_transform(_turned_around(target).world_from_cam[:3, :3], target.center + [0.02, 0, 0]))
    f = scene.render(distractor)
    image = (np.clip(f.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    bank = ViewBank(list(capture.views.views))
    d_id = bank.add(CapturedView(distractor, image, np.where(np.isfinite(f.depth), f.depth, 0).astype(np.float32)))
    return bank, d_id


def test_retrieval_beats_nearest_camera_when_the_nearest_looks_away(capture):
    mem = capture.memory(0.03)
    base = capture.cameras[6]
    target = base.with_pose(se3.make_transform(base.world_from_cam[:3, :3], base.center + [0.0, -0.2, 0.5]))
    bank, distractor = _bank_with_distractor(capture, target)
    nearest = nearest_camera_views(bank, target, 1)[0]
    assert nearest == distractor
    picked = retrieve_views(mem, bank, [target], top_k=4)
    assert distractor not in [p.view_id for p in picked]
    assert picked[0].gain > 0.5
    gains = [p.gain for p in picked]
    assert gains == sorted(gains, reverse=True)
    gt = capture.scene.render(target).rgb

    def warp(view_id):
        v = bank[view_id]
        return warp_single_view(ReferenceView(view_id, v.camera, v.image_float(), v.depth), target).color

    assert psnr(warp(picked[0].view_id), gt) > psnr(warp(nearest), gt) + 3.0


def test_segment_retrieval_covers_the_whole_segment(capture):
    mem = capture.memory(0.03)
    targets = [capture.cameras[1], capture.cameras[10]]
    picked = retrieve_views(mem, capture.views, targets, top_k=2)
    ids = {p.view_id for p in picked}
    # one view near each end of the segment, not two from the same end
    assert any(i <= 3 for i in ids) and any(i >= 8 for i in ids)


def test_retrieval_with_nothing_visible_returns_nothing(capture):
    mem = capture.memory(0.05)
    cam = capture.cameras[0]
    outside = cam.with_pose(se3.make_transform(cam.world_from_cam[:3, :3], cam.center + [0, 0, -50.0]))
    outside = _turned_around(outside)
    assert not render_memory(mem, outside).mask.any()
    assert retrieve_views(mem, capture.views, [outside]) == []


def test_completed_depth_is_evidence_of_visibility_only_where_verified(capture):
    """A view's completed depth (filled in, not matched) counts in the visibility test only
    at COMPLETED_MIN_CONFIDENCE or more (verified against its neighbours): the same depth
    marked completed at a low confidence gives the view no contribution."""
    mem = capture.memory(0.03)
    v = capture.views[6]
    depth = np.asarray(v.depth, np.float32)
    everywhere = np.ones(depth.shape, bool)

    def as_view(confidence):
        return CapturedView(v.camera, v.image, depth, np.full(depth.shape, confidence, np.float32), everywhere)

    bank = ViewBank([CapturedView(v.camera, v.image, depth), as_view(COMPLETED_MIN_CONFIDENCE),
                     as_view(0.5 * COMPLETED_MIN_CONFIDENCE)])
    points, eyes = target_surface_samples(mem, [capture.cameras[6]])
    contrib = contribution_matrix(mem, bank, points, eyes).sum(1).cpu().numpy()
    assert contrib[0] > 0.5 * points.shape[0]
    assert contrib[1] == contrib[0]
    assert contrib[2] == 0.0
