"""The model registry: publishing completed variants as numbered versions, their records and
files, aliases, renames, notes and deletions, the index in trainwright.db, and `models`."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.cli import run_cli
from safetensors.torch import load_file

from engine.atomic import sha256_file
from engine.cli import main
from engine.hashing import weights_sha256
from engine.metadata import VariantMetadata
from engine.registry.loading import load_model, read_preprocessing
from engine.registry.publish import publish
from engine.registry.records import (
    PREPROCESSING_FILE,
    VERSION_FILE,
    WEIGHTS_FILE,
    RegistryError,
    models_root,
)
from engine.registry.store import RegistryStore
from engine.training.callbacks import Callback
from engine.workspace import Workspace

IRIS = ("mlp", {"dataset": "iris", "hidden_dim": 8}, {"epochs": 3, "lr": 0.3, "threads": 1})
IRIS_NO_BEST = ("mlp", {"dataset": "iris", "hidden_dim": 8}, {"epochs": 1, "keep_best": False})
DIGITS = (
    "image_classifier",
    {"dataset": "digits", "conv_channels": [8, 16]},
    {"epochs": 1, "threads": 1},
)
FAILING = (
    "mlp",
    {"dataset": "two_moons", "hidden_dim": 8, "dropout": 0.0},
    {"epochs": 3, "lr": 1e6, "optimizer": "sgd", "batch_size": 0},
)


# ---- trained variants: trained once, copied into each test's home ----------------------------
@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A home holding the module's variants; (home, {role: variant name})."""
    home = tmp_path_factory.mktemp("registry_variants")
    ws = Workspace(home)
    names = {}
    for role, (family, domain, training) in {
        "iris": IRIS,
        "iris_no_best": IRIS_NO_BEST,
        "digits": DIGITS,
        "failed": FAILING,
    }.items():
        variant = ws.create_variant(family, domain, {"threads": 1, **training})
        session = ws.train(variant)
        expected = "failed" if role == "failed" else "completed"
        assert session.status == expected, session.error_message
        names[role] = variant.name
    return home, names


@pytest.fixture
def variants(workspace, trained_home) -> dict[str, str]:
    """The module's variants copied into this test's workspace; {role: variant name}."""
    home, names = trained_home
    shutil.copytree(home / "variants", workspace.home / "variants", dirs_exist_ok=True)
    return names


def _meta(workspace: Workspace, name: str) -> VariantMetadata:
    return VariantMetadata.load(workspace.variant(name).metadata_path)


def _test_inputs(workspace: Workspace, name: str) -> torch.Tensor:
    variant = workspace.variant(name)
    family = workspace.registry.family(variant.family)
    training = variant.config.training
    return family.generate_training_dataset(
        variant.config.domain, training.training_fraction, training.data_seed
    )[2]


def _variant_model(workspace: Workspace, name: str, file: str) -> torch.nn.Module:
    """The variant's own model with the weights of its checkpoint `file` (a reference)."""
    variant = workspace.variant(name)
    model = workspace.registry.family(variant.family).create_model(variant.config.domain)
    model.load_state_dict(torch.load(variant.checkpoints_dir / file, weights_only=True)["model"])
    return model.eval()


def _cli(capsys, home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- publishing ------------------------------------------------------------------------------
def test_publishing_twice_makes_v1_and_v2_with_the_variants_record(workspace, variants):
    name = variants["iris"]
    meta = _meta(workspace, name)
    first = publish(workspace, name, "iris", notes="first try")
    second = publish(workspace, name, "iris")
    assert (first.version, second.version) == (1, 2)
    folder = models_root(workspace.home) / "iris" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [PREPROCESSING_FILE, VERSION_FILE, WEIGHTS_FILE]
    )
    stored = json.loads((folder / VERSION_FILE).read_text(encoding="utf-8"))
    assert stored == first.model_dump(mode="json")
    assert first.file_sha256 == sha256_file(folder / WEIGHTS_FILE)
    assert first.size_bytes == (folder / WEIGHTS_FILE).stat().st_size
    state = load_file(str(folder / WEIGHTS_FILE))
    assert first.weights_sha256 == weights_sha256(state) == meta.best.weights_sha256
    assert first.parameters == sum(t.numel() for t in state.values())  # an MLP: no buffers
    assert first.inference_ms_per_1000 is not None and first.inference_ms_per_1000 > 0
    assert first.metrics["test_accuracy"] == pytest.approx(meta.best.value)
    assert first.metrics["test_loss"] == pytest.approx(meta.best.test_loss)
    assert first.dataset == "iris" and first.data_sha256 is None
    assert first.task_type == "classification"
    assert first.class_names == ["setosa", "versicolor", "virginica"]
    assert first.config == json.loads(workspace.variant(name).config_path.read_text("utf-8"))
    assert first.variant == name and first.family == "mlp" and first.notes == "first try"
    assert first.engine_version and first.created_at
    assert read_preprocessing(folder) == meta.preprocessing
    assert [v.version for v in RegistryStore(workspace.home).versions("iris")] == [1, 2]


