"""Preferences: `<home>/preferences.json` (validated by a pydantic model) and their dialog.

The data home itself is chosen with `--home`, else TRAINWRIGHT_HOME, else the default user
data directory; a data home set in the dialog is recorded in the default home's
preferences.json and used from the next start on (unless --home or TRAINWRIGHT_HOME says
otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
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
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.atomic import atomic_write_json
from engine.errors import ParameterError
from engine.home import HOME_ENV, resolve_home
from engine.params import ParameterSpec

PREFERENCES_FILE = "preferences.json"
DEVICES = ("cpu", "cuda", "mps")


class Preferences(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    data_home: str | None = Field(None, description="Data home for the next start; None: default")
    torch_threads: int = Field(0, ge=0, le=256, description="Torch CPU threads; 0 = automatic")
    device: Literal["cpu", "cuda", "mps"] = "cpu"

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

    def apply_to(self, specs: list[ParameterSpec]) -> list[ParameterSpec]:
        """Training specs whose threads/device defaults come from these preferences."""
        overrides: dict[str, Any] = {"threads": self.torch_threads, "device": self.device}
        result = []
        for spec in specs:
            if spec.name in overrides:
                with contextlib.suppress(ParameterError):
                    default = spec.validate_value(overrides[spec.name])
                    spec = spec.model_copy(update={"default": default})
            result.append(spec)
        return result


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        return f"{where}: {first['msg']}"
    return str(exc)


def home_is_explicit() -> bool:
    return bool(os.environ.get(HOME_ENV))


def startup_home(cli_home: str | None) -> tuple[Path, bool]:
    """The data home to open and whether it was given explicitly (--home or the env var)."""
    if cli_home:
        return resolve_home(cli_home), True
    if home_is_explicit():
        return resolve_home(None), True
    default = resolve_home(None)
    preferences, _ = Preferences.load(default)
    if preferences.data_home:
        return Path(preferences.data_home).expanduser().resolve(), False
    return default, False


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
        default = resolve_home(None)
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
    from desktop_app.workers import available_devices

    return available_devices()


class PreferencesDialog(QDialog):
    def __init__(
        self, preferences: Preferences, current_home: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._initial = preferences
        self._current_home = Path(current_home)

        self.home_edit = QLineEdit(preferences.data_home or str(current_home))
        self.home_edit.setObjectName("dataHomeEdit")
        self.home_edit.setAccessibleName("Data home")
        self.home_edit.setToolTip(
            "Folder for variants, logs and preferences. Takes effect at the next start."
        )
        browse = QPushButton("Browse…")
        browse.setObjectName("dataHomeBrowseButton")
        browse.setToolTip("Choose the data home folder")
        browse.setAccessibleName("Choose data home")
        browse.clicked.connect(self._browse)
        home_row = QHBoxLayout()
        home_row.addWidget(self.home_edit, 1)
        home_row.addWidget(browse)

        self.threads_spin = QSpinBox()
        self.threads_spin.setObjectName("torchThreadsSpin")
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText("automatic")
        self.threads_spin.setValue(preferences.torch_threads)
        self.threads_spin.setAccessibleName("Torch threads")
        self.threads_spin.setToolTip(
            "CPU threads torch may use for new runs; automatic leaves one core for the window."
        )

        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setAccessibleName("Device")
        self.device_combo.setToolTip("Where new runs train: cpu, or cuda/mps where available")
        self._fill_devices(detected_devices())

        self.error_label = QLabel()
        self.error_label.setObjectName("preferencesError")
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)

        form = QFormLayout()
        form.addRow("Data home", home_row)
        form.addRow("Torch threads", self.threads_spin)
        form.addRow("Device", self.device_combo)
        note = QLabel(f"Preferences are saved in {Preferences.path(current_home)}.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")

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
        self._result: Preferences = preferences
        if self.device_combo.property("detected") is not True:
            QTimer.singleShot(0, self, self._detect_devices)

    def _fill_devices(self, devices: list[str] | None) -> None:
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
        from desktop_app.workers import available_devices

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
            )
        except ValidationError as exc:
            raise ValueError(_first_error(exc)) from None

    def accept(self) -> None:
        try:
            self._result = self.preferences()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self.error_label.setVisible(True)
            return
        super().accept()

    def result_preferences(self) -> Preferences:
        return self._result
