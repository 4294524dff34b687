"""Help (issue 15): the F1 keyboard-shortcuts sheet from the one table the keys are read from,
the Quick start page, Ctrl+Return on the Sweeps tab, and View → Theme stored in the
preferences."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QTableWidget, QTextBrowser

from desktop_app.help.shortcuts import SHORTCUTS, ShortcutsDialog, portable_keys, shortcut
from desktop_app.kit.preferences import Preferences, PreferencesDialog


@pytest.fixture
def window(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    win = MainWindow(workspace)
    win.confirm_close = lambda: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def _portable(sequence: QKeySequence) -> str:
    return sequence.toString(QKeySequence.SequenceFormat.PortableText)


def test_every_key_of_the_window_is_in_the_shortcuts_table(window):
    window.ensure_analysis_tab()
    known = portable_keys()
    found = set()
    for action in window.findChildren(QAction):
        found |= {_portable(k) for k in action.shortcuts() if not k.isEmpty()}
    for item in window.findChildren(QShortcut):
        if not item.key().isEmpty():
            found.add(_portable(item.key()))
    assert found, "the window has keys"
    assert found <= known, f"keys missing from desktop_app.help.shortcuts: {found - known}"
    # The menu actions read their keys from the table.
    assert _portable(window.quit_action.shortcut()) == "Ctrl+Q"
    assert _portable(window.preferences_action.shortcut()) == "Ctrl+,"
    assert _portable(window.shortcuts_action.shortcut()) == "F1"


def test_f1_shows_the_sheet_with_every_shortcut(window, qtbot):
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.findChild(ShortcutsDialog, "shortcutsDialog")
    if dialog is None:  # no focus window on this platform: the action itself
        window.shortcuts_action.trigger()
        dialog = window.findChild(ShortcutsDialog, "shortcutsDialog")
    assert dialog is not None and dialog.isVisible()
    table = dialog.findChild(QTableWidget, "shortcutsTable")
    assert table.accessibleName() and table.rowCount() == len(SHORTCUTS)
    rows = dialog.rows()
    assert ("F1", "Show this list of keyboard shortcuts", "Everywhere") in rows
    start = next(r for r in rows if r[1] == shortcut("sweeps.start").what)
    assert start[0].startswith("Ctrl+Return") and start[2] == "Sweeps"
    assert window.show_shortcuts() is dialog  # one sheet, raised again


def test_the_quick_start_page_walks_through_every_tab(window):
    window.quick_start_action.trigger()
    dialog = window.findChild(QTextBrowser, "quickStartText")
    assert dialog is not None and dialog.isVisible()
    text = dialog.toPlainText()
    for tab in ("Training", "Analysis", "Sweeps", "Datasets", "Jobs", "Models"):
        assert tab in text
    assert "Ctrl+Return" in text and "F1" in text
    help_menu = window.quick_start_action.associatedObjects()
    assert help_menu  # it is in a menu


def test_ctrl_return_starts_the_sweep_on_the_sweeps_tab(window, qtbot):
    panel = window.sweep_panel
    window.tabs.setCurrentWidget(panel)
    assert panel.select_family("mlp")
    panel.editor.domain_form.set_value("hidden_dim", 8)
    panel.editor.domain_form.set_value("num_hidden_layers", 1)
    panel.editor.training_form.set_value("threads", 1)
    panel.editor.training_form.set_list("epochs", "1")
    qtbot.waitUntil(panel.can_start, timeout=20_000)
    window.activateWindow()
    panel.start_button.setFocus()
    with qtbot.waitSignal(panel.runFinished, timeout=120_000):
        qtbot.keyClick(panel.start_button, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert panel.busy or panel.last_record is not None
    assert panel.last_record is not None and panel.last_record.status == "completed"
    # The Training tab's Ctrl+Return is its own: it did not start a run meanwhile.
    assert window.controller.current is None


def test_the_theme_menu_is_stored_in_the_preferences(window, workspace):
    actions = window.theme_actions
    assert list(actions) == ["system", "light", "dark"]
    assert actions["system"].isChecked() and window.theme_group.isExclusive()
    app = QApplication.instance()
    before = app.palette()
    actions["dark"].trigger()
    assert actions["dark"].isChecked() and not actions["system"].isChecked()
    saved = json.loads(Preferences.path(workspace.home).read_text(encoding="utf-8"))
    assert saved["theme"] == "dark"
    assert Preferences.load(workspace.home)[0].theme == "dark"
    try:
        import desktop_app.kit.theme  # noqa: F401  (helper P's module)
    except ImportError:
        pass
    else:
        window_colour = app.palette().color(app.palette().ColorRole.Window)
        assert window_colour.lightness() < 128  # dark
        actions["system"].trigger()
        app.setPalette(before)
    # The Preferences dialog keeps the theme it did not show.
    dialog = PreferencesDialog(window.preferences, workspace.home, window)
    assert dialog.preferences().theme == window.preferences.theme
    dialog.deleteLater()


def test_a_bad_theme_is_refused(window):
    with pytest.raises(ValueError, match="not a theme"):
        window.set_theme("purple")
    assert Preferences.model_validate({"theme": "dark"}).theme == "dark"
    with pytest.raises(ValueError):
        Preferences.model_validate({"theme": "purple"})
