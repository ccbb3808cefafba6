"""The inspector lists the generators usable now (learned ones only when their files are
found), the default first; the choice is what Generate runs."""
from __future__ import annotations


def test_generator_list_and_choice(qtbot, make_window, tmp_path, monkeypatch):
    monkeypatch.setenv("ANYRECON_MODELS", str(tmp_path / "no_models"))
    win = make_window()
    combo = win.inspector.generator
    qtbot.waitUntil(lambda: combo.count() > 0, timeout=10000)
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names[0] == "auto" and {"surface", "ibr", "splat"} <= set(names) and "anyrecon" not in names
    assert win.ctl.generate_options().generator == "auto"
    combo.setCurrentIndex(names.index("ibr"))
    assert win.ctl.generator == "ibr" and win.ctl.generate_options().generator == "ibr"
