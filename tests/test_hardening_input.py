"""Bad input from outside (names, homes, files, family code): one line, exit 2, nothing written
outside the home and nothing lost. Real files and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.families import USER_FAMILY_PY as FAMILY_PY
from helpers.pinned import check_pinned

from engine.errors import TrainwrightError
from engine.names import MAX_NAME_BYTES, cap_name, safe_component


def _error_lines(stderr):
    """stderr without the progress note a user family's slow import prints after
    SLOW_IMPORT_S ("loading family X from …"): on a loaded machine it comes, and it is not an
    error line."""
    return [line for line in stderr.splitlines() if not line.startswith("loading family ")]


def _refused(result, *words):
    """Exit 2 and exactly one error line on stderr, `trainwright: error: …`, holding `words`."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("trainwright: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def _family(home, name, pattern, code=FAMILY_PY, params=None):
    folder = Path(home) / "families" / name
    folder.mkdir(parents=True)
    spec = {
        "name": name,
        "display_name": name,
        "variant_pattern": pattern,
        "domain_parameters": params
        or [
            {"name": "tag", "type": "str", "default": "a"},
            {"name": "seed", "type": "int", "default": 0, "min": 0},
        ],
        "training_defaults": {"epochs": 2, "batch_size": 10},
    }
    (folder / "family.json").write_text(json.dumps(spec))
    (folder / "family.py").write_text(code)
    return folder


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


# ---- 1. names that are not one folder --------------------------------------------------------
def test_free_text_names_that_are_not_one_folder_are_refused_and_delete_nothing(tmp_path):
    home = tmp_path / "home"
    _family(home, "tagfam", "{tag}")
    assert run_cli(home, "train", "tagfam", "-p", "tag=b").returncode == 0
    before = _tree(home / "variants")
    for tag in ("..", ".", ""):
        result = run_cli(home, "train", "tagfam", "-p", f"tag={tag}", "--overwrite")
        _refused(result, "tag: makes the variant name", "cannot name a folder")
    assert _tree(home / "variants") == before  # the family's other variant is still there
    assert (home / "variants" / "tagfam" / "b" / "config.json").is_file()
    assert not (home / ".trash").exists() or not any((home / ".trash").iterdir())


def test_safe_component_refuses_every_path_that_is_not_one_folder():
    for bad in ("", ".", "..", "a/b", "a\\b", "a\x00b", "x" * 256):
        with pytest.raises(TrainwrightError):
            safe_component(bad, "sweep id")
    for bad in ("../x", "a b", "é", "x" * (MAX_NAME_BYTES + 1)):
        with pytest.raises(TrainwrightError, match="is not a variant name"):
            safe_component(bad, "variant name", variant=True)
    assert safe_component("model_1.v-2", "variant name", variant=True) == "model_1.v-2"


def test_long_names_are_capped_with_a_hash_of_the_whole():
    short = "modulo_addition_1layer_p23_seed999_57811814"
    assert cap_name(short) == short
    a, b = cap_name("x" * 300 + "a"), cap_name("x" * 300 + "b")
    assert a != b and len(a) == MAX_NAME_BYTES and len(b) == MAX_NAME_BYTES
    assert a.startswith("x" * 100) and a[-9] == "_" and int(a[-8:], 16) >= 0


def test_a_csv_at_a_deep_path_trains_under_a_capped_name(tmp_path):
    deep = tmp_path.joinpath(*["d" * 200] * 6)
    deep.mkdir(parents=True)
    csv = deep / "t.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(12)))
    result = run_cli(
        tmp_path / "home", "train", "mlp", "-p", f"dataset=csv:{csv}", "-t", "epochs=1"
    )
    assert result.returncode == 0, result.stderr
    (name,) = os.listdir(tmp_path / "home" / "variants" / "mlp")
    assert len(name) == MAX_NAME_BYTES and name.startswith("mlp_csv_")


