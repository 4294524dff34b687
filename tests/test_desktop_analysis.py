"""The Analysis tab, headless: browsing, filtering, overlays, replay, delete, analyses, threads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QPushButton, QSlider, QTableView

from desktop_app.analysis.tab import AnalysisTab
from desktop_app.analysis.variant_model import STATUS, VARIANT
from engine.workspace import Workspace

MODULO = {"family": "modulo_addition_1layer", "params": {"prime": 11}}


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """A home with a tiny modulo-addition variant and a tiny MLP variant, trained once."""
    home = tmp_path_factory.mktemp("desktop-analysis-home")
    workspace = Workspace(home)
    modulo = workspace.create_variant(
        "modulo_addition_1layer", {"prime": 11}, {"epochs": 30, "checkpoint_every": 10}
    )
    mlp = workspace.create_variant(
        "mlp", {"hidden_dim": 8, "num_hidden_layers": 1}, {"epochs": 3, "batch_size": 0}
    )
    for variant in (modulo, mlp):
        assert workspace.train(variant).status == "completed"
    return home


def names(trained_home: Path) -> dict[str, str]:
    root = trained_home / "variants"
    return {family.name: next(family.iterdir()).name for family in root.iterdir()}


def install(trained_home: Path, home: Path, family: str | None = None) -> dict[str, Path]:
    """Copy the trained variants (or one family's) into `home`; {family: directory}."""
    copied = {}
    for family_dir in (trained_home / "variants").iterdir():
        if family is not None and family_dir.name != family:
            continue
        for directory in family_dir.iterdir():
            target = home / "variants" / family_dir.name / directory.name
            shutil.copytree(directory, target)
            copied[family_dir.name] = target
    return copied


@pytest.fixture
def make_tab(desktop_views, workspace):
    """A new Analysis tab of the workspace (shut down after the test)."""
    return lambda: desktop_views.add(AnalysisTab(workspace), 1200, 800)


def rows(tab: AnalysisTab) -> list[tuple[str, str]]:
    model = tab.table.model()
    return [
        (model.index(r, VARIANT).data(), model.index(r, STATUS).data())
        for r in range(model.rowCount())
    ]


def test_controls_have_stable_names_and_descriptions(make_tab, assert_described):
    assert_described(
        make_tab(),
        {
            "variantTable": QTableView,
            "familyFilter": QComboBox,
            "statusFilter": QComboBox,
            "replayButton": QPushButton,
            "verifyButton": QPushButton,
            "analysisResumeButton": QPushButton,
            "deleteButton": QPushButton,
            "openFolderButton": QPushButton,
            "checkpointSlider": QSlider,
            "fourierPlot": pg.PlotWidget,
            "normPlot": pg.PlotWidget,
        },
    )


def test_trained_variant_appears_after_refresh(make_tab, trained_home, workspace):
    tab = make_tab()
    assert rows(tab) == []
    install(trained_home, workspace.home, "modulo_addition_1layer")
    tab.refresh()
    name = names(trained_home)["modulo_addition_1layer"]
    assert rows(tab) == [(name, "completed")]
    model = tab.table.model()
    assert model.index(0, 3).data() == "30/30"
    assert model.index(0, 4).data().endswith("%")


def test_filters_hide_other_variants(make_tab, trained_home, workspace):
    copied = install(trained_home, workspace.home)
    broken = copied["mlp"].with_name("broken_copy")
    shutil.copytree(copied["mlp"], broken)
    (broken / "config.json").unlink()
    tab = make_tab()
    assert len(rows(tab)) == 3
    status = tab.findChild(QComboBox, "statusFilter")
    status.setCurrentIndex(status.findData("broken"))
    assert rows(tab) == [("broken_copy", "broken")]
    status.setCurrentIndex(status.findData("completed"))
    assert sorted(s for _, s in rows(tab)) == ["completed", "completed"]
    family = tab.findChild(QComboBox, "familyFilter")
    family.setCurrentIndex(family.findData("mlp"))
    assert rows(tab) == [(names(trained_home)["mlp"], "completed")]
    status.setCurrentIndex(status.findData(None))
    assert len(rows(tab)) == 2  # the mlp variant and the broken one


def test_selecting_two_variants_overlays_two_curves(make_tab, trained_home, workspace, qtbot):
    install(trained_home, workspace.home)
    tab = make_tab()
    both = list(names(trained_home).values())
    tab.select_variants(both)
    assert {s.variant for s in tab.selected_variants()} == set(both)
    qtbot.waitUntil(lambda: len(tab.curve_items) == 2, timeout=10000)
    legend = tab.loss_plot.getPlotItem().legend
    assert sorted(label.text for _, label in legend.items) == sorted(both)
    assert all(len(items) >= 2 for items in tab.curve_items.values())  # train and test
    assert len(tab.metric_plot.getPlotItem().legend.items) == 2
    tab.select_variants(both[:1])
    qtbot.waitUntil(lambda: len(tab.curve_items) == 1, timeout=10000)


def test_replay_reports_identical(make_tab, trained_home, workspace, qtbot):
    install(trained_home, workspace.home, "modulo_addition_1layer")
    tab = make_tab()
    tab.select_variants([names(trained_home)["modulo_addition_1layer"]])
    button = tab.findChild(QPushButton, "replayButton")
    assert button.isEnabled()
    messages: list[str] = []
    tab.statusMessage.connect(messages.append)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not button.isEnabled()  # one replay at a time
    qtbot.waitUntil(lambda: tab.replay_result is not None, timeout=120000)
    assert tab.replay_result.identical, tab.replay_result.message
    assert "identical" in tab.replay_label.text()
    assert any("identical" in m for m in messages)
    qtbot.waitUntil(lambda: tab.runner.running() == 0, timeout=10000)
    assert button.isEnabled()


def test_verify_reports_verified_then_each_mismatch(make_tab, trained_home, workspace, qtbot):
    copied = install(trained_home, workspace.home, "modulo_addition_1layer")
    tab = make_tab()
    tab.select_variants([copied["modulo_addition_1layer"].name])
    button = tab.findChild(QPushButton, "verifyButton")
    assert button.isEnabled()
    messages: list[str] = []
    tab.statusMessage.connect(messages.append)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not button.isEnabled()  # one verify at a time
    qtbot.waitUntil(lambda: tab.verify_result is not None, timeout=30000)
    assert tab.verify_result.verified, tab.verify_result.mismatches
    # weights 0, 10, 20, 30; full 30; best (keep_best)
    assert "verified: 6 checkpoints" in tab.verify_label.text()
    assert any(m.endswith(tab.verify_result.message) for m in messages)
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=10000)

    damaged = copied["modulo_addition_1layer"] / "checkpoints" / "weights_e0000010.pt"
    data = bytearray(damaged.read_bytes())
    data[-50] ^= 0xFF
    damaged.write_bytes(bytes(data))
    chronicle = copied["modulo_addition_1layer"] / "chronicle.jsonl"
    chronicle.write_bytes(b"".join(chronicle.read_bytes().splitlines(keepends=True)[:-1]))
    tab.verify_action.trigger()
    qtbot.waitUntil(lambda: tab.verify_result is not None, timeout=30000)
    report = tab.verify_result
    assert not report.verified
    assert {m.file for m in report.mismatches} == {"weights_e0000010.pt", "chronicle.jsonl"}
    text = tab.verify_label.text()
    assert "mismatches" in text and "color:red" in text
    assert all(m.line() in tab.verify_label.toolTip() for m in report.mismatches)
    assert "weights_e0000010.pt: " in text and "chronicle.jsonl: is truncated" in text


