"""The dataset library: imports of CSV files, folders and ZIPs, ids, rename, delete, listing.

The image datasets are made from the shipped digits table (8x8, values 0..16): 10 images per
class written as PNGs with Pillow, as a folder and as ZIPs with and without a top folder.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.datasets.images import cached_images
from engine.datasets.library import DatasetLibrary, ImportProgress, builtin_ids, slug
from engine.datasets.manifest import (
    DATA_CSV,
    IMAGES_DIR,
    IMPORTING_PREFIX,
    MANIFEST_FILE,
    PID_FILE,
    TRASH_PREFIX,
)
from engine.datasets.types import DatasetError, DatasetImportError

DIGITS_CSV = Path(__file__).resolve().parents[1] / "resources" / "datasets" / "digits.csv"
PER_CLASS = 10


def digit_rows() -> tuple[list[str], list[list[str]]]:
    with open(DIGITS_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_digits(root: Path, per_class: int = PER_CLASS) -> dict[str, list[list[int]]]:
    """`per_class` PNGs per digit in root/<digit>/<n>.png; the pixel values (0..16) of each,
    in file order, per class."""
    header, rows = digit_rows()
    assert len(rows) == 1797 and header[:2] == ["p00", "p01"] and header[63:] == ["p77", "digit"]
    written: dict[str, list[list[int]]] = {}
    for row in rows:
        digit, values = row[-1], [int(v) for v in row[:64]]
        if len(written.setdefault(digit, [])) == per_class:
            continue
        image = Image.new("L", (8, 8))
        image.putdata([v * 255 // 16 for v in values])
        (root / digit).mkdir(parents=True, exist_ok=True)
        image.save(root / digit / f"{len(written[digit]):02d}.png")
        written[digit].append(values)
    return written


def zip_folder(folder: Path, target: Path, *, top: bool) -> Path:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder.parent if top else folder).as_posix()
            if path.is_dir():
                zf.writestr(relative + "/", b"")
            else:
                zf.write(path, relative)
    return target


@pytest.fixture
def library(trainwright_home: Path) -> DatasetLibrary:
    return DatasetLibrary(trainwright_home)


@pytest.fixture
def digits_folder(tmp_path: Path) -> tuple[Path, dict[str, list[list[int]]]]:
    folder = tmp_path / "digits"
    return folder, write_digits(folder)


def write_table(path: Path) -> Path:
    path.write_text(
        "size,colour,weight,kind\n1.5,red,10,a\n2.5,blue,,b\n3,red,12,a\n4,green,13,b\n",
        encoding="utf-8",
    )
    return path


# ---- CSV ---------------------------------------------------------------------------------


def test_a_csv_is_copied_checked_and_described(library: DatasetLibrary, tmp_path: Path) -> None:
    source = tmp_path / "Flowers 2024.csv"
    source.write_text("a,b,label\n1,2.5,x\n2,3.5,y\n3,4.5,x\n", encoding="utf-8")
    manifest = library.import_path(source)
    assert (manifest.id, manifest.name, manifest.kind) == (
        "flowers_2024",
        "Flowers 2024",
        "tabular",
    )
    assert manifest.status == "ready" and manifest.error is None
    assert manifest.source == str(source)
    assert manifest.imported_at.endswith("Z")
    assert (manifest.rows, manifest.target, manifest.task_type) == (3, "label", "classification")
    assert [(c.name, c.type, c.distinct) for c in manifest.columns] == [
        ("a", "integer", 3),
        ("b", "number", 3),
        ("label", "text", 2),
    ]
    data = library.dir(manifest.id) / DATA_CSV
    assert data.read_bytes() == source.read_bytes()
    assert manifest.size_bytes == data.stat().st_size
    assert manifest.sha256 == library.content_sha256(manifest.id)
    assert library.data_path(manifest.id) == data
    source.unlink()  # the library keeps its own copy
    assert library.get(manifest.id) == manifest
    assert json.loads((data.parent / MANIFEST_FILE).read_text())["id"] == "flowers_2024"


def test_the_shipped_digits_table_imports_as_a_classification_table(
    library: DatasetLibrary,
) -> None:
    manifest = library.import_path(DIGITS_CSV)
    assert manifest.id == "digits_2"  # "digits" is the built-in image dataset's id
    assert (manifest.rows, manifest.target, manifest.task_type) == (1797, "digit", "classification")
    assert len(manifest.columns) == 65
    assert all(c.type == "integer" and c.missing == 0 for c in manifest.columns)
    assert manifest.columns[-1].distinct == 10


def test_a_regression_target_is_recorded(library: DatasetLibrary, tmp_path: Path) -> None:
    source = tmp_path / "prices.csv"
    source.write_text(
        "x,price\n" + "".join(f"{i},{i * 1.25 + 0.1}\n" for i in range(30)), encoding="utf-8"
    )
    assert library.import_path(source).task_type == "regression"


def test_a_bad_csv_is_refused_naming_row_and_column(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    source = write_table(tmp_path / "table.csv")
    with pytest.raises(DatasetImportError) as info:
        library.import_path(source)
    assert str(info.value) == "table.csv: row 2, column 'weight': missing value"
    assert list(library.root.iterdir()) == []


def test_a_csv_that_is_not_utf8_is_refused(library: DatasetLibrary, tmp_path: Path) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetImportError, match=r"^latin.csv: not a UTF-8 text file"):
        library.import_path(source)
    assert list(library.root.iterdir()) == []


def test_a_zip_holding_one_csv_is_a_table(library: DatasetLibrary, tmp_path: Path) -> None:
    table = tmp_path / "data" / "table.csv"
    table.parent.mkdir()
    table.write_text("a,b,label\n1,2,x\n2,3,y\n", encoding="utf-8")
    source = zip_folder(table.parent, tmp_path / "bundle.zip", top=True)
    manifest = library.import_path(source)
    assert (manifest.id, manifest.kind, manifest.rows) == ("bundle", "tabular", 2)
    assert (library.dir("bundle") / DATA_CSV).read_bytes() == table.read_bytes()
    assert not (library.dir("bundle") / "unpacked").exists()


def test_a_bad_csv_inside_a_zip_is_named_with_the_zip(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    source = tmp_path / "bundle.zip"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("t.csv", "a,b\n1\n")
    with pytest.raises(DatasetImportError) as info:
        library.import_path(source)
    assert (
        str(info.value) == "bundle.zip: t.csv: row 1: expected 2 values (one per column), found 1"
    )
    assert list(library.root.iterdir()) == []


# ---- images --------------------------------------------------------------------------------


def test_a_folder_of_digits_is_imported(
    library: DatasetLibrary, digits_folder: tuple[Path, dict]
) -> None:
    folder, written = digits_folder
    stages: list[str] = []
    manifest = library.import_path(folder, progress=lambda p: stages.append(p.stage))
    assert (manifest.id, manifest.kind) == ("digits_2", "images")
    assert [(c.name, c.count) for c in manifest.classes] == [(str(d), PER_CLASS) for d in range(10)]
    assert manifest.image_sizes == {"8x8": 10 * PER_CLASS}
    assert manifest.formats == {"PNG": 10 * PER_CLASS}
    assert manifest.channels == 1
    assert manifest.skipped == []
    assert manifest.sha256 == library.content_sha256(manifest.id)
    assert library.data_path(manifest.id) == library.dir(manifest.id) / IMAGES_DIR
    assert list(dict.fromkeys(stages)) == ["copying", "checking images", "hashing"]
    assert stages.count("checking images") == 10 * PER_CLASS

    loaded = cached_images(library.dir(manifest.id), manifest, 8, 1)
    assert loaded.y.tolist() == [d for d in range(10) for _ in range(PER_CLASS)]
    expected = torch.tensor(written["3"][0], dtype=torch.int64).reshape(8, 8) * 255 // 16
    assert torch.equal(loaded.x[3 * PER_CLASS, 0].long(), expected)


@pytest.mark.parametrize("top", [True, False], ids=["with top folder", "without top folder"])
def test_a_zip_of_digits_is_imported(
    library: DatasetLibrary, digits_folder: tuple[Path, dict], tmp_path: Path, top: bool
) -> None:
    folder, _ = digits_folder
    from_folder = library.import_path(folder)
    source = zip_folder(folder, tmp_path / "handwriting.zip", top=top)
    stages: list[ImportProgress] = []
    manifest = library.import_path(source, name="Hand writing", progress=stages.append)
    assert (manifest.id, manifest.name, manifest.kind) == ("hand_writing", "Hand writing", "images")
    assert manifest.classes == from_folder.classes
    assert manifest.sha256 == from_folder.sha256  # the same files, the same content hash
    assert manifest.skipped == []
    extracting = [p for p in stages if p.stage == "extracting"]
    assert len(extracting) == 10 * PER_CLASS and extracting[-1].done == extracting[-1].total
    assert sorted(p.name for p in library.dir(manifest.id).iterdir()) == [
        IMAGES_DIR,
        MANIFEST_FILE,
    ]


def test_a_zip_with_mac_litter_lists_it_once(
    library: DatasetLibrary, digits_folder: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, _ = digits_folder
    source = zip_folder(folder, tmp_path / "digits.zip", top=True)
    with zipfile.ZipFile(source, "a") as zf:
        for name in ("__MACOSX/digits/0/._00.png", "__MACOSX/digits/1/._00.png"):
            zf.writestr(name, b"\0\5\x16\7")
        zf.writestr("digits/0/.DS_Store", b"Bud1")
        zf.writestr("digits/readme.txt", b"hello")
    manifest = library.import_path(source)
    assert [(s.path, s.reason) for s in manifest.skipped] == [
        ("__MACOSX/", "hidden/system file"),
        ("digits/0/.DS_Store", "hidden/system file"),
        ("digits/readme.txt", "not an image"),
    ]


def test_colour_images_record_three_channels(library: DatasetLibrary, tmp_path: Path) -> None:
    for k, colour in enumerate([(200, 0, 0), (0, 0, 200)]):
        for i in range(2):
            path = tmp_path / "rgb" / f"c{k}" / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (5, 3), colour).save(path)
    manifest = library.import_path(tmp_path / "rgb")
    assert manifest.channels == 3 and manifest.image_sizes == {"5x3": 4}


def test_a_changed_copy_changes_the_content_hash(
    library: DatasetLibrary, digits_folder: tuple[Path, dict]
) -> None:
    manifest = library.import_path(digits_folder[0])
    image = library.dir(manifest.id) / IMAGES_DIR / "0" / "00.png"
    Image.new("L", (8, 8), 7).save(image)
    assert library.content_sha256(manifest.id) != manifest.sha256


# ---- ids and names ---------------------------------------------------------------------------


def test_slugs() -> None:
    assert slug("Flowers 2024!") == "flowers_2024"
    assert slug("  Café  Crème ") == "cafe_creme"
    assert slug("日本") == "dataset"
    assert slug("CSV export") == "data_csv_export"
    assert slug("x" * 60) == "x" * 40
    assert len(slug("a" * 39 + " b c d")) <= 40


def test_ids_never_collide_and_never_take_a_builtin_id(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    assert {"two_moons", "iris", "wine", "diabetes", "digits", "shapes"} <= builtin_ids()
    source = tmp_path / "t.csv"
    source.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    ids = [library.import_path(source, name=n).id for n in ("Iris", "iris", "My data", "My data")]
    assert ids == ["iris_2", "iris_3", "my_data", "my_data_2"]
    long_name = "A very long name for a dataset that goes on and on"
    first, second = (library.import_path(source, name=long_name).id for _ in range(2))
    assert len(first) <= 40 and len(second) <= 40 and second == first[:38].rstrip("_") + "_2"
    with pytest.raises(DatasetError, match="name is empty"):
        library.import_path(source, name="   ")


def test_rename_changes_only_the_name(library: DatasetLibrary, tmp_path: Path) -> None:
    manifest = library.import_path(write_table_ok(tmp_path / "t.csv"), name="First")
    renamed = library.rename(manifest.id, "  Second   name ")
    assert (renamed.id, renamed.name) == (manifest.id, "Second name")
    assert renamed.model_copy(update={"name": "First"}) == manifest
    assert library.get(manifest.id).name == "Second name"
    assert [m.id for m in library.manifests()] == [manifest.id]


def write_table_ok(path: Path) -> Path:
    path.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    return path


def test_delete_removes_everything(library: DatasetLibrary, digits_folder: tuple) -> None:
    manifest = library.import_path(digits_folder[0])
    cached_images(library.dir(manifest.id), manifest, 8, 1)
    library.delete(manifest.id)
    assert list(library.root.iterdir()) == []
    with pytest.raises(DatasetError, match=rf"^no dataset '{manifest.id}' in the library"):
        library.get(manifest.id)
    with pytest.raises(DatasetError, match="no dataset"):
        library.delete(manifest.id)


@pytest.mark.parametrize("bad", ["../home", ".importing-x", "a/b", "", "x:y"])
def test_ids_from_outside_cannot_leave_the_library(library: DatasetLibrary, bad: str) -> None:
    with pytest.raises(DatasetError):
        library.dir(bad)


def test_variants_using_reads_their_configs(
    library: DatasetLibrary, trainwright_home: Path
) -> None:
    def variant(family: str, name: str, text: str) -> None:
        directory = trainwright_home / "variants" / family / name
        directory.mkdir(parents=True)
        (directory / "config.json").write_text(text, encoding="utf-8")

    variant("mlp", "b_run", json.dumps({"domain": {"dataset": "flowers"}}))
    variant("mlp", "a_run", json.dumps({"domain": {"dataset": "flowers", "hidden": 8}}))
    variant("mlp", "other", json.dumps({"domain": {"dataset": "iris"}}))
    variant("mlp", "broken", "{not json")
    variant("mlp", "odd", json.dumps(["a", "list"]))
    variant("toy", "no_domain", json.dumps({"family": "toy"}))
    assert library.variants_using("flowers") == ["a_run", "b_run"]
    assert library.variants_using("nothing") == []


# ---- listing -------------------------------------------------------------------------------


def test_manifests_list_broken_folders_with_the_reason(
    library: DatasetLibrary, tmp_path: Path
) -> None:
    good = library.import_path(write_table_ok(tmp_path / "t.csv"), name="Zeta")
    gone = library.import_path(write_table_ok(tmp_path / "u.csv"), name="Gone")
    (library.dir(gone.id) / DATA_CSV).unlink()
    (library.root / "empty").mkdir()
    (library.root / "garbled").mkdir()
    (library.root / "garbled" / MANIFEST_FILE).write_text("{oops", encoding="utf-8")
    (library.root / "moved").mkdir()
    (library.root / "moved" / MANIFEST_FILE).write_text(
        (library.dir(good.id) / MANIFEST_FILE).read_text(encoding="utf-8"), encoding="utf-8"
    )
    (library.root / "stray.txt").write_text("not a folder")
    listed = {m.id: m for m in library.manifests()}
    assert [m.id for m in library.manifests()] == ["empty", "garbled", "gone", "moved", "zeta"]
    assert listed["zeta"].status == "ready"
    assert (listed["gone"].status, listed["gone"].error) == ("error", "its data (data.csv) is gone")
    assert listed["gone"].name == "Gone"
    assert listed["empty"].error == "manifest.json is missing"
    assert listed["garbled"].error.startswith("manifest.json is not valid")
    assert (
        listed["moved"].error == "manifest.json is for dataset 'zeta', not for its folder 'moved'"
    )
    with pytest.raises(DatasetError, match="dataset 'gone' cannot be used: its data"):
        library.data_path("gone")


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_debris_of_dead_imports_and_deletions_is_removed(library: DatasetLibrary) -> None:
    library.root.mkdir(parents=True)
    old = time.time() - 3600

    def temp(name: str, pid: int | None, mtime: float) -> Path:
        directory = library.root / f"{IMPORTING_PREFIX}{name}"
        (directory / "images").mkdir(parents=True)
        if pid is not None:
            (directory / PID_FILE).write_text(f"{pid}\n")
        os.utime(directory, (mtime, mtime))
        return directory

    dead = temp("dead", _dead_pid(), old)
    no_pid = temp("nopid", None, old)
    mine_not_running = temp("mine", os.getpid(), old)
    live = temp("live", os.getppid(), old)  # the parent of this test process is alive
    young = temp("young", _dead_pid(), time.time())
    trash = library.root / f"{TRASH_PREFIX}x-1234abcd"
    trash.mkdir()
    assert library.manifests() == []
    assert not dead.exists() and not no_pid.exists() and not mine_not_running.exists()
    assert not trash.exists()
    assert live.exists() and young.exists()


def test_an_import_running_in_this_process_is_not_debris(
    library: DatasetLibrary, digits_folder: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second listing during an import (here: from its progress callback, with the age
    limit at zero) leaves the running import's temp folder alone."""
    import engine.datasets.library as library_module

    monkeypatch.setattr(library_module, "STALE_IMPORT_SECONDS", 0.0)
    temps: list[list[str]] = []

    def progress(step: ImportProgress) -> None:
        if step.stage == "hashing" and step.done == 1:
            library.manifests()
            temps.append([p.name for p in library.root.glob(f"{IMPORTING_PREFIX}*")])

    manifest = library.import_path(digits_folder[0], progress=progress)
    assert len(temps) == 1 and len(temps[0]) == 1
    assert library.get(manifest.id).status == "ready"


def test_cancel_from_another_thread_leaves_nothing(
    library: DatasetLibrary, digits_folder: tuple
) -> None:
    cancel = threading.Event()
    started = threading.Event()
    errors: list[BaseException] = []

    def progress(step: ImportProgress) -> None:
        started.set()
        assert cancel.wait(10)  # the first file is done; wait for the other thread to cancel

    def run() -> None:
        try:
            library.import_path(digits_folder[0], progress=progress, cancel=cancel)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(10)
    cancel.set()
    worker.join(10)
    assert [str(e) for e in errors] == ["import cancelled"]
    assert list(library.root.iterdir()) == []
