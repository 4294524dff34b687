"""A form generated from a list of engine ParameterSpecs, with each error shown by its field.

Widgets by type: int → QSpinBox (its range from the spec), float with a small inclusive range
→ QDoubleSpinBox, other floats (lr, thresholds, exclusive bounds) → QLineEdit parsed with
`spec.parse`, choice → QComboBox, bool → QCheckBox, str and int_list → QLineEdit. A value that
does not parse, or an error the engine reports for a field (`set_external_error`), appears in
red under the field; `is_valid()` is False while any is shown.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.errors import ParameterError
from engine.params import ParameterSpec

INT_MIN, INT_MAX = -(2**31) + 1, 2**31 - 1
SPIN_FLOAT_SPAN = 1000.0  # floats over wider ranges get a line edit
ERROR_STYLE = "color: #b3261e;"


def format_value(spec: ParameterSpec, value: Any) -> str:
    """A value as the user would type it (what `spec.parse` reads back)."""
    if value is None:
        return ""
    if spec.type == "int_list":
        return ", ".join(str(v) for v in value)
    if spec.type == "bool":
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


class FloatSpinBox(QDoubleSpinBox):
    """A QDoubleSpinBox that shows 0.0001 as "0.0001", not "0.000100" (and never 1e-04)."""

    def textFromValue(self, value: float) -> str:
        text = self.locale().toString(value, "f", self.decimals())
        point = self.locale().decimalPoint()
        if point in text:
            text = text.rstrip("0").rstrip(point)
        return text


class _Field:
    """One parameter's widget and its error label."""

    def __init__(self, spec: ParameterSpec, widget: QWidget, error: QLabel, row: QWidget) -> None:
        self.spec = spec
        self.widget = widget
        self.error = error
        self.row = row
        self.local_error: str | None = None
        self.external_error: str | None = None

    @property
    def message(self) -> str | None:
        return self.local_error or self.external_error


