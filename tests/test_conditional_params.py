"""Parameters that apply only to some values of another (`applies_when`: a resnet's depth),
and what 0 means (`zero_label`): the family.json checks, identity, the CLI, sweeps, forms."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from engine.cli import main
from engine.errors import ParameterError
from engine.families.registry import FamilyRegistry
from engine.params import ParameterSpec, applicable_values, inapplicable
from engine.sweeps import plan_sweep
from engine.sweeps.plan import (
    combination_config,
    combinations,
    count_combinations,
    parse_grid,
)
from engine.sweeps.schema import sweep_schema

FAMILY = "image_classifier"
# The image family's default variant: its name and hash from before applies_when existed.
DEFAULT_NAME = "image_classifier_digits_simple_cnn_seed0"
DEFAULT_HASH = "e76cc89d847ec15aef39349dcf8ec366b21d59d58a19eeab914a85f4d02f031e"
DEPTH_REFUSED = "depth: applies only when architecture is resnet (architecture is simple_cnn)"

SEED = {"name": "seed", "type": "int", "default": 0, "min": 0}
MODE = {"name": "mode", "type": "choice", "default": "a", "choices": ["a", "b"]}


def _family_error(home, parameters: list[dict]) -> str:
    """The registry's message for a user family with these domain parameters."""
    folder = home / "families" / "cond"
    folder.mkdir(parents=True)
    spec = {
        "name": "cond",
        "display_name": "Cond",
        "variant_pattern": "cond_s{seed}",
        "domain_parameters": [SEED, *parameters],
    }
    (folder / "family.json").write_text(json.dumps(spec))
    (folder / "family.py").write_text("class Family:\n    pass\n")
    registry = FamilyRegistry(home)
    assert "cond" not in registry.names()
    assert len(registry.errors) == 1
    return registry.errors[0].message


# ---- the family.json checks ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"applies_when": {"nope": ["a"]}},
            "domain_parameters.x.applies_when: unknown parameter 'nope'; known: seed, mode",
        ),
        (
            {"applies_when": {"x": [1]}},
            "domain_parameters.x.applies_when: x cannot depend on itself",
        ),
        (
            {"applies_when": {"mode": ["c"]}},
            "domain_parameters.x.applies_when.mode: 'c' is not allowed; allowed: one of a, b",
        ),
        ({"applies_when": {"mode": []}}, "domain_parameters.x.applies_when.mode: lists no value"),
        (
            {"applies_when": {"seed": [-1]}},
            "domain_parameters.x.applies_when.seed: -1 is out of range",
        ),
    ],
)
def test_applies_when_is_checked_naming_the_file_and_field(trainwright_home, extra, expected):
    x = {"name": "x", "type": "int", "default": 1, **extra}
    message = _family_error(trainwright_home, [MODE, x])
    assert "family.json: " + expected in message
    assert "Value error" not in message


def test_a_cycle_of_applies_when_is_refused(trainwright_home):
    p = {**MODE, "applies_when": {"q": [True]}}
    q = {"name": "q", "type": "bool", "default": False, "applies_when": {"mode": ["a"]}}
    message = _family_error(trainwright_home, [p, q])
    assert "domain_parameters.mode.applies_when: a cycle: mode → q → mode" in message


def test_zero_label_is_for_numbers(trainwright_home):
    message = _family_error(trainwright_home, [{**MODE, "zero_label": "off"}])
    assert "mode: zero_label is for numbers, not choice" in message


def test_conditions_in_words_and_nested_conditions():
    arch = ParameterSpec(name="arch", type="choice", default="cnn", choices=["cnn", "resnet"])
    pooling = ParameterSpec(
        name="pooling",
        type="choice",
        default="max",
        choices=["max", "avg"],
        applies_when={"arch": ["cnn"]},
    )
    pool_size = ParameterSpec(
        name="pool_size", type="int", default=2, applies_when={"pooling": ["max"]}
    )
    both = ParameterSpec(
        name="both", type="int", default=0, applies_when={"arch": ["cnn"], "pooling": ["avg"]}
    )
    specs = [arch, pooling, pool_size, both]
    assert pooling.condition_text() == "arch is cnn"
    assert pooling.condition_short() == "cnn only"
    assert both.condition_short() == "arch=cnn, pooling=avg only"
    assert both.not_applying({"arch": "resnet", "pooling": "max"}) == (
        "applies only when arch is cnn and pooling is avg (arch is resnet, pooling is max)"
    )
    values = {"arch": "resnet", "pooling": "avg", "pool_size": 3, "both": 5}
    # pool_size's own rule holds (pooling max is the default), but pooling does not apply.
    assert [s.name for s in inapplicable(specs, values)] == ["pooling", "pool_size", "both"]
    applied, _ = applicable_values(specs, values)
    assert applied == {"arch": "resnet", "pooling": "max", "pool_size": 2, "both": 0}
    assert inapplicable(specs, {"arch": "cnn", "pooling": "avg", "pool_size": 2}) == [pool_size]