def test_a_published_version_loads_and_predicts_like_its_checkpoint(workspace, variants):
    name = variants["digits"]
    meta = _meta(workspace, name)
    version = publish(workspace, name, "digits")
    folder = models_root(workspace.home) / "digits" / "v1"
    model, loaded = load_model(workspace, folder)
    assert loaded == version
    assert read_preprocessing(folder) == meta.preprocessing
    assert read_preprocessing(folder)["kind"] == "image"
    assert version.dataset == "digits" and version.class_names == meta.class_names
    assert version.parameters == sum(p.numel() for p in model.parameters())
    assert version.inference_ms_per_1000 > 0
    x = _test_inputs(workspace, name)[:64]
    reference = _variant_model(workspace, name, "best.pt")
    with torch.inference_mode():
        assert torch.equal(model(x), reference(x))


def test_best_and_final_weights_are_the_ones_asked_for(workspace, variants):
    name = variants["iris"]
    meta = _meta(workspace, name)
    assert meta.best.epoch < meta.epochs_completed  # this run's best came before its end
    best = publish(workspace, name, "iris", checkpoint="best")
    final = publish(workspace, name, "iris", checkpoint="final")
    assert (best.checkpoint, best.epoch) == ("best", meta.best.epoch)
    assert best.weights_sha256 == meta.best.weights_sha256
    assert (final.checkpoint, final.epoch) == ("final", meta.epochs_completed)
    assert final.weights_sha256 == meta.weights_sha256 != best.weights_sha256
    assert final.metrics["test_accuracy"] == pytest.approx(meta.final_metrics["test_accuracy"])
    assert final.metrics["test_loss"] == pytest.approx(meta.final_metrics["test_loss"])
    assert "train_loss" not in final.metrics


def test_without_a_best_checkpoint_the_final_weights_are_published(workspace, variants):
    name = variants["iris_no_best"]
    meta = _meta(workspace, name)
    assert meta.best is None
    version = publish(workspace, name, "plain")
    assert (version.checkpoint, version.epoch) == ("final", meta.epochs_completed)
    assert version.weights_sha256 == meta.weights_sha256


@pytest.mark.parametrize(
    ("model", "alias", "checkpoint", "message"),
    [
        ("bad/name", None, "best", "not a model name"),
        ("", None, "best", "model name is empty"),
        ("ok", "v2", "best", "not a valid alias"),
        ("ok", "1st", "best", "not a valid alias"),
        ("ok", "has space", "best", "not a valid alias"),
        ("ok", None, "latest", "not one of best, final"),
    ],
)
def test_bad_names_aliases_and_checkpoints_are_refused_before_anything_is_written(
    workspace, variants, model, alias, checkpoint, message
):
    with pytest.raises(RegistryError, match=message):
        publish(workspace, variants["iris"], model, alias=alias, checkpoint=checkpoint)
    assert not any(models_root(workspace.home).glob("*/v*"))


def test_unknown_failed_and_running_variants_are_refused(workspace, variants):
    with pytest.raises(RegistryError, match="no trained variant named 'nope'"):
        publish(workspace, "nope", "m")
    with pytest.raises(RegistryError, match="its status is 'failed'"):
        publish(workspace, variants["failed"], "m")
    refusals: list[str] = []

    class PublishWhileTraining(Callback):
        def on_epoch_end(self, metrics: Any) -> None:
            try:
                publish(workspace, variant.name, "m")
            except RegistryError as exc:
                refusals.append(str(exc))

    family, domain, training = IRIS_NO_BEST
    variant = workspace.create_variant(family, {**domain, "seed": 1}, training)
    assert workspace.train(variant, [PublishWhileTraining()]).status == "completed"
    assert refusals and "its status is 'training'" in refusals[0]
    assert not (models_root(workspace.home) / "m").exists()


