"""A tiny synthetic capture (64x36) and its geometry memory for the splat tests."""
from __future__ import annotations

import pytest

from tests.conftest import make_capture


@pytest.fixture(scope="session")
def tiny_capture():
    return make_capture(n=10, width=64, height=36)


def tiny_memory(capture, voxel: float = 0.5):
    from engine.memory import GeometryMemory

    mem = GeometryMemory(voxel, device="cpu")
    for i, v in enumerate(capture.views):
        mem.insert_depth(v.camera, v.depth, v.image, view=i, stride=2)
    return mem


@pytest.fixture
def tiny_project(tmp_path, tiny_capture):
    from engine.project import Project

    project = Project(tmp_path / "proj", "tiny", tiny_capture.views, tiny_memory(tiny_capture))
    project.save()
    return project
