"""The Training tab's "Parameters: 272,474" line under the model's form.

The count comes from the engine (`engine.families.param_count`: the model built on the meta
device, no memory) in a kit Task, never on the GUI thread: a family's `create_model` may read
its dataset. Edits are debounced (a spin box held down asks once), an answer to a request
since replaced is dropped, and parameters that do not resolve show "Parameters: —" with the
reason in the tooltip.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QLabel, QWidget

from desktop_app.kit.tasks import Task, TaskRunner
from desktop_app.kit.widgets import described

DEBOUNCE_MS = 150
PREFIX = "Parameters: "
UNKNOWN = PREFIX + "—"
COUNTING = PREFIX + "…"
TIP = (
    "How many weights the model has with these parameters (all of them; with freeze = "
    "features, how many of them train)"
)


class ParameterCountTask(Task):
    """Counts the model's parameters for one (family, domain, freeze): result ParameterCount."""

    kind = "parameter-count"

    def __init__(
        self, request_id: int, registry: Any, family: str, domain: dict[str, Any], freeze: str
    ) -> None:
        super().__init__(request_id)
        self.registry = registry
        self.family = family
        self.domain = dict(domain)
        self.freeze = freeze

    def compute(self) -> Any:
        from engine.families.param_count import parameter_counts

        return parameter_counts(self.registry.family(self.family), self.domain, self.freeze)


class ParameterCountLabel(QLabel):
    """Shows the parameter count of the config it is given (`show_config`), counted in a task
    of `runner` (whose owner shuts it down with the window) after a short debounce."""

    def __init__(self, runner: TaskRunner, registry: Any, parent: QWidget | None = None) -> None:
        super().__init__(UNKNOWN, parent)
        described(self, "Parameter count", TIP, object_name="parameterCountLabel")
        self.setAccessibleDescription(TIP)
        self.runner = runner
        self.registry = registry
        self.count: Any = None  # the ParameterCount shown (None: none)
        self._request = 0
        self._wanted: tuple[str, str, str] | None = None  # (family, domain JSON, freeze)
        self._shown: tuple[str, str, str] | None = None  # what the text counts
        self._pending: tuple[str, dict[str, Any], str] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._count)

    def show_config(self, config: Any, reason: str = "", *, ready: bool = True) -> None:
        """Count the parameters of `config` (a RunConfig) soon; None: "—" and `reason` in the
        tooltip. Not `ready` (torch still loading): "…" until asked again."""
        if config is None:
            self.show_invalid(reason or "the parameters are invalid")
            return
        domain = dict(config.domain)
        freeze = str(getattr(config.training, "freeze", "none") or "none")
        key = (config.family, json.dumps(domain, sort_keys=True, default=str), freeze)
        if not ready:
            self._forget()
            self._set(COUNTING, "Counted once the engine has loaded")
            return
        if key == self._wanted:
            return  # counted, or being counted
        self._wanted = key
        self._pending = (config.family, domain, freeze)
        if self._shown != key:
            self._set(COUNTING, "Counting the model's parameters…")
        self._timer.start()

    def show_invalid(self, reason: str) -> None:
        """No count: "—", with why in the tooltip; a count on its way is dropped."""
        self._forget()
        self._set(UNKNOWN, f"No count: {reason}")

    def _forget(self) -> None:
        self._timer.stop()
        self._request += 1
        self._wanted = self._shown = self._pending = None
        self.count = None

    def _set(self, text: str, tip: str) -> None:
        self.setText(text)
        self.setToolTip(f"{tip}\n\n{TIP}" if tip else TIP)
        self.setAccessibleDescription(tip or TIP)

    @Slot()
    def _count(self) -> None:
        if self._pending is None:
            return
        family, domain, freeze = self._pending
        self._pending = None
        self._request += 1
        task = ParameterCountTask(self._request, self.registry, family, domain, freeze)
        self.runner.start(task, self._on_counted, self._on_failed)

    @Slot(int, object)
    def _on_counted(self, request_id: int, count: Any) -> None:
        if request_id != self._request:
            return
        self.count = count
        self._shown = self._wanted
        detail = (
            f"{count.total:,} parameters, {count.trainable:,} of them trained"
            if count.trainable != count.total
            else f"{count.total:,} parameters, all trained"
        )
        self._set(PREFIX + count.text(), detail)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request:
            return
        self.count = None
        self._shown = self._wanted
        self._set(UNKNOWN, f"No count: {message}")
