"""The Backend choice in the generated forms (offscreen, real widgets): tensorflow greyed out,
with why, where it cannot train (the optional extra missing, or a family it cannot build: the grokking transformer);
a value or a swept list holding it anyway shows the reason as the field's error."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox

from desktop_app.kit.choice_rules import tensorflow_family_only, unavailable_choices
from desktop_app.kit.param_form import ParamForm
from engine.backends import TENSORFLOW_FAMILIES, TENSORFLOW_MISSING, tensorflow_available

INSTALLED = tensorflow_available()  # a real condition of this environment, not a mock
FAMILY_REASON = tensorflow_family_only("modulo_addition_1layer")
needs_missing = pytest.mark.skipif(INSTALLED, reason="tensorflow is installed here")
needs_installed = pytest.mark.skipif(not INSTALLED, reason="tensorflow is not installed here")


def make_form(qtbot, workspace, family: str, *, lists: bool = False) -> ParamForm:
    spec = workspace.registry.spec(family)
    form = ParamForm("training", lists=lists)
    qtbot.addWidget(form)
    form.set_specs(spec.training_parameters(), family=spec)
    return form


def backend_combo(form: ParamForm) -> QComboBox:
    combo = form.field_widget("backend")
    assert isinstance(combo, QComboBox)
    return combo


def item(combo: QComboBox, choice: str):
    model = combo.model()
    assert isinstance(model, QStandardItemModel)
    index = combo.findData(choice)
    assert index >= 0, choice
    return model.item(index)


def test_the_rule_names_the_family_reason_first():
    # Installing tensorflow would not let the transformer train with it: that reason wins.
    assert unavailable_choices("backend", "modulo_addition_1layer") == {"tensorflow": FAMILY_REASON}
    assert TENSORFLOW_FAMILIES == ("mlp", "image_classifier")
    assert FAMILY_REASON == (
        "the tensorflow backend trains the mlp and image_classifier families only, "
        "not modulo_addition_1layer"
    )
    assert unavailable_choices("epochs", "modulo_addition_1layer") == {}


def test_modulo_addition_1layer_greys_tensorflow_out_with_the_family_reason(qtbot, workspace):
    form = make_form(qtbot, workspace, "modulo_addition_1layer")
    combo = backend_combo(form)
    assert [combo.itemData(i) for i in range(combo.count())] == ["torch", "tensorflow"]
    assert combo.currentData() == "torch"
    assert item(combo, "torch").isEnabled()
    assert not item(combo, "tensorflow").isEnabled()
    assert item(combo, "tensorflow").toolTip() == FAMILY_REASON
    assert combo.itemData(combo.findData("tensorflow"), Qt.ItemDataRole.ToolTipRole) == (
        FAMILY_REASON
    )
    assert f"Not available: tensorflow — {FAMILY_REASON}" in combo.toolTip()
    assert form.is_valid()
    assert form.values()["backend"] == "torch"


def test_the_keyboard_skips_the_greyed_out_choice(qtbot, workspace):
    form = make_form(qtbot, workspace, "modulo_addition_1layer")
    form.show()
    qtbot.waitExposed(form)
    combo = backend_combo(form)
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    qtbot.keyClick(combo, Qt.Key.Key_End)
    assert combo.currentData() == "torch"


def test_a_value_set_to_it_anyway_shows_why(qtbot, workspace):
    # A starting value (e.g. a stored variant's) may hold it: the field says why, in red.
    form = make_form(qtbot, workspace, "modulo_addition_1layer")
    form.set_value("backend", "tensorflow")
    assert form.errors() == {"backend": FAMILY_REASON}
    assert not form.is_valid()
    assert form.error_label("backend").text() == FAMILY_REASON
    tip = backend_combo(form).toolTip()
    assert f"Error: {FAMILY_REASON}" in tip
    assert tip.count(FAMILY_REASON) == 1  # not also as "Not available" above it
    form.set_value("backend", "torch")
    assert form.is_valid()
    assert form.error_label("backend").isHidden()


@needs_missing
def test_mlp_without_the_extra_says_how_to_install_it(qtbot, workspace):
    form = make_form(qtbot, workspace, "mlp")
    combo = backend_combo(form)
    assert item(combo, "torch").isEnabled()
    assert not item(combo, "tensorflow").isEnabled()
    assert item(combo, "tensorflow").toolTip() == TENSORFLOW_MISSING
    assert "pip install 'trainwright[tensorflow]'" in combo.toolTip()
    form.set_value("backend", "tensorflow")
    assert form.errors() == {"backend": TENSORFLOW_MISSING}


@needs_installed
@pytest.mark.parametrize("family", ["mlp", "image_classifier"])
def test_mlp_and_cnn_with_the_extra_offer_tensorflow(qtbot, workspace, family):
    form = make_form(qtbot, workspace, family)
    combo = backend_combo(form)
    assert item(combo, "tensorflow").isEnabled()
    assert item(combo, "tensorflow").toolTip() == ""
    assert "Not available" not in combo.toolTip()
    form.set_value("backend", "tensorflow")
    assert form.is_valid()
    assert form.values()["backend"] == "tensorflow"


def test_a_swept_list_with_tensorflow_for_modulo_addition_1layer_is_refused(qtbot, workspace):
    form = make_form(qtbot, workspace, "modulo_addition_1layer", lists=True)
    combo = backend_combo(form)
    assert not item(combo, "tensorflow").isEnabled()
    assert form.list_edit("backend").placeholderText() == "e.g. torch"
    form.set_list("backend", "torch, tensorflow")
    assert form.errors() == {"backend": FAMILY_REASON}
    assert "backend" not in form.grid()
    assert form.grid_texts() == {"backend": "torch, tensorflow"}
    form.set_list("backend", "torch")
    assert form.is_valid()
    assert form.grid() == {"backend": ["torch"]}


def test_a_swept_list_for_mlp_follows_the_install(qtbot, workspace):
    form = make_form(qtbot, workspace, "mlp", lists=True)
    form.set_list("backend", "torch, tensorflow")
    if INSTALLED:
        assert form.is_valid()
        assert form.grid() == {"backend": ["torch", "tensorflow"]}
    else:
        assert form.errors() == {"backend": TENSORFLOW_MISSING}
        assert form.grid() == {}


def test_the_training_tab_follows_the_family(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    window = MainWindow(workspace)
    window.confirm_close = lambda *args: True
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        tab = window.training_tab
        assert tab.select_family("modulo_addition_1layer")
        combo = backend_combo(tab.training_form)
        assert item(combo, "tensorflow").toolTip() == FAMILY_REASON
        assert tab.select_family("mlp")
        combo = backend_combo(tab.training_form)
        assert item(combo, "tensorflow").isEnabled() == INSTALLED
        assert item(combo, "tensorflow").toolTip() == ("" if INSTALLED else TENSORFLOW_MISSING)
        assert tab.training_form.values()["backend"] == "torch"
    finally:
        window.controller.shutdown()


def test_the_sweeps_panel_takes_a_backend_list_without_trouble(qtbot, desktop_views, workspace):
    from desktop_app.sweeps.panel import SweepPanel

    panel = desktop_views.add(SweepPanel(workspace), 1400, 900)
    panel.show()
    assert panel.select_family("modulo_addition_1layer")
    form = panel.editor.training_form
    form.set_list("backend", "torch, tensorflow")
    assert form.errors() == {"backend": FAMILY_REASON}
    assert panel.editor.combination_count() is None
    assert not panel.start_button.isEnabled()
    form.set_list("backend", "torch")
    qtbot.waitUntil(lambda: panel.editor.combination_count() == 1, timeout=10_000)
    assert panel.select_family("mlp")
    panel.editor.training_form.set_list("backend", "torch, tensorflow")
    expected = 2 if INSTALLED else None
    assert panel.editor.combination_count() == expected
