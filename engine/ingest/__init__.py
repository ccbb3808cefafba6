"""Ingest: decoding videos and photo sets, keyframe selection, the captured view bank."""
