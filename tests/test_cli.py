import json

from engine.cli import main


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_demo_then_generate_with_a_preset_and_a_trajectory_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--views", "6", "--frames", "6", "--width", "96",
                 "--height", "54", "--segment-length", "3", "--json"]) == 0
    summary = _last_json(capsys)
    assert summary["frames"] == 6 and summary["segments"] == 2
    assert summary["points_after"] >= summary["points_before"] > 0
    assert 10.0 < summary["psnr_mean"] < 60.0
    for key in ("points_ply", "video", "project"):
        assert (tmp_path / "demo").exists() and __import__("pathlib").Path(summary[key]).exists()
    project = out / "project"
    # the demo generated "orbit" already: replacing its frames needs --overwrite (issue 12)
    assert main(["generate", str(project), "--preset", "orbit", "--frames", "4", "--segment-length", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", str(project), "--preset", "orbit", "--frames", "4", "--segment-length", "2", "--json",
                 "--overwrite"]) == 0
    g = _last_json(capsys)
    assert g["trajectory"] == "orbit" and g["frames"] == 4 and g["segments"] == 2
    path_file = project / "trajectories" / "orbit.json"
    assert main(["generate", str(project), "--trajectory", str(path_file), "--name", "again", "--json"]) == 0
    assert _last_json(capsys)["trajectory"] == "again"


def test_bad_project_and_preset_give_clear_errors(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "project.json").write_text("{broken")
    assert main(["generate", str(tmp_path / "p"), "--preset", "orbit"]) == 2
    err = capsys.readouterr().err
    assert "project.json" in err and "damaged" in err
    assert main(["generate", str(tmp_path / "missing"), "--preset", "orbit"]) == 2
    assert "does not exist" in capsys.readouterr().err
