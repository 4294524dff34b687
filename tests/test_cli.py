"""The CLI: bad input exits 2 with one line and writes nothing; results as JSON."""

from __future__ import annotations

import json

import pytest
from helpers.cli import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "nope"], "unknown family 'nope'"),
        (["train", "modulo_addition_1layer", "-p", "prime=12"], "prime: 12 is not prime"),
        (["train", "modulo_addition_1layer", "-p", "prime=x"], "prime: 'x' is not valid"),
        (["train", "modulo_addition_1layer", "-t", "epochs=0"], "epochs: 0 is out of range"),
        (
            ["train", "modulo_addition_1layer", "-t", "optimizer=lbfgs"],
            "allowed: one of adam, adamw",
        ),
        (["train", "modulo_addition_1layer", "-x", "1"], "unrecognized arguments"),
        (["train", "mlp", "-p", "dataset=nope"], "dataset: Unknown dataset 'nope'"),
        (["resume", "nope"], "no trained variant named 'nope'"),
        (["verify", "nope"], "no trained variant named 'nope'"),
        (["replay", "../../x"], "'../../x' is not a variant name"),
        (["train", "mlp", "-p", "target=../../x"], "target: Dataset 'two_moons' has a fixed"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    home = tmp_path / "home"
    result = run_cli(home, *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not (home / "variants").exists()


def test_train_json_reports_the_result(tmp_path):
    result = run_cli(
        tmp_path, "train", "modulo_addition_1layer", "-p", "prime=11", "-t", "epochs=5", "--json"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "completed"
    assert len(out["weights_sha256"]) == 64
    assert out["final_metrics"]["epoch"] == 5


def test_training_an_existing_variant_is_refused_without_overwrite(tmp_path):
    args = ["train", "modulo_addition_1layer", "-p", "prime=11", "-t", "epochs=3", "--json"]
    first = json.loads(run_cli(tmp_path, *args).stdout)
    again = run_cli(tmp_path, *args)
    assert again.returncode == 2 and "already exists" in again.stderr
    replaced = run_cli(tmp_path, *args, "--overwrite")
    assert replaced.returncode == 0
    assert json.loads(replaced.stdout)["weights_sha256"] == first["weights_sha256"]


def test_replay_command_says_identical(tmp_path):
    trained = json.loads(
        run_cli(
            tmp_path,
            "train",
            "modulo_addition_1layer",
            "-p",
            "prime=11",
            "-t",
            "epochs=5",
            "--json",
        ).stdout
    )
    result = run_cli(tmp_path, "replay", trained["variant"])
    assert result.returncode == 0
    assert result.stdout.startswith("identical")


def test_listing_commands_emit_json(tmp_path):
    families = json.loads(run_cli(tmp_path, "families", "--json").stdout)
    assert {f["name"] for f in families["families"]} >= {"mlp", "modulo_addition_1layer"}
    datasets = json.loads(run_cli(tmp_path, "datasets", "--json").stdout)
    assert {"two_moons", "circles", "spirals", "xor", "sine"} <= {d["id"] for d in datasets}
    assert json.loads(run_cli(tmp_path, "variants", "--json").stdout) == []


def test_version_comes_from_the_engine(tmp_path):
    from engine import __version__

    assert run_cli(tmp_path, "--version").stdout.strip() == f"trainwright {__version__}"
