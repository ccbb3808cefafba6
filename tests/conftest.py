"""Shared fixtures: a small synthetic capture with exact ground truth (CPU, 160×90).

The engine (and with it torch) is imported inside the helpers, not at module level: pytest
loads this file in the xdist controller too, which runs no test; a module-level import made
the controller import torch (~4 CPU-s) before it started the workers (measured: controller
8.1 CPU-s before, see benchmarks/RESULTS.md, session 23). The workers import the engine
anyway when they collect the test modules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import numpy as np

    from engine.geometry import Camera
    from engine.ingest.views import ViewBank
    from engine.memory import GeometryMemory


def pytest_configure(config):
    """torch's intra-op threads for this process's main thread, before any test runs.

    engine.device.configure_cpu_threads (1 thread on a 2-core machine) takes effect only in
    the thread that calls it first and in threads that start using torch afterwards: when a
    studio test came first, the engine thread configured itself and the main thread kept
    torch's default of 2 OpenMP threads for the rest of the worker's run (every later
    CPU-bound test burnt 2-10x its CPU time spinning; measured: 391 vs 271 CPU-s per worker).
    The xdist controller runs no tests and skips this."""
    from tests.timeline import register

    register(config)                   # ANYRECON_TEST_TIMELINE=DIR: per-worker test timeline
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    from engine.device import configure_cpu_threads

    configure_cpu_threads()


@dataclass
class Capture:
    scene: object
    cameras: list
    views: ViewBank

    def memory(self, voxel_size: float = 0.03) -> GeometryMemory:
        """A fresh memory fused from the ground-truth depth of every captured view."""
        from engine.memory import GeometryMemory

        mem = GeometryMemory(voxel_size, device="cpu")
        for i, v in enumerate(self.views):
            mem.insert_depth(v.camera, v.depth, v.image, view=i)
        return mem


def make_capture(n: int = 12, width: int = 160, height: int = 90, arc_deg: float = 120.0) -> Capture:
    import numpy as np

    from engine.ingest.views import CapturedView, ViewBank
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


def wavy_color(h: int, w: int) -> np.ndarray:
    """[h,w,3] float32 RGB in [0,1]: sine stripes across x and y (a texture PatchMatch can
    continue into holes)."""
    import numpy as np

    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([0.5 + 0.4 * np.sin(xx / 3.0), 0.5 + 0.4 * np.cos(yy / 4.0), 0.3 + 0 * xx], -1).astype(np.float32)


def shifted_camera(x: float, width: int, height: int) -> Camera:
    """A pinhole camera (focal 0.9 x width, centred principal point) at (x, 0, 0) looking down +z."""
    import numpy as np

    from engine.geometry import Camera

    f = 0.9 * width
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    wfc = np.eye(4)
    wfc[0, 3] = x
    return Camera(K, width, height, wfc)


def between_poses(cameras: list[Camera], lift=(0.0, -0.25, 0.35)) -> list[Camera]:
    """Novel cameras halfway between consecutive captured ones, moved off the captured path."""
    import numpy as np

    from engine.geometry import se3

    out = []
    for a, b in zip(cameras[:-1], cameras[1:]):
        qa = se3.quat_from_matrix(a.world_from_cam[:3, :3])
        qb = se3.quat_from_matrix(b.world_from_cam[:3, :3])
        rot = se3.quat_to_matrix(se3.quat_slerp(qa, qb, 0.5))
        center = 0.5 * (a.center + b.center) + rot @ np.asarray(lift)
        out.append(a.with_pose(se3.make_transform(rot, center)))
    return out


_NEXT_ITEM: dict = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Remember the test that runs next while this one's fixtures are torn down (local_ray)."""
    _NEXT_ITEM["item"] = nextitem
    try:
        return (yield)
    finally:
        _NEXT_ITEM.clear()


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs on loopback (engine.workflows.batch.start_ray) for a test module.
    Consecutive modules that use it share one cluster (starting Ray costs ~10 CPU-seconds): it
    is shut down after a module unless the next test asks for ``local_ray`` too (its module
    fixture then finds Ray running and shuts it down in turn)."""
    ray = pytest.importorskip("ray")
    from engine.workflows.batch import start_ray

    start_ray(num_cpus=2)
    yield ray
    nextitem = _NEXT_ITEM.get("item")
    if nextitem is None or "local_ray" not in getattr(nextitem, "fixturenames", ()):
        ray.shutdown()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (``make test``): one work unit per module, per shared fixture and for
    the Ray modules, longest first (tests/xdist_scheduling.py says why and how)."""
    if config.getvalue("dist") == "loadgroup":
        from tests.xdist_scheduling import make_group_scheduling

        return make_group_scheduling(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    from tests.xdist_scheduling import check_shared_fixture_users

    check_shared_fixture_users(items)
