"""auto's fill by groups of holes (engine.generate.fill_groups): thin ragged edge strips with
specks and small blobs, each group on its own box (not one frame-wide box at a fifth of the
resolution), tall strips in bands, on threads, the same frame whatever the threads."""
from dataclasses import replace

import numpy as np
import pytest

import engine.generate.fill as fill
from engine.generate.fill import FillOptions, fill_holes, hole_work_cap, patchmatch_module
from engine.generate.fill_groups import group_parts, hole_groups

H, W = 256, 448
GROUPS = FillOptions(max_work_pixels=20_000, boxes="groups", hole_work_pixels=600, band_rows=64, threads=3)


def _frame(seed: int = 0):
    """A textured frame with ragged strips at its left / right edges, specks along them and two
    blobs: > max_split_regions hole regions (auto's frames on the GPU path)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    color = np.stack([0.5 + 0.3 * np.sin(xx / 5), 0.5 + 0.3 * np.cos(yy / 7), 0.4 + 0.2 * np.sin((xx + yy) / 9)], -1)
    color = (color + rng.normal(0, 0.02, color.shape)).clip(0, 1).astype(np.float32)
    holes = np.zeros((H, W), bool)
    left = (12 + 5 * np.sin(np.arange(H) / 20) + rng.integers(-2, 3, H)).astype(int)
    right = (8 + 3 * np.cos(np.arange(H) / 15) + rng.integers(-2, 3, H)).astype(int)
    for y in range(H):
        holes[y, :left[y]] = True
        holes[y, W - right[y]:] = True
    for y in range(5, H - 5, 16):                                   # specks along the strips
        holes[y:y + 3, left[y] + 6:left[y] + 9] = True
        holes[y:y + 3, W - right[y] - 9:W - right[y] - 6] = True
    holes[100:112, 200:214] = True                                  # blobs
    holes[40:48, 300:306] = True
    depth = (3.0 + yy / H).astype(np.float32)
    return color, holes, depth


@pytest.fixture(autouse=True)
def _needs_patchmatch():
    if patchmatch_module() is None:
        pytest.skip("pypatchmatch's native library is not available")


def test_strips_and_specks_fill_box_by_box_at_more_than_the_frame_wide_scale(monkeypatch):
    """The frame-wide fill inpaints such a frame (> max_split_regions regions) as one box of the
    whole frame; the groups' fill calls PatchMatch on boxes no wider than a strip plus its
    specks and margin, each at a scale above the frame-wide box's."""
    color, holes, depth = _frame()
    calls = []
    orig = fill._pm_call

    def spy(pm, img, hole, exclude, options, guide=None):
        calls.append(img.shape[:2])
        return orig(pm, img, hole, exclude, options, guide)

    monkeypatch.setattr(fill, "_pm_call", spy)
    old = replace(GROUPS, boxes="frame")
    fill_holes(color, holes, depth, old)
    frame_scale = np.sqrt(old.max_work_pixels / (H * W))
    assert len(calls) == 1 and calls[0][1] >= 0.9 * W * frame_scale      # the whole frame, scaled down
    calls.clear()
    out = fill_holes(color, holes, depth, GROUPS)
    assert out.method == "patchmatch"
    assert len(calls) >= 4                                          # bands of the strips, the blobs
    assert max(w for _, w in calls) < W / 4


def test_groups_keep_known_pixels_and_fill_every_hole():
    color, holes, depth = _frame(1)
    out = fill_holes(color, holes, depth, GROUPS).color
    assert np.array_equal(out[~holes], color[~holes])
    assert out.dtype == np.float32 and out.shape == color.shape
    # no hole left black (the holes' input colour); the fill keeps more of the texture's
    # contrast (Laplacian energy in the holes, against the frame before they were cut) than the
    # frame-wide fill at the frame-wide box's scale (0.46 -> 0.57-0.70 of the truth's here)
    import cv2

    assert (out[holes].max(-1) > 0.05).all()
    old = fill_holes(color, holes, depth, replace(GROUPS, boxes="frame")).color
    lap = [float(np.abs(cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_32F))[holes].mean())
           for x in (out, old, color)]
    assert lap[1] < lap[0] <= 1.2 * lap[2], lap


def test_the_fill_is_the_same_on_any_number_of_threads_and_every_run():
    color, holes, depth = _frame(2)
    a = fill_holes(color, holes, depth, replace(GROUPS, threads=1)).color
    b = fill_holes(color, holes, depth, replace(GROUPS, threads=4)).color
    c = fill_holes(color, holes, depth, replace(GROUPS, threads=4)).color
    assert np.array_equal(a, b) and np.array_equal(b, c)


def test_hole_groups_join_holes_within_the_margin():
    holes = np.zeros((100, 200), bool)
    holes[10:20, 0:5] = True
    holes[10:12, 12:14] = True          # 7 px from the strip: same group at margin 8
    holes[60:70, 150:160] = True        # far: its own group
    labels, boxes = hole_groups(holes, 8)
    assert len(boxes) == 2
    assert labels[10, 0] == labels[10, 12] != labels[60, 150]
    assert sorted(boxes) == [(2, 28, 0, 22), (52, 78, 142, 168)]


