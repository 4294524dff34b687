"""The engine's one service: resolving parameters, run rules, delete, the data home, devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from engine.errors import ParameterError, VariantError
from engine.home import locate_home
from engine.run_rules import can_delete, can_replay, can_resume, can_verify, delete_variant_dir
from engine.training.lock import VariantLock


def _cli(home, *args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        input=stdin,
    )


# ---- resolve -------------------------------------------------------------------------------
def test_resolve_gives_effective_defaults_with_their_origin(workspace):
    resolution = workspace.registry.resolve("mlp", {"dataset": "two_moons"}, {})
    assert resolution.ok and resolution.errors == {}
    defaults = resolution.defaults
    assert defaults["epochs"].value == 20 and defaults["epochs"].origin == "dataset"
    assert defaults["epochs"].hint() == "20 — default of dataset two_moons"
    assert defaults["lr"].value == 0.01 and defaults["lr"].origin == "dataset"
    assert defaults["optimizer"].origin == "family" and defaults["optimizer"].source == "mlp"
    assert defaults["grad_clip"].origin == "parameter"
    assert {s.name: s.default for s in resolution.training_specs}["epochs"] == 20
    assert resolution.config.training.epochs == 20


def test_resolve_reports_every_field_error_in_reading_order(workspace):
    resolution = workspace.registry.resolve(
        "mlp", {"hidden_dim": 3, "bogus": 1}, {"epochs": 0, "lr": -1}
    )
    assert not resolution.ok
    assert list(resolution.errors) == ["bogus", "hidden_dim", "epochs", "lr"]
    assert "out of range" in resolution.errors["hidden_dim"]
    with pytest.raises(ParameterError, match="bogus: unknown domain parameter"):
        workspace.registry.resolve_config("mlp", {"hidden_dim": 3, "bogus": 1})


def test_family_rules_are_field_errors(workspace):
    resolution = workspace.registry.resolve("modulo_addition_1layer", {"prime": 12}, {})
    assert resolution.errors == {"prime": "12 is not prime; allowed: a prime from 3 to 997"}


def test_preferences_are_defaults_outside_the_variant_identity(workspace):
    plain = workspace.registry.resolve("mlp", {}, {})
    preferred = workspace.registry.resolve("mlp", {}, {}, preferences={"threads": 3})
    assert preferred.defaults["threads"].origin == "preferences"
    assert preferred.config.training.threads == 3
    assert preferred.config.variant == plain.config.variant
    assert preferred.config.config_hash == plain.config.config_hash


def test_resolve_imports_no_torch(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from engine.workspace import Workspace
        ws = Workspace({str(tmp_path)!r})
        for family in ws.registry.names():
            assert ws.registry.resolve(family, {{}}, {{}}).ok, family
        ws.registry.resolve("mlp", {{"dataset": "iris"}}, {{"epochs": 3}})
        from engine.datasets import list_datasets, dataset_defaults
        assert dataset_defaults("wine").epochs == 40 and len(list_datasets()) >= 8
        assert "torch" not in sys.modules, "resolving imported torch"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- run rules and delete ------------------------------------------------------------------
def test_run_rules():
    assert [s for s in ("completed", "failed", "cancelled", "interrupted") if can_resume(s)] == [
        "failed",
        "cancelled",
        "interrupted",
    ]
    assert can_replay("completed") and not can_replay("failed")
    assert can_delete("failed") and not can_delete("training")
    assert can_verify("completed") and can_verify("failed")
    assert not can_verify("training") and not can_verify("broken")


def _trained(workspace):
    variant = workspace.create_variant("mlp", {"hidden_dim": 8}, {"epochs": 1})
    workspace.train(variant)
    return variant


def test_delete_refuses_a_variant_whose_lock_is_held(workspace):
    variant = _trained(workspace)
    with VariantLock(variant.lock_path), pytest.raises(VariantError, match="being trained"):
        delete_variant_dir(workspace.home, variant.dir)
    assert variant.exists()
    delete_variant_dir(workspace.home, variant.dir)
    assert not variant.dir.exists() and workspace.discover_variants() == []
    assert not any((workspace.home / ".trash").iterdir())


def test_cli_delete_asks_or_needs_yes(workspace):
    variant = _trained(workspace)
    refused = _cli(workspace.home, "delete", variant.name)
    assert refused.returncode == 2 and "needs --yes" in refused.stderr
    assert variant.exists()
    done = _cli(workspace.home, "delete", variant.name, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"deleted {variant.name}" in done.stdout and not variant.dir.exists()
    missing = _cli(workspace.home, "delete", variant.name, "--yes")
    assert missing.returncode == 2 and "no trained variant" in missing.stderr


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "."])
def test_variant_names_are_never_paths(workspace, name):
    with pytest.raises(VariantError, match="not a variant name"):
        workspace.variant(name)


# ---- the data home -------------------------------------------------------------------------
def test_the_cli_honours_the_data_home_the_window_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv("TRAINWRIGHT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = tmp_path / "xdg" / "Trainwright"
    default.mkdir(parents=True)
    assert locate_home() == (default.resolve(), "default")
    chosen = tmp_path / "chosen"
    (default / "preferences.json").write_text(json.dumps({"data_home": str(chosen)}))
    assert locate_home() == (chosen.resolve(), "pointer")
    assert locate_home(tmp_path / "x")[1] == "option"
    env = {k: v for k, v in os.environ.items() if k != "TRAINWRIGHT_HOME"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "train",
            "mlp",
            "-p",
            "hidden_dim=8",
            "-t",
            "epochs=1",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert list((chosen / "variants" / "mlp").iterdir())


# ---- devices -------------------------------------------------------------------------------
def test_a_device_this_machine_lacks_is_refused_naming_those_it_has(workspace):
    from engine.devices import DEVICES, available_devices

    assert DEVICES == ("cpu", "cuda", "mps")  # the `device` parameter's choices
    missing = [d for d in DEVICES if d not in available_devices()]
    if not missing:
        pytest.skip("every device is present here")
    result = _cli(workspace.home, "train", "mlp", "-t", "epochs=1", "-t", f"device={missing[0]}")
    assert result.returncode == 2
    assert f"device: {missing[0]} is not available on this machine; allowed: cpu" in result.stderr
    assert workspace.discover_variants() == []
