"""The editor widget for one engine ParameterSpec, and reading and writing its value.

Widgets by type: int → QSpinBox (its range from the spec), float with a small inclusive range
→ QDoubleSpinBox, other floats (lr, thresholds, exclusive bounds) → QLineEdit parsed with
`spec.parse`, choice → QComboBox, bool → QCheckBox, str and int_list → QLineEdit, duration →
QLineEdit typed as text (`90s`, `20m`, `2h`; the spec parses it and shows a value back in
that form). A spec
that asks for a richer editor gets it: `widget == "dataset"` → DatasetPicker (its value is
the dataset id, parsed like typed text), listing only the spec's `dataset_kinds` if it has
them. A spin box whose minimum is 0 shows the spec's `zero_label` for 0 ("full batch",
"native size") instead of a bare 0. A spin box keeps a typed value outside its spec's range
(-1 in Epochs), so the form shows the range message; its arrows stay in the range. A combo's
choices that cannot be taken here (`limit_choices`, from `choice_rules`) stay listed, greyed
out, each with its reason as its tooltip.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from desktop_app.kit.dataset_picker import DatasetPicker
from desktop_app.kit.formatting import format_value
from engine.errors import ParameterError
from engine.params import ParameterSpec

INT_MIN, INT_MAX = -(2**31) + 1, 2**31 - 1
DURATION_PLACEHOLDER = "no limit (e.g. 90s, 20m, 2h)"
SPIN_FLOAT_SPAN = 1000.0  # floats over wider ranges get a line edit


class _SpecRange:
    """What a spin box for a spec does beyond Qt's: it takes a typed value outside the spec's
    range (-1 in Epochs) as it is, so the form says "out of range" instead of the box quietly
    clamping it, while its arrows, wheel and Page keys stay in the range; and it shows the
    spec's `zero_label` for 0 ("full batch") when 0 is the range's lowest value.

    `spec_range(low, high, zero_label)` sets it up: the editor's own range is wider (a digit
    more than the widest bound, either sign), so what can be typed is not cut short."""

    _low: float = 0
    _high: float = 0
    _zero_label = ""

    def spec_range(self, low: float, high: float, zero_label: str | None) -> None:
        self._low, self._high = low, high
        self._zero_label = zero_label if zero_label and low == 0 else ""
        digits = len(str(int(max(abs(low), abs(high), 1))))
        bound = min(INT_MAX, 10 ** (digits + 1) - 1)
        self.setRange(-bound, bound)  # type: ignore[attr-defined]

    def specialValueText(self) -> str:
        return self._zero_label

    def stepBy(self, steps: int) -> None:
        self.interpretText()  # type: ignore[attr-defined]
        value = self.value() + steps * self.singleStep()  # type: ignore[attr-defined]
        self.setValue(min(max(value, self._low), self._high))  # type: ignore[attr-defined]
        self.selectAll()  # type: ignore[attr-defined]

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.isReadOnly():  # type: ignore[attr-defined]
            return flags
        value = self.value()  # type: ignore[attr-defined]
        if value < self._high:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if value > self._low:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def _label_for(self, value: float) -> str | None:
        return self._zero_label if self._zero_label and value == 0 else None

    def _is_label(self, text: str) -> bool:
        return bool(self._zero_label) and text.strip() == self._zero_label

    def _validate_label(self, text: str, pos: int) -> Any:
        """The label (or the start of it, being typed) is valid; None: not the label."""
        typed = text.strip()
        if not self._zero_label or not typed or typed[0].isdigit() or typed[0] in "-+.,":
            return None
        if typed == self._zero_label:
            return (QValidator.State.Acceptable, text, pos)
        if self._zero_label.startswith(typed):
            return (QValidator.State.Intermediate, text, pos)
        return None


class SpecSpinBox(_SpecRange, QSpinBox):
    """An integer spin box for a spec (see `_SpecRange`)."""

    def textFromValue(self, value: int) -> str:
        label = self._label_for(value)
        return label if label is not None else super().textFromValue(value)

    def valueFromText(self, text: str) -> int:
        return 0 if self._is_label(text) else super().valueFromText(text)

    def validate(self, text: str, pos: int) -> Any:
        answer = self._validate_label(text, pos)
        return answer if answer is not None else super().validate(text, pos)


class FloatSpinBox(_SpecRange, QDoubleSpinBox):
    """A float spin box for a spec (see `_SpecRange`) that shows 0.0001 as "0.0001", not
    "0.000100" (and never 1e-04)."""

    def textFromValue(self, value: float) -> str:
        label = self._label_for(value)
        if label is not None:
            return label
        text = self.locale().toString(value, "f", self.decimals())
        point = self.locale().decimalPoint()
        if point in text:
            text = text.rstrip("0").rstrip(point)
        return text

    def valueFromText(self, text: str) -> float:
        return 0.0 if self._is_label(text) else super().valueFromText(text)

    def validate(self, text: str, pos: int) -> Any:
        answer = self._validate_label(text, pos)
        return answer if answer is not None else super().validate(text, pos)


def form_layout(parent: QWidget | None = None) -> QFormLayout:
    """A form whose fields take the width they are given, labels aligned right, rows close."""
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setVerticalSpacing(4)
    if parent is not None:
        form.setContentsMargins(0, 0, 0, 0)
    return form


def _fits_spin(spec: ParameterSpec) -> bool:
    """Whether the spec's range fits a QSpinBox (a C int)."""
    low = INT_MIN if spec.min is None else spec.min
    high = INT_MAX if spec.max is None else spec.max
    return low >= INT_MIN and high <= INT_MAX


