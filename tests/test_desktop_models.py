"""The Models tab, headless, on a real registry: the versions listed, Try it (a CSV and images,
torch and ONNX Runtime, the same predictions as the engine), Export… and Import…, aliases,
notes, rename and delete, and Publish… from the Analysis tab."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPushButton, QTableView

from desktop_app.models.export_dialog import ExportDialog
from desktop_app.models.publish_dialog import PublishDialog, default_model_name
from desktop_app.models.tab import NO_MATCH, NO_MODELS, ModelsTab
from desktop_app.models.version_model import MODEL, SCORE
from engine.inference.predictor import load_predictor
from engine.registry.publish import publish
from engine.registry.records import version_dir
from engine.registry.store import RegistryStore
from engine.workspace import Workspace

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "datasets"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def registry_home(tmp_path_factory) -> dict:
    """A home with two published models: iris-mlp (v1, alias production; v2) and digits-cnn
    (v1), trained once per module; tests work on copies."""
    home = tmp_path_factory.mktemp("models_home")
    ws = Workspace(home)
    runs = {
        "iris": ("mlp", {"dataset": "iris", "hidden_dim": 8}, {"epochs": 2}),
        "digits": (
            "image_classifier",
            {"dataset": "digits", "conv_channels": [8, 16]},
            {"epochs": 1},
        ),
    }
    variants = {}
    for key, (family, domain, training) in runs.items():
        variant = ws.create_variant(family, domain, {**training, "threads": 1})
        assert ws.train(variant).status == "completed"
        variants[key] = variant.name
    publish(ws, variants["iris"], "iris-mlp", alias="production", notes="first")
    publish(ws, variants["iris"], "iris-mlp", checkpoint="final")
    publish(ws, variants["digits"], "digits-cnn")
    return {"home": home, "variants": variants}


@pytest.fixture
def make_tab(qtbot, workspace, registry_home, desktop_views):
    """A Models tab over a copy of the module's registry (or an empty home)."""

    def make(*, empty: bool = False) -> ModelsTab:
        if not empty:
            shutil.copytree(registry_home["home"], workspace.home, dirs_exist_ok=True)
        tab = desktop_views.add(ModelsTab(workspace), 1200, 800)
        tab.show()
        qtbot.waitUntil(lambda: tab.listed, timeout=TIMEOUT_MS)
        return tab

    return make


