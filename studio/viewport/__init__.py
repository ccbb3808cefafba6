"""The VisPy 3D viewport: points, frusta, the camera path, picking and camera sync."""
