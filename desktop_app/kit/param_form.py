"""A form generated from a list of engine ParameterSpecs, with each error shown by its field.

The widget for each parameter comes from `param_widgets` (by type). A value that does not
parse, or an error the engine reports for a field (`set_external_error`), appears in red
under the field, on one line each field keeps for it (a message appearing does not move the
fields below; a long one ends in "…", whole in its tooltip); `is_valid()` is False while any
is shown.

List mode (`lists=True`, the Sweeps tab) adds one thing per sweepable parameter: a small
checkable "list" button beside the field. On, the field becomes a line edit for a list such
as "10, 50, 100", checked by the engine's sweep validator (`engine.sweeps.validate_sweep_list`),
whose message shows in red right under the field (e.g. "Epoch out of range (1-500): 0").
Off, the field takes one value, checked by the ParameterSpec as everywhere else.

A choice that cannot be taken here (`choice_rules`: the tensorflow backend where the extra is
not installed, or for a family it cannot build) is listed greyed out, its reason in its
tooltip and the field's; a value or a list holding it anyway shows the reason as its error.

A parameter with `applies_when` (a resnet's depth) has its row hidden while it does not apply
(architecture simple_cnn), re-evaluated on every edit of the fields that decide it; in list
mode it shows while it applies in some combination (architecture swept over both). A hidden
field's value is not part of `values()`, `grid()` or `errors()`: the engine gets no value for
a parameter that does not apply, and takes its default.

    form = ParamForm("training", lists=True)
    form.set_specs(spec.training_parameters(), family=spec)   # spec: the FamilySpec
    form.set_list("epochs", "1, 2, 3")
    form.grid_texts()  -> {"epochs": "1, 2, 3"}        form.grid() -> {"epochs": [1, 2, 3]}
    form.fixed_values() -> the single values that differ from their defaults
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.kit.choice_rules import unavailable_choices
from desktop_app.kit.param_widgets import (
    changed_signal,
    describe_spec,
    form_layout,
    limit_choices,
    make_value_widget,
    read_value,
    show_value,
    unavailable_text,
    write_value,
)
from desktop_app.kit.style import ERROR_STYLE
from desktop_app.kit.widgets import ElidedLabel
from engine.errors import ParameterError
from engine.params import ParameterSpec, inapplicable
from engine.sweeps import (
    SweepParameter,
    is_range_text,
    sweep_schema,
    validate_sweep_list,
    validate_sweep_range,
)

LIST_TEXT = "≡"
LIST_TIP = (
    "Sweep this parameter: switch the field to a list of values, e.g. 10, 50, 100 "
    "(commas or spaces separate them); every combination of the lists is trained"
)
SINGLE_TIP = "Back to a single value for this parameter"
LIST_EDIT_TIP = "Values to sweep, separated by commas or spaces. "


class _ErrorLine(ElidedLabel):
    """A field's error: one line, kept while hidden, so a message appearing or going never
    moves the fields below it (under the pointer, about to be clicked). A message too long
    for the width ends in "…"; its tooltip, its accessible description and `text()` hold all
    of it (as does the field's tooltip)."""

    def __init__(self, object_name: str, accessible: str, parent: QWidget | None) -> None:
        super().__init__("", parent)
        self.setObjectName(object_name)
        self.setAccessibleName(accessible)
        self.setStyleSheet(ERROR_STYLE)
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.setMinimumHeight(self.fontMetrics().lineSpacing())
        self.setVisible(False)

    def text(self) -> str:  # type: ignore[override]
        return self.full_text()


class _Field:
    """One parameter: its value widget, its error label, and in list mode its list editor."""

    def __init__(
        self,
        spec: ParameterSpec,
        widget: QWidget,
        error: QLabel,
        row: QWidget,
        *,
        advanced: bool,
        sweep: SweepParameter | None = None,
        unavailable: dict[Any, str] | None = None,
    ) -> None:
        self.spec = spec
        self.widget = widget  # the single value's editor
        self.error = error
        self.row = row
        self.advanced = advanced  # under "More parameters"
        self.sweep = sweep  # how the engine sweeps it (None: it cannot be swept)
        self.unavailable = unavailable or {}  # choices it cannot take here: {choice: why}
        self.list_edit: QLineEdit | None = None
        self.toggle: QToolButton | None = None
        self.stack: QStackedWidget | None = None
        self.local_error: str | None = None
        self.external_error: str | None = None  # reported by the engine for the single value
        self.values: list[Any] | None = None  # the parsed list, when swept and valid
        self.edited = False  # the user typed this value: defaults never overwrite it
        self.hint = ""  # where the default comes from ("20 — default of dataset two_moons")
        self.form: QFormLayout | None = None  # the layout holding its row (to hide it)
        self.applies = True  # its `applies_when` holds: the row shows, the value counts

    @property
    def swept(self) -> bool:
        return self.toggle is not None and self.toggle.isChecked()

    @property
    def editor(self) -> QWidget:
        """The widget the user types into now."""
        return self.list_edit if self.swept and self.list_edit is not None else self.widget

    @property
    def message(self) -> str | None:
        if not self.applies:  # hidden, and not sent: nothing to fix there
            return None
        if self.local_error:
            return self.local_error
        return None if self.swept else self.external_error


class ParamForm(QWidget):
    """Fields for `specs`; `values()` gives the parsed values, `errors()` what is wrong;
    `changed` on every edit."""

    changed = Signal()

    def __init__(
        self,
        kind: str,
        parent: QWidget | None = None,
        *,
        basic: frozenset[str] | set[str] | None = None,
        advanced_title: str = "More parameters",
        lists: bool = False,
        withheld: dict[str, dict[Any, str]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.kind = kind
        self.lists = lists
        # Choices this form's use cannot take, besides choice_rules' (the install, the
        # family): {parameter: {choice: why}}; a distilled student trains with torch only.
        self.withheld = withheld or {}
        self.ranges = False  # list mode for a search: a field may hold a range lo..hi[:log]
        self._prefix = f"{kind}Sweep" if lists else kind  # object names, as tests know them
        self.setObjectName(f"{self._prefix}Form")
        self._basic = basic
        self._advanced_title = advanced_title
        self._family: Any = None
        self._fields: dict[str, _Field] = {}
        self._writing = False  # the form itself is writing a value: not a user's edit
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._content: QWidget | None = None
        self.advanced_toggle: QToolButton | None = None
        self.advanced_box: QWidget | None = None

    # ---- building --------------------------------------------------------------------------
    def set_specs(
        self,
        specs: list[ParameterSpec],
        values: dict[str, Any] | None = None,
        *,
        family: Any = None,
    ) -> None:
        """Rebuild the form for `specs`, filled with `values` (values the user typed before,
        kept as typed) or the defaults. In list mode, `family` (the FamilySpec) says what can
        be swept and checks the lists; every field starts as a single value."""
        self._drop_content()
        self._family = family
        self._fields = {}
        values = values or {}
        schema = sweep_schema(family) if self.lists and family is not None else {}
        content = QWidget(self)
        outer = QVBoxLayout(content)
        outer.setContentsMargins(0, 0, 0, 0)
        main_form = form_layout()
        outer.addLayout(main_form)
        advanced_form = self._build_advanced(content, outer, specs)
        for spec in specs:
            advanced = advanced_form is not None and spec.name not in (self._basic or ())
            form, parent = (advanced_form, self.advanced_box) if advanced else (main_form, content)
            assert form is not None
            sweep = schema.get(spec.name) if spec.type != "int_list" else None
            value = values.get(spec.name, spec.default)
            self._add_field(form, parent, spec, value, advanced=advanced, sweep=sweep)
            self._fields[spec.name].edited = spec.name in values
        self._layout.addWidget(content)
        self._content = content
        self._update_applies()
        content.show()
        self.changed.emit()

    def _drop_content(self) -> None:
        if self._content is not None:
            self._layout.removeWidget(self._content)
            self._content.hide()  # deleteLater waits for the event loop: hide it now
            self._content.deleteLater()
            self._content = None

    def _build_advanced(
        self, content: QWidget, outer: QVBoxLayout, specs: list[ParameterSpec]
    ) -> QFormLayout | None:
        """The "More parameters" toggle and its hidden form, if any spec is not basic."""
        self.advanced_toggle = self.advanced_box = None
        basic = self._basic
        if basic is None or all(s.name in basic for s in specs):
            return None
        toggle = QToolButton(content)
        toggle.setObjectName(f"{self._prefix}AdvancedToggle")
        toggle.setText(self._advanced_title)
        toggle.setCheckable(True)
        toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toggle.setArrowType(Qt.ArrowType.RightArrow)
        toggle.setAutoRaise(True)
        toggle.setToolTip("Show or hide the less common parameters")
        toggle.setAccessibleName(self._advanced_title)
        toggle.toggled.connect(self._set_advanced_visible)
        box = QWidget(content)
        form = form_layout(box)
        box.setVisible(False)
        outer.addWidget(toggle)
        outer.addWidget(box)
        self.advanced_toggle, self.advanced_box = toggle, box
        return form

    def _add_field(
        self,
        form: QFormLayout,
        parent: QWidget | None,
        spec: ParameterSpec,
        value: Any,
        *,
        advanced: bool,
        sweep: SweepParameter | None,
    ) -> None:
        """One parameter's row: its editor (and list editor), its error under it, its label."""
        unavailable = {
            **self.withheld.get(spec.name, {}),
            **unavailable_choices(spec.name, getattr(self._family, "name", None)),
        }
        tip = _tip(describe_spec(spec), unavailable)
        widget = make_value_widget(spec, parent)
        limit_choices(widget, unavailable)
        widget.setObjectName(f"{self.kind}_param_{spec.name}")
        widget.setToolTip(tip)
        widget.setAccessibleName(spec.display_label)
        widget.setAccessibleDescription(tip)
        error = _ErrorLine(f"{self.kind}_error_{spec.name}", f"{spec.display_label} error", parent)
        field = _Field(
            spec,
            widget,
            error,
            QWidget(parent),
            advanced=advanced,
            sweep=sweep,
            unavailable=unavailable,
        )
        if sweep is not None:
            self._add_list_editor(field, parent)
        self._lay_out(field, form, parent, tip)
        self._fields[spec.name] = field
        write_value(widget, spec, value)  # the list starts empty: switching fills in this value
        self._connect(field)
        self._check(field)

    def _add_list_editor(self, field: _Field, parent: QWidget | None) -> None:
        """List mode: the list's line edit, stacked with the single value, and its toggle."""
        spec, label = field.spec, field.spec.display_label
        edit = QLineEdit(parent)
        edit.setObjectName(f"{self.kind}_list_{spec.name}")
        edit.setPlaceholderText("e.g. " + _example(spec, field.unavailable))
        list_tip = _tip(f"{LIST_EDIT_TIP}Allowed: {spec.allowed()}", field.unavailable)
        edit.setToolTip(list_tip)
        edit.setAccessibleName(f"{label} values")
        edit.setAccessibleDescription(list_tip)
        stack = QStackedWidget(parent)
        stack.addWidget(field.widget)
        stack.addWidget(edit)
        toggle = QToolButton(parent)
        toggle.setObjectName(f"{self.kind}_sweep_{spec.name}")
        toggle.setText(LIST_TEXT)
        toggle.setCheckable(True)
        toggle.setAutoRaise(True)
        toggle.setToolTip(LIST_TIP)
        toggle.setAccessibleName(f"Sweep {label}")
        toggle.setAccessibleDescription(LIST_TIP)
        field.list_edit, field.stack, field.toggle = edit, stack, toggle

    def _lay_out(self, field: _Field, form: QFormLayout, parent: QWidget | None, tip: str) -> None:
        """The field's row: its editor (and list toggle) over its error, after its label."""
        box = QVBoxLayout(field.row)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(1)
        if field.toggle is None:
            box.addWidget(field.widget)
        else:
            line = QHBoxLayout()
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(field.stack, 1)
            line.addWidget(field.toggle)
            box.addLayout(line)
        box.addWidget(field.error)
        label = QLabel(field.spec.display_label, parent)
        label.setToolTip(tip)
        label.setBuddy(field.widget)
        form.addRow(label, field.row)
        field.form = form

    def _connect(self, field: _Field) -> None:
        changed_signal(field.widget).connect(self._on_edit)
        if field.list_edit is not None:
            field.list_edit.textChanged.connect(self._on_edit)
        if field.toggle is not None:
            field.toggle.toggled.connect(self._on_toggled)

    # ---- edits -----------------------------------------------------------------------------
    @Slot()
    def _on_edit(self, *args: object) -> None:
        """Re-check the field edited, and tell the owner."""
        sender = self.sender()
        for field in self._fields.values():
            if sender is field.widget or sender is field.list_edit:
                if sender is field.widget:  # a new value: the engine's verdict no longer holds
                    field.external_error = None
                    field.edited = field.edited or not self._writing
                self._check(field)
                break
        else:  # sender unknown (called directly): re-check everything
            for field in self._fields.values():
                self._check(field)
        self._update_applies()
        self.changed.emit()

    @Slot(bool)
    def _on_toggled(self, swept: bool) -> None:
        sender = self.sender()
        for field in self._fields.values():
            if sender is field.toggle:
                self._apply_mode(field, swept)
                break
        self._update_applies()
        self.changed.emit()

    def _apply_mode(self, field: _Field, swept: bool) -> None:
        """Show the list (starting from the single value) or the single value again."""
        assert field.list_edit is not None and field.toggle is not None
        assert field.stack is not None
        if swept and not field.list_edit.text().strip():
            with contextlib.suppress(ParameterError):
                field.list_edit.setText(
                    show_value(field.spec, read_value(field.widget, field.spec))
                )
        field.stack.setCurrentWidget(field.list_edit if swept else field.widget)
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
        """Validate what the field holds: a list by the sweep validator, else its value."""
        local: str | None = None
        field.values = None
        if field.swept:
            assert field.list_edit is not None
            text = field.list_edit.text()
            if self.ranges and is_range_text(text):  # a search draws from it: no list
                answer = validate_sweep_range(field.spec.name, text, self._family)
                local = None if answer.ok else answer.error or "invalid range"
            else:
                answer = validate_sweep_list(field.spec.name, text, self._family)
                if not answer.ok:
                    local = answer.error or "invalid list"
                else:
                    values = list(answer.values or [])
                    local = _unavailable_in(values, field.unavailable)
                    field.values = values if local is None else None
        else:
            try:
                local = _unavailable_in([read_value(field.widget, field.spec)], field.unavailable)
            except ParameterError as exc:
                local = exc.message
        field.local_error = local
        self._show(field)

    def _show(self, field: _Field) -> None:
        """The field's message under it and in its tooltip; a hidden field is brought out."""
        message = field.message
        field.error.setText(message or "")
        field.error.setVisible(bool(message))
        if field.swept:
            base = f"{LIST_EDIT_TIP}Allowed: {field.spec.allowed()}"
        else:
            base = describe_spec(field.spec) + (f"\nDefault: {field.hint}" if field.hint else "")
        # A reason the error below says already is not repeated above it.
        base = _tip(base, {c: why for c, why in field.unavailable.items() if why != message})
        field.editor.setToolTip(f"{base}\n\nError: {message}" if message else base)
        toggle = self.advanced_toggle
        if message and field.advanced and toggle is not None and not toggle.isChecked():
            self._set_advanced_visible(True)

    # ---- which parameters apply --------------------------------------------------------------
    def _update_applies(self) -> None:
        """Show the rows of the parameters that apply, hide the others (label, editor, error,
        list toggle). A parameter applies if it does for some value of the fields that decide
        it: their single values, or in list mode each value of their valid lists."""
        deciding = {
            name
            for field in self._fields.values()
            for name in field.spec.applies_when or {}
            if name in self._fields
        }
        if not deciding:
            return
        single = {name: self._current(field) for name, field in self._fields.items()}
        options = [self._candidates(name, single[name]) for name in deciding]
        applying: set[str] = set()
        specs = self.specs()
        for chosen in itertools.product(*options):
            case = {**single, **dict(zip(deciding, chosen, strict=True))}
            skipped = {spec.name for spec in inapplicable(specs, case)}
            applying |= set(self._fields) - skipped
        for name, field in self._fields.items():
            applies = name in applying
            if applies == field.applies:
                continue
            field.applies = applies
            if field.form is not None:
                field.form.setRowVisible(field.row, applies)
            self._show(field)

    def _current(self, field: _Field) -> Any:
        """The field's single value, or its default while it does not parse."""
        try:
            return read_value(field.widget, field.spec)
        except ParameterError:
            return field.spec.default

    def _candidates(self, name: str, single: Any) -> list[Any]:
        """The values a deciding field takes: its valid list when swept, else its value."""
        field = self._fields[name]
        if field.swept and field.values:
            return list(field.values)
        return [single]

    def applies(self, name: str) -> bool:
        """Whether the parameter applies to the values now (its row shows)."""
        return self._fields[name].applies

    # ---- values ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._fields)

    def has_field(self, name: str) -> bool:
        return name in self._fields

    def specs(self) -> list[ParameterSpec]:
        return [field.spec for field in self._fields.values()]

    def field_widget(self, name: str) -> QWidget:
        """The single value's widget."""
        return self._fields[name].widget

    def error_label(self, name: str) -> QLabel:
        return self._fields[name].error

    def value(self, name: str) -> Any:
        """The single value, parsed (whether or not the field is swept); raises ParameterError
        if it is invalid."""
        field = self._fields[name]
        return read_value(field.widget, field.spec)

    def values(self, *, include_hidden: bool = False) -> dict[str, Any]:
        """Parsed single values of the fields that parse and are not swept, and apply (shown)
        unless `include_hidden`: a parameter that does not apply gets no value."""
        out = {}
        for name, field in self._fields.items():
            if field.swept or not (field.applies or include_hidden):
                continue
            with contextlib.suppress(ParameterError):
                out[name] = read_value(field.widget, field.spec)
        return out

    def set_value(self, name: str, value: Any) -> None:
        """Set a field's single value (a Python value or the text a user would type)."""
        field = self._fields[name]
        field.external_error = None
        field.edited = True
        self._write(field, value)
        self._check(field)
        self._update_applies()
        self.changed.emit()

    def edited_values(self, *, include_hidden: bool = False) -> dict[str, Any]:
        """Parsed single values the user typed (fields left alone take the engine's defaults);
        with `include_hidden`, those of hidden fields too (to show them again later)."""
        values = self.values(include_hidden=include_hidden)
        return {name: value for name, value in values.items() if self._fields[name].edited}

    def hint(self, name: str) -> str:
        """Where the field's default comes from, as its tooltip says it."""
        return self._fields[name].hint

    def errors(self) -> dict[str, str]:
        return {name: f.message for name, f in self._fields.items() if f.message}

    def is_valid(self) -> bool:
        return not self.errors()

    def set_external_error(self, name: str, message: str) -> None:
        """Show an error the engine reported for a field's single value (cleared on edit).
        No `changed`: the owner asked the engine, and updates itself with the answer."""
        field = self._fields[name]
        field.external_error = message
        self._show(field)

    def clear_external_errors(self) -> None:
        for field in self._fields.values():
            if field.external_error:
                field.external_error = None
                self._show(field)

    def update_defaults(
        self, specs: list[ParameterSpec], hints: dict[str, str] | None = None
    ) -> list[str]:
        """New effective defaults from the engine (a dataset's, the preferences'): fields the
        user has not typed in follow them; a typed value is never overwritten. `hints` say
        where each default comes from (shown in the field's tooltip). Returns the names whose
        value changed; emits `changed` if any."""
        updated = []
        for spec in specs:
            field = self._fields.get(spec.name)
            if field is None:
                continue
            field.spec, field.hint = spec, (hints or {}).get(spec.name, field.hint)
            if field.edited or field.swept:
                self._show(field)
                continue
            try:
                current = read_value(field.widget, spec)
            except ParameterError:
                current = None
            if current != spec.default:
                self._write(field, spec.default)
                updated.append(spec.name)
            self._check(field)
        if updated:
            self._update_applies()
            self.changed.emit()
        return updated

    def _write(self, field: _Field, value: Any) -> None:
        """Write a value as the form (not the user): it does not count as typed."""
        self._writing = True
        try:
            write_value(field.widget, field.spec, value)
        finally:
            self._writing = False

    # ---- list mode -------------------------------------------------------------------------
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
            self._update_applies()
            self.changed.emit()

    def set_ranges(self, allowed: bool) -> None:
        """Let swept fields hold ranges (a random or TPE search draws from them) or not (a
        grid needs lists): every swept field is checked again."""
        if allowed == self.ranges:
            return
        self.ranges = allowed
        for field in self._fields.values():
            if field.swept:
                self._check(field)
        self.changed.emit()

    def ranged_names(self) -> list[str]:
        """The swept fields that hold a valid range (and apply)."""
        return [
            name
            for name, field in self._fields.items()
            if field.swept and field.applies and field.values is None and not field.message
        ]

    def grid_texts(self) -> dict[str, str]:
        """The text of every swept field's list (valid or not) that applies."""
        return {
            name: field.list_edit.text()
            for name, field in self._fields.items()
            if field.swept and field.applies and field.list_edit is not None
        }

    def grid(self) -> dict[str, list[Any]]:
        """The parsed lists of the swept fields whose list is valid and that apply."""
        return {
            name: list(field.values)
            for name, field in self._fields.items()
            if field.swept and field.applies and field.values is not None
        }

    def fixed_values(self) -> dict[str, Any]:
        """The single values that differ from their defaults (the engine fills in the rest,
        with the defaults that depend on other values, such as a dataset's, per combination;
        keep the defaults current with `update_defaults`)."""
        return {
            name: value
            for name, value in self.values().items()
            if value != self._fields[name].spec.default
        }


def _tip(base: str, unavailable: dict[Any, str]) -> str:
    """A field's tooltip, with the choices it cannot take here and why."""
    note = unavailable_text(unavailable)
    return f"{base}\n{note}" if note else base


def _unavailable_in(values: list[Any], unavailable: dict[Any, str]) -> str | None:
    """Why the first value that cannot be taken here cannot be (None: all can). Only
    choices have rules: their values are plain str, int or float."""
    if not unavailable:
        return None
    return next((unavailable[v] for v in values if v in unavailable), None)


def _example(spec: ParameterSpec, unavailable: dict[Any, str] | None = None) -> str:
    """A list the parameter could take, for the list editor's placeholder."""
    if spec.type == "bool":
        return "true, false"
    if spec.choices:
        choices = [c for c in spec.choices if c not in (unavailable or {})] or spec.choices
        return ", ".join(str(c) for c in choices[:2])
    if spec.type == "int":
        default = spec.default if isinstance(spec.default, int) else 1
        return ", ".join(
            str(v) for v in dict.fromkeys([default, default * 2 or 1, default * 4 or 2])
        )
    if spec.type == "float":
        return "1e-3, 3e-3"
    if spec.type == "duration":
        return "10m, 1h"
    return "a, b"