# ---- identity and refusal --------------------------------------------------------------------
def test_a_parameter_that_does_not_apply_never_changes_the_identity(workspace):
    registry = workspace.registry
    default = registry.resolve_config(FAMILY)
    assert (default.variant, default.config_hash) == (DEFAULT_NAME, DEFAULT_HASH)
    assert default.domain["depth"] == 20 and default.domain["width"] == 1
    # Given but not explicit (a sweep's fixed value in a simple_cnn combination): dropped.
    quiet = registry.resolve_config(FAMILY, {"depth": 14, "width": 4}, explicit=())
    assert (quiet.variant, quiet.config_hash) == (DEFAULT_NAME, DEFAULT_HASH)
    assert quiet.domain == default.domain
    # The default given explicitly is harmless: a resolved config's domain resolves to itself.
    again = registry.resolve_config(FAMILY, default.domain)
    assert again.config_hash == DEFAULT_HASH
    resnet = registry.resolve_config(FAMILY, {"architecture": "resnet", "depth": 8})
    assert resnet.variant.startswith("image_classifier_digits_resnet_seed0_")
    assert resnet.domain["kernel_size"] == 3 and resnet.domain["conv_channels"] == [32, 64, 128]
    assert registry.resolve_config(FAMILY, resnet.domain).config_hash == resnet.config_hash
    # The simple_cnn's parameters are the resnet's defaults: its identity ignores them.
    other = registry.resolve_config(
        FAMILY, {"architecture": "resnet", "depth": 8, "kernel_size": 7}, explicit=()
    )
    assert other.config_hash == resnet.config_hash


def test_a_value_given_for_a_parameter_that_does_not_apply_is_refused(workspace):
    with pytest.raises(ParameterError) as caught:
        workspace.create_variant(FAMILY, {"depth": 14})
    assert str(caught.value) == DEPTH_REFUSED
    resolution = workspace.resolve(FAMILY, {"architecture": "resnet", "dropout": 0.5})
    assert resolution.config is None
    assert resolution.errors == {
        "dropout": "applies only when architecture is simple_cnn (architecture is resnet)"
    }


def test_the_cli_refuses_it_with_exit_2_and_one_line(trainwright_home, capsys):
    home = str(trainwright_home)
    assert main(["--home", home, "train", FAMILY, "-p", "depth=14", "-t", "epochs=1"]) == 2
    err = capsys.readouterr().err
    assert err == f"trainwright: error: {DEPTH_REFUSED}\n"
    assert main(["--home", home, "queue", "add", FAMILY, "-p", "depth=14"]) == 2
    assert capsys.readouterr().err == f"trainwright: error: {DEPTH_REFUSED}\n"
    assert main(["--home", home, "sweep", FAMILY, "-g", "depth=8,14", "--dry-run"]) == 2
    assert capsys.readouterr().err == f"trainwright: error: {DEPTH_REFUSED}\n"
    assert not (trainwright_home / "variants").exists()


def test_the_families_listing_says_when_a_parameter_applies(trainwright_home, capsys):
    assert main(["--home", str(trainwright_home), "families"]) == 0
    lines = capsys.readouterr().out.splitlines()
    depth = next(line for line in lines if "-p depth=" in line)
    assert "(resnet only)" in depth
    kernel = next(line for line in lines if "-p kernel_size=" in line)
    assert "(simple_cnn only)" in kernel
    size = next(line for line in lines if "-p image_size=" in line)
    assert "0 = native size" in size
    batch = next(line for line in lines if "-t batch_size=" in line)
    assert "0 = full batch" in batch


# ---- sweeps ----------------------------------------------------------------------------------
def test_a_list_that_does_not_apply_does_not_multiply_the_grid(workspace):
    plan = plan_sweep(workspace, FAMILY, {"architecture": "simple_cnn, resnet", "depth": "8, 14"})
    assert plan.combinations == [
        {"architecture": "simple_cnn"},
        {"architecture": "resnet", "depth": 8},
        {"architecture": "resnet", "depth": 14},
    ]
    grid = {
        "architecture": "simple_cnn, resnet",
        "depth": "8, 14, 20",
        "kernel_size": "3, 5",
        "lr": "0.1, 0.01",
    }
    plan = plan_sweep(workspace, FAMILY, grid)
    assert plan.total == 2 * 2 + 3 * 2  # simple_cnn: kernel x lr; resnet: depth x lr
    names = {
        workspace.create_variant(FAMILY, *_config(workspace, plan, c)).name
        for c in plan.combinations
    }
    assert len(names) == plan.total  # no two combinations train the same variant


