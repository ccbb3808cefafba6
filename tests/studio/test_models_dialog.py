"""The Models settings dialog: shows what the engine finds in the models folder (found,
missing with exact file names, licences) and switches the engine's folder through the bridge."""
from __future__ import annotations

import pytest

pytest.importorskip("safetensors")


def test_models_dialog_lists_and_switches_the_folder(qtbot, tmp_path, artifacts):
    from PySide6.QtCore import Qt

    from engine.session import Session
    from engine.workflows import Workspace
    from studio.bridge import EngineBridge
    from studio.panels.models_dialog import ModelsDialog
    from tests.tracking.pi3_tiny import write_tiny_pi3

    with_pi3, empty = tmp_path / "with pi3", tmp_path / "empty"
    write_tiny_pi3(with_pi3)
    empty.mkdir()
    bridge = EngineBridge(Session(Workspace()))
    try:
        dlg = ModelsDialog(bridge)
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.waitExposed(dlg)
        qtbot.waitUntil(lambda: dlg.report is not None, timeout=20000)   # the engine's current folder
        with qtbot.waitSignal(dlg.modelsDirChanged, timeout=20000) as changed:
            dlg.folder.setText(str(with_pi3))
            qtbot.mouseClick(dlg.apply, Qt.MouseButton.LeftButton)
        assert changed.args == [str(with_pi3)]
        assert bridge.session.call(lambda ws: ws.settings.models_dir) == with_pi3   # the engine's setting
        text = dlg.view.toPlainText()
        assert "found Pi3/model.safetensors" in text
        assert "missing Wan2.1-I2V-14B-720P/Wan2.1_VAE.pth" in text     # exact names, relative to the folder
        assert "missing AnyRecon/full_attention.ckpt or full_attention.safetensors" in text
        assert "CC BY-NC 4.0" in text and "Apache-2.0" in text
        assert dlg.status.text() == "ready: pi3"
        pi3_item = dlg.tracker.findData("pi3")
        assert dlg.tracker.model().item(pi3_item).isEnabled()
        with qtbot.waitSignal(dlg.reportShown, timeout=20000):
            dlg.tracker.setCurrentIndex(pi3_item)
            dlg.tracker.activated.emit(pi3_item)          # what a click on the item sends
        assert bridge.session.call(lambda ws: ws.settings.pose_backend) == "pi3"
        qtbot.wait(50)
        assert dlg.grab().save(str(artifacts / "models_dialog.png"))

        with qtbot.waitSignal(dlg.modelsDirChanged, timeout=20000):
            dlg.set_folder(str(empty))
        text = dlg.view.toPlainText()
        assert "missing Pi3/model.safetensors" in text and str(empty) in text
        assert dlg.status.text() == "no learned model is usable in this folder"
        assert not dlg.tracker.model().item(pi3_item).isEnabled()     # Pi3 is not offered without its file
        assert dlg.tracker.currentData() == "colmap"
        assert bridge.session.call(lambda ws: ws.settings.pose_backend) == "colmap"
    finally:
        assert bridge.close(timeout=20) == []


def test_edit_menu_opens_models_and_the_saved_folder_reaches_the_engine(qtbot, make_window, tmp_path):
    from PySide6.QtCore import QSettings

    saved = tmp_path / "my models"
    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    ini.setValue("models_dir", str(saved))
    ini.sync()
    win = make_window()
    edit = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Edit")
    assert win.actions_.models_action in edit.actions()
    assert win.bridge.session.call(lambda ws: ws.settings.models_dir) == saved
