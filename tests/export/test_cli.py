"""``anyrecon export``: the sub-command drives the registry and reports in JSON."""
import json

from engine.cli import main
from engine.export.points import read_points_ply


def test_cli_export_points_json_summary(project_dir, tmp_path, capsys):
    rc = main(["export", str(project_dir), "--format", "points-ply", "--out", str(tmp_path / "pts"),
               "--subset", "captured", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["format"] == "points-ply" and summary["out"].endswith("pts.ply")
    cloud = read_points_ply(tmp_path / "pts.ply")
    assert summary["points"] == len(cloud) > 0 and (cloud.segment == -1).all()


def test_cli_export_chan_and_missing_project(project_dir, tmp_path, capsys):
    assert main(["export", str(project_dir), "-f", "chan", "-o", str(tmp_path / "cam.chan"),
                 "--first-frame", "1001"]) == 0
    assert (tmp_path / "cam.chan").read_text().startswith("1001 ")
    assert "wrote 11 frames as chan" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nope"), "-f", "chan", "-o", str(tmp_path / "x.chan")]) == 2
    assert "does not exist" in capsys.readouterr().err
