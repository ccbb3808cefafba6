import numpy as np
import torch

from engine.memory import GeometryMemory
from engine.render.points import render_memory, see_through
from engine.render.surface import SurfaceRender, closing, render_surface, see_through_fast
from tests.conftest import between_poses


def test_fast_see_through_matches_the_reference_rule():
    g = torch.Generator().manual_seed(0)
    depth = 1 + 4 * torch.rand(40, 60, generator=g)
    depth[10:30, 10:40] = 1.0                      # a near plate ...
    depth[12:28:3, 12:38:3] = 5.0                  # ... with far points showing through its gaps
    mask = torch.rand(40, 60, generator=g) > 0.1
    for abs_tol in (0.0, 0.05):
        assert torch.equal(see_through_fast(depth, mask, abs_tol=abs_tol), see_through(depth, mask, abs_tol=abs_tol))


def test_surface_render_has_no_holes_or_speckles_where_the_memory_has_geometry(capture):
    mem = capture.memory(0.05)
    # a coarse memory at a high resolution: the points' footprints (clamped to 3 px) leave
    # gaps, and far surfaces show through the gaps of near ones
    cam = between_poses(capture.cameras)[3].scaled(3)
    gt = np.nan_to_num(capture.scene.render(cam).depth, posinf=0.0)
    scene = gt > 0

    def errors(r):
        d, m = r.depth.numpy(), r.mask.numpy()
        return (~m)[scene].mean(), (m & (d > gt * 1.05))[scene].mean(), (m & (d < gt * 0.95))[scene].mean()
    raw_holes, raw_far, _ = errors(render_memory(mem, cam))
    surf = render_surface(mem, cam)
    assert isinstance(surf, SurfaceRender)
    holes, far, near = errors(surf)
    assert raw_holes > 0.005 and raw_far > 0.01        # the point render has holes and speckles here
    assert holes < 0.001                                # the surface has neither
    assert far < 0.003 and far < raw_far / 5
    assert near < 0.08                                  # silhouettes grow by about a footprint, no more
    assert surf.filled.numpy().any() and not (surf.filled.numpy() & ~surf.mask.numpy()).any()
    assert 0 <= surf.color.min() and surf.color.max() <= 1


def test_surface_render_keeps_provenance_and_leaves_empty_space_empty(capture):
    mem = capture.memory(0.05)
    view = capture.views[5]
    generated = np.zeros(view.depth.shape, bool)
    generated[20:50, 40:100] = True
    mem.insert_depth(view.camera, np.where(generated, view.depth * 0.8, 0), view.image, segment=3)
    surf = render_surface(mem, view.camera)
    seg = surf.segment.numpy()
    inner = np.zeros_like(generated)
    inner[24:46, 44:96] = True
    assert (seg[inner] == 3).mean() > 0.95            # the generated patch is in front, tagged 3
    assert (seg[~generated & surf.mask.numpy()] == -1).mean() > 0.95
    # a lone patch of points in front of nothing: the fill closes its gaps, adds no membrane
    lone = GeometryMemory(0.05, device="cpu")
    lone.insert_depth(view.camera, np.where(generated, view.depth, 0), view.image)
    s = render_surface(lone, view.camera)
    assert s.mask.numpy()[inner].mean() > 0.99
    grown = s.mask.numpy() & ~generated
    assert grown.sum() < 0.15 * generated.sum()


def test_closing_fills_gaps_not_open_space():
    m = torch.zeros(30, 30, dtype=torch.bool)
    m[5:25, 5:25] = True
    m[10:13, 10:13] = False                 # a 3-px gap inside the square
    c = closing(m, 5)
    assert c[10:13, 10:13].all()
    assert not c[:5].any() and not c[:, :5].any()


def test_surface_render_has_the_point_render_fields(capture):
    """A SurfaceRender stands in for a RenderResult: same shapes and dtypes, at least its
    coverage."""
    mem = capture.memory(0.03)
    cam = capture.cameras[0]
    s = render_surface(mem, cam)
    r = render_memory(mem, cam)
    assert s.color.shape == r.color.shape and s.depth.dtype == torch.float32
    assert s.segment.dtype == torch.int32 and s.point_index.dtype == torch.int64
    assert s.coverage >= r.coverage


def test_neighbour_counts_by_shifts_and_by_unfold_agree():
    """The CPU's shifted comparisons and CUDA's unfold (run here on the CPU) count the same
    neighbours, borders included (what near_specks and see_through_fast rely on)."""
    from engine.render.surface import neighbour_counts

    gen = torch.Generator().manual_seed(3)
    depth = torch.rand(37, 53, generator=gen) * (torch.rand(37, 53, generator=gen) > 0.3)
    for kernel in (5, 11):
        def farther(nb, c):
            return nb > c * 1.05

        shifted = neighbour_counts(depth, kernel, farther, unfold=False)
        unfolded = neighbour_counts(depth, kernel, farther, unfold=True)
        assert all(torch.equal(a, b) for a, b in zip(shifted, unfolded))
        corner = depth[:kernel // 2 + 1, :kernel // 2 + 1]
        assert int(shifted[1][0, 0]) == int((corner > 0).sum()) and int(shifted[0].sum()) > 0
