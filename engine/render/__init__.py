"""Point rendering into cameras and geometry-driven view retrieval."""
from engine.render.points import RenderResult, render_points, render_memory

__all__ = ["RenderResult", "render_points", "render_memory"]
