"""The editor widget for one engine ParameterSpec, and reading and writing its value.

Widgets by type: int → QSpinBox (its range from the spec), float with a small inclusive range
→ QDoubleSpinBox, other floats (lr, thresholds, exclusive bounds) → QLineEdit parsed with
`spec.parse`, choice → QComboBox, bool → QCheckBox, str and int_list → QLineEdit, duration →
QLineEdit typed as text (`90s`, `20m`, `2h`; the spec parses it and shows a value back in
that form). A spec
that asks for a richer editor gets it: `widget == "dataset"` → DatasetPicker (its value is
the dataset id, parsed like typed text), listing only the spec's `dataset_kinds` if it has
them. A spin box whose minimum is 0 shows the spec's `zero_label` for 0 ("full batch",
"native size") instead of a bare 0.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import Qt
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


class FloatSpinBox(QDoubleSpinBox):
    """A QDoubleSpinBox that shows 0.0001 as "0.0001", not "0.000100" (and never 1e-04)."""

    def textFromValue(self, value: float) -> str:
        text = self.locale().toString(value, "f", self.decimals())
        point = self.locale().decimalPoint()
        if point in text:
            text = text.rstrip("0").rstrip(point)
        return text


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
        spin = QSpinBox(parent)
        low = INT_MIN if spec.min is None else int(spec.min) + (1 if spec.min_exclusive else 0)
        high = INT_MAX if spec.max is None else int(spec.max) - (1 if spec.max_exclusive else 0)
        spin.setRange(low, high)
        spin.setAccelerated(True)
        spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        _label_zero(spin, spec)
        return spin
    if spec.type == "float" and not spec.optional and _small_float_range(spec):
        spin = FloatSpinBox(parent)
        spin.setDecimals(6)
        spin.setRange(float(spec.min or 0.0), float(spec.max or 0.0))
        spin.setSingleStep(_float_step(spec))
        spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        _label_zero(spin, spec)
        return spin
    edit = QLineEdit(parent)
    if spec.optional:
        edit.setPlaceholderText("none")
    elif spec.type == "int_list":
        edit.setPlaceholderText("e.g. 100, 200")
    elif spec.type == "duration":
        edit.setPlaceholderText(DURATION_PLACEHOLDER)
    return edit


def _label_zero(spin: QSpinBox | QDoubleSpinBox, spec: ParameterSpec) -> None:
    """Show what 0 means in place of 0. A spin box shows its special value text at its
    minimum, so only a range that starts at 0 gets it."""
    label = getattr(spec, "zero_label", None)
    if label and spin.minimum() == 0:
        spin.setSpecialValueText(label)


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
