"""The pyqtgraph timeline: playhead, keyframe track, segment strip, coverage, filmstrip."""