class ParamForm(QWidget):
    """Fields for `specs`; `values()` gives the parsed values, `errors()` what is wrong."""

    changed = Signal()

    def __init__(
        self,
        kind: str,
        parent: QWidget | None = None,
        *,
        basic: set[str] | None = None,
        advanced_title: str = "More parameters",
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setObjectName(f"{kind}Form")
        self._basic = basic
        self._advanced_title = advanced_title
        self._fields: dict[str, _Field] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._content: QWidget | None = None
        self.advanced_toggle: QToolButton | None = None
        self.advanced_box: QWidget | None = None

    # ---- building --------------------------------------------------------------------------
    def set_specs(self, specs: list[ParameterSpec], values: dict[str, Any] | None = None) -> None:
        """Rebuild the form for `specs`, filled with `values` or the defaults."""
        if self._content is not None:
            self._layout.removeWidget(self._content)
            self._content.hide()  # deleteLater waits for the event loop: hide it now
            self._content.deleteLater()
        self._fields = {}
        values = values or {}
        content = QWidget(self)
        outer = QVBoxLayout(content)
        outer.setContentsMargins(0, 0, 0, 0)
        main_form = form_layout()
        outer.addLayout(main_form)
        basic = self._basic
        has_advanced = basic is not None and any(s.name not in basic for s in specs)
        advanced_form = None
        if has_advanced:
            self.advanced_toggle = QToolButton(content)
            self.advanced_toggle.setObjectName(f"{self.kind}AdvancedToggle")
            self.advanced_toggle.setText(self._advanced_title)
            self.advanced_toggle.setCheckable(True)
            self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
            self.advanced_toggle.setAutoRaise(True)
            self.advanced_toggle.setToolTip("Show or hide the less common parameters")
            self.advanced_toggle.setAccessibleName(self._advanced_title)
            self.advanced_toggle.toggled.connect(self._set_advanced_visible)
            self.advanced_box = QWidget(content)
            advanced_form = form_layout(self.advanced_box)
            self.advanced_box.setVisible(False)
            outer.addWidget(self.advanced_toggle)
            outer.addWidget(self.advanced_box)
        else:
            self.advanced_toggle = self.advanced_box = None
        for spec in specs:
            if advanced_form is not None and basic is not None and spec.name not in basic:
                form, parent = advanced_form, self.advanced_box
            else:
                form, parent = main_form, content
            self._add_field(form, parent, spec, values.get(spec.name, spec.default))
        self._layout.addWidget(content)
        content.show()
        self._content = content
        self.changed.emit()

    def _add_field(
        self, form: QFormLayout, parent: QWidget | None, spec: ParameterSpec, value: Any
    ) -> None:
        widget = make_value_widget(spec, parent)
        widget.setObjectName(f"{self.kind}_param_{spec.name}")
        tip = spec.help + ("\n" if spec.help else "") + f"Allowed: {spec.allowed()}"
        widget.setToolTip(tip)
        widget.setAccessibleName(spec.display_label)
        widget.setAccessibleDescription(tip)
        error = QLabel(parent)
        error.setObjectName(f"{self.kind}_error_{spec.name}")
        error.setStyleSheet(ERROR_STYLE)
        error.setWordWrap(True)
        error.setAccessibleName(f"{spec.display_label} error")
        error.setVisible(False)
        row = QWidget(parent)
        box = QVBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        box.addWidget(widget)
        box.addWidget(error)
        label = QLabel(spec.display_label, parent)
        label.setToolTip(tip)
        label.setBuddy(widget)
        form.addRow(label, row)
        field = _Field(spec, widget, error, row)
        self._fields[spec.name] = field
        self._write(field, value)
        self._connect(field)
        self._check(field)

    def _connect(self, field: _Field) -> None:
        widget = field.widget
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(self._on_edit)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(self._on_edit)
        elif isinstance(widget, QSpinBox | QDoubleSpinBox):
            widget.valueChanged.connect(self._on_edit)
        elif isinstance(widget, QLineEdit):
            widget.textChanged.connect(self._on_edit)

    @Slot()
    def _on_edit(self, *args: object) -> None:
        for field in self._fields.values():
            if field.widget is self.sender():
                field.external_error = None
                self._check(field)
                break
        else:  # sender unknown (called directly): re-check everything
            for field in self._fields.values():
                self._check(field)
        self.changed.emit()

    @Slot(bool)
    def _set_advanced_visible(self, visible: bool) -> None:
        if self.advanced_box is not None and self.advanced_toggle is not None:
            self.advanced_box.setVisible(visible)
            arrow = Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow
            self.advanced_toggle.setArrowType(arrow)
            if self.advanced_toggle.isChecked() != visible:
                self.advanced_toggle.setChecked(visible)

    # ---- values ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._fields)

    def has_field(self, name: str) -> bool:
        return name in self._fields

    def spec(self, name: str) -> ParameterSpec:
        return self._fields[name].spec

    def specs(self) -> list[ParameterSpec]:
        return [field.spec for field in self._fields.values()]

    def field_widget(self, name: str) -> QWidget:
        return self._fields[name].widget

    def error_label(self, name: str) -> QLabel:
        return self._fields[name].error

    def text(self, name: str) -> str:
        return self._read_text(self._fields[name])

    def value(self, name: str) -> Any:
        """The parsed value; raises ParameterError if the field is invalid."""
        field = self._fields[name]
        return self._parse(field)

    def values(self) -> dict[str, Any]:
        """Parsed values of every field that parses (invalid ones are left out)."""
        result = {}
        for name, field in self._fields.items():
            try:
                result[name] = self._parse(field)
            except ParameterError:
                continue
        return result

    def set_value(self, name: str, value: Any) -> None:
        """Set a field (a Python value or the text a user would type)."""
        field = self._fields[name]
        field.external_error = None
        self._write(field, value)
        self._check(field)
        self.changed.emit()

    def errors(self) -> dict[str, str]:
        return {name: f.message for name, f in self._fields.items() if f.message}

    def is_valid(self) -> bool:
        return not self.errors()

    def set_external_error(self, name: str, message: str) -> None:
        """Show an error the engine reported for this field (e.g. from resolve_config)."""
        field = self._fields[name]
        field.external_error = message
        self._show(field)
        if self.advanced_box is not None and not field.row.isVisibleTo(self):
            self._set_advanced_visible(True)

    def clear_external_errors(self) -> None:
        for field in self._fields.values():
            if field.external_error:
                field.external_error = None
                self._show(field)

    def update_defaults(self, specs: list[ParameterSpec]) -> list[str]:
        """New defaults (from the engine): fields still at their old default follow them.

        Returns the names whose value changed. Emits `changed` only if something did.
        """
        updated = []
        for spec in specs:
            field = self._fields.get(spec.name)
            if field is None or field.spec.default == spec.default:
                if field is not None:
                    field.spec = spec
                continue
            try:
                at_default = self._parse(field) == field.spec.default
            except ParameterError:
                at_default = False
            field.spec = spec
            if at_default:
                self._write(field, spec.default)
                self._check(field)
                updated.append(spec.name)
        if updated:
            self.changed.emit()
        return updated

    # ---- internals -------------------------------------------------------------------------
    def _read_text(self, field: _Field) -> str:
        widget = field.widget
        if isinstance(widget, QCheckBox):
            return "true" if widget.isChecked() else "false"
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            return widget.cleanText()
        assert isinstance(widget, QLineEdit)
        return widget.text()

    def _parse(self, field: _Field) -> Any:
        return read_value(field.widget, field.spec)

    def _write(self, field: _Field, value: Any) -> None:
        write_value(field.widget, field.spec, value)

    def _check(self, field: _Field) -> None:
        try:
            self._parse(field)
        except ParameterError as exc:
            field.local_error = exc.message
        else:
            field.local_error = None
        self._show(field)

    def _show(self, field: _Field) -> None:
        message = field.message
        field.error.setText(message or "")
        field.error.setVisible(bool(message))
        tip = (
            field.spec.help + ("\n" if field.spec.help else "") + f"Allowed: {field.spec.allowed()}"
        )
        field.widget.setToolTip(f"{tip}\n\nError: {message}" if message else tip)


def form_layout(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setVerticalSpacing(4)
    if parent is not None:
        form.setContentsMargins(0, 0, 0, 0)
    return form


def _fits_spin(spec: ParameterSpec) -> bool:
    low = INT_MIN if spec.min is None else spec.min
    high = INT_MAX if spec.max is None else spec.max
    return low >= INT_MIN and high <= INT_MAX


def _small_float_range(spec: ParameterSpec) -> bool:
    if spec.min is None or spec.max is None or spec.min_exclusive or spec.max_exclusive:
        return False
    if spec.max - spec.min > SPIN_FLOAT_SPAN:
        return False
    # A default the spin box cannot show exactly (e.g. 1e-7) needs a line edit.
    default = spec.default if isinstance(spec.default, int | float) else 0.0
    return round(float(default), 6) == float(default)


def _float_step(spec: ParameterSpec) -> float:
    span = float((spec.max or 0) - (spec.min or 0))
    return 0.01 if span <= 1 else 0.1 if span <= 10 else 1.0


def make_value_widget(spec: ParameterSpec, parent: QWidget | None = None) -> QWidget:
    """The editor for one parameter: check box, combo, spin box, or a validated line edit."""
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
        return spin
    if spec.type == "float" and not spec.optional and _small_float_range(spec):
        spin = FloatSpinBox(parent)
        spin.setDecimals(6)
        spin.setRange(float(spec.min or 0.0), float(spec.max or 0.0))
        spin.setSingleStep(_float_step(spec))
        spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        return spin
    edit = QLineEdit(parent)
    if spec.optional:
        edit.setPlaceholderText("none")
    elif spec.type == "int_list":
        edit.setPlaceholderText("e.g. 100, 200")
    return edit


def read_value(widget: QWidget, spec: ParameterSpec) -> Any:
    """The widget's value, validated by its spec; raises ParameterError."""
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
        if isinstance(value, str) and not isinstance(widget, QLineEdit | QComboBox):
            with contextlib.suppress(ParameterError):
                value = spec.parse(value)
        if isinstance(widget, QCheckBox):
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
            widget.setText(value if isinstance(value, str) else format_value(spec, value))
    finally:
        widget.blockSignals(blocked)