def test_a_fixed_value_applies_only_in_its_combinations(workspace):
    plan = plan_sweep(workspace, FAMILY, {"architecture": "simple_cnn, resnet"}, {"depth": 8})
    assert plan.total == 2
    simple, resnet = (
        workspace.create_variant(FAMILY, *_config(workspace, plan, c), explicit=())
        for c in plan.combinations
    )
    assert simple.name == DEFAULT_NAME  # depth 8 dropped where it does not apply
    assert resnet.config.domain["depth"] == 8


def test_a_list_or_value_that_applies_in_no_combination_is_refused(workspace):
    with pytest.raises(ParameterError, match=f"^{re.escape(DEPTH_REFUSED)}$"):
        plan_sweep(workspace, FAMILY, {"depth": "8, 14"})
    with pytest.raises(ParameterError, match=f"^{re.escape(DEPTH_REFUSED)}$"):
        plan_sweep(workspace, FAMILY, {"lr": "0.1, 0.01"}, {"depth": 14})
    with pytest.raises(ParameterError) as caught:
        plan_sweep(workspace, FAMILY, {"architecture": "resnet", "kernel_size": "3, 5"})
    assert caught.value.message == (
        "applies only when architecture is simple_cnn (architecture is resnet in every combination)"
    )


def test_the_mlp_linear_baseline_collapse_still_works(workspace):
    grid = {"linear_baseline": "false, true", "hidden_dim": "8, 16", "lr": "0.1, 0.01"}
    plan = plan_sweep(workspace, "mlp", grid)
    assert plan.total == 2 * 2 + 2
    assert {"linear_baseline": True, "lr": 0.1} in plan.combinations
    plan = plan_sweep(workspace, "mlp", {"hidden_dim": "8, 16"}, {"linear_baseline": True})
    assert plan.total == 1 and plan.ignored == ["hidden_dim"]


def test_the_count_is_the_number_of_combinations(workspace):
    spec = workspace.registry.spec(FAMILY)
    lists = {
        "architecture": ["simple_cnn, resnet", "resnet", "simple_cnn"],
        "depth": [None, "8, 14"],
        "width": [None, "1, 2, 3"],
        "kernel_size": [None, "3, 5, 7"],
        "seed": [None, "0, 1"],
    }
    for choice in itertools.product(*lists.values()):
        texts = {k: v for k, v in zip(lists, choice, strict=True) if v is not None}
        grid = parse_grid(spec, texts)
        assert count_combinations(spec, grid) == len(combinations(spec, grid)), texts


def _config(workspace, plan, combo) -> tuple[dict, dict]:
    """The domain and training values a sweep's runner resolves for a combination."""
    schema = sweep_schema(workspace.registry.spec(plan.spec.family))
    return combination_config(schema, plan.spec, combo)


# ---- forms -----------------------------------------------------------------------------------
pytest.importorskip("pytestqt")


def _domain_form(workspace, *, lists: bool = False):
    from desktop_app.kit.param_form import ParamForm

    spec = workspace.registry.spec(FAMILY)
    form = ParamForm("domain", lists=lists)
    form.set_specs(list(spec.domain_parameters), family=spec)
    return form


def _shown(form, name: str) -> bool:
    """Whether the parameter's whole row (label, editor, error, toggle) is visible."""
    row = form._fields[name].row
    layout = form._fields[name].form
    label = layout.labelForField(row)
    visible = layout.isRowVisible(row)
    assert label.isHidden() is not visible and row.isHidden() is not visible
    assert form.applies(name) is visible
    return visible


CNN_ONLY = ("conv_channels", "kernel_size", "batch_norm", "activation", "pooling", "dropout")


