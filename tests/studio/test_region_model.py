"""The region of interest's pure edits (no Qt): a face moves along its axis, the opposite one
stays; a whole-box move keeps the size; the engine's scene frame maps to the state and back."""
from __future__ import annotations

import numpy as np

from engine.geometry.scene_frame import SceneFrame
from studio.models.region import (MIN_HALF, RegionModel, RegionState, move_box, region_state, resize_face,
                                  state_of_frame)


def _turned() -> RegionState:
    a = np.radians(25.0)
    box = np.eye(4)
    box[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    box[:3, 3] = [1.0, -0.5, 2.0]
    return region_state(box, [0.4, 0.3, 0.2])


def test_resize_keeps_the_opposite_face_and_stops_at_a_minimum():
    s = _turned()
    for axis in range(3):
        for sign in (-1, 1):
            grown = resize_face(s, axis, sign, 0.3)
            assert np.isclose(grown.box()[1][axis], s.box()[1][axis] + 0.15)
            assert np.allclose(grown.face_center(axis, -sign), s.face_center(axis, -sign))
            assert np.allclose(grown.face_center(axis, sign) - s.face_center(axis, sign),
                               sign * 0.3 * s.box()[0][:3, axis])
            crushed = resize_face(s, axis, sign, -10.0)
            assert np.isclose(crushed.box()[1][axis], MIN_HALF)
            assert np.allclose(crushed.face_center(axis, -sign), s.face_center(axis, -sign))


def test_move_keeps_size_and_corners_are_the_box():
    s = _turned()
    m = move_box(s, 2, 0.5)
    assert np.allclose(m.box()[1], s.box()[1])
    assert np.allclose(m.corners() - s.corners(), 0.5 * s.box()[0][:3, 2])
    local = (s.corners() - s.box()[0][:3, 3]) @ s.box()[0][:3, :3]
    assert np.allclose(np.abs(local), s.box()[1])


def test_state_from_the_scene_frame_and_change_signal():
    assert not state_of_frame(None).has_box and not state_of_frame(SceneFrame()).has_box
    w, h = _turned().box()
    frame = SceneFrame().with_roi(w, h, enabled=False)
    s = state_of_frame(frame)
    assert s.has_box and not s.enabled and np.allclose(s.box()[0], w)
    model, seen = RegionModel(), []
    model.changed.connect(seen.append)
    model.set_state(s)
    model.set_state(state_of_frame(frame))          # equal: no signal
    assert seen == [s]
