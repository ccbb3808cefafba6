"""Pi3 (feed-forward cameras, depth and confidence) behind the tracking seams, on the user's
``<models>/Pi3/model.safetensors`` (see weights.py; nothing is downloaded).

Importing this package needs only torch; safetensors is imported when weights are read."""