def digit_images(folder: Path, count: int = 6) -> list[Path]:
    """The first digits of the shipped digits.csv as 8x8 grayscale PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    with (RESOURCES / "digits.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1 : count + 1]
    paths = []
    for i, row in enumerate(rows):
        pixels = bytes(round(float(v) * 255 / 16) for v in row[:64])
        path = folder / f"digit{i}.png"
        Image.frombytes("L", (8, 8), pixels).save(path)
        paths.append(path)
    return paths


def shown_rows(tab: ModelsTab) -> list[tuple[str, str]]:
    return [
        (tab.proxy.index(r, MODEL).data(), tab.proxy.index(r, MODEL + 1).data())
        for r in range(tab.proxy.rowCount())
    ]


# ---- the list -----------------------------------------------------------------------------
def test_controls_have_names_and_descriptions(make_tab, assert_described):
    assert_described(
        make_tab(),
        {
            "modelTable": QTableView,
            "modelFilter": QLineEdit,
            "importModelButton": QPushButton,
            "modelsRefreshButton": QPushButton,
            "exportModelButton": QPushButton,
            "aliasButton": QPushButton,
            "notesButton": QPushButton,
            "renameModelButton": QPushButton,
            "deleteVersionButton": QPushButton,
            "tryBackend": QComboBox,
            "tryChoose": QPushButton,
        },
    )


def test_every_version_is_listed_with_its_figures(make_tab):
    tab = make_tab()
    assert tab.hint.isHidden()
    assert shown_rows(tab) == [("digits-cnn", "v1"), ("iris-mlp", "v2"), ("iris-mlp", "v1")]
    rows = {(r.name, r.version): r for r in tab.model.versions()}
    first = rows[("iris-mlp", 1)]
    assert first.aliases == ("production",) and first.notes == "first"
    assert not first.latest and rows[("iris-mlp", 2)].latest
    assert first.input_kind == "table" and rows[("digits-cnn", 1)].input_kind == "image"
    assert first.inference_ms_per_1000 is not None and first.inference_ms_per_1000 > 0
    row = tab.model.row_of("iris-mlp", 1)
    score = tab.model.index(row, SCORE).data()
    assert score.endswith("%")
    assert score == f"{first.metrics['test_accuracy']:.1%}"
    latest = tab.model.index(tab.model.row_of("iris-mlp"), MODEL).data(Qt.ItemDataRole.FontRole)
    assert isinstance(latest, QFont) and latest.bold()
    assert tab.model.index(row, MODEL).data(Qt.ItemDataRole.FontRole) is None


def test_filters_and_an_empty_registry_say_what_to_do(make_tab):
    tab = make_tab()
    tab.filter_edit.setText("production")  # an alias
    assert shown_rows(tab) == [("iris-mlp", "v1")]
    tab.filter_edit.setText("nothing like it")
    assert shown_rows(tab) == [] and tab.hint.text() == NO_MATCH and tab.hint.isVisible()
    tab.filter_edit.clear()
    tab.findChild(QCheckBox, "latestOnly").setChecked(True)
    assert shown_rows(tab) == [("digits-cnn", "v1"), ("iris-mlp", "v2")]


def test_an_empty_home_says_how_to_publish(make_tab):
    tab = make_tab(empty=True)
    assert tab.model.rowCount() == 0
    assert tab.hint.text() == NO_MODELS and tab.hint.isVisible()
    assert not tab.export_button.isEnabled() and tab.import_button.isEnabled()
    assert "Select a model version" in tab.try_pane.hint.text()
    assert not tab.try_pane.choose_button.isEnabled()


def test_selecting_a_version_shows_its_details(make_tab):
    tab = make_tab()
    assert tab.select_version("iris-mlp", 1)
    text = tab.details.toPlainText()
    variant = tab.selected_version().variant
    assert "iris-mlp v1" in text and variant in text and "production" in text
    assert "trainwright predict iris-mlp:1 INPUT" in text
    assert tab.export_button.isEnabled() and tab.delete_button.isEnabled()


def test_a_version_published_by_the_cli_appears_on_refresh(make_tab, qtbot, workspace):
    tab = make_tab()
    variant = tab.model.versions()[0].variant
    publish(workspace, variant, "another")
    tab.refresh()
    qtbot.waitUntil(lambda: tab.model.row_of("another") >= 0, timeout=TIMEOUT_MS)


# ---- Try it -------------------------------------------------------------------------------
def wait_tried(qtbot, tab: ModelsTab) -> None:
    pane = tab.try_pane
    qtbot.waitUntil(lambda: not pane.busy, timeout=TIMEOUT_MS)


def test_try_it_on_a_csv_gives_the_engines_predictions(make_tab, qtbot, workspace):
    tab = make_tab()
    tab.select_version("iris-mlp", 2)
    source = RESOURCES / "iris.csv"
    tab.try_pane.predict([str(source)])
    wait_tried(qtbot, tab)
    assert tab.try_pane.error.isHidden(), tab.try_pane.error.text()
    expected = load_predictor(workspace, "iris-mlp:2").predict(source)
    table = tab.try_pane.table
    assert table.rowCount() == len(expected) == 150
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert header == ["Row", "Prediction", "setosa", "versicolor", "virginica"]
    for r, item in enumerate(expected.items):
        assert table.item(r, 1).text() == item.prediction
        assert table.item(r, 2).text() == f"{item.probabilities['setosa']:.3f}"
    assert "150 rows predicted" in tab.try_pane.hint.text()

    saved = workspace.home / "predictions.csv"
    tab.try_pane.choose_save_path = lambda: str(saved)
    tab.try_pane.save_button.click()
    assert saved.read_text(encoding="utf-8") == expected.csv_text()


def test_try_it_names_the_missing_column_and_keeps_going(make_tab, qtbot, tmp_path):
    tab = make_tab()
    tab.select_version("iris-mlp")
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n", encoding="utf-8")
    tab.try_pane.predict([str(bad)])
    wait_tried(qtbot, tab)
    assert tab.try_pane.error.isVisible()
    message = tab.try_pane.error.text()
    assert "bad.csv" in message and "petal_width" in message
    assert tab.try_pane.table.rowCount() == 0
    tab.try_pane.predict([str(RESOURCES / "iris.csv")])  # a good file after a bad one
    wait_tried(qtbot, tab)
    assert tab.try_pane.error.isHidden() and tab.try_pane.table.rowCount() == 150


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_try_it_on_images_shows_thumbnails_with_the_predictions(
    make_tab, qtbot, workspace, tmp_path, backend
):
    tab = make_tab()
    tab.select_version("digits-cnn")
    pane = tab.try_pane
    pane.backend_combo.setCurrentIndex(pane.backend_combo.findData(backend))
    paths = digit_images(tmp_path / "digits")
    pane.predict([str(tmp_path / "digits")])  # a folder
    wait_tried(qtbot, tab)
    assert pane.error.isHidden(), pane.error.text()
    expected = load_predictor(workspace, "digits-cnn", backend).predict(paths)
    assert pane.grid.count() == len(paths)
    for i, item in enumerate(expected.items):
        entry = pane.grid.item(i)
        chance = item.probabilities[item.prediction]
        assert entry.text() == f"{item.prediction}\n{chance:.2f}"
        assert entry.toolTip().startswith(f"digit{i}.png: predicted {item.prediction}")
        assert not entry.icon().isNull()


def test_try_it_refuses_a_file_that_is_not_an_image(make_tab, qtbot, tmp_path):
    tab = make_tab()
    tab.select_version("digits-cnn")
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"not a picture")
    tab.try_pane.predict([str(fake)])
    wait_tried(qtbot, tab)
    assert tab.try_pane.error.isVisible() and "photo.png" in tab.try_pane.error.text()
    assert tab.try_pane.grid.count() == 0


# ---- export and import --------------------------------------------------------------------
def test_export_a_bundle_and_import_it_into_another_home(
    make_tab, qtbot, tmp_path, desktop_views, workspace
):
    tab = make_tab()
    tab.select_version("iris-mlp", 1)
    dialog = tab.export_selected()
    assert isinstance(dialog, ExportDialog) and tab.dialog is dialog
    assert dialog.fmt() == "bundle" and dialog.path().name == "iris-mlp-v1.zip"
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("onnx"))
    assert dialog.path().name == "iris-mlp-v1.onnx"  # the suffix follows the format
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("bundle"))
    out = tmp_path / "out" / "iris.zip"
    out.parent.mkdir()
    dialog.path_edit.setText(str(out))
    dialog.export_button.click()
    assert dialog.busy and not dialog.close_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT_MS)
    assert out.is_file(), dialog.result_label.text()
    text = dialog.result_label.text()
    assert str(out) in text and "largest difference" in text
    assert dialog.result_value.max_abs_diff <= 1e-4

    # Exporting again to the same file asks first; "no" writes nothing.
    asked = []
    dialog.confirm_replace = lambda path: asked.append(path) or False
    before = out.stat().st_mtime_ns
    dialog.export_button.click()
    assert asked == [out] and not dialog.busy and out.stat().st_mtime_ns == before
    dialog.close_button.click()

    other_home = tmp_path / "other"
    other = desktop_views.add(ModelsTab(Workspace(other_home)), 1100, 700)
    qtbot.waitUntil(lambda: other.listed, timeout=TIMEOUT_MS)
    other.import_bundle(out)
    qtbot.waitUntil(lambda: other.model.row_of("iris-mlp", 1) >= 0, timeout=TIMEOUT_MS)
    assert other.selected_version().ref == "iris-mlp:1"
    assert "Imported iris-mlp v1" in other.message.full_text()
    original = load_predictor(workspace, "iris-mlp:1").predict(RESOURCES / "iris.csv")
    imported = load_predictor(Workspace(other_home), "iris-mlp:1").predict(RESOURCES / "iris.csv")
    assert imported.records() == original.records()


def test_a_damaged_bundle_is_refused_with_the_engines_reason(make_tab, qtbot, tmp_path):
    tab = make_tab(empty=True)
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    tab.import_bundle(damaged)
    qtbot.waitUntil(lambda: not tab.busy, timeout=TIMEOUT_MS)
    assert "damaged.zip" in tab.message.full_text()
    assert tab.model.rowCount() == 0 and tab.import_button.isEnabled()


# ---- changes ------------------------------------------------------------------------------
def wait_changed(qtbot, tab: ModelsTab) -> None:
    qtbot.waitUntil(lambda: not tab.busy and not tab.listing, timeout=TIMEOUT_MS)


def test_aliases_notes_rename_and_delete_change_the_registry(make_tab, qtbot, workspace):
    tab = make_tab()
    store = lambda: RegistryStore(workspace.home)  # noqa: E731 - read the registry afresh

    tab.select_version("iris-mlp", 2)
    tab.ask_text = lambda title, label, current: "production"
    tab.set_alias()
    wait_changed(qtbot, tab)
    assert store().record("iris-mlp").aliases == {"production": 2}
    assert tab.selected_version().aliases == ("production",)

    tab.ask_text = lambda title, label, current: "2bad"
    tab.set_alias()
    wait_changed(qtbot, tab)
    assert "not a valid alias" in tab.message.full_text()

    tab.remove_alias("production")
    wait_changed(qtbot, tab)
    assert store().record("iris-mlp").aliases == {}

    tab.ask_notes = lambda title, current: "kept for the paper\nsecond line"
    tab.edit_notes()
    wait_changed(qtbot, tab)
    assert store().versions("iris-mlp")[1].notes == "kept for the paper\nsecond line"

    tab.ask_text = lambda title, label, current: "iris-classifier"
    tab.rename()
    wait_changed(qtbot, tab)
    assert [m.name for m in store().models()] == ["digits-cnn", "iris-classifier"]
    assert tab.selected_version().ref == "iris-classifier:2"

    questions = []
    tab.confirm = lambda title, question: questions.append(question) or True
    tab.delete_selected()
    wait_changed(qtbot, tab)
    assert [v.version for v in store().versions("iris-classifier")] == [1]
    assert "Delete iris-classifier v2?" in questions[0]
    assert not version_dir(workspace.home, "iris-classifier", 2).joinpath("version.json").exists()
    assert tab.selected_version().ref == "iris-classifier:1"

    tab.confirm = lambda title, question: questions.append(question) or True
    tab.delete_selected()  # the last version: the model goes
    wait_changed(qtbot, tab)
    assert "only version" in questions[-1]
    assert [m.name for m in store().models()] == ["digits-cnn"]


def test_a_refused_rename_says_why_and_changes_nothing(make_tab, qtbot, workspace):
    tab = make_tab()
    tab.select_version("iris-mlp")
    tab.ask_text = lambda title, label, current: "digits-cnn"  # taken
    tab.rename()
    wait_changed(qtbot, tab)
    assert "exists" in tab.message.full_text()
    assert sorted(m.name for m in RegistryStore(workspace.home).models()) == [
        "digits-cnn",
        "iris-mlp",
    ]


# ---- publish ------------------------------------------------------------------------------
def test_publish_dialog_checks_the_name_and_publishes(make_tab, qtbot, registry_home):
    tab = make_tab()
    variant = registry_home["variants"]["iris"]
    dialog = tab.publish_variant(variant, "mlp", "iris")
    assert isinstance(dialog, PublishDialog) and tab.dialog is dialog
    assert dialog.model_name() == "mlp-iris"
    assert "version 1 of a new model" in dialog.target_label.text()
    dialog.name_combo.setCurrentText("iris-mlp")
    assert "next version of iris-mlp" in dialog.target_label.text()
    dialog.name_combo.setCurrentText("bad/name")
    assert not dialog.publish_button.isEnabled() and dialog.error.isVisible()
    dialog.name_combo.setCurrentText("iris-mlp")
    dialog.alias_edit.setText("v9")  # an alias may not look like a version
    assert not dialog.publish_button.isEnabled() and "alias" in dialog.error.text()
    dialog.alias_edit.setText("staging")
    dialog.notes_edit.setPlainText("from the dialog")
    assert dialog.publish_button.isEnabled()
    with qtbot.waitSignal(dialog.published, timeout=TIMEOUT_MS) as blocker:
        dialog.publish_button.click()
    assert blocker.args == ["iris-mlp", 3]
    qtbot.waitUntil(lambda: tab.model.row_of("iris-mlp", 3) >= 0, timeout=TIMEOUT_MS)
    row = tab.selected_version()
    assert row.ref == "iris-mlp:3" and row.aliases == ("staging",)
    assert row.notes == "from the dialog"


def test_a_variant_that_cannot_be_published_is_refused_in_the_dialog(make_tab, qtbot):
    tab = make_tab()
    dialog = tab.publish_variant("no_such_variant", "mlp", "")
    dialog.publish_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=TIMEOUT_MS)
    assert dialog.error.isVisible() and "no_such_variant" in dialog.error.text()
    assert dialog.isVisible()  # the dialog stays for another try
    dialog.reject()


def test_default_model_names_are_valid():
    assert default_model_name("v", "image_classifier", "digits") == "image-classifier-digits"
    assert default_model_name("v", "mlp", None) == "mlp"


def test_publish_from_the_analysis_tab_through_the_window(qtbot, workspace, registry_home):
    from desktop_app.main_window import MainWindow

    shutil.copytree(registry_home["home"], workspace.home, dirs_exist_ok=True)
    window = MainWindow(workspace)
    window.confirm_close = lambda: True
    qtbot.addWidget(window)
    window.show()
    tab = window.analysis_tab
    variant = registry_home["variants"]["digits"]
    qtbot.waitUntil(lambda: tab.model.rowCount() == 2, timeout=TIMEOUT_MS)
    tab.select_variants([variant])
    assert tab.publish_button.isEnabled()
    assert tab.publish_action in tab.context_menu().actions()
    tab.publish_button.click()
    dialog = window.models_tab.dialog
    assert isinstance(dialog, PublishDialog) and dialog.variant == variant
    assert dialog.model_name() == "image-classifier-digits"
    with qtbot.waitSignal(dialog.published, timeout=TIMEOUT_MS):
        dialog.publish_button.click()
    assert window.tabs.currentWidget() is window.models_tab
    qtbot.waitUntil(
        lambda: window.models_tab.model.row_of("image-classifier-digits") >= 0,
        timeout=TIMEOUT_MS,
    )
    window.close()


def test_without_onnx_its_formats_and_backend_are_offered_disabled(make_tab, monkeypatch):
    """The packaged app leaves ONNX out: its choices say so instead of failing later."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("onnx") else real(name, *a),
    )
    tab = make_tab()
    pane = tab.try_pane
    pane_item = pane.backend_combo.model().item(pane.backend_combo.findData("onnx"))
    assert not pane_item.isEnabled() and "not part of this install" in pane_item.toolTip()
    tab.select_version("iris-mlp")
    dialog = tab.export_selected()
    assert dialog.fmt() == "safetensors" and dialog.path().suffix == ".safetensors"
    for fmt in ("bundle", "onnx"):
        item = dialog.format_combo.model().item(dialog.format_combo.findData(fmt))
        assert not item.isEnabled() and "not part of this install" in item.toolTip()
    dialog.close_button.click()


def test_the_details_say_a_tensorflow_version_was_converted() -> None:
    from desktop_app.models.tab import details_html
    from desktop_app.models.version_model import VersionRow

    common = {
        "name": "moons",
        "version": 1,
        "family": "mlp",
        "variant": "v",
        "created_at": "2026-12-01T10:00:00+00:00",
        "weights_sha256": "ab" * 32,
    }
    assert "Trained with" not in details_html(VersionRow(**common))
    row = VersionRow(**common, trained_with="tensorflow", trained_weights_sha256="cd" * 32)
    assert (
        "Trained with tensorflow (Keras weights <tt>cdcdcdcdcdcdcdcd…</tt>), converted to its "
        "torch model for predict and export" in details_html(row)
    )
