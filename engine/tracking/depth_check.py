"""The memory must not collapse silently (issue 14 item 3): after the final poses, each
keyframe's depth map is re-filtered against its neighbours (engine.tracking.dense); a
keyframe whose camera is wrong keeps few pixels, because its depth no longer agrees with the
neighbours'. :func:`depth_warnings` compares every map's kept (matched) pixels with what
was expected: the other maps' median, and all maps together against their share while
tracking (provisional poses).

Fractions are shares of a map's pixels with matched depth, in [0, 1], keyed by view name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Words every depth-disagreement warning starts with (the studio shows such notes as warnings).
DEPTH_WARNING = "dense depth disagrees"


@dataclass(frozen=True)
class DepthCheckOptions:
    low_ratio: float = 0.4         # a map keeping less than this x the other maps' median share is
                                   # reported (a camera 20-25 degrees off keeps ~0.3x on the demo
                                   # scene; 1-4 degrees off still ~0.5-0.8x: not "far fewer")
    min_expected: float = 0.02     # ... when at least this share was expected (blank views keep none)
    collapse_ratio: float = 0.5    # all maps together keeping less than this x their share while
                                   # tracking: the memory collapsed
    max_listed: int = 8            # keyframes named in the warning


def depth_warnings(final: dict[str, float], provisional: dict[str, float] | None = None,
                   options: DepthCheckOptions = DepthCheckOptions()) -> list[str]:
    """Warnings (empty when all is well) naming the keyframes whose final map keeps far fewer
    pixels than expected: expected = the other final maps' median share (a map's share while
    tracking is no guide: the first maps of a chunk had no neighbour maps to be checked
    against). A second warning when the median final share fell below ``collapse_ratio`` x
    the median share while tracking (the final poses made the maps disagree everywhere)."""
    provisional = provisional or {}
    if len(final) < 2:
        return []
    low = []
    for name, kept in final.items():
        expected = float(np.median([v for n, v in final.items() if n != name]))
        if expected >= options.min_expected and kept < options.low_ratio * expected:
            low.append((kept / expected, name, kept, expected))
    out = []
    if low:
        low.sort()
        listed = ", ".join(f"{n} ({100 * k:.1f}% of pixels kept, {100 * e:.0f}% expected)"
                           for _, n, k, e in low[:options.max_listed])
        more = f" and {len(low) - options.max_listed} more" if len(low) > options.max_listed else ""
        out.append(f"{DEPTH_WARNING} with its neighbours at {len(low)} of {len(final)} keyframes on the final "
                   f"cameras: {listed}{more}; their cameras may be wrong")
    shared = [n for n in final if n in provisional]
    if shared:
        before = float(np.median([provisional[n] for n in shared]))
        after = float(np.median([final[n] for n in shared]))
        if before >= options.min_expected and after < options.collapse_ratio * before:
            out.append(f"{DEPTH_WARNING} on the final cameras overall: the keyframes keep {100 * after:.1f}% of "
                       f"their pixels (median) against {100 * before:.1f}% while tracking; the memory is "
                       f"thin and the cameras may be wrong")
    return out
