import numpy as np

from engine.ingest.frames import Frame
from engine.synthetic import demo_capture_cameras, make_demo_scene
from engine.tracking.sfm import ColmapWorkspace, SfmOptions


def test_exif_focal_length_becomes_the_camera_prior():
    """Photos that carry a focal length (EXIF) start mapping from it, marked as a prior."""
    import pycolmap

    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, n=3, width=160, height=90)
    frames = [Frame(c.name, i, (np.clip(scene.render(c).rgb, 0, 1) * 255).astype(np.uint8),
                    focal_px=float(c.K[0, 0])) for i, c in enumerate(cams)]
    ws = ColmapWorkspace(SfmOptions(matching="exhaustive"), is_video=False)
    try:
        ws.extract_and_match(ws.add_frames(frames))
        db = pycolmap.Database.open(str(ws.database))
        try:
            cameras = db.read_all_cameras()
        finally:
            db.close()
        assert len(cameras) == 3
        for cam in cameras:
            assert cam.has_prior_focal_length
            assert np.isclose(cam.focal_length, cams[0].K[0, 0], rtol=1e-6)
    finally:
        ws.close()
