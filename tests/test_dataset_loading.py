"""Loading datasets by id: csv:PATH and the library's imported tables and images, the row cache
keyed by content hash, data records, and the mlp family on imported data."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.datasets import (
    CSV_PREFIX,
    DataRecord,
    DatasetError,
    TargetColumnError,
    data_record,
    dataset_defaults,
    get_dataset,
    list_datasets,
    tabular,
)
from engine.datasets.image_sources import IMAGE_DEFAULTS, LibraryImageDataset, native_size
from engine.datasets.library import DatasetLibrary
from engine.datasets.types import CSV_DEFAULTS
from engine.errors import ParameterError

BUILTIN_IDS = [info.id for info in list_datasets()]


def write_table(path: Path, rows: int = 60, shift: int = 0) -> Path:
    lines = ["a,b,label"] + [
        f"{i % 7 + shift},{(i * 3) % 5},{'yes' if i % 7 > 3 else 'no'}" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_images(root: Path, per_class: int = 6, size: tuple[int, int] = (20, 14)) -> Path:
    """Two colour classes of solid images: red and blue, each slightly different."""
    for name, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shade = tuple(max(0, c - 7 * i) for c in colour)
            Image.new("RGB", size, shade).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture
def library(trainwright_home):
    return DatasetLibrary(trainwright_home)


# ---- the row cache ---------------------------------------------------------------------------
def test_a_csv_is_parsed_once_per_content_and_again_once_edited(tmp_path):
    path = write_table(tmp_path / "t.csv")
    before = tabular.table_reads
    first = get_dataset(f"csv:{path}").load()
    assert tabular.table_reads == before + 1
    second = get_dataset(f"csv:{path}").load()
    assert tabular.table_reads == before + 1, "the second load parsed the file again"
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)

    write_table(path, shift=100)  # same size class, other values: a new content hash
    edited = get_dataset(f"csv:{path}").load()
    assert tabular.table_reads == before + 2
    assert edited.x[:, 0].min() >= 100, "an edited CSV must be seen at the next load"


def test_a_cached_table_hands_out_copies(tmp_path):
    path = write_table(tmp_path / "t.csv")
    data = get_dataset(f"csv:{path}").load()
    data.x.zero_()
    data.feature_names.append("junk")
    again = get_dataset(f"csv:{path}").load()
    assert again.x.abs().sum() > 0 and again.feature_names == ["a", "b"]


def test_another_target_of_a_cached_table_reads_no_file(tmp_path):
    path = write_table(tmp_path / "t.csv")
    get_dataset(f"csv:{path}").load()
    before = tabular.table_reads
    other = get_dataset(f"csv:{path}", target="a")
    assert tabular.table_reads == before
    assert other.info.task_type == "classification" and other.target == "a"


def test_an_imported_table_is_read_once_per_manifest_hash(library, tmp_path):
    manifest = library.import_path(write_table(tmp_path / "src.csv"), "Table")
    home = library.home
    before = tabular.table_reads
    first = get_dataset(manifest.id, home=home).load()
    assert tabular.table_reads == before + 1
    # Replace the library's copy behind its manifest's back: a second load keyed by the
    # manifest's hash must not open the file at all, so it still gives the first rows.
    write_table(library.dir(manifest.id) / "data.csv", shift=100)
    second = get_dataset(manifest.id, home=home).load()
    assert tabular.table_reads == before + 1
    assert torch.equal(first.x, second.x)
    # ... while the data record, rehashed from the files, shows the change.
    record = data_record(manifest.id, home)
    assert record is not None and record.sha256 != manifest.sha256


def test_the_cache_keeps_one_content_per_source_and_a_bounded_number(tmp_path):
    tabular.clear_cache()
    path = write_table(tmp_path / "t.csv")
    get_dataset(f"csv:{path}").load()
    write_table(path, shift=50)
    get_dataset(f"csv:{path}").load()
    identities = [key[0] for key in tabular._rows]
    assert identities.count(f"csv:{path.resolve()}") == 1
    for i in range(tabular.MAX_CACHED_TABLES + 3):
        get_dataset(f"csv:{write_table(tmp_path / f'm{i}.csv')}").load()
    assert len(tabular._rows) == tabular.MAX_CACHED_TABLES


# ---- imported datasets -----------------------------------------------------------------------
def test_list_datasets_gives_builtins_then_ready_imports(library, tmp_path):
    library.import_path(write_table(tmp_path / "t.csv"), "Zebra table")
    library.import_path(write_images(tmp_path / "imgs"), "Apple images")
    broken = library.import_path(write_table(tmp_path / "u.csv"), "Broken")
    (library.dir(broken.id) / "data.csv").unlink()
    infos = list_datasets(library.home)
    assert [i.id for i in infos[: len(BUILTIN_IDS)]] == BUILTIN_IDS
    imported = infos[len(BUILTIN_IDS) :]
    assert [(i.id, i.source, i.kind) for i in imported] == [
        ("apple_images", "imported", "images"),
        ("zebra_table", "imported", "tabular"),
    ]
    assert imported[0].task_type == "classification" and "12 images, 2 classes" in (
        imported[0].description
    )
    assert [i.id for i in list_datasets()] == BUILTIN_IDS  # no home: built-ins only


def test_an_imported_table_takes_a_target_and_a_task_type(library, tmp_path):
    manifest = library.import_path(write_table(tmp_path / "t.csv"), "Table")
    ds = get_dataset(manifest.id, home=library.home)
    assert (ds.info.source, ds.info.kind, ds.info.task_type) == (
        "imported",
        "tabular",
        "classification",
    )
    assert ds.load().class_names == ["no", "yes"]
    regression = get_dataset(manifest.id, home=library.home, target="a", task_type="regression")
    assert regression.info.task_type == "regression"
    assert regression.load().y.dtype == torch.float32
    with pytest.raises(TargetColumnError, match="no column named 'nope'"):
        get_dataset(manifest.id, home=library.home, target="nope")


def test_an_imported_image_folder_is_an_image_source(library, tmp_path):
    manifest = library.import_path(write_images(tmp_path / "imgs"), "Colours")
    ds = get_dataset(manifest.id, home=library.home)
    assert isinstance(ds, LibraryImageDataset)
    assert (ds.native_size, ds.channels) == (20, 3)
    images = ds.load_images(8, 1)
    assert images.x.shape == (12, 1, 8, 8) and images.x.dtype == torch.uint8
    assert images.class_names == ["blue", "red"] and images.y.tolist() == [0] * 6 + [1] * 6
    data = ds.load()
    assert data.x.shape == (12, 3 * 20 * 20) and data.num_features == 1200
    assert (
        data.feature_names[:2] == ["c0_y0_x0", "c0_y0_x1"]
        and data.feature_names[-1] == "c2_y19_x19"
    )
    assert float(data.x.min()) >= 0.0 and float(data.x.max()) <= 1.0
    # Red images: channel 0 bright, channel 2 dark.
    red = data.x[data.y == 1].view(-1, 3, 400).mean(dim=2)
    assert (red[:, 0] > 0.5).all() and (red[:, 2] < 0.2).all()
    assert data.defaults == IMAGE_DEFAULTS
    with pytest.raises(TargetColumnError, match="image dataset"):
        get_dataset(manifest.id, home=library.home, target="label")
    with pytest.raises(DatasetError, match="classification dataset"):
        get_dataset(manifest.id, home=library.home, task_type="regression")


def test_native_size_is_the_most_common_longer_side():
    assert native_size({"20x14": 3, "14x20": 2, "64x64": 4}) == 20
    assert native_size({"30x30": 2, "40x10": 2}) == 40  # a tie: the larger
    assert native_size({}) == 32


def test_an_unknown_id_lists_builtins_imports_and_csv(library, tmp_path):
    library.import_path(write_table(tmp_path / "t.csv"), "Mine")
    with pytest.raises(DatasetError) as err:
        get_dataset("nope", home=library.home)
    assert str(err.value) == (
        f"Unknown dataset 'nope'; choose one of: {', '.join(BUILTIN_IDS)}, mine or csv:PATH"
    )


def test_an_import_that_cannot_be_used_says_why(library, tmp_path):
    manifest = library.import_path(write_table(tmp_path / "t.csv"), "Gone")
    (library.dir(manifest.id) / "data.csv").unlink()
    with pytest.raises(DatasetError, match=r"Dataset 'gone' cannot be used: .*data.*gone"):
        get_dataset("gone", home=library.home)


def test_dataset_defaults_of_every_kind(library, tmp_path):
    table = library.import_path(write_table(tmp_path / "t.csv"), "T")
    images = library.import_path(write_images(tmp_path / "i"), "I")
    assert dataset_defaults(table.id, library.home) == CSV_DEFAULTS
    assert dataset_defaults(images.id, library.home) == IMAGE_DEFAULTS
    assert dataset_defaults("csv:x.csv") == CSV_DEFAULTS
    assert dataset_defaults("wine").epochs == 40
    with pytest.raises(DatasetError, match="Unknown dataset"):
        dataset_defaults("t_2", library.home)


def test_data_records_name_the_users_data_and_its_hash_now(library, tmp_path):
    path = write_table(tmp_path / "t.csv")
    assert data_record(f"csv:{path}") == DataRecord(
        id=f"csv:{path}", sha256=hashlib.sha256(path.read_bytes()).hexdigest()
    )
    images = library.import_path(write_images(tmp_path / "i"), "Pics")
    assert data_record(images.id, library.home) == DataRecord(id=images.id, sha256=images.sha256)
    Image.new("RGB", (20, 14), (1, 2, 3)).save(library.dir(images.id) / "images" / "red" / "00.png")
    assert data_record(images.id, library.home).sha256 != images.sha256
    assert data_record("iris", library.home) is None and data_record("shapes") is None
    with pytest.raises(DatasetError, match="not found"):
        data_record(f"{CSV_PREFIX}{tmp_path / 'missing.csv'}")
    with pytest.raises(DatasetError, match="Unknown dataset"):
        data_record("nope", library.home)


def test_listing_an_imported_library_imports_no_torch(library, tmp_path):
    library.import_path(write_table(tmp_path / "t.csv"), "Tab")
    code = textwrap.dedent(
        f"""
        import sys
        from engine.datasets import dataset_defaults, get_dataset, list_datasets
        home = {str(library.home)!r}
        assert [i.id for i in list_datasets(home)][-1] == "tab"
        assert dataset_defaults("tab", home).epochs == 100
        assert get_dataset("shapes").info.kind == "images"
        assert "torch" not in sys.modules, "listing imported torch"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the mlp family on imported data ---------------------------------------------------------
