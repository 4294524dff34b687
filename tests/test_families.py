"""Family discovery, validation and variant naming."""

from __future__ import annotations

import json

import pytest
from helpers.families import USER_FAMILY_PY

from engine.errors import ParameterError
from engine.families.registry import FamilyRegistry


def _user_family(home, name, spec_overrides=None, code=USER_FAMILY_PY):
    folder = home / "families" / name
    folder.mkdir(parents=True)
    spec = {
        "name": name,
        "display_name": name.title(),
        "variant_pattern": name + "_s{seed}",
        "domain_parameters": [{"name": "seed", "type": "int", "default": 0, "min": 0}],
        "training_defaults": {"epochs": 3, "batch_size": 10},
    }
    spec.update(spec_overrides or {})
    (folder / "family.json").write_text(json.dumps(spec))
    (folder / "family.py").write_text(code)
    return folder


def test_builtin_families_are_found(trainwright_home):
    registry = FamilyRegistry(trainwright_home)
    assert {"modulo_addition_1layer", "mlp"} <= set(registry.names())
    assert registry.errors == []


def test_a_user_family_loads_and_trains(workspace, trainwright_home):
    _user_family(trainwright_home, "toy")
    from engine.workspace import Workspace

    ws = Workspace(trainwright_home)
    session = ws.train(ws.create_variant("toy"))
    assert session.status == "completed"


def test_a_malformed_family_json_is_reported_and_skipped(trainwright_home):
    folder = _user_family(trainwright_home, "broken")
    (folder / "family.json").write_text("{ not json")
    _user_family(trainwright_home, "fine")
    registry = FamilyRegistry(trainwright_home)
    assert "fine" in registry.names() and "broken" not in registry.names()
    assert len(registry.errors) == 1
    assert "family.json" in registry.errors[0].message


def test_a_family_json_with_a_bad_field_names_the_field(trainwright_home):
    _user_family(trainwright_home, "bad", {"variant_pattern": "bad_{nope}"})
    registry = FamilyRegistry(trainwright_home)
    assert "variant_pattern uses unknown parameter(s) nope" in registry.errors[0].message


def test_a_family_py_with_a_syntax_error_is_reported_and_skipped(trainwright_home):
    _user_family(trainwright_home, "syntax", code="def (:\n")
    registry = FamilyRegistry(trainwright_home)
    assert "syntax" not in registry.names()
    assert "syntax error" in registry.errors[0].message


def test_prime_is_validated(workspace):
    with pytest.raises(ParameterError, match="prime: 12 is not prime"):
        workspace.create_variant("modulo_addition_1layer", {"prime": 12})


def test_variant_name_follows_the_pattern_with_defaults(workspace):
    variant = workspace.create_variant("modulo_addition_1layer")
    assert variant.name == "modulo_addition_1layer_p113_seed999"
    assert variant.dir == workspace.home / "variants" / "modulo_addition_1layer" / variant.name
    assert variant.checkpoints_dir == variant.dir / "checkpoints"


def test_different_training_parameters_never_share_a_directory(workspace):
    a = workspace.create_variant("modulo_addition_1layer", {}, {"lr": 3e-3})
    b = workspace.create_variant("modulo_addition_1layer", {}, {"lr": 1e-2})
    again = workspace.create_variant("modulo_addition_1layer", {}, {"lr": 3e-3})
    assert a.name != b.name
    assert a.name == again.name
    assert a.name.startswith("modulo_addition_1layer_p113_seed999_")


def test_execution_settings_do_not_change_the_name(workspace):
    a = workspace.create_variant("modulo_addition_1layer", {}, {"threads": 1})
    assert a.name == "modulo_addition_1layer_p113_seed999"


def test_small_prime_memorises_its_training_set(workspace):
    variant = workspace.create_variant("modulo_addition_1layer", {"prime": 13}, {"epochs": 150})
    session = workspace.train(variant)
    assert session.final_metrics["train_accuracy"] == 1.0
    assert session.final_metrics["train_loss"] < 0.05


def test_discovery_flags_a_broken_directory_instead_of_failing(workspace):
    variant = workspace.create_variant("modulo_addition_1layer", {"prime": 11}, {"epochs": 2})
    workspace.train(variant)
    broken = variant.dir.parent / "stray"
    broken.mkdir()
    found = {v.variant: v for v in workspace.discover_variants()}
    assert found[variant.name].status == "completed"
    assert found["stray"].status == "broken"


def test_a_variant_stays_discoverable_without_its_metadata(workspace):
    variant = workspace.create_variant("modulo_addition_1layer", {"prime": 11}, {"epochs": 2})
    workspace.train(variant)
    variant.metadata_path.unlink()
    found = {v.variant: v for v in workspace.discover_variants()}
    assert found[variant.name].status == "interrupted"
