"""Preferences: `<home>/preferences.json` (validated by a pydantic model) and their dialog.

The data home itself is chosen as the CLI chooses it (engine.home.locate_home): `--home`, else
TRAINWRIGHT_HOME, else the data home the default home's preferences.json points at, else the
default user data directory; a data home set in the dialog is recorded in the default home's
preferences.json and used from the next start on (unless --home or TRAINWRIGHT_HOME says
otherwise).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.style import NOTE_STYLE
from desktop_app.kit.widgets import button, described, error_label
from engine.atomic import atomic_write_json
from engine.devices import DEVICES, available_devices
from engine.home import HOME_ENV, PREFERENCES_FILE, default_home, locate_home
from engine.params import ParameterSpec
from engine.resolution import with_preferences

# Origins of a data home the user chose for this session (--home, TRAINWRIGHT_HOME).
EXPLICIT_ORIGINS = ("option", "environment")
THEMES = ("system", "light", "dark")  # View → Theme; desktop_app.kit.theme.apply_theme
Theme = Literal["system", "light", "dark"]


class Preferences(BaseModel):
    """What the user chose in the Preferences dialog, saved in the data home."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data_home: str | None = Field(None, description="Data home for the next start; None: default")
    torch_threads: int = Field(0, ge=0, le=256, description="Torch CPU threads; 0 = automatic")
    device: str = Field("cpu", description="Where new runs train: one of engine.devices.DEVICES")
    theme: Theme = Field("system", description="The window's look: system, light or dark")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in DEVICES:
            raise ValueError(f"{value!r} is not a device; allowed: {', '.join(DEVICES)}")
        return value

    @staticmethod
    def path(home: Path) -> Path:
        return Path(home) / PREFERENCES_FILE

    @classmethod
    def load(cls, home: Path) -> tuple[Preferences, str | None]:
        """The saved preferences, or the defaults and a message saying what was wrong."""
        path = cls.path(home)
        if not path.is_file():
            return cls(), None
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8"))), None
        except (OSError, ValueError) as exc:
            return cls(), f"{path}: ignored ({_first_error(exc)}); using defaults"

    def save(self, home: Path) -> None:
        Path(home).mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path(home), self.model_dump(mode="json"))

    def training_defaults(self) -> dict[str, Any]:
        """The preferences that are training defaults, for `Workspace.resolve(preferences=)`."""
        return {"threads": self.torch_threads, "device": self.device}

    def apply_to(self, specs: list[ParameterSpec]) -> list[ParameterSpec]:
        """Training specs whose threads/device defaults come from these preferences."""
        return with_preferences(specs, self.training_defaults())