def test_delete_asks_then_removes_directory_and_row(make_tab, trained_home, workspace):
    copied = install(trained_home, workspace.home)
    tab = make_tab()
    target = copied["modulo_addition_1layer"]
    tab.select_variants([target.name])
    asked: list[str] = []

    def refuse(title: str, question: str) -> bool:
        asked.append(question)
        return False

    tab.confirm = refuse
    tab.findChild(QPushButton, "deleteButton").click()
    assert asked and target.name in asked[0]
    assert target.is_dir() and len(rows(tab)) == 2

    tab.confirm = lambda title, question: True
    tab.findChild(QPushButton, "deleteButton").click()
    assert not target.exists()
    assert [n for n, _ in rows(tab)] == [copied["mlp"].name]


def test_delete_is_refused_while_a_run_holds_the_lock_and_says_why(
    make_tab, trained_home, workspace
):
    from engine.training.lock import VariantLock

    copied = install(trained_home, workspace.home)
    tab = make_tab()
    target = copied["modulo_addition_1layer"]
    variant = workspace.variant(target.name, "modulo_addition_1layer")
    tab.select_variants([target.name])
    assert tab.delete_button.isEnabled()  # listed as completed, before the run took the lock
    tab.confirm = lambda title, question: True
    warnings: list[str] = []
    messages: list[str] = []
    tab.warn = lambda title, message: warnings.append(message)
    tab.statusMessage.connect(messages.append)
    with VariantLock(variant.lock_path):
        tab.findChild(QPushButton, "deleteButton").click()
        assert target.is_dir() and len(rows(tab)) == 2
    assert len(warnings) == 1
    assert target.name in warnings[0] and "being trained" in warnings[0]
    assert messages[-1] == warnings[0] and messages[-1].startswith("Nothing deleted")
    tab.select_variants([target.name])
    tab.findChild(QPushButton, "deleteButton").click()  # the run is over: it goes
    assert not target.exists() and len(warnings) == 1


