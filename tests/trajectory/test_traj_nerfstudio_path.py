"""nerfstudio camera_path.json: round trip, field layout, axis convention, legacy files, errors."""
import json

import numpy as np
import pytest

from engine.geometry import se3
from engine.trajectory.keyframes import Keyframe, Trajectory
from engine.trajectory.nerfstudio_path import (
    CameraPathFormatError,
    read_camera_path,
    write_camera_path,
)
from engine.trajectory.presets import orbit


def sample_trajectory(loop=False, constant_speed=False):
    rng = np.random.default_rng(4)
    times = [0.0, 0.7, 2.0, 2.4, 4.0]
    kfs = tuple(Keyframe(se3.make_transform(se3.so3_exp(rng.normal(size=3) * 0.5), rng.normal(size=3)),
                         35.0 + 5.0 * i, t) for i, t in enumerate(times))
    return Trajectory(kfs, tension=0.25, loop=loop, constant_speed=constant_speed, fps=24,
                      width=400, height=300)


def assert_same_cameras(a, b, atol=1e-6):
    assert len(a) == len(b)
    for ca, cb in zip(a, b):
        np.testing.assert_allclose(ca.world_from_cam, cb.world_from_cam, atol=atol)
        np.testing.assert_allclose(ca.K, cb.K, atol=atol)
        assert (ca.width, ca.height) == (cb.width, cb.height)


@pytest.mark.parametrize("loop,constant_speed", [(False, False), (True, False), (False, True)])
def test_round_trip_gives_the_same_cameras(tmp_path, loop, constant_speed):
    traj = sample_trajectory(loop, constant_speed)
    path = write_camera_path(tmp_path / "camera_path.json", traj)
    back = read_camera_path(path)
    assert back.loop == loop and back.constant_speed == constant_speed
    assert back.tension == pytest.approx(0.25) and back.fps == 24
    np.testing.assert_allclose(back.times, traj.times)
    for ka, kb in zip(traj.keyframes, back.keyframes):
        assert kb.fov_y_deg == pytest.approx(ka.fov_y_deg)
    assert_same_cameras(traj.sample(), back.sample())
    assert [p.name for p in tmp_path.iterdir()] == ["camera_path.json"]  # no temp files left


def test_fields_match_nerfstudio_layout(tmp_path):
    traj = sample_trajectory()
    data = json.loads(write_camera_path(tmp_path / "p.json", traj).read_text())
    for key in ("camera_type", "render_height", "render_width", "fps", "seconds",
                "smoothness_value", "is_cycle", "keyframes", "camera_path"):
        assert key in data
    assert data["camera_type"] == "perspective"
    assert (data["render_width"], data["render_height"]) == (400, 300)
    # ns-render plays len(camera_path) / seconds frames per second
    assert len(data["camera_path"]) / data["seconds"] == pytest.approx(24.0)
    kf = data["keyframes"][1]
    assert isinstance(kf["matrix"], list) and len(kf["matrix"]) == 16
    assert kf["aspect"] == pytest.approx(400 / 300) and kf["fov"] == pytest.approx(40.0)
    assert kf["override_transition_enabled"] and kf["override_transition_sec"] == pytest.approx(0.7)
    frame = data["camera_path"][0]
    assert set(frame) >= {"camera_to_world", "fov", "aspect"} and len(frame["camera_to_world"]) == 16


def test_axis_convention_is_opengl(tmp_path):
    """Independent of engine.geometry.conventions: read the file the way ns-render does."""
    eye = np.array([1.0, 2.0, 3.0])
    world_from_cam = se3.look_at(eye, eye + [0.0, 0.0, 5.0])  # OpenCV camera looking at +z world
    key = Keyframe(world_from_cam, 50.0, 0.0)
    data = json.loads(write_camera_path(tmp_path / "p.json", Trajectory((key,), width=64, height=48)).read_text())
    c2w = np.array(data["camera_path"][0]["camera_to_world"]).reshape(4, 4)  # row-major
    np.testing.assert_allclose(c2w[:3, 2], [0.0, 0.0, -1.0], atol=1e-12)  # OpenGL looks down -z
    np.testing.assert_allclose(c2w[:3, 1], -world_from_cam[:3, 1], atol=1e-12)  # +y up = -(OpenCV +y)
    np.testing.assert_allclose(c2w[:3, 0], world_from_cam[:3, 0], atol=1e-12)
    np.testing.assert_allclose(c2w[:3, 3], eye, atol=1e-12)
    np.testing.assert_allclose(c2w[3], [0, 0, 0, 1])
    focal = 48 / 2.0 / np.tan(np.radians(data["camera_path"][0]["fov"]) / 2.0)  # ns-render's focal
    assert focal == pytest.approx(48 / 2.0 / np.tan(np.radians(25.0)))