def test_the_mlp_family_trains_on_an_imported_table_and_records_it(workspace, tmp_path):
    manifest = DatasetLibrary(workspace.home).import_path(
        write_table(tmp_path / "t.csv", rows=200), "Table"
    )
    variant = workspace.create_variant("mlp", {"dataset": manifest.id}, {"epochs": 30})
    assert variant.config.data == DataRecord(id=manifest.id, sha256=manifest.sha256)
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    assert session.final_metrics["test_accuracy"] >= 0.95


def test_the_mlp_family_trains_on_an_imported_image_folder(workspace, tmp_path):
    manifest = DatasetLibrary(workspace.home).import_path(
        write_images(tmp_path / "imgs", per_class=10), "Colours"
    )
    family = workspace.registry.family("mlp")
    variant = workspace.create_variant("mlp", {"dataset": manifest.id}, {"epochs": 10})
    model = family.create_model(variant.config.domain)
    assert model(torch.zeros(2, 3 * 20 * 20)).shape == (2, 2)
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    assert session.final_metrics["train_accuracy"] == 1.0


def test_the_mlp_family_refuses_a_target_for_an_image_dataset(workspace, tmp_path):
    DatasetLibrary(workspace.home).import_path(write_images(tmp_path / "imgs"), "Colours")
    with pytest.raises(ParameterError) as err:
        workspace.create_variant("mlp", {"dataset": "colours", "target": "x"})
    assert err.value.field == "target"
    with pytest.raises(ParameterError) as err:
        workspace.create_variant("mlp", {"dataset": "digits", "task_type": "regression"})
    assert err.value.field == "dataset" and "classification dataset" in err.value.message


def test_the_mlp_family_sees_an_edited_csv_at_the_next_run(workspace, tmp_path):
    path = write_table(tmp_path / "t.csv", rows=60)
    family = workspace.registry.family("mlp")
    domain = workspace.create_variant("mlp", {"dataset": f"csv:{path}"}).config.domain
    first = family.generate_training_dataset(domain, 0.8, 0)
    before = family.data_record(domain)
    write_table(path, rows=90)
    second = family.generate_training_dataset(domain, 0.8, 0)
    assert (len(first[1]), len(second[1])) == (48, 72)
    now = family.data_record(domain)
    assert now == DataRecord(id=f"csv:{path}", sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert before is not None and before.sha256 != now.sha256