def analysed(make_tab, trained_home, workspace, qtbot, family: str) -> AnalysisTab:
    """A tab showing the analyses of the trained variant of `family`, once they are in."""
    install(trained_home, workspace.home, family)
    tab = make_tab()
    tab.show_analyses()
    tab.select_variants([names(trained_home)[family]])
    qtbot.waitUntil(lambda: tab.analysis is not None, timeout=30000)
    return tab


def test_fourier_analysis_fills_plot_and_slider(make_tab, trained_home, workspace, qtbot):
    tab = analysed(make_tab, trained_home, workspace, qtbot, "modulo_addition_1layer")
    assert tab.analysis.epochs == [0, 10, 20, 30]
    slider = tab.findChild(QSlider, "checkpointSlider")
    assert (slider.minimum(), slider.maximum(), slider.value()) == (0, 3, 3)
    fourier = tab.findChild(pg.PlotWidget, "fourierPlot")
    items = fourier.getPlotItem().listDataItems()
    assert len(items) == 1
    _x, y = items[0].getData()
    assert len(y) == 5  # frequencies 1..5 for p = 11
    norm = tab.findChild(pg.PlotWidget, "normPlot")
    assert len(norm.getPlotItem().listDataItems()) == 1
    assert "Key frequencies" in tab.analyses_page.key_label.text()
    assert "train accuracy" in tab.analyses_page.grokking_label.text()
    slider.setValue(0)
    assert "epoch 0" in tab.analyses_page.checkpoint_label.text()
    assert tab.analyses_page.norm_marker.value() == 0


def test_mlp_has_no_fourier_analysis(make_tab, trained_home, workspace, qtbot):
    tab = analysed(make_tab, trained_home, workspace, qtbot, "mlp")
    assert tab.analysis.analyses == ["parameter_norm", "confusion_matrix"]
    assert tab.analyses_page.fourier_group.isHidden()
    assert len(tab.analyses_page.norm_plot.getPlotItem().listDataItems()) == 1


def test_broken_variant_is_shown_not_a_crash(make_tab, trained_home, workspace, qtbot):
    copied = install(trained_home, workspace.home, "modulo_addition_1layer")
    (copied["modulo_addition_1layer"] / "config.json").unlink()
    tab = make_tab()
    assert rows(tab) == [(copied["modulo_addition_1layer"].name, "broken")]
    index = tab.table.model().index(0, STATUS)
    assert "config.json is missing" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert index.data(Qt.ItemDataRole.BackgroundRole) is not None
    tab.show_analyses()
    tab.select_variants([copied["modulo_addition_1layer"].name])
    assert "config.json is missing" in tab.details.header.text()
    assert not tab.replay_button.isEnabled()
    qtbot.waitUntil(lambda: tab.runner.running() == 0, timeout=30000)


def test_resume_requests_the_variant(make_tab, trained_home, workspace, qtbot):
    copied = install(trained_home, workspace.home, "modulo_addition_1layer")
    meta_path = copied["modulo_addition_1layer"] / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["status"] = "cancelled"
    meta_path.write_text(json.dumps(meta))
    tab = make_tab()
    tab.select_variants([copied["modulo_addition_1layer"].name])
    button = tab.findChild(QPushButton, "analysisResumeButton")
    assert button.isEnabled()
    with qtbot.waitSignal(tab.resumeRequested, timeout=1000) as blocker:
        button.click()
    assert blocker.args == [copied["modulo_addition_1layer"].name]


def test_shutdown_stops_a_running_replay(make_tab, trained_home, workspace, qtbot):
    install(trained_home, workspace.home, "modulo_addition_1layer")
    tab = make_tab()
    tab.select_variants([names(trained_home)["modulo_addition_1layer"]])
    tab.replay()
    assert tab.runner.busy("replay")
    tab.shutdown()
    assert tab.runner.running() == 0
    assert not tab.runner.busy()


def test_corrupted_checkpoint_is_named_in_the_analysis(make_tab, trained_home, workspace, qtbot):
    copied = install(trained_home, workspace.home, "modulo_addition_1layer")
    damaged = copied["modulo_addition_1layer"] / "checkpoints" / "weights_e0000010.pt"
    data = bytearray(damaged.read_bytes())
    data[-50] ^= 0xFF
    damaged.write_bytes(bytes(data))
    tab = make_tab()
    tab.show_analyses()
    tab.select_variants([copied["modulo_addition_1layer"].name])
    qtbot.waitUntil(lambda: tab.analysis is not None, timeout=30000)
    assert tab.analysis.epochs == [0, 20, 30]
    assert "weights_e0000010.pt" in tab.analyses_page.analysis_status.text()
    assert tab.analyses_page.checkpoint_slider.maximum() == 2
