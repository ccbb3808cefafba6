import numpy as np
import pytest

from engine.generate.fill import FillOptions, fill_holes, patchmatch_module


def _stripes(h=64, w=96):
    x = np.arange(w)[None, :].repeat(h, 0)
    y = np.arange(h)[:, None].repeat(w, 1)
    img = np.stack([0.5 + 0.4 * np.sin(x / 2.0), 0.5 + 0.4 * np.sin(y / 3.0), np.full((h, w), 0.3)], -1)
    return img.astype(np.float32)


@pytest.mark.parametrize("method", ["patchmatch", "telea", "pushpull"])
def test_fill_keeps_known_pixels_and_fills_every_hole(method):
    img = _stripes()
    holes = np.zeros(img.shape[:2], bool)
    holes[20:36, 30:50] = True
    holes[5, 5] = True
    out = fill_holes(img, holes, options=FillOptions(method=method))
    assert np.array_equal(out.color[~holes], img[~holes])
    assert np.isfinite(out.color).all() and out.color.min() >= 0 and out.color.max() <= 1
    assert out.method in (method, "telea")


def test_patchmatch_continues_texture_where_push_pull_smears():
    if patchmatch_module() is None:
        pytest.skip("pypatchmatch's native library is not available")
    img = _stripes()
    holes = np.zeros(img.shape[:2], bool)
    holes[20:40, 30:54] = True
    pm = fill_holes(img, holes, options=FillOptions(method="patchmatch"))
    pp = fill_holes(img, holes, options=FillOptions(method="pushpull"))
    assert pm.method == "patchmatch"
    err = lambda o: float(np.abs(o.color[holes] - img[holes]).mean())  # noqa: E731
    assert err(pm) < 0.6 * err(pp)
    # texture, not a smear: the fill varies as much as the image does
    assert pm.color[holes].std() > 0.7 * img.std() > pp.color[holes].std()


def test_patchmatch_keeps_a_nearer_surface_out_of_the_source():
    """A disocclusion next to a near object fills from the background behind it."""
    if patchmatch_module() is None:
        pytest.skip("pypatchmatch's native library is not available")
    img = np.full((60, 90, 3), 0.2, np.float32)
    depth = np.full((60, 90), 5.0, np.float32)
    img[:, :30] = (0.9, 0.1, 0.1)            # a near red object on the left
    depth[:, :30] = 1.0
    holes = np.zeros((60, 90), bool)
    holes[10:50, 30:45] = True               # the hole next to it, at background depth
    out = fill_holes(img, holes, depth, FillOptions(method="patchmatch"))
    assert np.abs(out.color[holes] - 0.2).max() < 0.05