def test_existing_short_names_and_weights_are_unchanged(tmp_path):
    result = run_cli(
        tmp_path, "train", "modulo_addition_1layer", "-p", "prime=23", "-t", "epochs=60", "--json"
    )
    out = json.loads(result.stdout)
    assert out["variant"] == "modulo_addition_1layer_p23_seed999_57811814"
    check_pinned("modulo_p23_epochs60", out["weights_sha256"])


# ---- 2. --overwrite of a variant a run is training -------------------------------------------
def test_overwrite_and_resume_of_a_variant_being_trained_are_refused(tmp_path):
    from engine.training.lock import VariantLock

    home = tmp_path / "home"
    _family(home, "tagfam", "{tag}")
    assert run_cli(home, "train", "tagfam", "-p", "tag=b").returncode == 0
    directory = home / "variants" / "tagfam" / "b"
    before = _tree(directory)
    with VariantLock(directory / ".lock"):  # the lock a live run holds (another process here)
        result = run_cli(home, "train", "tagfam", "-p", "tag=b", "--overwrite")
        _refused(result, "variant b is being trained right now")
    assert _tree(directory) == before
    replaced = run_cli(home, "train", "tagfam", "-p", "tag=b", "--overwrite", "--json")
    assert replaced.returncode == 0 and json.loads(replaced.stdout)["status"] == "completed"
    assert not any((home / ".trash").iterdir())  # the old run went through the trash


# ---- 3. path-like names on the command line --------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resume", "../../x"], "'../../x' is not a variant name"),
        (["replay", "../../x"], "'../../x' is not a variant name"),
        (["verify", "../x"], "'../x' is not a variant name"),
        (["delete", "--yes", ".."], "'..' is not a variant name"),
        (["distill", "../../x", "mlp"], "'../../x' is not a teacher variant name"),
        (["sweep", "resume", "../x"], "'../x' is not a sweep id"),
        (["sweep", "resume", ".."], "'..' is not a sweep id"),
    ],
)
def test_path_like_names_are_refused(tmp_path, args, message):
    home = tmp_path / "home"
    result = run_cli(home, *args)
    _refused(result, message)
    assert sorted(os.listdir(tmp_path)) == ["home"]
    assert not (home / "variants").exists() and not (home / "sweeps").exists()


# ---- 4. the data home ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["empty", "file", "devnull", "too_long", "long_component"])
def test_a_home_that_cannot_be_one_is_refused(tmp_path, kind):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    home = {
        "empty": "",
        "file": str(a_file),
        "devnull": os.devnull,
        "too_long": str(tmp_path / ("a/" * 3000)),
        "long_component": str(tmp_path / ("x" * 300)),
    }[kind]
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--home", home, "variants"],
        capture_output=True,
        text=True,
    )
    _refused(result, "--home")
    assert sorted(os.listdir(tmp_path)) == ["file", "home"]  # "home": the test's own
    assert a_file.read_text() == "x"


# ---- 5. field names, --parallel, a stored sweep that contradicts itself ----------------------
def test_target_problems_are_reported_under_target(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("a,y\n1,0\n2,1\n3,0\n4,1\n")
    home = tmp_path / "home"
    _refused(
        run_cli(home, "train", "mlp", "-p", f"dataset=csv:{csv}", "-p", "target=../../x"),
        "target: t.csv: no column named '../../x'",
    )
    _refused(run_cli(home, "train", "mlp", "-p", "target=../../x"), "target: Dataset 'two_moons'")
    assert not (home / "variants").exists()


def test_parallel_must_be_at_least_one(tmp_path):
    home = tmp_path / "home"
    result = run_cli(home, "sweep", "mlp", "-g", "epochs=1,2", "--parallel", "0")
    _refused(result, "--parallel must be at least 1, not 0")
    assert not (home / "sweeps").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"total": 5}, "total is 5, but it lists 2 combinations"),
        ({"in_progress": [7]}, "in_progress names combination 7"),
        ({"id": "other"}, "it names sweep 'other'"),
        ({"combinations": [{"epochs": 1}, {"nope": 2}]}, "mlp cannot sweep 'nope'"),
    ],
)
def test_resuming_a_sweep_json_that_contradicts_itself_is_refused(tmp_path, change, message):
    from engine.sweeps import create_sweep
    from engine.workspace import Workspace

    home = tmp_path / "home"
    record = create_sweep(Workspace(home), "mlp", {"epochs": "1,2"})
    path = home / "sweeps" / record.id / "sweep.json"
    data = json.loads(path.read_text())
    data.update(change)
    path.write_text(json.dumps(data))
    _refused(run_cli(home, "sweep", "resume", record.id), "sweep.json", message)
    assert not (home / "variants").exists()


