"""Shared fixtures: a small synthetic capture with exact ground truth (CPU, 160×90)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from engine.geometry import Camera, se3
from engine.ingest.views import CapturedView, ViewBank
from engine.memory import GeometryMemory


@dataclass
class Capture:
    scene: object
    cameras: list
    views: ViewBank

    def memory(self, voxel_size: float = 0.03) -> GeometryMemory:
        """A fresh memory fused from the ground-truth depth of every captured view."""
        mem = GeometryMemory(voxel_size, device="cpu")
        for i, v in enumerate(self.views):
            mem.insert_depth(v.camera, v.depth, v.image, view=i)
        return mem


def make_capture(n: int = 12, width: int = 160, height: int = 90, arc_deg: float = 120.0) -> Capture:
    from engine.synthetic import demo_capture_cameras, make_demo_scene

    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, n=n, width=width, height=height, arc_deg=arc_deg)
    bank = ViewBank()
    for cam in cams:
        frame = scene.render(cam)
        image = (np.clip(frame.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
        depth = np.where(np.isfinite(frame.depth), frame.depth, 0).astype(np.float32)
        bank.add(CapturedView(cam, image, depth))
    return Capture(scene, cams, bank)


@pytest.fixture(scope="session")
def capture() -> Capture:
    return make_capture()


def between_poses(cameras: list[Camera], lift=(0.0, -0.25, 0.35)) -> list[Camera]:
    """Novel cameras halfway between consecutive captured ones, moved off the captured path."""
    out = []
    for a, b in zip(cameras[:-1], cameras[1:]):
        qa = se3.quat_from_matrix(a.world_from_cam[:3, :3])
        qb = se3.quat_from_matrix(b.world_from_cam[:3, :3])
        rot = se3.quat_to_matrix(se3.quat_slerp(qa, qb, 0.5))
        center = 0.5 * (a.center + b.center) + rot @ np.asarray(lift)
        out.append(a.with_pose(se3.make_transform(rot, center)))
    return out


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs on loopback (engine.workflows.batch.start_ray), per test module."""
    ray = pytest.importorskip("ray")
    from engine.workflows.batch import start_ray

    start_ray(num_cpus=2)
    yield ray
    ray.shutdown()


# Tests that start a local Ray (module fixture ``local_ray`` or their own ``start_ray``): one
# xdist worker runs them all, one module after the other, so two Ray clusters never compete for
# the 2 cores and test_batch's "nothing listens beyond loopback" sees only its own Ray.
RAY_MODULES = {"test_batch.py", "test_pool.py", "test_windows.py"}


# Expensive session fixtures whose users all go to one worker (built once, as in a serial run).
SHARED_SESSION_FIXTURES = ("tracked_demo",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n N --dist loadgroup`` (the Makefile's ``make test``) each test module goes
    to one worker as a whole, so its module-scoped fixtures are built once, as in a serial run;
    the Ray modules share one group (see RAY_MODULES), and so do the modules that use one of
    SHARED_SESSION_FIXTURES. Without xdist the marks do nothing.

    Inert with pytest 9.2 + pytest-xdist 3.8: xdist appends the group to ``item._nodeid``, which
    pytest 9 no longer reads (``Node._id``), so loadgroup then distributes test by test like
    ``--dist load`` (the suite passes that way: each worker builds the fixtures it needs)."""
    by_fixture = {}
    for item in items:
        for name in SHARED_SESSION_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                by_fixture.setdefault(item.path, name)
    for item in items:
        if item.path.name in RAY_MODULES:
            group = "ray"
        else:
            group = by_fixture.get(item.path) or str(item.path.relative_to(config.rootpath))
        item.add_marker(pytest.mark.xdist_group(group))
