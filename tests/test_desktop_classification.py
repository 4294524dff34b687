"""What a classifier gets wrong: the engine's confusion series and misclassified examples, the
Analysis tab's Classification page (headless, on real runs), and the dataset picker's kinds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QComboBox, QListWidget, QSlider, QTableWidget, QToolButton

from desktop_app.analysis.classification_page import NO_VARIANT_TEXT
from desktop_app.analysis.confusion_view import cell_text
from desktop_app.analysis.tab import AnalysisTab
from desktop_app.kit.dataset_picker import DatasetCatalog, DatasetChoice, DatasetPicker
from engine.analysis.classification import (
    NotAClassifier,
    confusion_series,
    find_misclassified,
    misclassified,
    per_class_accuracy,
)
from engine.errors import CheckpointError
from engine.metadata import VariantMetadata
from engine.workspace import Workspace

TIMEOUT_MS = 30_000
IMAGES = "image_classifier"


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """Tiny runs, once: a CNN on digits, an MLP on iris (a table), an MLP on diabetes
    (regression) and a modular-addition transformer (no confusion matrices)."""
    home = tmp_path_factory.mktemp("classification-home")
    workspace = Workspace(home)
    runs = [
        (
            IMAGES,
            {"dataset": "digits", "conv_channels": [8, 16]},
            {"epochs": 3, "checkpoint_every": 1},
        ),
        ("mlp", {"dataset": "iris", "hidden_dim": 8}, {"epochs": 6, "checkpoint_every": 2}),
        ("mlp", {"dataset": "diabetes", "hidden_dim": 8}, {"epochs": 2}),
        ("modulo_addition_1layer", {"prime": 11}, {"epochs": 2}),
    ]
    for family, domain, training in runs:
        variant = workspace.create_variant(family, domain, training)
        assert workspace.train(variant).status == "completed", variant.name
    return home


def variant_dir(home: Path, family: str, dataset: str = "") -> Path:
    return next(p for p in (home / "variants" / family).iterdir() if dataset in p.name)


def install(trained_home: Path, home: Path) -> None:
    for family in (trained_home / "variants").iterdir():
        shutil.copytree(family, home / "variants" / family.name, dirs_exist_ok=True)


def metadata(directory: Path) -> VariantMetadata:
    return VariantMetadata.load(directory / "metadata.json")


# ---- engine ---------------------------------------------------------------------------------
def test_confusion_series_lists_each_evaluated_checkpoint_once(trained_home):
    meta = metadata(variant_dir(trained_home, "mlp", "iris"))
    series = confusion_series(meta)
    assert series.class_names == ["setosa", "versicolor", "virginica"]
    assert [p.epoch for p in series.points] == [2, 4, 6]  # epoch 0 is not evaluated
    assert all(p.total == 30 for p in series.points)  # iris: 150 rows, 20% test
    best = series.points[series.best_index]
    assert best.best and best.epoch == meta.best.epoch
    assert best.accuracy == pytest.approx(meta.best.value)
    last = series.points[-1]
    assert last.confusion == meta.classification.confusion
    assert per_class_accuracy(last.confusion) == pytest.approx(
        meta.classification.per_class_accuracy
    )
    assert per_class_accuracy([[2, 1], [0, 0]]) == [2 / 3, None]


def test_misclassified_images_match_the_confusion_matrix(trained_home):
    import torch

    directory = variant_dir(trained_home, IMAGES)
    meta = metadata(directory)
    workspace = Workspace(trained_home)
    torch.manual_seed(7)
    rng = torch.get_rng_state()
    report = find_misclassified(workspace, directory.name, "best", limit=5)
    assert torch.equal(torch.get_rng_state(), rng)  # a run on another thread draws from it
    best = next(c for c in meta.checkpoints if c.kind == "best")
    confusion = np.asarray(best.confusion)
    assert report.test_size == confusion.sum()
    assert report.wrong == confusion.sum() - np.trace(confusion) > 5
    assert (report.file, report.epoch) == ("best.pt", meta.best.epoch)
    assert len(report.items) == 5
    probabilities = [item.probability for item in report.items]
    assert probabilities == sorted(probabilities, reverse=True)  # most confident first
    for item in report.items:
        assert item.true != item.predicted
        assert item.image is not None and item.image.dtype == np.uint8
        assert item.image.shape == (1, 8, 8)  # digits: grey, 8x8
    assert report.class_names == [str(d) for d in range(10)]
    first = misclassified(workspace.registry, str(directory), "final", limit=3)
    assert len(first) == 3


def test_misclassified_rows_of_a_table_and_refusals(trained_home, tmp_path):
    workspace = Workspace(trained_home)
    iris = variant_dir(trained_home, "mlp", "iris")
    report = find_misclassified(workspace, iris.name, "weights_e0000002.pt")
    epoch_two = next(c for c in metadata(iris).checkpoints if c.file == "weights_e0000002.pt")
    confusion = np.asarray(epoch_two.confusion)
    assert report.wrong == confusion.sum() - np.trace(confusion)
    assert report.items
    assert all(item.image is None for item in report.items)
    with pytest.raises(CheckpointError, match=r"no weights checkpoint named nope\.pt"):
        find_misclassified(workspace, iris.name, "nope.pt")
    with pytest.raises(NotAClassifier, match="regression"):
        find_misclassified(workspace, variant_dir(trained_home, "mlp", "diabetes").name)

    copy = tmp_path / "home"
    install(trained_home, copy)
    damaged = variant_dir(copy, "mlp", "iris") / "checkpoints" / "best.pt"
    data = bytearray(damaged.read_bytes())
    data[-40] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        find_misclassified(Workspace(copy), iris.name, "best")


# ---- the Classification page ----------------------------------------------------------------
@pytest.fixture
def tab(desktop_views, workspace, trained_home):
    install(trained_home, workspace.home)
    view = desktop_views.add(AnalysisTab(workspace), 1300, 900)
    view.show_classification()
    return view


def shown(qtbot, tab: AnalysisTab, directory: Path) -> None:
    """Select the variant and wait until its page is complete (examples included)."""
    tab.select_variants([directory.name])
    page = tab.classification_page
    qtbot.waitUntil(lambda: page.summary is not None and page.summary.path == str(directory))
    qtbot.waitUntil(lambda: not page.loading, timeout=TIMEOUT_MS)


def test_controls_have_stable_names_and_descriptions(tab, assert_described):
    assert_described(
        tab,
        {
            "confusionSlider": QSlider,
            "bestCheckpointButton": QToolButton,
            "confusionPlot": pg.PlotWidget,
            "perClassAccuracyPlot": pg.PlotWidget,
            "misclassifiedSource": QComboBox,
            "misclassifiedGrid": QListWidget,
            "misclassifiedTable": QTableWidget,
        },
    )
    page = tab.classification_page
    assert tab.tabs.tabText(tab.tabs.indexOf(page)) == "Classification"
    assert page.empty_label.text() == NO_VARIANT_TEXT


def test_an_image_classifier_shows_its_matrices_and_mistakes(tab, qtbot, trained_home):
    directory = Path(tab.workspace.home) / "variants" / IMAGES
    directory = next(directory.iterdir())
    shown(qtbot, tab, directory)
    page = tab.classification_page
    view = page.confusion
    meta = metadata(directory)
    series = confusion_series(meta)
    assert page.stack.currentWidget() is page.splitter
    assert view.slider.maximum() == len(series.points) - 1 == 2  # epochs 1, 2, 3
    assert view.slider.value() == 2 and view.best_button.isEnabled()
    last = np.asarray(meta.classification.confusion, dtype=np.float64)
    shares = last / last.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(view.confusion_image.image, shares)
    assert len(view.cell_texts) == 100  # 10 classes: every count written
    assert [t.toPlainText() for t in view.cell_texts[:3]] == [str(int(v)) for v in last[0, :3]]
    items = list(view.cell_texts)
    view.slider.setValue(0)  # another checkpoint: the same 100 items, with its counts
    first = np.asarray(series.points[0].confusion)
    assert view.cell_texts == items
    assert [t.toPlainText() for t in items] == [str(int(v)) for v in first.reshape(-1)]
    view.slider.setValue(2)
    ticks = view.confusion_plot.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [name for _, name in ticks] == [str(d) for d in range(10)]
    assert "epoch 3" in view.checkpoint_label.text()
    assert "Most confused" in view.confused_label.text()

    report = page.report
    assert report is not None and report.checkpoint == "best"
    grid = page.misclassified.grid
    assert page.misclassified.examples.currentWidget() is grid
    assert grid.count() == min(report.wrong, 64) > 0
    first = report.items[0]
    assert grid.item(0).text().startswith(f"{first.true} → {first.predicted}")
    assert not grid.item(0).icon().isNull()
    assert f"{report.wrong} of {report.test_size}" in page.misclassified.label.text()

    point = view.current_point()
    i, j = 0, 1
    expected = f"true 0, predicted as 1: {point.confusion[0][1]}"
    assert cell_text(point, series.class_names, i, j).startswith(expected)
    assert cell_text(point, series.class_names, 0, 10) is None
    view.slider.setValue(0)
    assert "epoch 1" in view.checkpoint_label.text()
    view.show_best()
    assert view.slider.value() == series.best_index

    combo = page.misclassified.source_combo
    combo.setCurrentIndex(combo.findData("chosen"))  # follows the slider
    view.slider.setValue(0)
    qtbot.waitUntil(
        lambda: page.report is not None and page.report.file == "weights_e0000001.pt",
        timeout=TIMEOUT_MS,
    )
    combo.setCurrentIndex(combo.findData("final"))
    qtbot.waitUntil(
        lambda: page.report is not None and page.report.checkpoint == "final",
        timeout=TIMEOUT_MS,
    )
    assert page.report.epoch == 3


def test_a_table_lists_its_misclassified_rows(tab, qtbot):
    directory = variant_dir(Path(tab.workspace.home), "mlp", "iris")
    shown(qtbot, tab, directory)
    page = tab.classification_page
    assert page.confusion.slider.maximum() == 2
    table = page.misclassified.table
    assert page.misclassified.examples.currentWidget() is table
    report = page.report
    assert table.rowCount() == report.wrong > 0
    item = report.items[0]
    row = [table.item(0, c).text() for c in range(4)]
    names = ["setosa", "versicolor", "virginica"]
    assert row == [
        str(item.index),
        names[item.true],
        names[item.predicted],
        f"{item.probability:.3f}",
    ]
    axis = page.confusion.accuracy_plot.getPlotItem().getAxis("left")
    assert [name for _, name in axis._tickLevels[0]] == names


def test_variants_without_a_confusion_matrix_say_why(tab, qtbot):
    page = tab.classification_page
    home = Path(tab.workspace.home)
    shown(qtbot, tab, variant_dir(home, "mlp", "diabetes"))
    assert page.stack.currentWidget() is page.empty_label
    assert "regression model" in page.empty_label.text()
    shown(qtbot, tab, variant_dir(home, "modulo_addition_1layer"))
    assert "does not record confusion matrices" in page.empty_label.text()
    assert page.report is None
    tab.table.clearSelection()
    assert page.empty_label.text() == NO_VARIANT_TEXT


def test_a_variant_trained_before_confusion_matrices_says_so(tab, qtbot):
    directory = variant_dir(Path(tab.workspace.home), "mlp", "iris")
    meta = metadata(directory)
    meta.classification = None
    meta.versions["engine"] = "0.2.1"
    for entry in meta.checkpoints:
        entry.confusion = None
    meta.save(directory / "metadata.json")
    shown(qtbot, tab, directory)
    page = tab.classification_page
    assert "trained before confusion matrices were recorded" in page.empty_label.text()


# ---- the dataset picker's kinds -------------------------------------------------------------
def test_a_picker_for_images_lists_only_image_datasets(qtbot, tmp_path):
    catalog = DatasetCatalog()
    picker = DatasetPicker(catalog=catalog, kinds=["images"])
    qtbot.addWidget(picker)
    assert picker.choice_ids() == ["digits", "shapes"]
    assert picker.value() == "digits"
    assert not picker.takes_csv and picker.browse_button.isHidden()
    catalog.publish(
        tmp_path,
        [
            *catalog.choices(),
            DatasetChoice("houses", "Houses", "tabular", True),
            DatasetChoice("pets", "Pets", "images", True),
        ],
    )
    assert picker.choice_ids() == ["digits", "shapes", "pets"]
    every = DatasetPicker(catalog=catalog)
    qtbot.addWidget(every)
    assert "houses" in every.choice_ids() and "pets" in every.choice_ids()
    assert not every.browse_button.isHidden()


def test_the_image_family_form_picks_among_images(qtbot, workspace):
    from desktop_app.kit.param_form import ParamForm

    spec = workspace.registry.spec(IMAGES)
    form = ParamForm("domain")
    qtbot.addWidget(form)
    form.set_specs(list(spec.domain_parameters), family=spec)
    picker = form.field_widget("dataset")
    assert isinstance(picker, DatasetPicker)
    assert set(picker.choice_ids()) == {"digits", "shapes"}
    assert form.value("dataset") == "digits"
    mlp = ParamForm("domain")
    qtbot.addWidget(mlp)
    mlp.set_specs(list(workspace.registry.spec("mlp").domain_parameters))
    assert {"two_moons", "iris", "digits"} <= set(mlp.field_widget("dataset").choice_ids())


def test_without_a_best_checkpoint_the_last_one_is_listed(tab, qtbot):
    directory = variant_dir(Path(tab.workspace.home), "mlp", "iris")
    meta = metadata(directory)  # as if trained with keep_best off
    meta.best = None
    meta.checkpoints = [c for c in meta.checkpoints if c.kind != "best"]
    meta.save(directory / "metadata.json")
    (directory / "checkpoints" / "best.pt").unlink()
    shown(qtbot, tab, directory)
    page = tab.classification_page
    combo = page.misclassified.source_combo
    assert combo.currentData() == "final"
    assert not combo.model().item(combo.findData("best")).isEnabled()
    assert not page.confusion.best_button.isEnabled()
    assert page.report.checkpoint == "final" and page.report.epoch == 6