def test_a_tampered_checkpoint_is_refused_and_leaves_no_version(workspace, variants):
    variant = workspace.variant(variants["iris"])
    best = variant.checkpoints_dir / "best.pt"
    best.write_bytes(best.read_bytes()[:-8] + b"tampered")
    with pytest.raises(RegistryError, match=r"best\.pt"):
        publish(workspace, variant.name, "iris")
    assert not any(models_root(workspace.home).glob("iris/v*"))


def test_a_folder_without_version_json_is_not_a_version(workspace, variants):
    publish(workspace, variants["iris"], "iris")
    unfinished = models_root(workspace.home) / "iris" / "v2"
    unfinished.mkdir()
    (unfinished / WEIGHTS_FILE).write_bytes(b"half")
    store = RegistryStore(workspace.home)
    assert [v.version for v in store.versions("iris")] == [1]
    assert store.get("iris")[0].version == 1
    with pytest.raises(RegistryError, match="has no version '2'"):
        store.get("iris:2")
    assert publish(workspace, variants["iris"], "iris").version == 3  # v2 stays claimed


# ---- aliases, notes, rename, delete ----------------------------------------------------------
def test_aliases_point_at_one_version_and_can_move_and_go(workspace, variants):
    publish(workspace, variants["iris"], "iris", alias="prod")
    publish(workspace, variants["iris"], "iris")
    store = RegistryStore(workspace.home)
    assert store.get("iris:prod")[0].version == 1
    store.set_alias("iris", "prod", 2)
    store.set_alias("iris", "old", "v1")
    assert store.get("iris:prod")[0].version == 2
    assert store.models()[0].aliases == {"prod": 2, "old": 1}
    store.remove_alias("iris", "old")
    assert store.record("iris").aliases == {"prod": 2}
    with pytest.raises(RegistryError, match="has no alias 'old'"):
        store.remove_alias("iris", "old")
    with pytest.raises(RegistryError, match="has no version 7"):
        store.set_alias("iris", "prod", 7)
    with pytest.raises(RegistryError, match="not a valid alias"):
        store.set_alias("iris", "v3", 1)
    with pytest.raises(RegistryError, match="no model named 'ghost'"):
        store.set_alias("ghost", "prod", 1)


def test_notes_of_a_model_and_of_a_version(workspace, variants):
    first = publish(workspace, variants["iris"], "iris", alias="prod")
    store = RegistryStore(workspace.home)
    store.set_notes("iris", "the iris model")
    store.set_notes("iris", "checked by hand", "prod")
    version, folder = store.get("iris:1")
    assert version.notes == "checked by hand"
    assert store.record("iris").notes == "the iris model"
    assert store.models()[0].notes == "the iris model"
    assert version.model_dump(exclude={"notes"}) == first.model_dump(exclude={"notes"})
    load_model(workspace, folder)  # the rewritten record still verifies its weights


def test_rename_moves_the_model_and_refuses_a_taken_name(workspace, variants):
    publish(workspace, variants["iris"], "iris", alias="prod")
    publish(workspace, variants["digits"], "digits")
    store = RegistryStore(workspace.home)
    with pytest.raises(RegistryError, match="a model named 'digits' exists"):
        store.rename("iris", "digits")
    with pytest.raises(RegistryError, match="not a model name"):
        store.rename("iris", "../elsewhere")
    store.rename("iris", "flowers")
    assert [s.name for s in store.models()] == ["digits", "flowers"]
    version, folder = store.get("flowers:prod")
    assert version.name == "flowers" and folder.parent.name == "flowers"
    assert not (models_root(workspace.home) / "iris").exists()
    _model, loaded = load_model(workspace, folder)
    assert loaded.name == "flowers"


def test_delete_one_version_drops_its_aliases_and_the_last_removes_the_model(workspace, variants):
    publish(workspace, variants["iris"], "iris", alias="prod")
    publish(workspace, variants["iris"], "iris", alias="next")
    store = RegistryStore(workspace.home)
    assert store.delete("iris:prod") == [1]
    assert [v.version for v in store.versions("iris")] == [2]
    assert store.record("iris").aliases == {"next": 2}
    assert store.delete("iris:2") == [2]
    assert store.models() == []
    assert sorted(p.name for p in models_root(workspace.home).iterdir()) == ["~registry.lock"]
    with pytest.raises(RegistryError, match="no model named 'iris'"):
        store.delete("iris")