def _small_float_range(spec: ParameterSpec) -> bool:
    """Whether a spin box can show every value of the spec (and its default) exactly."""
    if spec.min is None or spec.max is None or spec.min_exclusive or spec.max_exclusive:
        return False
    if spec.max - spec.min > SPIN_FLOAT_SPAN:
        return False
    # A default the spin box cannot show exactly (e.g. 1e-7) needs a line edit.
    default = spec.default if isinstance(spec.default, int | float) else 0.0
    return round(float(default), 6) == float(default)


def _float_step(spec: ParameterSpec) -> float:
    """A spin box step of about a hundredth of the range."""
    span = float((spec.max or 0) - (spec.min or 0))
    return 0.01 if span <= 1 else 0.1 if span <= 10 else 1.0


def make_value_widget(spec: ParameterSpec, parent: QWidget | None = None) -> QWidget:
    """The editor for one parameter: check box, combo, spin box, dataset picker, or a
    validated line edit."""
    if spec.widget == "dataset":
        return DatasetPicker(parent, kinds=getattr(spec, "dataset_kinds", None))
    if spec.type == "bool":
        return QCheckBox(parent)
    if spec.type == "choice" and spec.choices is not None:
        combo = QComboBox(parent)
        for choice in spec.choices:
            combo.addItem(str(choice), choice)
        return combo
    if spec.type == "int" and not spec.optional and _fits_spin(spec):
        spin = SpecSpinBox(parent)
        low = INT_MIN if spec.min is None else int(spec.min) + (1 if spec.min_exclusive else 0)
        high = INT_MAX if spec.max is None else int(spec.max) - (1 if spec.max_exclusive else 0)
        spin.spec_range(low, high, getattr(spec, "zero_label", None))
        spin.setAccelerated(True)
        spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        return spin
    if spec.type == "float" and not spec.optional and _small_float_range(spec):
        spin = FloatSpinBox(parent)
        spin.setDecimals(6)
        low, high = float(spec.min or 0.0), float(spec.max or 0.0)
        spin.spec_range(low, high, getattr(spec, "zero_label", None))
        spin.setSingleStep(_float_step(spec))
        spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        return spin
    edit = QLineEdit(parent)
    if spec.optional:
        edit.setPlaceholderText("none")
    elif spec.type == "int_list":
        edit.setPlaceholderText("e.g. 100, 200")
    elif spec.type == "duration":
        edit.setPlaceholderText(DURATION_PLACEHOLDER)
    return edit


def limit_choices(widget: QWidget, unavailable: dict[Any, str]) -> None:
    """Disable a combo's items for the choices in `unavailable` (the others enabled), each
    with its reason as its tooltip; the keyboard and wheel skip them, a value set by the
    form may still be one of them (the form shows the reason as the field's error)."""
    model = widget.model() if isinstance(widget, QComboBox) else None
    if not isinstance(widget, QComboBox) or not isinstance(model, QStandardItemModel):
        return
    for index in range(widget.count()):
        item = model.item(index)
        reason = unavailable.get(widget.itemData(index))
        item.setEnabled(reason is None)
        item.setToolTip(reason or "")


def unavailable_text(unavailable: dict[Any, str]) -> str:
    """What a field's tooltip says about the choices it cannot take ("" if none)."""
    return "\n".join(f"Not available: {choice} — {why}" for choice, why in unavailable.items())


def read_value(widget: QWidget, spec: ParameterSpec) -> Any:
    """The widget's value, validated by its spec; raises ParameterError."""
    if isinstance(widget, DatasetPicker):
        return spec.parse(widget.value())
    if isinstance(widget, QCheckBox):
        return spec.validate_value(widget.isChecked())
    if isinstance(widget, QComboBox):
        return spec.validate_value(widget.currentData())
    if isinstance(widget, QSpinBox):
        return spec.validate_value(widget.value())
    if isinstance(widget, QDoubleSpinBox):
        return spec.validate_value(round(widget.value(), widget.decimals()))
    assert isinstance(widget, QLineEdit)
    return spec.parse(widget.text())


def write_value(widget: QWidget, spec: ParameterSpec, value: Any) -> None:
    """Show `value` (a Python value or typed text) without emitting change signals."""
    blocked = widget.blockSignals(True)
    try:
        if isinstance(value, str) and not isinstance(widget, QLineEdit | QComboBox | DatasetPicker):
            with contextlib.suppress(ParameterError):
                value = spec.parse(value)
        if isinstance(widget, DatasetPicker):
            widget.set_value(value)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            index = widget.findData(value)
            if index < 0:
                index = widget.findText(str(value))
            widget.setCurrentIndex(max(index, 0))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        else:
            assert isinstance(widget, QLineEdit)
            widget.setText(value if isinstance(value, str) else show_value(spec, value))
    finally:
        widget.blockSignals(blocked)


def show_value(spec: ParameterSpec, value: Any) -> str:
    """A value as its editor shows it: a duration as typed (1200.0 → "20m"; 0 → empty, no
    limit), anything else by format_value."""
    if spec.type == "duration" and isinstance(value, int | float) and not isinstance(value, bool):
        return spec.show(value) if value else ""
    return format_value(value)


def changed_signal(widget: QWidget) -> Any:
    """The signal a value widget emits when the user edits it."""
    if isinstance(widget, DatasetPicker):
        return widget.valueChanged
    if isinstance(widget, QCheckBox):
        return widget.toggled
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        return widget.valueChanged
    assert isinstance(widget, QLineEdit)
    return widget.textChanged


def describe_spec(spec: ParameterSpec) -> str:
    """A parameter's tooltip: its help, when it applies, then what values it allows."""
    lines = [spec.help] if spec.help else []
    condition = spec.condition_text() if getattr(spec, "applies_when", None) else ""
    if condition:
        lines.append(f"Applies only when {condition}.")
    return "\n".join([*lines, f"Allowed: {spec.allowed()}"])
