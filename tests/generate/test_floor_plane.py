"""One floor plane per set of references (engine.generate.floor): office's orbit defect, a floor
with no matched depth (only the tracker's completion) below a matched desk top, guessed anew
in every frame (a fronto-parallel sheet at the desk's depth)."""
import numpy as np

from engine.generate.floor import fit_floor_plane
from engine.generate.lumigraph import make_source
from engine.generate.surface import SurfaceGenerator, SurfaceGeneratorOptions
from engine.generate.sweep import SweepOptions
from engine.geometry import Camera, se3
from engine.geometry.camera import intrinsics_from_fov

W, H = 96, 72
FLOOR_Y, DESK_Y = 1.0, 0.45      # world y points down (OpenCV-like world); the cameras at y = 0


def _camera(x: float, pitch_deg: float = 25.0, yaw_deg: float = 0.0) -> Camera:
    a, b = np.deg2rad(pitch_deg), np.deg2rad(yaw_deg)
    pitch = np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])
    yaw = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return Camera(intrinsics_from_fov(60.0, W, H), W, H, se3.make_transform(yaw @ pitch, np.array([x, 0.0, 0.0])))


def _depth(cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(z-depth [H,W] of the floor and the desk top, desk [H,W] bool) ray-cast in ``cam``."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    rays_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(cam.K).T
    wfc = np.asarray(cam.world_from_cam)
    d = rays_cam @ wfc[:3, :3].T
    c = wfc[:3, 3]
    dy = np.where(d[..., 1] > 1e-6, d[..., 1], np.nan)
    t_floor = (FLOOR_Y - c[1]) / dy
    t_desk = (DESK_Y - c[1]) / dy
    p = c + t_desk[..., None] * d
    desk = (np.abs(p[..., 0]) < 0.6) & (p[..., 2] > 2.0) & (p[..., 2] < 3.0)
    depth = np.where(desk, t_desk, t_floor)
    return np.nan_to_num(depth, nan=0.0).astype(np.float32), desk


def _sources():
    rng = np.random.default_rng(0)
    out = []
    for x in (-0.3, 0.0, 0.3):
        cam = _camera(x)
        depth, desk = _depth(cam)
        img = rng.random((H, W, 3)).astype(np.float32)
        # the desk top is matched, the floor only completed (no matched pixel)
        out.append(make_source(cam, img, depth, "cpu", completed=~desk))
    return out


def test_the_floor_plane_is_the_lowest_horizontal_plane():
    plane = fit_floor_plane(_sources())
    assert plane is not None
    # y down: the floor is y = 1 -> normal ~ (0, -1, 0), offset ~ 1
    assert abs(plane.normal[1] + 1.0) < 0.01
    assert abs(plane.offset - FLOOR_Y) < 0.02


def test_a_guessed_floor_takes_the_floor_plane():
    srcs = _sources()
    target = _camera(0.15, pitch_deg=30.0, yaw_deg=12.0)
    truth, desk = _depth(target)
    floor = (truth > 0) & ~desk
    errs = {}
    for on in (False, True):
        gen = SurfaceGenerator(SurfaceGeneratorOptions(sweep=SweepOptions(enabled=False), gap_px=0, floor_plane=on),
                               device="cpu")
        d = gen.render_frame(target, None, srcs, None, 0.01).depth
        errs[on] = np.abs(np.asarray(d)[floor] / truth[floor] - 1.0)
    # the old guess: the floor off by more than 5% over much of it
    assert np.mean(errs[False] > 0.05) > 0.5
    assert np.mean(errs[True] > 0.05) < 0.1


def test_no_floor_without_a_horizontal_plane():
    """References looking at a fronto-parallel wall of random depth bumps: no plane found."""
    rng = np.random.default_rng(2)
    srcs = []
    for x in (-0.3, 0.0, 0.3):
        cam = _camera(x, pitch_deg=0.0)
        depth = (3.0 + rng.uniform(-0.5, 0.5, (H, W))).astype(np.float32)
        srcs.append(make_source(cam, rng.random((H, W, 3)).astype(np.float32), depth, "cpu"))
    assert fit_floor_plane(srcs) is None
