"""A parameter form whose sweepable fields can each switch from one value to a list.

Built from the family's ParameterSpecs like param_form.ParamForm (same widgets by type), with
one addition per sweepable parameter: a small checkable "list" button beside the field. On,
the field becomes a line edit for a list such as "10, 50, 100", checked by the engine's sweep
validator (`engine.sweeps.validate_sweep_list`), whose message shows in red right under the
field (e.g. "Epoch out of range (1-500): 0"). Off, the field takes one value, checked by the
ParameterSpec as in the Training tab.

    form = SweepForm("training")
    form.set_specs(spec.training_parameters(), spec)   # spec: the FamilySpec (the validator's)
    form.set_list("epochs", "1, 2, 3")
    form.grid_texts()  -> {"epochs": "1, 2, 3"}        form.grid() -> {"epochs": [1, 2, 3]}
    form.fixed_values() -> the single values that differ from their defaults
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.param_form import (
    ERROR_STYLE,
    form_layout,
    format_value,
    make_value_widget,
    read_value,
    write_value,
)
from engine.errors import ParameterError
from engine.families.spec import FamilySpec
from engine.params import ParameterSpec
from engine.sweeps import SweepParameter, sweep_schema, validate_sweep_list

INT_MIN, INT_MAX = -(2**31) + 1, 2**31 - 1
SPIN_FLOAT_SPAN = 1000.0
LIST_TEXT = "≡"
LIST_TIP = (
    "Sweep this parameter: switch the field to a list of values, e.g. 10, 50, 100 "
    "(commas or spaces separate them); every combination of the lists is trained"
)
SINGLE_TIP = "Back to a single value for this parameter"


class _Field:
    def __init__(
        self,
        spec: ParameterSpec,
        sweep: SweepParameter | None,
        single: QWidget,
        list_edit: QLineEdit | None,
        toggle: QToolButton | None,
        stack: QStackedWidget,
        error: QLabel,
        row: QWidget,
    ) -> None:
        self.spec = spec
        self.sweep = sweep
        self.single = single
        self.list_edit = list_edit
        self.toggle = toggle
        self.stack = stack
        self.error = error
        self.row = row
        self.local_error: str | None = None
        self.external_error: str | None = None  # reported by the engine for the single value
        self.values: list[Any] | None = None  # the parsed list, when swept and valid

    @property
    def message(self) -> str | None:
        if self.local_error:
            return self.local_error
        return None if self.swept else self.external_error

    @property
    def swept(self) -> bool:
        return self.toggle is not None and self.toggle.isChecked()


class SweepForm(QWidget):
    """Fields for `specs`; sweepable ones have a list toggle. `changed` on every edit."""

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
        self.setObjectName(f"{kind}SweepForm")
        self._basic = basic
        self._advanced_title = advanced_title
        self._family: FamilySpec | None = None
        self._fields: dict[str, _Field] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._content: QWidget | None = None
        self.advanced_toggle: QToolButton | None = None
        self.advanced_box: QWidget | None = None

    # ---- building ----------------------------------------------------------------------------
    def set_specs(
        self,
        specs: list[ParameterSpec],
        family: FamilySpec,
        values: dict[str, Any] | None = None,
    ) -> None:
        """Rebuild the form for `specs` of `family` (whose sweep schema says what can be
        swept), filled with `values` or the defaults; every field starts as a single value."""
        if self._content is not None:
            self._layout.removeWidget(self._content)
            self._content.hide()
            self._content.deleteLater()
        self._family = family
        self._fields = {}
        values = values or {}
        schema = sweep_schema(family)
        content = QWidget(self)
        outer = QVBoxLayout(content)
        outer.setContentsMargins(0, 0, 0, 0)
        main_form = form_layout()
        outer.addLayout(main_form)
        basic = self._basic
        advanced_form = None
        self.advanced_toggle = self.advanced_box = None
        if basic is not None and any(s.name not in basic for s in specs):
            toggle = QToolButton(content)
            toggle.setObjectName(f"{self.kind}SweepAdvancedToggle")
            toggle.setText(self._advanced_title)
            toggle.setCheckable(True)
            toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            toggle.setArrowType(Qt.ArrowType.RightArrow)
            toggle.setAutoRaise(True)
            toggle.setToolTip("Show or hide the less common parameters")
            toggle.setAccessibleName(self._advanced_title)
            toggle.toggled.connect(self._set_advanced_visible)
            box = QWidget(content)
            advanced_form = form_layout(box)
            box.setVisible(False)
            outer.addWidget(toggle)
            outer.addWidget(box)
            self.advanced_toggle, self.advanced_box = toggle, box
        for spec in specs:
            if advanced_form is not None and basic is not None and spec.name not in basic:
                form, parent = advanced_form, self.advanced_box
            else:
                form, parent = main_form, content
            sweep = schema.get(spec.name) if spec.type != "int_list" else None
            self._add_field(form, parent, spec, sweep, values.get(spec.name, spec.default))
        self._layout.addWidget(content)
        content.show()
        self._content = content
        self.changed.emit()

    def _add_field(
        self,
        form: QFormLayout,
        parent: QWidget | None,
        spec: ParameterSpec,
        sweep: SweepParameter | None,
        value: Any,
    ) -> None:
        name, label_text = spec.name, spec.display_label
        tip = spec.help + ("\n" if spec.help else "") + f"Allowed: {spec.allowed()}"
        single = make_value_widget(spec, parent)
        single.setObjectName(f"{self.kind}_param_{name}")
        single.setToolTip(tip)
        single.setAccessibleName(label_text)
        single.setAccessibleDescription(tip)
        stack = QStackedWidget(parent)
        stack.addWidget(single)
        list_edit = toggle = None
        if sweep is not None:
            list_edit = QLineEdit(parent)
            list_edit.setObjectName(f"{self.kind}_list_{name}")
            list_edit.setPlaceholderText("e.g. " + _example(spec))
            list_tip = f"Values to sweep, separated by commas or spaces. Allowed: {spec.allowed()}"
            list_edit.setToolTip(list_tip)
            list_edit.setAccessibleName(f"{label_text} values")
            list_edit.setAccessibleDescription(list_tip)
            stack.addWidget(list_edit)
            toggle = QToolButton(parent)
            toggle.setObjectName(f"{self.kind}_sweep_{name}")
            toggle.setText(LIST_TEXT)
            toggle.setCheckable(True)
            toggle.setAutoRaise(True)
            toggle.setToolTip(LIST_TIP)
            toggle.setAccessibleName(f"Sweep {label_text}")
            toggle.setAccessibleDescription(LIST_TIP)
        error = QLabel(parent)
        error.setObjectName(f"{self.kind}_error_{name}")
        error.setStyleSheet(ERROR_STYLE)
        error.setWordWrap(True)
        error.setAccessibleName(f"{label_text} error")
        error.setVisible(False)
        row = QWidget(parent)
        box = QVBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(stack, 1)
        if toggle is not None:
            line.addWidget(toggle)
        box.addLayout(line)
        box.addWidget(error)
        label = QLabel(label_text, parent)
        label.setToolTip(tip)
        label.setBuddy(single)
        form.addRow(label, row)
        field = _Field(spec, sweep, single, list_edit, toggle, stack, error, row)
        self._fields[name] = field
        write_value(single, spec, value)  # the list starts empty: switching fills in this value
        self._connect(field)
        self._check(field)

    def _connect(self, field: _Field) -> None:
        widget = field.single
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(self._on_edit)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(self._on_edit)
        elif isinstance(widget, QSpinBox | QDoubleSpinBox):
            widget.valueChanged.connect(self._on_edit)
        elif isinstance(widget, QLineEdit):
            widget.textChanged.connect(self._on_edit)
        if field.list_edit is not None:
            field.list_edit.textChanged.connect(self._on_edit)
        if field.toggle is not None:
            field.toggle.toggled.connect(self._on_toggled)

    # ---- edits -------------------------------------------------------------------------------
    @Slot()
    def _on_edit(self, *_: object) -> None:
        sender = self.sender()
        for field in self._fields.values():
            if sender is field.single or sender is field.list_edit:
                if sender is field.single:
                    field.external_error = None
                self._check(field)
                break
        else:
            for field in self._fields.values():
                self._check(field)
        self.changed.emit()

    @Slot(bool)
    def _on_toggled(self, swept: bool) -> None:
        sender = self.sender()
        for field in self._fields.values():
            if sender is field.toggle:
                self._apply_mode(field, swept)
                break
        self.changed.emit()

    def _apply_mode(self, field: _Field, swept: bool) -> None:
        assert field.list_edit is not None and field.toggle is not None
        if swept and not field.list_edit.text().strip():
            with contextlib.suppress(ParameterError):
                field.list_edit.setText(
                    format_value(field.spec, read_value(field.single, field.spec))
                )
        field.stack.setCurrentWidget(field.list_edit if swept else field.single)
        field.toggle.setToolTip(SINGLE_TIP if swept else LIST_TIP)
        field.toggle.setAccessibleDescription(SINGLE_TIP if swept else LIST_TIP)
        self._check(field)
        if swept and field.list_edit.isVisible():
            field.list_edit.setFocus()
            field.list_edit.selectAll()

    @Slot(bool)
    def _set_advanced_visible(self, visible: bool) -> None:
        if self.advanced_box is not None and self.advanced_toggle is not None:
            self.advanced_box.setVisible(visible)
            arrow = Qt.ArrowType.DownArrow if visible else Qt.ArrowType.RightArrow
            self.advanced_toggle.setArrowType(arrow)
            if self.advanced_toggle.isChecked() != visible:
                self.advanced_toggle.setChecked(visible)

    def _check(self, field: _Field) -> None:
        local: str | None = None
        field.values = None
        if field.swept:
            assert field.list_edit is not None and self._family is not None
            answer = validate_sweep_list(field.spec.name, field.list_edit.text(), self._family)
            if answer.ok:
                field.values = list(answer.values or [])
            else:
                local = answer.error or "invalid list"
        else:
            try:
                read_value(field.single, field.spec)
            except ParameterError as exc:
                local = exc.message
        field.local_error = local
        self._show(field)

    def _show(self, field: _Field) -> None:
        message = field.message
        field.error.setText(message or "")
        field.error.setVisible(bool(message))
        editor = field.list_edit if field.swept else field.single
        assert editor is not None
        base = field.spec.help + ("\n" if field.spec.help else "")
        if field.swept:
            base = "Values to sweep, separated by commas or spaces. "
        base += f"Allowed: {field.spec.allowed()}"
        editor.setToolTip(f"{base}\n\nError: {message}" if message else base)
        if message and self.advanced_box is not None and not field.row.isVisibleTo(self):
            self._set_advanced_visible(True)

    # ---- public API --------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._fields)

    def has_field(self, name: str) -> bool:
        return name in self._fields

    def sweepable(self, name: str) -> bool:
        return self._fields[name].toggle is not None

    def field_widget(self, name: str) -> QWidget:
        """The single-value widget."""
        return self._fields[name].single

    def list_edit(self, name: str) -> QLineEdit:
        edit = self._fields[name].list_edit
        if edit is None:
            raise KeyError(f"{name} cannot be swept")
        return edit

    def toggle(self, name: str) -> QToolButton:
        button = self._fields[name].toggle
        if button is None:
            raise KeyError(f"{name} cannot be swept")
        return button

    def error_label(self, name: str) -> QLabel:
        return self._fields[name].error

    def is_swept(self, name: str) -> bool:
        return self._fields[name].swept

    def set_swept(self, name: str, swept: bool) -> None:
        """Switch a field between one value and a list (emits `changed`)."""
        self.toggle(name).setChecked(swept)

    def set_list(self, name: str, text: str) -> None:
        """Switch the field to a list and type `text` into it (emits `changed`)."""
        field = self._fields[name]
        edit = self.list_edit(name)
        blocked = edit.blockSignals(True)
        edit.setText(text)
        edit.blockSignals(blocked)
        if not field.swept:
            self.set_swept(name, True)
        else:
            self._check(field)
            self.changed.emit()

    def set_value(self, name: str, value: Any) -> None:
        """Set a field's single value (a Python value or the text a user would type)."""
        field = self._fields[name]
        write_value(field.single, field.spec, value)
        self._check(field)
        self.changed.emit()

    def value(self, name: str) -> Any:
        """The single value (ParameterError if invalid), whether or not the field is swept."""
        field = self._fields[name]
        return read_value(field.single, field.spec)

    def swept_names(self) -> list[str]:
        return [name for name, field in self._fields.items() if field.swept]

    def grid_texts(self) -> dict[str, str]:
        """The text of every swept field's list (valid or not)."""
        return {
            name: field.list_edit.text()
            for name, field in self._fields.items()
            if field.swept and field.list_edit is not None
        }

    def grid(self) -> dict[str, list[Any]]:
        """The parsed lists of the swept fields whose list is valid."""
        return {
            name: list(field.values)
            for name, field in self._fields.items()
            if field.swept and field.values is not None
        }

    def values(self) -> dict[str, Any]:
        """The single values of the fields that are not swept and parse."""
        out = {}
        for name, field in self._fields.items():
            if field.swept:
                continue
            with contextlib.suppress(ParameterError):
                out[name] = read_value(field.single, field.spec)
        return out

    def fixed_values(self) -> dict[str, Any]:
        """The single values that differ from their defaults (the engine fills in the rest,
        with the defaults that depend on other values, such as a dataset's, per combination;
        keep the defaults current with `update_defaults`)."""
        return {
            name: value
            for name, value in self.values().items()
            if value != self._fields[name].spec.default
        }

    def errors(self) -> dict[str, str]:
        return {name: f.message for name, f in self._fields.items() if f.message}

    def set_external_error(self, name: str, message: str) -> None:
        """Show an error the engine reported for a field's single value (cleared on edit)."""
        field = self._fields[name]
        field.external_error = message
        self._show(field)
        self.changed.emit()

    def clear_external_errors(self) -> None:
        cleared = False
        for field in self._fields.values():
            if field.external_error:
                field.external_error = None
                self._show(field)
                cleared = True
        if cleared:
            self.changed.emit()

    def specs(self) -> list[ParameterSpec]:
        return [field.spec for field in self._fields.values()]

    def update_defaults(self, specs: list[ParameterSpec]) -> list[str]:
        """New defaults (from the engine, e.g. a dataset's): fields still at their old
        default follow them. Returns the names whose value changed; emits `changed` if any."""
        updated = []
        for spec in specs:
            field = self._fields.get(spec.name)
            if field is None:
                continue
            old = field.spec.default
            field.spec = spec
            if old == spec.default:
                continue
            try:
                at_default = read_value(field.single, spec) == old
            except ParameterError:
                at_default = False
            if at_default:
                write_value(field.single, spec, spec.default)
                self._check(field)
                updated.append(spec.name)
        if updated:
            self.changed.emit()
        return updated

    def is_valid(self) -> bool:
        return not self.errors()


def _example(spec: ParameterSpec) -> str:
    if spec.type == "bool":
        return "true, false"
    if spec.choices:
        return ", ".join(str(c) for c in spec.choices[:2])
    if spec.type == "int":
        default = spec.default if isinstance(spec.default, int) else 1
        return ", ".join(
            str(v) for v in dict.fromkeys([default, default * 2 or 1, default * 4 or 2])
        )
    if spec.type == "float":
        return "1e-3, 3e-3"
    return "a, b"
