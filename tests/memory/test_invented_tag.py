"""The memory's tag for invented content (view INVENTED_VIEW): merging keeps the strongest
evidence (a captured view, then observed, then invented), whatever the confidences."""
import numpy as np

from engine.memory import GeometryMemory
from engine.memory.store import INVENTED_VIEW


def _view_after(first: int, second: int) -> int:
    mem = GeometryMemory(0.1, device="cpu")
    xyz = np.zeros((1, 3), np.float32)
    mem.insert_points(xyz, np.ones((1, 3)), np.array([5.0]), view=first, segment=0)
    mem.insert_points(xyz + 0.01, np.ones((1, 3)), np.array([5.0]), view=second, segment=0)
    assert len(mem) == 1
    return int(mem.rows.view[0])


def test_invented_points_stay_invented_only_until_something_observes_them():
    assert _view_after(INVENTED_VIEW, INVENTED_VIEW) == INVENTED_VIEW   # merged confidence: still a guess
    assert _view_after(INVENTED_VIEW, -1) == -1
    assert _view_after(-1, INVENTED_VIEW) == -1
    assert _view_after(INVENTED_VIEW, 3) == 3
    assert _view_after(3, INVENTED_VIEW) == 3
    assert _view_after(2, 3) == 2
