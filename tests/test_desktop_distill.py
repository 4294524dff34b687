"""The distillation dialog, headless: from the Analysis tab, the comparison, refusals, Cancel."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from desktop_app.analysis.tab import AnalysisTab
from desktop_app.analysis.variant_model import VARIANT
from desktop_app.distill.dialog import DistillDialog
from desktop_app.main_window import DistillLauncher

RUN_TIMEOUT_MS = 120_000
REGRESSION_MESSAGE = "is a regression model; distillation needs a teacher whose outputs are class"


# `teacher` (conftest.py): a trained 32x2 MLP teacher on two_moons, in this test's home.


@pytest.fixture
def cleanup(qtbot):
    """Shut down every dialog and tab registered, and check their threads have ended."""
    owned: list = []
    yield owned.append
    for thing in owned:
        if isinstance(thing, DistillDialog):
            assert thing.shutdown()
        else:
            thing.shutdown()
        assert thing.runner.running() == 0


def make_dialog(qtbot, workspace, teacher, cleanup) -> DistillDialog:
    dialog = DistillDialog(workspace, teacher)
    qtbot.addWidget(dialog)
    cleanup(dialog)
    return dialog


def small_student(dialog: DistillDialog, epochs: int = 3) -> None:
    dialog.domain_form.set_value("hidden_dim", 16)
    dialog.training_form.set_value("epochs", epochs)
    dialog.training_form.set_value("threads", 1)


def test_distill_from_the_analysis_tab_trains_a_student_and_compares(
    qtbot, workspace, teacher, cleanup
):
    tab = AnalysisTab(workspace)
    qtbot.addWidget(tab)
    cleanup(tab)
    launcher = DistillLauncher(workspace, tab)  # the main window's wiring
    button = tab.findChild(QPushButton, "distillButton")
    assert button is not None and button.accessibleName() and button.toolTip()
    assert not button.isEnabled()  # nothing selected
    tab.select_variants([teacher])
    assert button.isEnabled() and tab.distill_action.isEnabled()
    assert tab.distill_action in tab.context_menu().actions()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = launcher.dialog
    assert isinstance(dialog, DistillDialog)
    assert dialog.teacher_name == teacher
    qtbot.waitUntil(lambda: dialog.teacher_ok, timeout=30_000)
    start = dialog.findChild(QPushButton, "distillStartButton")
    assert start is dialog.start_button and start.isEnabled()
    # The student starts from the teacher's settings: shrink it, and train briefly.
    assert dialog.family_combo.currentData() == "mlp"
    assert dialog.domain_form.value("hidden_dim") == 32
    small_student(dialog)
    dialog.strategy_form.set_value("temperature", 2.0)
    dialog.strategy_form.set_value("alpha", 0.5)

    with qtbot.waitSignal(dialog.distilled, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
        assert dialog.running and not start.isEnabled()
        assert dialog.cancel_button.text() == "Cancel"
    student = blocker.args[0]
    assert dialog.error is None
    assert not dialog.running and dialog.cancel_button.text() == "Close"

    rows = dialog.comparison_rows()
    assert [r[0] for r in rows] == ["Teacher", "Student"]
    assert [r[1] for r in rows] == [teacher, student]
    assert rows[0][2] == "1,218" and rows[1][2] == "354"  # parameter counts
    for row in rows:
        assert row[3].endswith("%")  # accuracy
        assert float(row[4]) > 0  # loss
        assert float(row[5]) > 0  # ms per 1,000 examples
    comparison = dialog.outcome.comparison
    assert comparison.student.parameter_count < comparison.teacher.parameter_count
    assert "of the teacher's parameters" in dialog.summary_label.text()
    config = workspace.variant(student).config
    assert config.strategy_params["temperature"] == 2.0
    assert config.strategy_params["alpha"] == 0.5

    # The Analysis tab lists the student, selected.
    names = [tab.proxy.index(r, VARIANT).data() for r in range(tab.proxy.rowCount())]
    assert student in names
    assert [s.variant for s in tab.selected_variants()] == [student]

    dialog.cancel_button.click()  # Close
    qtbot.waitUntil(lambda: launcher.dialog is None, timeout=10_000)


def test_a_regression_teacher_is_refused_with_the_engines_message(qtbot, workspace, cleanup):
    variant = workspace.create_variant(
        "mlp", {"dataset": "sine", "hidden_dim": 8, "num_hidden_layers": 1}, {"epochs": 1}
    )
    assert workspace.train(variant).status == "completed"
    dialog = make_dialog(qtbot, workspace, variant.name, cleanup)
    qtbot.waitUntil(lambda: dialog.refusal is not None, timeout=30_000)
    assert REGRESSION_MESSAGE in dialog.refusal
    assert dialog.message_label.text() == f"Cannot distill this teacher: {dialog.refusal}"
    assert not dialog.start_button.isEnabled()
    assert dialog.start() is False


def test_cancel_stops_the_students_training(qtbot, workspace, teacher, cleanup):
    dialog = make_dialog(qtbot, workspace, teacher, cleanup)
    qtbot.waitUntil(lambda: dialog.teacher_ok, timeout=30_000)
    small_student(dialog, epochs=5000)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=RUN_TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=RUN_TIMEOUT_MS)
    assert dialog.error is not None and "was stopped" in dialog.error
    assert dialog.message_label.text().startswith("Distillation failed: ")
    assert dialog.outcome is None and not dialog.comparison_table.isVisible()
    assert dialog.start_button.isEnabled()


def test_an_existing_student_needs_overwrite(qtbot, workspace, teacher, cleanup):
    dialog = make_dialog(qtbot, workspace, teacher, cleanup)
    qtbot.waitUntil(lambda: dialog.teacher_ok, timeout=30_000)
    small_student(dialog, epochs=1)
    with qtbot.waitSignal(dialog.distilled, timeout=RUN_TIMEOUT_MS):
        assert dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    assert dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=RUN_TIMEOUT_MS)
    assert dialog.error is not None and "already exists" in dialog.error
    dialog.overwrite_check.setChecked(True)
    with qtbot.waitSignal(dialog.distilled, timeout=RUN_TIMEOUT_MS):
        assert dialog.start()
    assert dialog.error is None and len(dialog.comparison_rows()) == 2


def test_the_student_waits_its_turn_behind_another_run(qtbot, workspace, teacher, cleanup):
    from engine.training.turns import end_turn, take_turn

    dialog = make_dialog(qtbot, workspace, teacher, cleanup)
    qtbot.waitUntil(lambda: dialog.teacher_ok, timeout=30_000)
    small_student(dialog, epochs=1)
    assert take_turn(threading.Event())  # as a run of the Training tab would
    try:
        assert dialog.start()
        qtbot.waitUntil(
            lambda: dialog.message_label.text().startswith("Waiting for the current run"),
            timeout=30_000,
        )
    finally:
        end_turn()
    qtbot.waitUntil(lambda: not dialog.running, timeout=RUN_TIMEOUT_MS)
    assert (
        dialog.error is None and dialog.outcome is not None and len(dialog.comparison_rows()) == 2
    )


def test_the_student_trains_with_torch_even_for_a_tensorflow_teacher(qtbot, workspace, cleanup):
    """The student's Backend offers tensorflow greyed out with the engine's reason, and a
    tensorflow teacher's student starts on torch (a converted teacher teaches it)."""
    from engine.backends import tensorflow_available
    from engine.strategies.base import TORCH_STUDENT

    if not tensorflow_available():
        pytest.skip("a tensorflow teacher needs the extra: pip install 'trainwright[tensorflow]'")
    variant = workspace.create_variant(
        "mlp", {"hidden_dim": 16}, {"epochs": 2, "backend": "tensorflow", "threads": 1}
    )
    assert workspace.train(variant).status == "completed"
    dialog = make_dialog(qtbot, workspace, variant.name, cleanup)
    qtbot.waitUntil(lambda: dialog.teacher_ok or dialog.refusal is not None, timeout=60_000)
    assert dialog.refusal is None
    combo = dialog.training_form.field_widget("backend")
    assert combo.currentData() == "torch"
    tensorflow = combo.model().item(combo.findData("tensorflow"))
    assert not tensorflow.isEnabled() and tensorflow.toolTip() == TORCH_STUDENT
    dialog.training_form.set_value("backend", "tensorflow")
    assert dialog.training_form.errors() == {"backend": TORCH_STUDENT}
    assert not dialog.start_button.isEnabled()
    dialog.training_form.set_value("backend", "torch")
    small_student(dialog, epochs=1)
    assert dialog.start_button.isEnabled()
