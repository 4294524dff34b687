"""The Datasets tab, headless: the library, imports (with progress, refusals and cancel),
previews, rename, delete, "Train on this", and the Training tab's dataset picker."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QComboBox, QLineEdit, QMessageBox, QPushButton, QTableView

from desktop_app.datasets.library_model import NAME, ORIGIN
from desktop_app.datasets.tab import (
    BUILTIN_DELETE_TIP,
    BUILTIN_RENAME_TIP,
    DROP_HINT,
    EMPTY_LIBRARY,
    NO_MATCH,
    DatasetsTab,
)
from desktop_app.kit.dataset_picker import DatasetCatalog, DatasetPicker
from engine.datasets.library import DatasetLibrary

TIMEOUT_MS = 30_000


# ---- helpers ---------------------------------------------------------------------------------
def write_csv(path: Path, rows: int = 80) -> Path:
    """A small table: two integer features, a text feature and an integer target."""
    lines = ["area,rooms,city,price"]
    lines += [
        f"{50 + i},{i % 5 + 1},{'north' if i % 2 else 'south'},{100 + 3 * i}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_image_folder(root: Path, per_class: int = 3) -> Path:
    """Two classes of `per_class` small PNGs each, and a stray text file (skipped)."""
    from PIL import Image

    for name, colour in (("cats", (200, 40, 40)), ("dogs", (40, 40, 200))):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20 + i, 16), (colour[0], (colour[1] + 20 * i) % 256, colour[2])).save(
                folder / f"{name}_{i}.png"
            )
    (root / "cats" / "notes.txt").write_text("not an image", encoding="utf-8")
    return root


def library_entries(home: Path) -> list[str]:
    root = home / "datasets"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def visible_ids(tab: DatasetsTab) -> list[str]:
    return [tab.proxy.item(r).id for r in range(tab.proxy.rowCount())]


def wait_listed(qtbot, tab: DatasetsTab, dataset_id: str | None = None) -> None:
    qtbot.waitUntil(lambda: tab.listed, timeout=TIMEOUT_MS)
    if dataset_id is not None:
        qtbot.waitUntil(lambda: tab.model.dataset(dataset_id) is not None, timeout=TIMEOUT_MS)


def import_and_wait(qtbot, tab: DatasetsTab, source: Path, dataset_id: str) -> None:
    tab.import_paths([source])
    qtbot.waitUntil(lambda: not tab.busy, timeout=TIMEOUT_MS)
    assert not tab.import_panel.error_text, tab.import_panel.error_text
    wait_listed(qtbot, tab, dataset_id)


@pytest.fixture
def make_tab(desktop_views, workspace, qtbot):
    """A Datasets tab of the workspace, listed (shut down after the test)."""

    def make() -> DatasetsTab:
        tab = desktop_views.add(DatasetsTab(workspace), 1100, 800)
        tab.show()
        wait_listed(qtbot, tab)
        return tab

    return make


@pytest.fixture
def window(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    win = MainWindow(workspace)
    win.confirm_close = lambda: True
    win.confirm_close_imports = lambda: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    wait_listed(qtbot, win.datasets_tab)
    yield win
    assert win.datasets_tab.shutdown()
    win.controller.shutdown()


# ---- the library -----------------------------------------------------------------------------
def test_controls_have_names_and_descriptions(make_tab, assert_described):
    assert_described(
        make_tab(),
        {
            "datasetTable": QTableView,
            "datasetFilter": QLineEdit,
            "originFilter": QComboBox,
            "kindFilter": QComboBox,
            "importButton": QPushButton,
            "datasetsRefreshButton": QPushButton,
            "renameDatasetButton": QPushButton,
            "deleteDatasetButton": QPushButton,
            "trainOnDatasetButton": QPushButton,
            "cancelImportButton": QPushButton,
            "targetCombo": QComboBox,
        },
    )


def test_lists_the_builtins_and_says_how_to_import(make_tab, qtbot, workspace):
    from desktop_app.kit.warmup import EngineWarmup

    tab = make_tab()
    ids = [row.id for row in tab.model.datasets()]
    assert {"two_moons", "iris", "digits", "shapes"} <= set(ids)
    assert all(row.origin == "built-in" for row in tab.model.datasets())
    assert tab.hint.text() == EMPTY_LIBRARY
    # Nothing selected: nothing to act on.
    assert not tab.rename_button.isEnabled() and not tab.train_button.isEnabled()

    assert tab.select_dataset("iris")
    assert tab.train_button.isEnabled()
    assert not tab.rename_button.isEnabled() and not tab.delete_button.isEnabled()
    assert tab.rename_button.toolTip() == BUILTIN_RENAME_TIP
    assert tab.delete_button.toolTip() == BUILTIN_DELETE_TIP
    # The built-ins' sizes arrive from loading them in the background, once torch is loaded.
    EngineWarmup.instance().start(workspace)
    qtbot.waitUntil(lambda: tab.model.dataset("digits").count == 1797, timeout=TIMEOUT_MS)
    assert tab.model.dataset("iris").count == 150 and tab.model.dataset("iris").classes == 3

    tab.filter_edit.setText("MOONS")
    assert visible_ids(tab) == ["two_moons"]
    tab.filter_edit.setText("no such thing")
    assert visible_ids(tab) == [] and tab.hint.text() == EMPTY_LIBRARY  # still the first hint
    tab.filter_edit.clear()
    tab.kind_filter.setCurrentIndex(tab.kind_filter.findData("images"))
    assert sorted(visible_ids(tab)) == ["digits", "shapes"]


def test_importing_a_csv_adds_a_row_and_every_picker_gains_it(window, qtbot, tmp_path):
    tab = window.datasets_tab
    steps = []
    tab.import_panel.bar.valueChanged.connect(steps.append)
    import_and_wait(qtbot, tab, write_csv(tmp_path / "Houses.csv"), "houses")

    row = tab.model.dataset("houses")
    assert (row.name, row.origin, row.kind, row.count, row.status) == (
        "Houses",
        "imported",
        "tabular",
        80,
        "ready",
    )
    assert tab.selected_dataset().id == "houses"  # the new dataset is selected
    assert tab.hint.text() == DROP_HINT
    assert "Imported “Houses” as houses: 80 rows" in tab.import_panel.message.text()
    assert library_entries(window.workspace.home) == ["houses"]

    training = window.training_tab
    assert training.select_family("mlp")
    picker = training.domain_form.field_widget("dataset")
    assert isinstance(picker, DatasetPicker)
    assert "houses" in picker.choice_ids()
    assert picker.choice_ids()[0] == "two_moons"  # built-ins first
    assert training.domain_form.value("dataset") == "two_moons"  # the choice is kept


def test_a_refused_zip_shows_why_and_leaves_nothing(make_tab, qtbot, tmp_path, workspace):
    tab = make_tab()
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("table.csv", "a,b\n1,2\n3,4\n")
        zf.writestr("inner.zip", b"PK\x03\x04 not really")
    tab.import_paths([archive])
    qtbot.waitUntil(lambda: not tab.busy, timeout=TIMEOUT_MS)

    error = tab.import_panel.error_text
    assert error.startswith("Import refused: bundle.zip: ")  # the file named once
    assert "inner.zip" in error  # the engine's message names the entry
    assert "\n" not in error
    assert tab.import_panel.message.isVisible()
    assert library_entries(workspace.home) == []
    assert all(not row.imported for row in tab.model.datasets())


def test_cancelling_an_import_keeps_nothing(make_tab, qtbot, tmp_path, workspace):
    tab = make_tab()
    # Enough files that the import cannot end before Cancel (checked before each file).
    folder = write_image_folder(tmp_path / "pets", per_class=150)
    tab.import_paths([folder, write_csv(tmp_path / "waiting.csv")])
    assert tab.busy and tab.import_panel.cancel_button.isEnabled()
    assert tab.import_panel.currentIndex() == 1  # the progress line, with Cancel
    tab.import_panel.cancel_button.click()  # before the first file: deterministic
    assert tab.import_panel.pending() == []  # the waiting import is dropped too
    qtbot.waitUntil(lambda: not tab.busy, timeout=TIMEOUT_MS)

    assert tab.import_panel.message.text() == "Import of pets cancelled; nothing was kept"
    assert not tab.import_panel.error_text
    assert library_entries(workspace.home) == []


def test_closing_during_an_import_asks_and_cancels_it(window, qtbot, tmp_path, workspace):
    asked = []
    window.confirm_close_imports = lambda: asked.append("imports") or False
    tab = window.datasets_tab
    tab.import_paths([write_image_folder(tmp_path / "pets", per_class=150)])
    assert tab.busy
    window.close()  # refused: the import goes on
    assert asked == ["imports"] and window.isVisible() and tab.busy
    window.confirm_close_imports = lambda: asked.append("again") or True
    window.close()
    assert asked == ["imports", "again"]
    qtbot.waitUntil(lambda: not tab.busy, timeout=TIMEOUT_MS)
    assert library_entries(workspace.home) == []  # cancelled: nothing kept


def test_dropping_files_imports_them(make_tab, qtbot, tmp_path):
    tab = make_tab()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(write_csv(tmp_path / "dropped.csv", rows=12)))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tab.dropEvent(event)
    assert event.isAccepted()
    qtbot.waitUntil(lambda: not tab.busy, timeout=TIMEOUT_MS)
    wait_listed(qtbot, tab, "dropped")
    assert tab.model.dataset("dropped").count == 12


# ---- rename and delete -----------------------------------------------------------------------
def test_rename_changes_the_name_not_the_id(make_tab, qtbot, tmp_path, workspace):
    DatasetLibrary(workspace.home).import_path(write_csv(tmp_path / "houses.csv"))
    tab = make_tab()
    wait_listed(qtbot, tab, "houses")
    picker = DatasetPicker()
    qtbot.addWidget(picker)
    picker.set_value("houses")

    assert tab.select_dataset("houses")
    assert tab.rename_button.isEnabled()
    asked = []
    tab.ask_name = lambda title, current: asked.append(current) or "Houses 2024"
    tab.rename_button.click()
    qtbot.waitUntil(lambda: tab.model.dataset("houses").name == "Houses 2024", timeout=TIMEOUT_MS)

    assert asked == ["houses"]
    assert DatasetLibrary(workspace.home).get("houses").name == "Houses 2024"
    assert tab.selected_dataset().id == "houses"
    # The picker shows the new name and still means the same dataset.
    assert picker.combo.currentText() == "Houses 2024" and picker.value() == "houses"

    tab.ask_name = lambda title, current: "   "
    tab.rename_button.click()
    assert "houses" in tab.import_panel.error_text  # the engine refuses an empty name
    assert DatasetLibrary(workspace.home).get("houses").name == "Houses 2024"


def test_delete_asks_and_names_the_variants_trained_on_it(
    make_tab, qtbot, tmp_path, workspace, monkeypatch
):
    DatasetLibrary(workspace.home).import_path(write_csv(tmp_path / "houses.csv"))
    variant = workspace.create_variant(
        "mlp",
        {"dataset": "houses", "hidden_dim": 8, "num_hidden_layers": 1},
        {"epochs": 1, "threads": 1},
    )
    assert workspace.train(variant).status == "completed"
    tab = make_tab()
    wait_listed(qtbot, tab, "houses")
    picker = DatasetPicker()
    qtbot.addWidget(picker)
    picker.set_value("houses")

    questions = []
    answer = QMessageBox.StandardButton.No

    def question(parent, title, text, *args):
        questions.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    assert tab.select_dataset("houses")
    tab.delete_button.click()
    assert not tab.delete_button.isEnabled()  # while the variants are looked up
    qtbot.waitUntil(lambda: len(questions) == 1, timeout=TIMEOUT_MS)
    assert "1 variant was trained on it" in questions[0]
    assert variant.name in questions[0]
    qtbot.waitUntil(tab.delete_button.isEnabled, timeout=TIMEOUT_MS)
    assert library_entries(workspace.home) == ["houses"]  # answered No: kept

    answer = QMessageBox.StandardButton.Yes
    tab.delete_button.click()
    qtbot.waitUntil(lambda: tab.model.dataset("houses") is None, timeout=TIMEOUT_MS)
    assert len(questions) == 2
    assert library_entries(workspace.home) == []
    assert tab.import_panel.message.text() == "Deleted houses"
    assert variant.dir.is_dir()  # the variant stays
    # A picker that showed it falls back to the first dataset.
    assert picker.value() == "two_moons"


# ---- previews --------------------------------------------------------------------------------
def test_a_table_preview_shows_its_first_rows_and_column_types(
    make_tab, qtbot, tmp_path, workspace
):
    DatasetLibrary(workspace.home).import_path(write_csv(tmp_path / "houses.csv"))
    tab = make_tab()
    wait_listed(qtbot, tab, "houses")
    assert tab.select_dataset("houses")
    qtbot.waitUntil(lambda: tab.preview.table_preview is not None, timeout=TIMEOUT_MS)

    model = tab.preview.table.model()
    assert model.rowCount() == 50
    assert model.headerData(0, Qt.Orientation.Horizontal) == "area\ninteger"
    assert model.headerData(2, Qt.Orientation.Horizontal) == "city\ntext"
    assert model.headerData(3, Qt.Orientation.Horizontal) == "price\ninteger (target)"
    assert model.index(0, 2).data() == "south" and model.index(49, 0).data() == "99"
    assert tab.preview.rows_note.text() == "First 50 of 80 rows"
    assert tab.preview.target_combo.isEnabled()
    assert tab.preview.target() == "price"

    assert tab.select_dataset("iris")  # a built-in table: the file as shipped, target fixed
    qtbot.waitUntil(
        lambda: (
            tab.preview.table_preview is not None and tab.preview.table_preview.dataset_id == "iris"
        ),
        timeout=TIMEOUT_MS,
    )
    assert tab.preview.table.model().rowCount() == 50
    assert not tab.preview.target_combo.isEnabled()


def test_an_image_preview_shows_thumbnails_per_class(make_tab, qtbot, tmp_path, workspace):
    DatasetLibrary(workspace.home).import_path(write_image_folder(tmp_path / "pets"))
    tab = make_tab()
    wait_listed(qtbot, tab, "pets")
    row = tab.model.dataset("pets")
    assert (row.kind, row.count, row.classes, row.skipped) == ("images", 6, 2, 1)
    assert tab.select_dataset("pets")
    qtbot.waitUntil(lambda: tab.preview.image_preview is not None, timeout=TIMEOUT_MS)

    preview = tab.preview.image_preview
    assert [(c.name, c.count, len(c.images)) for c in preview.classes] == [
        ("cats", 3, 3),
        ("dogs", 3, 3),
    ]
    assert all(image.width() == 64 and image.height() == 64 for image in preview.classes[0].images)
    assert tab.preview.thumbnail_count() == 6
    assert "6 images in 2 classes" in tab.preview.image_note.text()
    assert "1 file(s) skipped" in tab.preview.image_note.text()
    assert "notes.txt" in tab.preview.image_note.toolTip()

    assert tab.select_dataset("digits")  # a built-in: thumbnails from its tensors
    qtbot.waitUntil(
        lambda: (
            tab.preview.image_preview is not None
            and tab.preview.image_preview.dataset_id == "digits"
        ),
        timeout=TIMEOUT_MS,
    )
    digits = tab.preview.image_preview
    assert len(digits.classes) == 10 and digits.total == 1797
    assert all(len(c.images) == 8 for c in digits.classes)


# ---- Train on this, and the picker -----------------------------------------------------------
def test_train_on_this_selects_the_family_for_the_kind_the_dataset_and_the_target(
    window, qtbot, tmp_path
):
    tab = window.datasets_tab
    import_and_wait(qtbot, tab, write_csv(tmp_path / "houses.csv"), "houses")
    qtbot.waitUntil(lambda: tab.preview.table_preview is not None, timeout=TIMEOUT_MS)
    combo = tab.preview.target_combo
    combo.setCurrentIndex(combo.findData("rooms"))
    tab.train_button.click()

    training = window.training_tab
    assert window.tabs.currentWidget() is training
    assert training.family() == "mlp"
    assert training.domain_form.value("dataset") == "houses"
    assert training.domain_form.value("target") == "rooms"
    qtbot.waitUntil(lambda: training.engine_ready, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: training.config is not None, timeout=TIMEOUT_MS)
    assert training.config.domain["dataset"] == "houses"
    assert training.config.domain["target"] == "rooms"

    # A built-in table: no target carried, and the one typed before is cleared.
    window.tabs.setCurrentWidget(tab)
    assert tab.select_dataset("wine")
    tab.train_button.click()
    assert training.family() == "mlp"
    assert training.domain_form.value("dataset") == "wine"
    assert training.domain_form.value("target") == ""
    qtbot.waitUntil(lambda: training.config is not None, timeout=TIMEOUT_MS)

    # Images go to the image classifier, whose picker lists them.
    window.tabs.setCurrentWidget(tab)
    assert tab.select_dataset("digits")
    tab.train_button.click()
    assert training.family() == "image_classifier"
    assert training.domain_form.value("dataset") == "digits"
    qtbot.waitUntil(lambda: training.config is not None, timeout=TIMEOUT_MS)
    assert training.config.family == "image_classifier"
    assert training.config.domain["dataset"] == "digits"
    assert "image_classifier on dataset digits" in window.status_bar.currentMessage()


def test_the_picker_keeps_typed_text_and_follows_the_catalog(qtbot, tmp_path):
    catalog = DatasetCatalog()  # its own, so no other view's library shows
    picker = DatasetPicker(catalog=catalog)
    qtbot.addWidget(picker)
    values = []
    picker.valueChanged.connect(values.append)
    assert picker.value() == "two_moons"  # selected ?? first

    picker.set_value("iris")
    assert picker.combo.currentText() == "Iris" and picker.value() == "iris"
    picker.combo.setEditText("Wine")  # a display name, as typed
    assert picker.value() == "wine"
    picker.combo.setEditText("no_such_dataset")
    assert picker.value() == "no_such_dataset"  # the engine says what is wrong with it
    assert values == ["iris", "wine", "no_such_dataset"]

    csv_path = write_csv(tmp_path / "t.csv", rows=5)
    picker.choose_file = lambda: str(csv_path)
    picker.browse_button.click()
    assert picker.value() == f"csv:{csv_path}"

    from desktop_app.kit.dataset_picker import DatasetChoice, choices_from_infos
    from engine.datasets import list_datasets

    builtins = choices_from_infos(list_datasets())
    catalog.publish(tmp_path, [*builtins, DatasetChoice("iris_2", "Iris", "tabular", True)])
    assert picker.value() == f"csv:{csv_path}"  # typed text survives a new list
    picker.set_value("iris_2")
    assert picker.combo.currentText() == "Iris (iris_2)"  # same name as a built-in: the id says
    catalog.publish(tmp_path, builtins)  # deleted elsewhere
    assert picker.value() == "two_moons"
    assert values[-1] == "two_moons"


def test_the_origin_column_sorts_and_filters(make_tab, qtbot, tmp_path, workspace):
    DatasetLibrary(workspace.home).import_path(write_csv(tmp_path / "aardvarks.csv", rows=6))
    tab = make_tab()
    wait_listed(qtbot, tab, "aardvarks")
    tab.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    assert visible_ids(tab)[0] == "aardvarks"
    tab.origin_filter.setCurrentIndex(tab.origin_filter.findData("imported"))
    assert visible_ids(tab) == ["aardvarks"]
    tab.filter_edit.setText("zebra")
    assert visible_ids(tab) == [] and tab.hint.text() == NO_MATCH
    tab.filter_edit.clear()
    tab.origin_filter.setCurrentIndex(0)
    tab.table.sortByColumn(ORIGIN, Qt.SortOrder.DescendingOrder)
    assert visible_ids(tab)[0] == "aardvarks"  # "imported" after "built-in"