# ---- 6. CSV files that cannot be trained on --------------------------------------------------
def test_a_one_row_regression_csv_is_refused_at_validation(tmp_path):
    csv = tmp_path / "one.csv"
    csv.write_text("a,y\n1,2.5\n")
    home = tmp_path / "home"
    _refused(
        run_cli(home, "train", "mlp", "-p", f"dataset=csv:{csv}"),
        "dataset: one.csv: has only 1 data row",
    )
    assert not (home / "variants").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_given_as_the_csv_is_refused(tmp_path):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    home = tmp_path / "home"
    result = run_cli(home, "train", "mlp", "-p", f"dataset=csv:{fifo}", timeout=120)
    _refused(result, "not a regular file")
    assert not (home / "variants").exists()


# ---- 7. user families that are broken in new ways --------------------------------------------
def test_family_json_not_utf8_or_nested_too_deeply_is_skipped(tmp_path):
    home = tmp_path / "home"
    bad = _family(home, "latin", "latin_{seed}")
    (bad / "family.json").write_bytes(b'{"name": "caf\xe9"}')
    deep = _family(home, "deep", "deep_{seed}")
    (deep / "family.json").write_text("[" * 200_000 + "]" * 200_000)
    listed = run_cli(home, "families")
    assert listed.returncode == 0, listed.stderr
    assert "modulo_addition_1layer" in listed.stdout and "Traceback" not in listed.stderr
    assert "not a UTF-8 text file" in listed.stderr and "nested too deeply" in listed.stderr
    variants = run_cli(home, "variants")
    assert variants.returncode == 0 and variants.stderr == ""


def test_a_model_that_is_not_a_module_is_named_with_its_family(tmp_path):
    home = tmp_path / "home"
    code = FAMILY_PY.replace("return nn.Linear(2, 2)", "return [1, 2]")
    _family(home, "listy", "listy_{seed}", code=code)
    result = run_cli(home, "train", "listy")
    assert result.returncode == 2 and len(_error_lines(result.stderr)) == 1  # refused, one line
    assert "family 'listy': create_model returned list, not a torch.nn.Module" in result.stderr
    assert not (home / "variants").exists() or not any((home / "variants").rglob("*.json"))
    code = FAMILY_PY.replace("return nn.Linear(2, 2)", "raise ValueError('no such layer')")
    _family(home, "broken", "broken_{seed}", code=code)
    result = run_cli(home, "train", "broken")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "family 'broken': create_model failed: ValueError: no such layer" in result.stderr


def test_a_slow_family_import_says_which_family_is_loading(tmp_path):
    home = tmp_path / "home"
    code = "import time\ntime.sleep(2.6)\n" + FAMILY_PY
    folder = _family(home, "slow", "slow_{seed}", code=code)
    result = run_cli(home, "train", "slow", "-t", "epochs=1")
    assert result.returncode == 0, result.stderr
    assert f"loading family slow from {folder / 'family.py'}" in result.stderr


# ---- 8. `families` lists the training options ------------------------------------------------
def test_families_lists_the_training_options_with_their_ranges(tmp_path):
    result = run_cli(tmp_path, "families")
    assert result.returncode == 0
    assert result.stdout.count("-t epochs=") == 1
    assert "-t lr=" in result.stdout and "an integer >= 1 and <= 10000000" in result.stdout
    data = json.loads(run_cli(tmp_path, "families", "--json").stdout)
    assert "epochs" in {p["name"] for p in data["training_parameters"]}