def test_reads_frames_when_there_are_no_keyframes(tmp_path):
    traj = orbit([0.0, 0.0, 0.0], 2.0, 0.5, duration=2.0, fps=10)
    data = json.loads(write_camera_path(tmp_path / "p.json", traj).read_text())
    data["keyframes"] = []
    del data["anyrecon"]
    (tmp_path / "frames.json").write_text(json.dumps(data))
    back = read_camera_path(tmp_path / "frames.json")
    assert len(back.keyframes) == len(data["camera_path"]) and back.loop
    assert_same_cameras(traj.sample(), back.sample())


def test_reads_viser_transitions_without_our_extension(tmp_path):
    traj = sample_trajectory(loop=True)
    data = json.loads(write_camera_path(tmp_path / "p.json", traj).read_text())
    del data["anyrecon"]
    (tmp_path / "viser.json").write_text(json.dumps(data))
    back = read_camera_path(tmp_path / "viser.json")
    np.testing.assert_allclose(back.times, traj.times, atol=1e-12)
    assert back.resolved_duration == pytest.approx(traj.resolved_duration)
    assert back.tension == pytest.approx(0.25)


def test_reads_legacy_column_major_string_matrices(tmp_path):
    """Legacy viewer / Blender add-on: matrix is a string of a column-major list, TIME property."""
    poses = [se3.look_at([x, -1.0, 0.0], [0.0, 0.0, 4.0]) for x in (0.0, 1.0, 2.0)]
    keyframes = []
    for i, pose in enumerate(poses):
        gl = pose @ np.diag([1.0, -1.0, -1.0, 1.0])
        keyframes.append({"matrix": str([float(v) for v in gl.T.reshape(16)]), "fov": 45.0 + i, "aspect": 1.0,
                          "properties": json.dumps([["FOV", 45.0 + i], ["NAME", f"Camera {i}"], ["TIME", 1.5 * i]])})
    data = {"keyframes": keyframes, "camera_type": "perspective", "render_height": 100, "render_width": 100,
            "camera_path": [], "fps": 24, "seconds": 3.0, "smoothness_value": 0.5, "is_cycle": False}
    (tmp_path / "legacy.json").write_text(json.dumps(data))
    back = read_camera_path(tmp_path / "legacy.json")
    np.testing.assert_allclose(back.times, [0.0, 1.5, 3.0])
    for kf, pose in zip(back.keyframes, poses):
        np.testing.assert_allclose(kf.world_from_cam, pose, atol=1e-12)
    assert [k.fov_y_deg for k in back.keyframes] == [45.0, 46.0, 47.0]


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    (json.dumps({"render_height": 10, "keyframes": []}), "render_width"),
    (json.dumps({"render_height": 10, "render_width": 10, "keyframes": [], "camera_path": []}), "no keyframes"),
    (json.dumps({"render_height": 10, "render_width": 10, "camera_path": [{"camera_to_world": [1, 2], "fov": 50}]}),
     "16 finite numbers"),
    (json.dumps({"render_height": 10, "render_width": 10, "seconds": 0.0,
                 "keyframes": [{"matrix": list(np.eye(4).reshape(16)), "fov": 50}] * 2}), "zero-length"),
    (json.dumps({"render_height": 10, "render_width": 10,
                 "keyframes": [{"matrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 2, 3, 1], "fov": 50}]}),
     "transposed"),
])
def test_malformed_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "broken_path.json"
    path.write_text(content)
    with pytest.raises(CameraPathFormatError, match=match) as info:
        read_camera_path(path)
    assert "broken_path.json" in str(info.value)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_camera_path(tmp_path / "p.json", sample_trajectory())
    before = path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("engine.trajectory.nerfstudio_path.os.replace", boom)
    with pytest.raises(OSError):
        write_camera_path(path, sample_trajectory(loop=True))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]
