"""Register photos into the open scene (the CLI's ``register``, the studio's Add Photos)."""
from __future__ import annotations

from pathlib import Path


def register_photos_job(paths, options=None):
    """Session job: read the photos (files or folders; unreadable files are reported by name,
    not fatal), match them to the captured views and render-and-match them against the memory.
    Returns (registrations, read warnings): engine.tracking.localize.Registration per photo."""
    paths = [Path(p) for p in paths]

    def job(ws, cancel):
        from engine.tracking.localize import LocalizeOptions, read_photos
        from engine.tracking.localize import register_photos_job as localize_job

        ws.require_scene("Registering photos")
        frames, warnings = read_photos(paths)
        if not frames:
            raise ValueError("none of the photos could be read. " + " ".join(warnings))
        results = yield from localize_job(frames, options or LocalizeOptions())(ws, cancel)
        return results, warnings
    return job
