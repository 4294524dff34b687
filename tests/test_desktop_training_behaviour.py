"""The Training tab as its users expect it (issue 15): the chronicle keeps following new rows,
the progress bar drops its estimate when a run ends, a resumed run's time adds up, the plots
and table never show another variant's rows, out-of-range spin box values are reported,
dataset errors sit by their field, and an error appearing does not move the fields below."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractSlider

FAMILY = "modulo_addition_1layer"
RUN_TIMEOUT_MS = 30_000


def _yes(*args: object) -> bool:
    return True


@pytest.fixture
def window(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    win = MainWindow(workspace)
    win.confirm_close = _yes
    win.training_tab.confirm = _yes
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.controller.shutdown()  # no test leaves a thread running
    assert win.controller.active.thread is None


@pytest.fixture
def tab(window):
    return window.training_tab


def configure(qtbot, tab, domain=None, training=None, family=FAMILY):
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    assert tab.select_family(family)
    for name, value in (domain or {}).items():
        tab.domain_form.set_value(name, value)
    for name, value in (training or {}).items():
        tab.training_form.set_value(name, value)
    qtbot.waitUntil(lambda: tab.config is not None, timeout=RUN_TIMEOUT_MS)
    return tab.config


def run_to_end(qtbot, window):
    qtbot.waitUntil(lambda: window.controller.busy, timeout=5_000)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=RUN_TIMEOUT_MS)
    return window.controller.last_outcome


def chronicle_lines(path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def _rows(first: int, last: int) -> list[dict]:
    return [
        {"epoch": e, "step": e, "loss": 1.0 / e, "train_loss": 1.0 / e}
        for e in range(first, last + 1)
    ]


def _at_bottom(view) -> bool:
    bar = view.table.verticalScrollBar()
    return bar.maximum() > 0 and bar.value() == bar.maximum()


# ---- defect 4: the chronicle keeps following -------------------------------------------------
def test_the_chronicle_follows_after_a_new_history_and_a_resize_not_after_scrolling_up(qtbot):
    from desktop_app.training.chronicle_view import ChronicleView

    view = ChronicleView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    view.append_rows(_rows(1, 200))
    qtbot.waitUntil(lambda: _at_bottom(view), timeout=5_000)

    # Resume: the history comes back as a whole (a model reset), then new rows follow it.
    view.set_rows(_rows(1, 150))
    view.append_rows(_rows(151, 160))
    qtbot.waitUntil(lambda: _at_bottom(view), timeout=5_000)
    assert view.following

    # A smaller window (the scroll range grows under the view): still following.
    view.resize(600, 200)
    qtbot.wait(20)
    view.append_rows(_rows(161, 170))
    qtbot.waitUntil(lambda: _at_bottom(view), timeout=5_000)
    view.resize(600, 500)
    qtbot.wait(20)
    view.append_rows(_rows(171, 180))
    qtbot.waitUntil(lambda: _at_bottom(view), timeout=5_000)

    # The user scrolls up (as the wheel and the scroll bar do): new rows leave the view alone.
    bar = view.table.verticalScrollBar()
    bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)
    position = bar.value()
    assert position < bar.maximum() and not view.following
    view.append_rows(_rows(181, 190))
    qtbot.wait(20)
    assert bar.value() == position
    view.resize(600, 300)  # a resize does not make it follow either
    qtbot.wait(20)
    view.append_rows(_rows(191, 195))
    qtbot.wait(20)
    assert not view.following and bar.value() < bar.maximum()

    bar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)  # back down: following
    view.append_rows(_rows(196, 230))
    qtbot.waitUntil(lambda: _at_bottom(view), timeout=5_000)
    assert view.model.rowCount() == 230


# ---- defect 5: no time left once a run has ended ----------------------------------------------
def test_the_progress_bar_drops_its_estimate_however_a_run_ends(qtbot):
    from desktop_app.training.run_progress import RunProgress

    bar = RunProgress()
    qtbot.addWidget(bar)
    bar.start(0, 100)
    qtbot.wait(30)
    bar.advance(10)
    assert "left" in bar.format() and bar.running
    bar.stop()  # stopped, failed, timed out: no target reached
    assert "left" not in bar.format() and not bar.running
    assert bar.format().startswith("10 / 100 epochs") and bar.value() == 10
    bar.refresh()  # a late tick changes nothing
    assert "left" not in bar.format()


# ---- defects 4, 5, 6 in a real run: Stop, then Resume ----------------------------------------
def test_stop_then_resume_follows_the_table_drops_the_estimate_and_adds_up_the_time(
    qtbot, window, tab, workspace
):
    from engine.metadata import VariantMetadata

    epochs = 600
    config = configure(qtbot, tab, {"prime": 11}, {"epochs": epochs})
    tab.start_button.click()
    qtbot.waitUntil(lambda: tab.progress_bar.value() >= 3, timeout=RUN_TIMEOUT_MS)
    tab.stop_button.click()
    outcome = run_to_end(qtbot, window)
    assert outcome.status == "cancelled", "the run ended before Stop took effect"
    bar = tab.progress_bar
    assert not bar.running and "left" not in bar.format()
    metadata = workspace.variant(config.variant).metadata_path
    before = VariantMetadata.load(metadata).elapsed_s
    assert before > 0

    started: list[dict] = []
    window.controller.runStarted.connect(lambda request, info: started.append(info))
    tab.resume_button.click()
    qtbot.waitUntil(lambda: bool(started), timeout=RUN_TIMEOUT_MS)
    assert started[0]["elapsed_s"] == pytest.approx(before)
    assert bar.elapsed_before == pytest.approx(before)  # the clock counts on from there
    assert run_to_end(qtbot, window).status == "completed"

    total = VariantMetadata.load(metadata).elapsed_s
    this_run = window.controller.last_outcome.session["duration_s"]
    assert total == pytest.approx(before + this_run, abs=0.01)
    status = tab.status_label.text()
    assert f"completed {epochs} epochs in {this_run:.1f} s ({total:.1f} s in all)" in status
    view = tab.results.chronicle
    assert tab.chronicle_model.rowCount() == chronicle_lines(
        workspace.variant(config.variant).chronicle_path
    )
    assert view.following
    qtbot.waitUntil(lambda: _at_bottom(view), timeout=5_000)  # not back at row 1


# ---- defect 7: never another variant's rows under a new name ----------------------------------
def test_the_plots_and_table_show_only_the_variant_the_forms_name(qtbot, window, tab, workspace):
    first = configure(qtbot, tab, {"prime": 11}, {"epochs": 5})
    tab.start_button.click()
    assert run_to_end(qtbot, window).status == "completed"
    rows = chronicle_lines(workspace.variant(first.variant).chronicle_path)
    title = tab.results.chronicle.title_label
    assert tab.chronicle_model.rowCount() == rows and first.variant in title.text()

    tab.domain_form.set_value("prime", 13)  # a new variant: nothing stored, nothing shown
    qtbot.waitUntil(lambda: tab.config is not None and tab.state == "new", timeout=5_000)
    assert tab.chronicle_model.rowCount() == 0 and tab.plots.point_count() == 0
    assert title.text() == "Chronicle"

    tab.domain_form.set_value("prime", 11)  # the trained one: its stored history again
    qtbot.waitUntil(lambda: tab.chronicle_model.rowCount() == rows, timeout=5_000)
    assert tab.plots.point_count() == 5 and first.variant in title.text()

    tab.training_form.set_value("lr", "0")  # invalid: the variant label says "—", no rows
    assert tab.config is None and tab.variant_label.text() == "—"
    assert tab.chronicle_model.rowCount() == 0 and tab.plots.point_count() == 0

    tab.training_form.set_value("lr", "0.001")
    tab.domain_form.set_value("prime", 11)
    assert tab.select_family("mlp")  # another family: its variant is new
    qtbot.waitUntil(lambda: tab.config is not None, timeout=5_000)
    assert tab.state == "new" and tab.chronicle_model.rowCount() == 0

    # While a run is in progress its rows stay, named, whatever the forms say meanwhile.
    assert tab.select_family(FAMILY)
    running = configure(qtbot, tab, {"prime": 11}, {"epochs": 5000})
    tab.start_button.click()
    qtbot.waitUntil(lambda: tab.chronicle_model.rowCount() >= 2, timeout=RUN_TIMEOUT_MS)
    tab.domain_form.set_value("prime", 17)
    qtbot.waitUntil(lambda: tab.config is not None and tab.config.variant != running.variant)
    assert tab.chronicle_model.rowCount() > 0 and running.variant in title.text()
    tab.stop_button.click()
    run_to_end(qtbot, window)
    assert tab.state == "new"  # the forms' variant: the stopped run's rows go
    assert tab.chronicle_model.rowCount() == 0 and title.text() == "Chronicle"


# ---- defect 8: a typed value out of range is reported, not clamped ----------------------------
def test_typing_minus_one_into_epochs_shows_the_range_message(qtbot, tab):
    configure(qtbot, tab, {"prime": 11})
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=5_000)
    form = tab.training_form
    spin = form.field_widget("epochs")
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "-1")
    spin.clearFocus()  # leaving the field does not clamp it either
    assert spin.text() == "-1"
    error = form.error_label("epochs")
    assert error.isVisibleTo(tab) and "out of range" in error.text() and ">= 1" in error.text()
    assert not tab.start_button.isEnabled()

    qtbot.keyClick(spin, Qt.Key.Key_Up)  # the arrows stay in the range
    assert spin.value() == 1 and not error.isVisibleTo(tab)
    qtbot.keyClick(spin, Qt.Key.Key_Down)
    assert spin.value() == 1
    qtbot.waitUntil(tab.start_button.isEnabled, timeout=5_000)


def test_spin_boxes_with_a_zero_label_still_show_it_and_report_negative_values(qtbot, workspace):
    from desktop_app.kit.param_form import ParamForm

    form = ParamForm("training")
    qtbot.addWidget(form)
    form.set_specs(workspace.registry.spec("mlp").training_parameters())
    form.show()
    batch = form.field_widget("batch_size")
    form.set_value("batch_size", 0)
    assert batch.text() == "full batch" and form.values()["batch_size"] == 0
    batch.lineEdit().selectAll()
    qtbot.keyClicks(batch, "-4")
    assert "out of range" in form.errors()["batch_size"]
    batch.lineEdit().selectAll()
    qtbot.keyClicks(batch, "full batch")  # the label typed back is 0
    assert form.values()["batch_size"] == 0 and "batch_size" not in form.errors()
    target = form.field_widget("target_metric")  # a float spin box
    target.lineEdit().selectAll()
    qtbot.keyClicks(target, "1.5")
    assert "out of range" in form.errors()["target_metric"]


# ---- defect 9: dataset errors by their field, as written -------------------------------------
FAMILY_PY = """
from engine.datasets.types import DatasetError, TargetColumnError
from engine.families.base import FamilyBase

