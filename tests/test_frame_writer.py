"""Generated frames written fast while generating (uncompressed npz, PNG at a low zlib level)
decode to exactly what the project's compressed writing stores."""
from __future__ import annotations

import cv2
import numpy as np

from engine.generate.protocol import GeneratedFrame
from tests.splat.conftest import tiny_capture, tiny_project  # noqa: F401 (fixtures)


def test_fast_frame_writer_matches_the_project_format(tiny_project):  # noqa: F811
    cam = tiny_project.views.cameras[0]
    rng = np.random.default_rng(0)
    h, w = cam.height, cam.width
    frame = GeneratedFrame(cam, rng.random((h, w, 3), dtype=np.float32), rng.random((h, w), dtype=np.float32) + 1,
                           rng.random((h, w), dtype=np.float32), rng.random((h, w)) < 0.2)
    fast = tiny_project.write_generated_frame(7, 3, frame, fast=True)
    ref = tiny_project.write_generated_frame(8, 3, frame)
    assert fast.name == ref.name and fast.parent.name == "seg_0007"
    assert np.array_equal(cv2.imread(str(fast)), cv2.imread(str(ref)))
    with np.load(fast.with_suffix(".npz")) as a, np.load(ref.with_suffix(".npz")) as b:
        assert sorted(a.files) == sorted(b.files)
        assert fast.with_suffix(".npz").stat().st_size > ref.with_suffix(".npz").stat().st_size  # not zipped
        for k in a.files:
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