def test_the_form_hides_rows_that_do_not_apply_live_and_sends_no_value_for_them(qtbot, workspace):
    form = _domain_form(workspace)
    qtbot.addWidget(form)
    form.show()
    assert all(_shown(form, name) for name in CNN_ONLY)
    assert not _shown(form, "depth") and not _shown(form, "width")
    assert "depth" not in form.values() and "kernel_size" in form.values()
    combo = form.field_widget("architecture")
    with qtbot.waitSignal(form.changed):
        combo.setCurrentIndex(combo.findData("resnet"))  # as a user picks it
    assert _shown(form, "depth") and _shown(form, "width")
    assert not any(_shown(form, name) for name in CNN_ONLY)
    assert set(form.values()) >= {"depth", "width"}
    assert not set(form.values()) & set(CNN_ONLY)
    form.set_value("depth", 8)
    # A hidden field's bad value is no error: it is not sent.
    form.set_value("architecture", "simple_cnn")
    assert "depth" not in form.values() and form.values(include_hidden=True)["depth"] == 8
    form.field_widget("conv_channels").setText("3, x")
    assert not form.is_valid() and "conv_channels" in form.errors()
    form.set_value("architecture", "resnet")
    assert form.is_valid() and form.errors() == {}
    assert form.values()["depth"] == 8 and "conv_channels" not in form.values()
    assert workspace.resolve(FAMILY, form.values()).errors == {}


def test_list_mode_shows_what_applies_in_some_combination(qtbot, workspace):
    form = _domain_form(workspace, lists=True)
    qtbot.addWidget(form)
    form.show()
    assert not _shown(form, "depth")
    form.set_list("architecture", "simple_cnn, resnet")
    assert _shown(form, "depth") and _shown(form, "kernel_size")
    form.set_list("depth", "8, 14")
    form.set_list("kernel_size", "3, 5")
    assert form.grid() == {
        "architecture": ["simple_cnn", "resnet"],
        "kernel_size": [3, 5],
        "depth": [8, 14],
    }
    form.set_list("architecture", "resnet")
    assert not _shown(form, "kernel_size") and _shown(form, "depth")
    assert form.grid() == {"architecture": ["resnet"], "depth": [8, 14]}
    assert "kernel_size" not in form.grid_texts()
    spec = workspace.registry.spec(FAMILY)
    assert count_combinations(spec, form.grid(), form.values()) == 2
    form.set_swept("architecture", False)  # back to the single simple_cnn
    assert not _shown(form, "depth") and form.grid() == {"kernel_size": [3, 5]}


def test_zero_labels_show_in_spin_boxes(qtbot, workspace):
    from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox

    from desktop_app.kit.param_form import ParamForm

    form = _domain_form(workspace)
    qtbot.addWidget(form)
    size = form.field_widget("image_size")
    assert isinstance(size, QSpinBox) and size.value() == 0
    assert size.specialValueText() == "native size" and size.text() == "native size"
    assert form.values()["image_size"] == 0
    size.setValue(32)
    assert size.text() == "32"
    training = ParamForm("training")
    qtbot.addWidget(training)
    training.set_specs(workspace.registry.spec("mlp").training_parameters())
    labels = {
        "batch_size": "full batch",
        "checkpoint_every": "first and last",
        "resume_every": "auto (30 s)",
        "stagnation_patience": "off",
        "retries": "off",
        "threads": "auto",
        "target_metric": "off",
    }
    for name, label in labels.items():
        spin = training.field_widget(name)
        assert isinstance(spin, QSpinBox | QDoubleSpinBox), name
        assert spin.specialValueText() == label, name
    training.set_value("batch_size", 0)
    assert training.field_widget("batch_size").text() == "full batch"
    assert training.values()["batch_size"] == 0
    assert "0 = native size" in form.field_widget("image_size").toolTip()
    assert "Applies only when architecture is resnet." in form.field_widget("depth").toolTip()


def test_the_training_tab_trains_no_value_of_a_hidden_field(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    window = MainWindow(workspace)
    window.confirm_close = lambda *a: True
    qtbot.addWidget(window)
    window.show()
    tab = window.training_tab
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=30_000)
    try:
        assert tab.select_family(FAMILY)
        qtbot.waitUntil(lambda: tab.config is not None, timeout=30_000)
        assert tab.config.variant == DEFAULT_NAME
        assert not tab.domain_form.applies("depth")
        tab.domain_form.set_value("architecture", "resnet")
        tab.domain_form.set_value("depth", 8)
        qtbot.waitUntil(lambda: tab.config is not None and "resnet" in tab.config.variant)
        resnet = tab.config.variant
        tab.domain_form.set_value("architecture", "simple_cnn")  # depth 8 stays typed, hidden
        qtbot.waitUntil(lambda: tab.config is not None and tab.config.variant == DEFAULT_NAME)
        assert tab.config.config_hash == DEFAULT_HASH
        # Another family and back: the hidden typed value is kept for when it applies again.
        assert tab.select_family("mlp")
        assert tab.select_family(FAMILY)
        tab.domain_form.set_value("architecture", "resnet")
        qtbot.waitUntil(lambda: tab.config is not None and tab.config.variant == resnet)
    finally:
        window.controller.shutdown()