def test_a_deleted_versions_number_is_never_given_again(workspace, variants):
    publish(workspace, variants["iris"], "iris")
    publish(workspace, variants["iris"], "iris")
    store = RegistryStore(workspace.home)
    assert store.delete("iris:2") == [2]
    assert publish(workspace, variants["iris"], "iris").version == 3  # iris:2 stays gone
    assert [v.version for v in store.versions("iris")] == [1, 3]
    with pytest.raises(RegistryError, match="has no version '2'"):
        store.get("iris:2")


def test_delete_a_whole_model(workspace, variants):
    publish(workspace, variants["iris"], "iris")
    publish(workspace, variants["iris"], "iris")
    store = RegistryStore(workspace.home)
    assert store.delete("iris") == [1, 2]
    assert not (models_root(workspace.home) / "iris").exists()


# ---- the index -------------------------------------------------------------------------------
def test_the_index_is_rebuilt_when_its_tables_or_its_file_are_gone(workspace, variants):
    publish(workspace, variants["iris"], "iris", alias="prod")
    publish(workspace, variants["digits"], "digits")
    listed = [s.model_dump() for s in RegistryStore(workspace.home).models()]
    assert [s["name"] for s in listed] == ["digits", "iris"]
    assert not RegistryStore(workspace.home).rebuilt  # nothing changed: nothing re-read
    db = workspace.home / "trainwright.db"
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE model_versions")
        conn.execute("DROP TABLE model_records")
    store = RegistryStore(workspace.home)
    assert store.rebuilt
    assert [s.model_dump() for s in store.models()] == listed
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = RegistryStore(workspace.home)
    assert store.rebuilt and db.is_file()
    assert [s.model_dump() for s in store.models()] == listed


def test_a_damaged_index_file_is_one_line_and_rebuilt_once_repaired(workspace, variants, capsys):
    from engine.jobs import JobStore

    publish(workspace, variants["iris"], "iris")
    db = workspace.home / "trainwright.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    code, _, err = _cli(capsys, workspace.home, "models")
    assert code == 2 and "cannot be used" in err and len(err.splitlines()) == 1
    JobStore(workspace.home).close()  # moves the damaged file aside
    assert [s.name for s in RegistryStore(workspace.home).models()] == ["iris"]


