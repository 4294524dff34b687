"""Preferences: `<home>/preferences.json` (validated by a pydantic model) and their dialog.

The LLM endpoint (`llm`, engine.sweeps.endpoint) lives in the same file: LLM searches
ask it, and the dialog tests it in a task (never on the GUI thread). Empty, nothing is sent
anywhere.

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
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.style import ERROR_STYLE, NOTE_STYLE, OK_STYLE
from desktop_app.kit.tasks import Task, TaskRunner
from desktop_app.kit.widgets import button, described, error_label, text_label
from engine.atomic import atomic_write_json
from engine.devices import DEVICES, available_devices
from engine.home import HOME_ENV, PREFERENCES_FILE, default_home, locate_home
from engine.params import ParameterSpec
from engine.resolution import with_preferences
from engine.sweeps.endpoint import LlmSettings

# Origins of a data home the user chose for this session (--home, TRAINWRIGHT_HOME).
EXPLICIT_ORIGINS = ("option", "environment")
THEMES = ("system", "light", "dark")  # View → Theme; desktop_app.kit.theme.apply_theme
Theme = Literal["system", "light", "dark"]
LLM_OFF_NOTE = "Empty: LLM searches are off and nothing is sent anywhere."
TEST_TIMEOUT_S = 10.0  # the longest Test connection waits (a reachability check's limit)


class Preferences(BaseModel):
    """What the user chose in the Preferences dialog, saved in the data home."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data_home: str | None = Field(None, description="Data home for the next start; None: default")
    torch_threads: int = Field(0, ge=0, le=256, description="Torch CPU threads; 0 = automatic")
    device: str = Field("cpu", description="Where new runs train: one of engine.devices.DEVICES")
    theme: Theme = Field("system", description="The window's look: system, light or dark")
    llm: LlmSettings = Field(
        default_factory=LlmSettings, description="The endpoint LLM searches ask; empty: none"
    )

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
        message = str(first["msg"]).removeprefix("Value error, ")  # a validator's own words
        return f"{where}: {message}"
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
    """Data home, torch threads, device and the LLM endpoint; `result_preferences()` once
    accepted."""

    def __init__(
        self, preferences: Preferences, current_home: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._initial = preferences
        self._current_home = Path(current_home)
        self._result: Preferences = preferences
        self.runner = TaskRunner(self)  # Test connection
        self._test_request = 0
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
        layout.addWidget(self._build_llm(preferences.llm))
        layout.addWidget(self.error_label)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)
        if self.device_combo.property("detected") is not True:
            QTimer.singleShot(0, self, self._detect_devices)
        app = QApplication.instance()
        if app is not None:  # quitting with the dialog open: end a test still waiting
            app.aboutToQuit.connect(self._stop_test)

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

    def _build_llm(self, settings: LlmSettings) -> QGroupBox:
        """The OpenAI-compatible endpoint LLM searches ask, and a button that tries it."""
        self.llm_url_edit = described(
            QLineEdit(settings.base_url),
            "LLM base URL",
            "The server's OpenAI-compatible base URL, up to /v1 (Ollama, llama.cpp's server, "
            "vLLM, LM Studio)",
            object_name="llmUrlEdit",
        )
        self.llm_url_edit.setPlaceholderText("e.g. http://127.0.0.1:11434/v1")
        self.llm_model_edit = described(
            QLineEdit(settings.model),
            "LLM model",
            "The model name the server knows (Test connection lists them)",
            object_name="llmModelEdit",
        )
        self.llm_model_edit.setPlaceholderText("e.g. qwen2.5:7b")
        self.llm_key_edit = described(
            QLineEdit(settings.api_key_env),
            "API key variable",
            "The NAME of the environment variable holding the API key (none for a local "
            "server); the key itself is never stored",
            object_name="llmKeyEnvEdit",
        )
        self.llm_key_edit.setPlaceholderText("e.g. OPENAI_API_KEY (optional)")
        self.llm_timeout_spin = described(
            QDoubleSpinBox(),
            "LLM timeout",
            "Seconds to wait for one answer before trying again",
            object_name="llmTimeoutSpin",
        )
        self.llm_timeout_spin.setRange(0.1, 3600.0)
        self.llm_timeout_spin.setDecimals(1)
        self.llm_timeout_spin.setSuffix(" s")
        self.llm_timeout_spin.setValue(settings.timeout_s)
        self.llm_test_button = button(
            "llmTestButton",
            "Test connection",
            "Ask the server for its models (once, in the background)",
        )
        self.llm_test_button.clicked.connect(self.test_connection)
        self.llm_test_label = text_label(
            "llmTestLabel",
            "Connection test",
            "What the last connection test found",
            wrap=True,
            select=True,
        )
        test_row = QHBoxLayout()
        test_row.addWidget(self.llm_test_button)
        test_row.addWidget(self.llm_test_label, 1)
        off_note = QLabel(LLM_OFF_NOTE)
        off_note.setWordWrap(True)
        off_note.setStyleSheet(NOTE_STYLE)
        form = QFormLayout()
        form.addRow("Base &URL", self.llm_url_edit)
        form.addRow("&Model", self.llm_model_edit)
        form.addRow("API &key variable", self.llm_key_edit)
        form.addRow("T&imeout", self.llm_timeout_spin)
        form.addRow(test_row)
        form.addRow(off_note)
        box = QGroupBox("LLM endpoint")
        box.setObjectName("llmEndpointGroup")
        box.setLayout(form)
        return box

    def llm_settings(self) -> LlmSettings:
        """The endpoint as typed (retries and backoff as they were), validated; ValueError
        with a readable message. A URL without a model, or a model without a URL, is not an
        endpoint a search could ask."""
        values = {
            "base_url": self.llm_url_edit.text(),
            "model": self.llm_model_edit.text(),
            "api_key_env": self.llm_key_edit.text(),
            "timeout_s": self.llm_timeout_spin.value(),
        }
        current = self._initial.llm.model_dump()
        try:
            settings = LlmSettings.model_validate({**current, **values})
        except ValidationError as exc:
            raise ValueError(f"LLM endpoint: {_first_error(exc)}") from None
        if settings.base_url and not settings.model:
            raise ValueError(
                "LLM endpoint: give the model to ask too (Test connection lists the server's "
                "models), or clear the base URL"
            )
        if settings.model and not settings.base_url:
            raise ValueError("LLM endpoint: give the server's base URL too, or clear the model")
        return settings

    @Slot()
    def test_connection(self) -> bool:
        """List the server's models in a task (one try: a test should answer quickly);
        False (and the reason shown) when the fields make no endpoint to try."""
        try:
            settings = self._endpoint_to_test()
        except ValueError as exc:
            self._show_test(str(exc), ok=False)
            return False
        self.runner.cancel("llm-test")
        self._test_request += 1
        task = ListModelsTask(self._test_request, settings)
        self.llm_test_button.setEnabled(False)
        self._show_test(f"Asking {settings.base_url}/models…", ok=None)
        self.runner.start(
            task, self._on_models, self._on_models_failed, on_ended=self._on_test_ended
        )
        return True

    def _endpoint_to_test(self) -> LlmSettings:
        """The typed endpoint, the model optional (listing them is how one finds it)."""
        url = self.llm_url_edit.text().strip()
        if not url:
            raise ValueError("Give the server's base URL to test it.")
        try:
            settings = LlmSettings(
                base_url=url,
                model=self.llm_model_edit.text().strip(),
                api_key_env=self.llm_key_edit.text(),
                timeout_s=min(self.llm_timeout_spin.value(), TEST_TIMEOUT_S),
                retries=0,
            )
        except ValidationError as exc:
            raise ValueError(f"LLM endpoint: {_first_error(exc)}") from None
        return settings

    @Slot(int, object)
    def _on_models(self, request_id: int, models: list[str]) -> None:
        if request_id != self._test_request:
            return
        if not models:
            self._show_test("Connected, but the server lists no models.", ok=True)
            return
        noun = "model" if len(models) == 1 else "models"
        self._show_test(f"Connected: {len(models)} {noun}: {', '.join(models)}", ok=True)

    @Slot(int, str)
    def _on_models_failed(self, request_id: int, message: str) -> None:
        if request_id == self._test_request:
            self._show_test(message, ok=False)

    def _on_test_ended(self) -> None:
        if not self.runner.busy("llm-test"):
            self.llm_test_button.setEnabled(True)

    def _show_test(self, text: str, *, ok: bool | None) -> None:
        """The test's outcome: green when the server answered, red when it did not."""
        self.llm_test_label.setText(text)
        self.llm_test_label.setStyleSheet("" if ok is None else OK_STYLE if ok else ERROR_STYLE)

    def done(self, result: int) -> None:
        """Closing: stop a connection test still waiting (its thread must end first)."""
        self._stop_test()
        super().done(result)

    @Slot()
    def _stop_test(self) -> None:
        """Stop a connection test still waiting: its client gives up as soon as told."""
        self.runner.shutdown(5000)

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
                llm=self.llm_settings(),
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


class ListModelsTask(Task):
    """The models an endpoint lists (engine.sweeps.llm.client): a connection test that a
    closing dialog can stop at once (its cancel event stops the client's wait)."""

    kind = "llm-test"

    def __init__(self, request_id: int, settings: LlmSettings) -> None:
        super().__init__(request_id)
        self.settings = settings

    def compute(self) -> list[str]:
        from engine.sweeps.llm.client import ChatClient

        return ChatClient(self.settings, cancel=self.cancel_event).list_models()
