"""Playback state: the playhead frame, the frame count and whether it plays."""
from __future__ import annotations

from psygnal import Signal


class Playback:
    frame_changed = Signal(int)
    playing_changed = Signal(bool)
    range_changed = Signal(int)

    def __init__(self, fps: float = 30.0) -> None:
        self.frame = 0
        self.num_frames = 0
        self.playing = False
        self.fps = float(fps)

    def set_num_frames(self, n: int) -> None:
        n = max(0, int(n))
        if n != self.num_frames:
            self.num_frames = n
            self.range_changed.emit(n)
        if self.frame >= max(n, 1):
            self.set_frame(max(n - 1, 0))

    def set_frame(self, frame: int) -> None:
        frame = int(min(max(frame, 0), max(self.num_frames - 1, 0)))
        if frame != self.frame:
            self.frame = frame
            self.frame_changed.emit(frame)

    def step(self, delta: int) -> None:
        self.set_frame(self.frame + delta)

    def advance(self) -> None:
        """One tick of playback: next frame, wrapping at the end."""
        if self.num_frames:
            self.set_frame((self.frame + 1) % self.num_frames)

    def set_playing(self, playing: bool) -> None:
        playing = bool(playing) and self.num_frames > 1
        if playing != self.playing:
            self.playing = playing
            self.playing_changed.emit(playing)

    def toggle(self) -> None:
        self.set_playing(not self.playing)
