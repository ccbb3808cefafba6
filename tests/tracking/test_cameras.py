"""Which images share a camera (intrinsics) in the COLMAP workspace, and EXIF focal priors."""
import numpy as np

from engine.ingest.frames import Frame
from engine.synthetic import demo_capture_cameras, make_demo_scene
from engine.tracking.loops import LoopOptions
from engine.tracking.sfm import ColmapWorkspace, SfmOptions, sift_scale


def _frames(n=3, width=160, height=90, focal_scale=None):
    scene = make_demo_scene(0)
    cams = demo_capture_cameras(scene, n=n, width=width, height=height)
    return cams, [Frame(c.name, i, (np.clip(scene.render(c).rgb, 0, 1) * 255).astype(np.uint8),
                        focal_px=None if focal_scale is None else float(c.K[0, 0]) * focal_scale)
                  for i, c in enumerate(cams)]


def _db_cameras(ws):
    import pycolmap

    db = pycolmap.Database.open(str(ws.database))
    try:
        return db.read_all_cameras(), {im.name: im.camera_id for im in db.read_all_images()}
    finally:
        db.close()


def test_exif_focal_length_becomes_the_shared_camera_prior():
    """Photos of one size and one EXIF focal length share a camera that starts from that focal
    (scaled to the size SIFT works on) and is marked as a prior."""
    cams, frames = _frames(focal_scale=1.0)
    ws = ColmapWorkspace(SfmOptions(matching="exhaustive"), is_video=False)
    try:
        ws.extract_and_match(ws.add_frames(frames))
        cameras, _ = _db_cameras(ws)
        assert len(cameras) == 1
        assert cameras[0].has_prior_focal_length
        s = sift_scale(160, 90, ws.options)
        assert s == 2.0                                    # 160-px photos are enlarged 2x for SIFT
        assert np.isclose(cameras[0].focal_length, cams[0].K[0, 0] * s, rtol=1e-3)
    finally:
        ws.close()


def test_photos_of_other_sizes_or_zoom_get_their_own_camera():
    _, small = _frames(n=3)
    _, large = _frames(n=2, width=320, height=180)
    _, zoomed = _frames(n=2, focal_scale=1.5)
    for f in large + zoomed:
        f.name += "_b" if f in large else "_z"
    ws = ColmapWorkspace(SfmOptions(matching="exhaustive"), is_video=False)
    try:
        names = ws.add_frames(small + large + zoomed)
        ws.extract_and_match(names)
        cameras, camera_of = _db_cameras(ws)
        assert len(cameras) == 3
        groups = [{camera_of[n] for n in names[a:b]} for a, b in ((0, 3), (3, 5), (5, 7))]
        assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    finally:
        ws.close()
    ws = ColmapWorkspace(SfmOptions(matching="exhaustive", single_camera=False), is_video=False)
    try:
        ws.extract_and_match(ws.add_frames(small))
        assert len(_db_cameras(ws)[0]) == 3
    finally:
        ws.close()


def test_video_chunks_extend_the_one_camera():
    _, frames = _frames(n=6)
    ws = ColmapWorkspace(SfmOptions(loops=LoopOptions(enabled=False)), is_video=True)
    try:
        ws.extract_and_match(ws.add_frames(frames[:3]))
        ws.extract_and_match(ws.add_frames(frames[3:]))
        cameras, camera_of = _db_cameras(ws)
        assert len(cameras) == 1 and len(camera_of) == 6
    finally:
        ws.close()