def test_the_index_leaves_the_jobs_tables_alone(workspace, variants):
    from engine.jobs import JobRequest, JobStore

    family, domain, training = IRIS
    request = JobRequest(kind="train", family=family, domain=domain, training=training)
    jobs = JobStore(workspace.home)
    jobs.submit(request)
    before = [(j.id, j.status) for j in jobs.list()]
    jobs.close()
    publish(workspace, variants["iris"], "iris")
    with sqlite3.connect(workspace.home / "trainwright.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert {"jobs", "logs", "model_versions", "model_records"} <= tables
    assert user_version == 1  # the jobs' schema version, untouched
    reopened = JobStore(workspace.home)
    assert reopened.warnings == [] and [(j.id, j.status) for j in reopened.list()] == before
    reopened.close()


def test_an_open_store_sees_what_another_publish_added_and_folders_changed(workspace, variants):
    store = RegistryStore(workspace.home)
    assert store.models() == []
    publish(workspace, variants["iris"], "iris")
    assert [s.name for s in store.models()] == ["iris"]
    shutil.rmtree(models_root(workspace.home) / "iris")  # removed behind the registry's back
    assert store.models() == []


def test_two_processes_publishing_at_once_get_v1_and_v2(workspace, variants):
    results: list[Any] = [None, None]

    def publish_in_a_process(slot: int) -> None:
        results[slot] = run_cli(
            workspace.home, "models", "publish", variants["iris"], "--name", "iris", "--json"
        )

    threads = [threading.Thread(target=publish_in_a_process, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert result.returncode == 0, result.stderr
    assert sorted(json.loads(r.stdout)["version"] for r in results) == [1, 2]
    assert [v.version for v in RegistryStore(workspace.home).versions("iris")] == [1, 2]


# ---- the CLI ---------------------------------------------------------------------------------
def test_models_cli_publish_list_show_and_changes(workspace, variants, capsys):
    home = workspace.home
    code, out, _ = _cli(capsys, home, "models")
    assert code == 0 and "no published models" in out
    code, out, err = _cli(
        capsys, home, "models", "publish", variants["iris"], "--name", "iris", "--alias", "prod",
        "--notes", "hello", "--json",
    )  # fmt: skip
    assert code == 0, err
    published = json.loads(out)
    assert (published["name"], published["version"], published["notes"]) == ("iris", 1, "hello")
    code, out, _ = _cli(
        capsys, home, "models", "publish", variants["iris"], "--name", "iris",
        "--checkpoint", "final",
    )  # fmt: skip
    assert code == 0 and out.startswith("published iris v2") and "final weights" in out

    code, out, _ = _cli(capsys, home, "models", "--json")
    (listed,) = json.loads(out)
    assert (listed["name"], listed["versions"], listed["latest"]) == ("iris", 2, 2)
    assert listed["aliases"] == {"prod": 1} and listed["inference_ms_per_1000"] > 0
    code, out, _ = _cli(capsys, home, "models")
    assert code == 0 and "iris" in out and "prod→v1" in out and "test_accuracy" in out

    code, out, _ = _cli(capsys, home, "models", "show", "iris:prod", "--json")
    shown = json.loads(out)
    assert shown["version"] == 1 and shown["aliases"] == ["prod"]
    assert shown["weights_sha256"] == published["weights_sha256"]
    assert Path(shown["path"]) == models_root(home) / "iris" / "v1"
    code, out, _ = _cli(capsys, home, "models", "show", "iris")
    assert code == 0 and "iris v2" in out and published["variant"] in out
    assert "ms per 1,000" in out and "parameters" in out

    assert _cli(capsys, home, "models", "alias", "iris", "stable", "2")[0] == 0
    assert _cli(capsys, home, "models", "unalias", "iris", "prod")[0] == 0
    assert _cli(capsys, home, "models", "notes", "iris:stable", "reviewed")[0] == 0
    assert _cli(capsys, home, "models", "notes", "iris", "the model")[0] == 0
    assert _cli(capsys, home, "models", "rename", "iris", "flowers")[0] == 0
    code, out, _ = _cli(capsys, home, "models", "show", "flowers:stable", "--json")
    shown = json.loads(out)
    assert (shown["version"], shown["notes"], shown["model_notes"]) == (2, "reviewed", "the model")

    code, _, err = _cli(capsys, home, "models", "delete", "flowers:1")
    assert code == 2 and "needs --yes" in err  # not a terminal: never deleted unasked
    code, out, _ = _cli(capsys, home, "models", "delete", "flowers:1", "--yes")
    assert code == 0 and "deleted flowers v1" in out
    code, out, _ = _cli(capsys, home, "models", "--json")
    assert [(m["name"], m["versions"]) for m in json.loads(out)] == [("flowers", 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "ghost"), "no model named 'ghost'"),
        (("models", "show", "iris:9"), "has no version '9'"),
        (("models", "show", "iris:nick"), "has no alias 'nick'"),
        (("models", "alias", "iris", "v2", "1"), "not a valid alias"),
        (("models", "unalias", "iris", "nick"), "has no alias 'nick'"),
        (("models", "rename", "iris", "a/b"), "not a model name"),
        (("models", "notes", "ghost", "x"), "no model named 'ghost'"),
        (("models", "delete", "iris:3", "--yes"), "has no version '3'"),
        (("models", "publish", "nope", "--name", "x"), "no trained variant named 'nope'"),
        (("models", "publish", "IRIS", "--name", "bad/name"), "not a model name"),
        (("models", "publish", "IRIS", "--name", "x", "--checkpoint", "last"), "invalid choice"),
    ],
)
def test_models_cli_bad_input_exits_2_with_one_line(workspace, variants, capsys, args, message):
    publish(workspace, variants["iris"], "iris")
    args = tuple(variants["iris"] if a == "IRIS" else a for a in args)
    with pytest.raises(SystemExit) if "--checkpoint" in args else _no_exit() as raised:
        code, _, err = _cli(capsys, workspace.home, *args)
    if raised is not None and hasattr(raised, "value"):
        code, err = raised.value.code, capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith("trainwright: error:")
    assert len(err.strip().splitlines()) == 1


class _no_exit:
    """A context that expects nothing (the counterpart of pytest.raises(SystemExit))."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_the_models_actions_are_reachable_for_other_commands():
    import engine.models_cli as models_cli
    from engine.cli import build_parser

    build_parser()
    assert models_cli.models_sub is not None
    assert {"publish", "show", "alias", "unalias", "rename", "notes", "delete"} <= set(
        models_cli.models_sub.choices
    )
