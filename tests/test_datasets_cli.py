"""`trainwright datasets …` and data provenance: a variant records the content hash of the
user's data it saw, and resume/replay refuse when that data changed (exit 2, one line)."""

from __future__ import annotations

import json
import threading
import zipfile

import pytest
from helpers.callbacks import StopAfter
from helpers.cli import run_cli


def _write_houses(path, rows=120, seed=3):
    """A regression table whose target is in the hundreds of thousands (dollars)."""
    import random

    rng = random.Random(seed)
    lines = ["rooms,area,price"]
    for _ in range(rows):
        rooms, area = rng.randint(1, 6), rng.uniform(40, 250)
        price = 50_000 + 120_000 * rooms + 900 * area + rng.gauss(0, 10_000)
        lines.append(f"{rooms},{area:.1f},{price:.0f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_list_import_show_rename_delete(tmp_path):
    home = tmp_path / "home"
    csv_path = _write_houses(tmp_path / "houses.csv")

    listed = json.loads(run_cli(home, "datasets", "--json").stdout)
    ids = [d["id"] for d in listed]
    assert ids[:2] == ["two_moons", "circles"] and {"digits", "shapes", "iris"} <= set(ids)
    digits = next(d for d in listed if d["id"] == "digits")
    assert (digits["kind"], digits["count"], digits["classes"]) == ("images", 1797, 10)

    done = run_cli(home, "datasets", "import", str(csv_path), "--name", "Houses 2026", "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert (manifest["id"], manifest["rows"], manifest["target"]) == ("houses_2026", 120, "price")
    assert manifest["task_type"] == "regression" and manifest["status"] == "ready"

    table = run_cli(home, "datasets").stdout
    assert "houses_2026" in table and "imported" in table and "120 rows" in table

    shown = json.loads(run_cli(home, "datasets", "show", "houses_2026", "--json").stdout)
    assert shown["manifest"]["sha256"] == manifest["sha256"]
    assert "column price: integer" in run_cli(home, "datasets", "show", "houses_2026").stdout

    renamed = run_cli(home, "datasets", "rename", "houses_2026", "City homes")
    assert renamed.returncode == 0 and "City homes" in renamed.stdout
    again = json.loads(run_cli(home, "datasets", "show", "houses_2026", "--json").stdout)
    assert again["name"] == "City homes"  # the id stays

    refused = run_cli(home, "datasets", "delete", "houses_2026")  # no terminal, no --yes
    assert refused.returncode == 2 and "needs --yes" in refused.stderr
    assert (home / "datasets" / "houses_2026").is_dir()
    assert run_cli(home, "datasets", "delete", "houses_2026", "--yes").returncode == 0
    assert not (home / "datasets" / "houses_2026").exists()


def test_a_refused_import_exits_2_with_one_line_and_writes_nothing(tmp_path):
    home = tmp_path / "home"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("cats/a.png", b"x")
        zf.writestr("../escape.png", b"x")
    result = run_cli(home, "datasets", "import", str(evil))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "../escape.png" in lines[0], result.stderr
    leftovers = list((home / "datasets").iterdir()) if (home / "datasets").exists() else []
    assert leftovers == []
    unknown = run_cli(home, "datasets", "show", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def test_the_readme_regression_example_trains_in_dollars(tmp_path):
    """`train mlp -p dataset=csv:houses.csv -p target=price`: once "loss diverged to 1.3e+11"
    at step 1; the target is now standardised and MAE is reported in the target's units."""
    home = tmp_path / "home"
    csv_path = _write_houses(tmp_path / "houses.csv", rows=300)
    run = run_cli(
        home, "train", "mlp", "-p", f"dataset=csv:{csv_path}", "-p", "target=price",
        "-t", "epochs=40", "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["status"] == "completed"
    metrics = out["final_metrics"]
    assert metrics["test_r2"] > 0.9
    assert 1_000 < metrics["test_mae"] < 40_000  # dollars: the noise is ~10,000


def test_a_variant_records_the_content_hash_of_the_users_data(workspace, tmp_path):
    from engine.datasets.library import DatasetLibrary

    csv_path = _write_houses(tmp_path / "houses.csv")
    manifest = DatasetLibrary(workspace.home).import_path(csv_path)
    imported = workspace.create_variant("mlp", {"dataset": manifest.id}, {"epochs": 2})
    assert imported.config.data is not None
    assert imported.config.data.model_dump() == {"id": manifest.id, "sha256": manifest.sha256}
    in_place = workspace.create_variant("mlp", {"dataset": f"csv:{csv_path}"}, {"epochs": 2})
    assert in_place.config.data.sha256 == manifest.sha256  # the same bytes
    builtin = workspace.create_variant("mlp", {}, {"epochs": 5})
    assert builtin.config.data is None
    assert builtin.name == "mlp_two_moons_h128x2_seed0_82bedd84"  # names of built-ins unchanged

    csv_path.write_text(csv_path.read_text() + "3,120.0,400000\n", encoding="utf-8")
    edited = workspace.create_variant("mlp", {"dataset": f"csv:{csv_path}"}, {"epochs": 2})
    assert edited.name != in_place.name  # other data, another variant, no collision


def test_resume_and_replay_refuse_when_the_data_changed(workspace, tmp_path):
    csv_path = _write_houses(tmp_path / "houses.csv")
    variant = workspace.create_variant("mlp", {"dataset": f"csv:{csv_path}"}, {"epochs": 6})
    cancel = threading.Event()
    stopped = workspace.train(variant, [StopAfter(cancel, 2)], cancel)
    assert stopped.status == "cancelled"
    before = csv_path.read_bytes()
    csv_path.write_bytes(before.replace(b"\n3,", b"\n4,", 1))
    home = workspace.home
    result = run_cli(home, "resume", variant.name)
    assert result.returncode == 2
    assert f"dataset csv:{csv_path} changed since this variant was trained" in result.stderr
    assert "then," in result.stderr and "now" in result.stderr
    csv_path.write_bytes(before)  # the same data again: resume goes on
    resumed = run_cli(home, "resume", variant.name, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"

    csv_path.write_bytes(before + b"2,99.0,300000\n")
    replayed = run_cli(home, "replay", variant.name)
    assert replayed.returncode == 2 and "changed since this variant was trained" in replayed.stderr


@pytest.mark.parametrize("deleted", [True, False])
def test_an_imported_dataset_deleted_or_altered_is_named(workspace, tmp_path, deleted):
    from engine.datasets.library import DatasetLibrary
    from engine.errors import VariantError

    library = DatasetLibrary(workspace.home)
    manifest = library.import_path(_write_houses(tmp_path / "houses.csv"))
    variant = workspace.create_variant("mlp", {"dataset": manifest.id}, {"epochs": 2})
    assert workspace.train(variant).status == "completed"
    assert library.variants_using(manifest.id) == [variant.name]
    if deleted:
        library.delete(manifest.id)
    else:
        data = library.data_path(manifest.id)
        data.write_text(data.read_text() + "1,50.0,170000\n", encoding="utf-8")
    with pytest.raises(VariantError, match=f"dataset {manifest.id}"):
        workspace.replay(variant)


def test_regression_variants_of_an_engine_before_standardised_targets_are_refused(workspace):
    """Trained on raw targets by 0.1.x: this engine would train on standardised ones, so a
    resume or replay could not match: refused, naming the version (classification is not)."""
    from engine.errors import VariantError
    from engine.metadata import VariantMetadata

    def as_if_from_0_1(variant):
        meta = VariantMetadata.load(variant.metadata_path)
        meta.versions["engine"] = "0.1.0"
        meta.save(variant.metadata_path)

    sine = workspace.create_variant("mlp", {"dataset": "sine", "hidden_dim": 8}, {"epochs": 4})
    cancel = threading.Event()
    assert workspace.train(sine, [StopAfter(cancel, 1)], cancel).status == "cancelled"
    as_if_from_0_1(sine)
    with pytest.raises(VariantError, match=r"Trainwright 0\.1\.0 on raw regression targets"):
        workspace.resume(sine)
    done = workspace.create_variant("mlp", {"dataset": "sine", "hidden_dim": 8}, {"epochs": 1})
    assert workspace.train(done).status == "completed"
    as_if_from_0_1(done)
    with pytest.raises(VariantError, match="cannot be resumed or replayed bit for bit"):
        workspace.replay(done)

    moons = workspace.create_variant("mlp", {"hidden_dim": 8}, {"epochs": 1})
    assert workspace.train(moons).status == "completed"
    as_if_from_0_1(moons)
    assert workspace.replay(moons).identical  # classification targets were never rescaled
