"""Each built-in dataset trains the mlp family, at its default settings, above a stated score."""

from __future__ import annotations

import pytest

from engine.families.mlp import LINEAR_BASELINE_FIXED

# Stated floors at each dataset's default hyperparameters and the family's default model.
FLOORS = {
    "two_moons": ("test_accuracy", 0.95),
    "circles": ("test_accuracy", 0.95),
    "spirals": ("test_accuracy", 0.85),
    "xor": ("test_accuracy", 0.95),
    "sine": ("test_r2", 0.90),
    "iris": ("test_accuracy", 0.90),
    "wine": ("test_accuracy", 0.90),
    "diabetes": ("test_r2", 0.30),
}


@pytest.mark.parametrize("dataset", sorted(FLOORS))
def test_each_builtin_dataset_trains_above_its_floor(workspace, dataset):
    metric, floor = FLOORS[dataset]
    session = workspace.train(
        workspace.create_variant("mlp", {"dataset": dataset}, {"log_every": 50})
    )
    assert session.status == "completed", session.error_message
    assert session.final_metrics[metric] >= floor, session.final_metrics


def test_dataset_defaults_become_the_training_defaults(workspace):
    variant = workspace.create_variant("mlp", {"dataset": "spirals"})
    assert variant.config.training.epochs == 60
    assert variant.name == "mlp_spirals_h128x2_seed0"


def test_linear_baseline_records_the_fixed_hidden_settings(workspace):
    variant = workspace.create_variant("mlp", {"linear_baseline": True, "hidden_dim": 32})
    assert {k: variant.config.domain[k] for k in LINEAR_BASELINE_FIXED} == LINEAR_BASELINE_FIXED
    model = workspace.registry.family("mlp").create_model(variant.config.domain)
    assert sum(1 for m in model.modules() if m.__class__.__name__ == "Linear") == 1


def test_a_user_csv_trains_with_a_named_target(workspace, tmp_path):
    rows = ["a,b,label"] + [
        f"{i % 7},{(i * 3) % 5},{'yes' if i % 7 > 3 else 'no'}" for i in range(200)
    ]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    variant = workspace.create_variant(
        "mlp", {"dataset": f"csv:{path}", "target": "label"}, {"epochs": 30}
    )
    session = workspace.train(variant)
    assert session.final_metrics["test_accuracy"] >= 0.95


def test_a_bad_csv_cell_is_refused_before_training_with_row_and_column(workspace, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,y\n1,2,0\n3,,1\n")
    from engine.errors import ParameterError

    with pytest.raises(ParameterError, match=r"row 2, column 'b'"):
        workspace.create_variant("mlp", {"dataset": f"csv:{path}", "target": "y"})
