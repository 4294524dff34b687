"""A family chooser and the two forms it fills: what every view that configures a run has
(the Training tab, the Sweeps tab, the distillation dialog's student)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_app.kit.family_combo import FamilyCombo
from desktop_app.kit.param_form import ParamForm
from desktop_app.kit.preferences import Preferences

# Training parameters shown up front; the rest sit under "More training parameters".
BASIC_TRAINING = frozenset(
    {
        "epochs",
        "lr",
        "optimizer",
        "weight_decay",
        "batch_size",
        "scheduler",
        "warmup_steps",
        "training_fraction",
        "data_seed",
    }
)

# (FamilySpec) -> (domain values, training values) a new family's forms start from
StartingValues = Callable[[Any], tuple[dict[str, Any], dict[str, Any]]]


class FamilyForms(QObject):
    """The family combo, the domain form and the training form ("More training parameters"
    holding all but `basic`). Choosing a family rebuilds both forms for its parameters,
    quietly (their `changed` is held back), then emits `familyChanged(spec)` once: the view
    updates itself for the new family in one place. What the user typed for a family is kept
    for the session: switching to another family and back shows it again."""

    familyChanged = Signal(object)  # the FamilySpec the forms now show

    def __init__(
        self,
        registry: Any,
        combo: FamilyCombo,
        kinds: tuple[str, str],
        *,
        basic: frozenset[str] = BASIC_TRAINING,
        lists: bool = False,
        preferences: Preferences | None = None,
        starting_values: StartingValues | None = None,
        withheld: dict[str, dict[Any, str]] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self.combo = combo
        self.domain_form = ParamForm(kinds[0], lists=lists)
        self.training_form = ParamForm(
            kinds[1],
            basic=basic,
            advanced_title="More training parameters",
            lists=lists,
            withheld=withheld,  # training choices this view cannot take (ParamForm)
        )
        self.preferences = preferences  # threads/device defaults, if the view runs training
        self._starting_values = starting_values
        self._shown: str | None = None  # the family the forms show
        self._typed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # per family
        combo.familyChanged.connect(self._on_family_changed)

    def load(self, select: str | None = None) -> None:
        """List the registry's families and show the first (or `select`)."""
        self.combo.fill(self.registry, select)
        if self.combo.count():
            self._on_family_changed(self.combo.family())

    def family(self) -> str | None:
        return self.combo.family()

    def select_family(self, name: str) -> bool:
        """Choose a family (the forms follow); False if it is not listed."""
        return self.combo.select_family(name)

    def apply_preferences(self, preferences: Preferences) -> None:
        """New preferences: threads/device fields still at their old default follow them."""
        self.preferences = preferences
        self.training_form.update_defaults(preferences.apply_to(self.training_form.specs()))

    def with_preferences(self, specs: list[Any]) -> list[Any]:
        """Training parameters with the preferences' defaults (threads, device)."""
        return self.preferences.apply_to(specs) if self.preferences is not None else list(specs)

    @Slot(object)
    def _on_family_changed(self, name: str | None) -> None:
        """Rebuild both forms for the family chosen, then say so once."""
        if not name:
            return
        spec = self.registry.spec(name)
        if self._shown is not None:
            # Hidden fields too: a resnet's depth typed, then simple_cnn chosen, is kept.
            typed = (
                self.domain_form.edited_values(include_hidden=True),
                self.training_form.edited_values(include_hidden=True),
            )
            self._typed[self._shown] = typed
        if name in self._typed:
            domain, training = self._typed[name]
        elif self._starting_values:
            domain, training = self._starting_values(spec)
        else:
            domain, training = {}, {}
        self._shown = name
        forms = (self.domain_form, self.training_form)
        blocked = [form.blockSignals(True) for form in forms]
        try:
            self.domain_form.set_specs(list(spec.domain_parameters), domain, family=spec)
            training_specs = self.with_preferences(spec.training_parameters())
            self.training_form.set_specs(training_specs, training, family=spec)
        finally:
            for form, was in zip(forms, blocked, strict=True):
                form.blockSignals(was)
        self.familyChanged.emit(spec)
