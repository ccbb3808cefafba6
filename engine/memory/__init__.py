"""The geometry memory M_geo: one persistent, voxel-hashed store of colored points."""
from engine.memory.store import CAPTURED, GeometryMemory, MemoryDelta, MemorySnapshot, InsertStats

__all__ = ["CAPTURED", "GeometryMemory", "MemoryDelta", "MemorySnapshot", "InsertStats"]
