"""Novel-view generators behind one protocol (default: weight-free image-based rendering)."""
from engine.generate.protocol import (CancelToken, Cancelled, GeneratedFrame, NovelViewGenerator,
                                      ReferenceView, SegmentRequest)
from engine.generate.registry import GENERATORS, make_generator

__all__ = ["CancelToken", "Cancelled", "GeneratedFrame", "NovelViewGenerator", "ReferenceView",
           "SegmentRequest", "GENERATORS", "make_generator"]