def test_bands_cover_a_tall_group_once_at_one_scale():
    holes = np.zeros((300, 120), bool)
    holes[:, :20] = True
    _, boxes = hole_groups(holes, 24)
    opts = FillOptions(max_work_pixels=20_000, hole_work_pixels=600, band_rows=64, margin_px=24)
    parts = group_parts(holes, boxes[0], opts)
    assert len(parts) == 5
    own = [p[1] for p in parts]
    assert own[0][0] == 0 and own[-1][1] == 300 and all(a[1] == b[0] for a, b in zip(own, own[1:]))
    assert len({p[3] for p in parts}) == 1
    assert [p[2] for p in parts] == [(0, 16)] + [(16, 16)] * 3 + [(16, 0)]    # cross-faded at the cuts
    for (r0, r1, c0, c1), (a, b), _, _ in parts:                     # the cross-fade's rows around each band
        assert r0 == max(0, a - 16) and r1 == min(300, b + 16) and (c0, c1) == (0, 44)
    assert group_parts(holes, boxes[0], replace(opts, band_rows=0)) == [(boxes[0], (0, 300), (0, 0), None)]


def test_bands_cross_fade_at_their_cuts_and_hole_pixels_sum_to_one_fill():
    """Two bands' fills of a strip meet in a linear cross-fade (weights summing to 1), not a
    hard seam: with every band's fill a constant, the strip is that constant above and below
    the cut and a ramp between them."""
    from engine.generate.fill_groups import _paste

    holes = np.zeros((200, 60), bool)
    holes[:, :10] = True
    labels = holes.astype(np.int32)
    out = np.zeros((200, 60, 3), np.float32)
    crop_a, crop_b = (0, 148, 0, 58), (52, 200, 0, 58)
    _paste(out, holes, labels, 0, crop_a, (0, 100), (0, 16), np.full((148, 58, 3), 255, np.uint8))
    _paste(out, holes, labels, 0, crop_b, (100, 200), (16, 0), np.zeros((148, 58, 3), np.uint8))
    col = out[:, 0, 0]
    assert np.allclose(col[:84], 1.0) and np.allclose(col[116:], 0.0)
    assert np.all(np.diff(col[84:116]) < 0) and abs(col[99] + col[100] - 1.0) < 1e-6
    assert not out[:, 10:].any()


def test_hole_work_cap_lowers_the_scale_but_not_below_the_frame_wide_box():
    opts = FillOptions(max_work_pixels=20_000, hole_work_pixels=600)
    assert hole_work_cap(opts, 10_000, 300, 400_000) == 10_000 * 2            # few holes: max_work's
    assert hole_work_cap(opts, 40_000, 10_000, 400_000) == 40_000 * 600 / 10_000
    assert hole_work_cap(opts, 40_000, 39_000, 400_000) == 20_000 * 40_000 / 400_000   # the floor
    assert hole_work_cap(replace(opts, hole_work_pixels=0), 40_000, 39_000) == 20_000


def test_auto_fills_its_splat_frames_by_groups_and_frame_keeps_the_old_way():
    """auto's fill options (what ``AutoGenerator._fill`` hands to fill_holes: checked with the
    frame in tests/generate/test_auto.py) carry the groups' settings; "frame" is the old fill."""
    from engine.generate.auto import AutoGenerator, AutoGeneratorOptions

    o = AutoGeneratorOptions()
    got = AutoGenerator.fill_options(o)
    assert (got.boxes, got.hole_work_pixels, got.band_rows, got.threads, got.telea_reach_px) == (
        "groups", o.fill_hole_work_pixels, o.fill_band_rows, o.fill_threads, o.fill_telea_reach_px)
    old = AutoGenerator.fill_options(AutoGeneratorOptions(fill_boxes="frame"))
    assert old.boxes == "frame" and old.hole_work_pixels == 0
    assert AutoGenerator.fill_options(o, few=True).method == "telea"
    with pytest.raises(ValueError, match="fill_boxes"):
        AutoGeneratorOptions(fill_boxes="boxes")
    with pytest.raises(ValueError, match="fill_threads"):
        AutoGeneratorOptions(fill_threads=0)
    with pytest.raises(ValueError, match="fill_telea_reach_px"):
        AutoGeneratorOptions(fill_telea_reach_px=-1.0)


def test_asked_threads_are_capped_by_the_environment(monkeypatch):
    from engine import cpu_split

    monkeypatch.delenv("ANYRECON_CPU_SPLIT", raising=False)
    assert cpu_split.capped(4) == 4 and cpu_split.capped(0) == 1
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "1")
    assert cpu_split.capped(4) == 1
    monkeypatch.setenv("ANYRECON_CPU_SPLIT", "2")
    assert cpu_split.capped(4) == 2


def test_scattered_specks_go_to_telea_not_a_patchmatch_call_each(monkeypatch):
    """Specks a few pixels across, scattered: with ``telea_reach_px`` none of their groups is a
    PatchMatch call (100 such specks took 2x the frame-wide fill's CPU), all are filled."""
    color, _, depth = _frame(3)
    holes = np.zeros((H, W), bool)
    for y in range(20, H - 20, 40):
        for x in range(30, W - 30, 45):
            holes[y:y + 3, x:x + 3] = True
    calls = []
    orig = fill._pm_call
    monkeypatch.setattr(fill, "_pm_call", lambda *a, **k: calls.append(1) or orig(*a, **k))
    out = fill_holes(color, holes, depth, replace(GROUPS, telea_reach_px=4.0))
    assert calls == [] and out.method == "telea"
    assert (out.color[holes].max(-1) > 0.05).all() and np.array_equal(out.color[~holes], color[~holes])
    fill_holes(color, holes, depth, GROUPS)                                   # off: PatchMatch
    assert len(calls) >= 1
