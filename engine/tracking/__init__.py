"""Tracking: camera poses (pycolmap), dense depth (plane-sweep MVS in torch), render-and-match
pose refinement, and import of known poses (COLMAP, transforms.json, LLFF).

Entry points: ``pipeline.track_job`` (streaming session job for a video / photo folder),
``import_poses.import_poses`` + ``posed.dense_job`` (known poses), ``refine.refine_pose``,
``localize.register_photos_job`` (photos added to a tracked project later). Videos are matched
sequentially with loop detection (``loops``).
pycolmap is imported lazily so the GPU paths need only torch, numpy and cv2.
"""