class Family(FamilyBase):
    def validate_domain(self, params):
        if params["dataset"] == "broken":
            raise DatasetError("broken.csv: row 3 has 2 values, the header 3")
        if params["target"] == "nope":
            raise TargetColumnError("broken.csv: no column named 'nope'")
        return params

    def create_model(self, params):
        from torch import nn
        return nn.Linear(2, 2)
"""


def test_dataset_and_target_errors_show_by_their_field_without_a_class_name(
    qtbot, trainwright_home
):
    from desktop_app.main_window import MainWindow
    from engine.workspace import Workspace

    folder = trainwright_home / "families" / "datafam"
    folder.mkdir(parents=True)
    spec = {
        "name": "datafam",
        "display_name": "Data family",
        "variant_pattern": "datafam_{dataset}_{target}_{seed}",
        "domain_parameters": [
            {"name": "seed", "type": "int", "default": 0, "min": 0},
            {"name": "dataset", "type": "str", "default": "fine"},
            {"name": "target", "type": "str", "default": "y"},
        ],
        "training_defaults": {"epochs": 2, "batch_size": 10},
    }
    (folder / "family.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "family.py").write_text(FAMILY_PY, encoding="utf-8")
    window = MainWindow(Workspace(trainwright_home))
    window.confirm_close = _yes
    qtbot.addWidget(window)
    window.show()
    tab = window.training_tab
    configure(qtbot, tab, family="datafam")

    tab.domain_form.set_value("dataset", "broken")
    error = tab.domain_form.error_label("dataset")
    assert error.isVisibleTo(tab)
    assert error.text() == "broken.csv: row 3 has 2 values, the header 3"
    assert tab.error_text == "" and "DatasetError" not in error.text()
    assert tab.config is None and not tab.start_button.isEnabled()

    tab.domain_form.set_value("dataset", "fine")
    tab.domain_form.set_value("target", "nope")
    target_error = tab.domain_form.error_label("target")
    assert target_error.isVisibleTo(tab) and not error.isVisibleTo(tab)
    assert target_error.text() == "broken.csv: no column named 'nope'"
    assert tab.error_text == ""
    window.close()


# ---- defect 14: an error appearing does not move the fields below ------------------------------
def test_an_inline_error_does_not_move_the_fields_below(qtbot, workspace):
    from desktop_app.kit.param_form import ParamForm

    form = ParamForm("training")
    qtbot.addWidget(form)
    form.set_specs(workspace.registry.spec("mlp").training_parameters())
    form.resize(380, 900)
    form.show()
    qtbot.waitExposed(form)
    below = form.field_widget("lr")

    def where() -> QPoint:
        form.layout().activate()
        return below.mapTo(form, QPoint(0, 0))

    before = where()
    form.set_value("epochs", -1)
    error = form.error_label("epochs")
    assert error.isVisible() and "out of range" in error.text()
    assert where() == before
    form.set_value("epochs", 10)
    assert not error.isVisible()
    assert where() == before