def _first_error(exc: Exception) -> str:
    """One line about what is wrong (the first of pydantic's errors)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        return f"{where}: {first['msg']}"
    return str(exc)


def home_is_explicit() -> bool:
    """Whether TRAINWRIGHT_HOME chooses the data home (then the dialog's choice waits)."""
    return locate_home(None)[1] in EXPLICIT_ORIGINS


def startup_home(cli_home: str | None) -> tuple[Path, bool]:
    """The data home to open (engine.home.locate_home) and whether it was given explicitly
    (--home or the env var)."""
    home, origin = locate_home(cli_home)
    return home, origin in EXPLICIT_ORIGINS


def save_preferences(preferences: Preferences, home: Path, *, explicit: bool) -> list[str]:
    """Save to the current home; record a new data home where the next start looks for it.

    Returns notes to show the user.
    """
    notes: list[str] = []
    preferences.save(home)
    new_home = preferences.data_home
    if not new_home:
        return notes
    target = Path(new_home).expanduser().resolve()
    if target == Path(home).resolve():
        return notes
    if explicit:
        notes.append(
            f"The data home is set by --home or {HOME_ENV} for this session; "
            f"{target} is used when Trainwright starts without them."
        )
    else:
        default = default_home()
        if default != Path(home).resolve():
            pointer, _ = Preferences.load(default)
            pointer.model_copy(update={"data_home": str(target)}).save(default)
    preferences.save(target)
    notes.append(f"Trainwright will use {target} from the next start.")
    return notes


def detected_devices() -> list[str] | None:
    """Available devices if torch is already loaded (no import here), else None."""
    if "torch" not in sys.modules:
        return None
    return available_devices()


class PreferencesDialog(QDialog):
    """Data home, torch threads and device; `result_preferences()` once accepted."""

    def __init__(
        self, preferences: Preferences, current_home: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._initial = preferences
        self._current_home = Path(current_home)
        self._result: Preferences = preferences
        form = QFormLayout()
        form.addRow("Data home", self._build_home_row(preferences, current_home))
        form.addRow("Torch threads", self._build_threads(preferences))
        form.addRow("Device", self._build_devices())
        self.error_label = error_label("preferencesError", "Preferences error")
        note = QLabel(f"Preferences are saved in {Preferences.path(current_home)}.")
        note.setWordWrap(True)
        note.setStyleSheet(NOTE_STYLE)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(note)
        layout.addWidget(buttons)
        if self.device_combo.property("detected") is not True:
            QTimer.singleShot(0, self, self._detect_devices)

    def _build_home_row(self, preferences: Preferences, current_home: Path) -> QHBoxLayout:
        """The data home, typed or chosen with Browse…"""
        self.home_edit = QLineEdit(preferences.data_home or str(current_home))
        described(
            self.home_edit,
            "Data home",
            "Folder for variants, logs and preferences. Takes effect at the next start.",
            object_name="dataHomeEdit",
        )
        browse = button(
            "dataHomeBrowseButton",
            "Browse…",
            "Choose the data home folder",
            accessible="Choose data home",
        )
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.home_edit, 1)
        row.addWidget(browse)
        return row

    def _build_threads(self, preferences: Preferences) -> QSpinBox:
        self.threads_spin = described(
            QSpinBox(),
            "Torch threads",
            "CPU threads torch may use for new runs; automatic leaves one core for the window.",
            object_name="torchThreadsSpin",
        )
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText("automatic")
        self.threads_spin.setValue(preferences.torch_threads)
        return self.threads_spin

    def _build_devices(self) -> QComboBox:
        self.device_combo = described(
            QComboBox(),
            "Device",
            "Where new runs train: cpu, or cuda/mps where available",
            object_name="deviceCombo",
        )
        self._fill_devices(detected_devices())
        return self.device_combo

    def _fill_devices(self, devices: list[str] | None) -> None:
        """The devices (just cpu until they are known); a saved one no longer there stays,
        marked as not available."""
        current = self._initial.device
        self.device_combo.clear()
        shown = list(devices) if devices is not None else ["cpu"]
        if current not in shown:
            shown.append(current)
        for name in shown:
            available = devices is None or name in devices
            label = name if available else f"{name} (not available)"
            self.device_combo.addItem(label, name)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(current)))
        self.device_combo.setProperty("detected", devices is not None)

    @Slot()
    def _detect_devices(self) -> None:
        """Detect devices lazily (imports torch if the warm-up has not yet)."""
        try:
            devices = available_devices()
        except Exception as exc:
            self.device_combo.setToolTip(f"Could not detect devices: {exc}")
            return
        selected = self.device_combo.currentData()
        self._initial = self._initial.model_copy(update={"device": selected})
        self._fill_devices(devices)

    @Slot()
    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Data home", self.home_edit.text())
        if chosen:
            self.home_edit.setText(chosen)

    def preferences(self) -> Preferences:
        """The dialog's values, validated; raises ValueError with a readable message."""
        text = self.home_edit.text().strip()
        data_home: str | None = None
        if text:
            path = Path(text).expanduser()
            if path.exists() and not path.is_dir():
                raise ValueError(f"data home: {path} is a file, not a folder")
            resolved = path.resolve()
            if resolved != self._current_home.resolve() or self._initial.data_home:
                data_home = str(resolved)
        try:
            return Preferences(
                data_home=data_home,
                torch_threads=self.threads_spin.value(),
                device=self.device_combo.currentData() or "cpu",
                theme=self._initial.theme,  # chosen in View → Theme
            )
        except ValidationError as exc:
            raise ValueError(_first_error(exc)) from None

    def accept(self) -> None:
        """Close only with valid preferences; otherwise say what is wrong and stay open."""
        try:
            self._result = self.preferences()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self.error_label.setVisible(True)
            return
        super().accept()

    def result_preferences(self) -> Preferences:
        return self._result
