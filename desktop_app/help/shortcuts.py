"""Every keyboard shortcut of the window, in one table: the actions and shortcuts that have
keys read them from here (`keys`), and the F1 sheet lists them (`ShortcutsDialog`).

A test walks the window's QActions and QShortcuts and checks each key is in this table, so a
key added without it is caught.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Shortcut:
    """A key (or keys: alternatives) and what it does, where."""

    id: str
    keys: tuple[str, ...]  # portable text ("Ctrl+Return"), the first is the one shown first
    what: str
    where: str  # "Everywhere" or the tab (or part of it) where it works


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("help.shortcuts", ("F1",), "Show this list of keyboard shortcuts", "Everywhere"),
    Shortcut("app.preferences", ("Ctrl+,",), "Open the preferences", "Everywhere"),
    Shortcut("app.quit", ("Ctrl+Q",), "Quit (asks first while a run trains)", "Everywhere"),
    Shortcut("tabs.next", ("Ctrl+Tab",), "Show the next tab", "Everywhere"),
    Shortcut("tabs.previous", ("Ctrl+Shift+Tab",), "Show the previous tab", "Everywhere"),
    Shortcut(
        "tabs.mnemonic",
        ("Alt+T", "Alt+A", "Alt+S", "Alt+D", "Alt+J"),
        "Show the Training, Analysis, Sweeps, Datasets or Jobs tab",
        "Everywhere",
    ),
    Shortcut(
        "training.start",
        ("Ctrl+Return", "Ctrl+Enter"),
        "Start training the variant the forms describe",
        "Training",
    ),
    Shortcut("training.stop", ("Esc",), "Stop the run (it can be resumed)", "Training"),
    Shortcut(
        "sweeps.start",
        ("Ctrl+Return", "Ctrl+Enter"),
        "Start the sweep the lists describe",
        "Sweeps",
    ),
    Shortcut(
        "analysis.delete", ("Del",), "Delete the selected variants (asks first)", "Analysis table"
    ),
    Shortcut("datasets.import", ("Ctrl+O",), "Import a dataset file", "Datasets"),
    Shortcut("datasets.rename", ("F2",), "Rename the selected dataset", "Datasets list"),
    Shortcut(
        "datasets.delete", ("Del",), "Delete the selected dataset (asks first)", "Datasets list"
    ),
    Shortcut("models.import", ("Ctrl+O",), "Import a model bundle", "Models"),
    Shortcut("models.rename", ("F2",), "Rename the selected version's model", "Models list"),
    Shortcut(
        "models.delete", ("Del",), "Delete the selected model version (asks first)", "Models list"
    ),
    Shortcut("queue.up", ("Ctrl+Up",), "Move the selected queued run up", "Jobs queue"),
    Shortcut("queue.down", ("Ctrl+Down",), "Move the selected queued run down", "Jobs queue"),
    Shortcut("queue.pause", ("Space",), "Pause or release the selected queued run", "Jobs queue"),
    Shortcut("queue.remove", ("Del",), "Remove the selected queued run", "Jobs queue"),
)

_BY_ID = {s.id: s for s in SHORTCUTS}


def shortcut(shortcut_id: str) -> Shortcut:
    """The table's entry (KeyError for an id it does not have)."""
    return _BY_ID[shortcut_id]


def keys(shortcut_id: str) -> list[QKeySequence]:
    """The key sequences of an entry, for QAction.setShortcuts / QShortcut."""
    return [QKeySequence(text) for text in _BY_ID[shortcut_id].keys]


def native(text: str) -> str:
    """A key as this platform writes it (Ctrl+Return, ⌘↩ on macOS)."""
    return QKeySequence(text).toString(QKeySequence.SequenceFormat.NativeText)


def portable_keys() -> set[str]:
    """Every key of the table, in Qt's portable text."""
    return {
        QKeySequence(text).toString(QKeySequence.SequenceFormat.PortableText)
        for s in SHORTCUTS
        for text in s.keys
    }


class ShortcutsDialog(QDialog):
    """The sheet F1 shows: every shortcut, what it does and where it works."""

    COLUMNS = ("Keys", "What it does", "Where")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.setAccessibleName("Keyboard shortcuts")
        intro = QLabel(
            "Keys that work everywhere, then those of each tab (they work when the tab, or the "
            "part of it named, has the keyboard focus). Underlined letters in menus and labels "
            "work with Alt."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(SHORTCUTS), len(self.COLUMNS))
        self.table.setObjectName("shortcutsTable")
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setAccessibleDescription("Each key, what it does, and where it works")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        for row, entry in enumerate(SHORTCUTS):
            cells = (" or ".join(native(k) for k in entry.keys), entry.what, entry.where)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(720, 560)
        self.setWindowModality(Qt.WindowModality.NonModal)

    def rows(self) -> list[tuple[str, str, str]]:
        """The sheet's rows as text (keys, what, where)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
            for r in range(self.table.rowCount())
        ]
