"""Ingest: decoding videos and photo sets, keyframe selection, the captured view bank."""
from engine.ingest.frames import Frame, IngestError, IngestResult
from engine.ingest.load import IngestOptions, load_input

__all__ = ["Frame", "IngestError", "IngestResult", "IngestOptions", "load_input"]
