"""Argument types that range-check option values as the parser reads them (``--top-k 0``
or ``--max-side -5`` are usage errors naming the option, not tracebacks later), and the
destination checks every writing command runs before its long work."""
from __future__ import annotations

import argparse
import math

from engine.geometry.camera import MAX_IMAGE_SIDE
from engine.trajectory.keyframes import MAX_FPS, MAX_FRAMES


def int_range(lo: int, hi: int | None = None):
    """argparse type: an integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is out of range ({lo}..{hi if hi is not None else 'any'})")
        return value
    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float | None = None, lo_open: bool = True):
    """argparse type: a finite number > lo (>= lo when not ``lo_open``) and <= hi."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        bad_lo = value <= lo if lo_open else value < lo
        if not math.isfinite(value) or bad_lo or (hi is not None and value > hi):
            rng = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
            raise argparse.ArgumentTypeError(f"{text} is out of range (must be {rng})")
        return value
    parse.__name__ = "number"
    return parse


POSITIVE = int_range(1)
NON_NEGATIVE = int_range(0)
FRAMES = int_range(1, MAX_FRAMES)
IMAGE_SIDE = int_range(16, MAX_IMAGE_SIDE)
TOP_K = int_range(1, 64)
SEGMENT_LENGTH = int_range(1, MAX_FRAMES)
FPS = float_range(0.0, MAX_FPS)
POSITIVE_FLOAT = float_range(0.0)


def add_overwrite(parser, what: str = "the project") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} at the destination wholly (refused otherwise)")
