"""Dataset registry, synthetic generators, CSV loading and the standardising split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.datasets import (
    DatasetError,
    LoadedDataset,
    fit_split,
    get_dataset,
    list_datasets,
    load_csv,
    train_test_split,
)

SYNTHETIC = ["two_moons", "circles", "spirals", "xor", "sine"]
BUNDLED = ["iris", "wine", "diabetes"]
IMAGES = ["digits", "shapes"]
SOURCES_MD = Path(__file__).resolve().parents[1] / "resources" / "datasets" / "SOURCES.md"


def write_csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_list_datasets_has_every_builtin_in_stable_order() -> None:
    ids = [info.id for info in list_datasets()]
    assert ids == SYNTHETIC + BUNDLED + IMAGES
    assert ids == [info.id for info in list_datasets()]


@pytest.mark.parametrize("dataset_id", SYNTHETIC + BUNDLED)
def test_builtin_loads_with_consistent_shapes_and_dtypes(dataset_id: str) -> None:
    ds = get_dataset(dataset_id)
    data = ds.load(seed=0)
    n = data.x.shape[0]
    assert n >= 100
    assert data.x.dtype == torch.float32
    assert data.x.shape == (n, data.num_features) == (n, len(data.feature_names))
    assert data.y.shape == (n,)
    assert data.task_type == ds.info.task_type
    assert torch.isfinite(data.x).all()
    if data.task_type == "classification":
        assert data.y.dtype == torch.int64
        assert data.num_classes == len(data.class_names or [])
        assert set(data.y.tolist()) == set(range(data.num_classes))
    else:
        assert data.y.dtype == torch.float32
        assert data.num_classes is None and data.class_names is None
    assert data.defaults.epochs > 0 and data.defaults.lr > 0 and data.defaults.batch_size > 0


@pytest.mark.parametrize(
    ("dataset_id", "task_type", "num_features", "num_classes"),
    [
        ("two_moons", "classification", 2, 2),
        ("circles", "classification", 2, 2),
        ("spirals", "classification", 2, 3),
        ("xor", "classification", 2, 2),
        ("sine", "regression", 1, None),
        ("iris", "classification", 4, 3),
        ("wine", "classification", 13, 3),
        ("diabetes", "regression", 10, None),
    ],
)
def test_builtin_has_expected_task_and_size(
    dataset_id: str, task_type: str, num_features: int, num_classes: int | None
) -> None:
    data = get_dataset(dataset_id).load()
    assert (data.task_type, data.num_features, data.num_classes) == (
        task_type,
        num_features,
        num_classes,
    )


@pytest.mark.parametrize("dataset_id", SYNTHETIC)
def test_synthetic_same_seed_is_bit_identical(dataset_id: str) -> None:
    a = get_dataset(dataset_id).load(seed=7)
    b = get_dataset(dataset_id).load(seed=7)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


@pytest.mark.parametrize("dataset_id", SYNTHETIC)
def test_synthetic_different_seed_differs(dataset_id: str) -> None:
    a = get_dataset(dataset_id).load(seed=1)
    b = get_dataset(dataset_id).load(seed=2)
    assert not torch.equal(a.x, b.x)


def test_synthetic_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    get_dataset("spirals").load(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_sine_targets_follow_sin_of_x() -> None:
    data = get_dataset("sine").load()
    assert data.x.min() >= -3 and data.x.max() <= 3
    residual = data.y - torch.sin(data.x[:, 0])
    assert residual.abs().mean() < 0.2


def test_split_standardises_train_to_zero_mean_unit_std() -> None:
    train_x, _, _, _ = train_test_split(get_dataset("wine").load(), 0.25, seed=0)
    assert torch.allclose(train_x.mean(dim=0), torch.zeros(13), atol=1e-5)
    assert torch.allclose(train_x.std(dim=0, correction=0), torch.ones(13), atol=1e-4)


def test_split_scales_test_rows_with_train_statistics_only() -> None:
    x = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0], [100.0, 5.0]])
    ds = LoadedDataset(
        x=x,
        y=torch.arange(5, dtype=torch.float32),
        num_features=2,
        task_type="regression",
        num_classes=None,
        feature_names=["a", "b"],
        class_names=None,
        defaults=get_dataset("sine").load().defaults,
    )
    split = fit_split(ds, 0.4, seed=3)
    train_x, train_y, test_x, test_y = split.train_x, split.train_y, split.test_x, split.test_y
    assert len(train_y) == 3 and len(test_y) == 2
    # The target (the row index here) is standardised too; its scale recovers the rows.
    assert split.target is not None
    train_rows = x[split.target.inverse(train_y).round().long()]
    test_rows = x[split.target.inverse(test_y).round().long()]
    mean = train_rows.mean(dim=0)
    std = train_rows.std(dim=0, correction=0)
    std[1] = 1.0  # constant column: std 0 -> 1
    assert torch.allclose(train_x, (train_rows - mean) / std, atol=1e-6)
    assert torch.allclose(test_x, (test_rows - mean) / std, atol=1e-6)


def test_split_is_deterministic_and_partitions_rows() -> None:
    data = get_dataset("iris").load()
    a = train_test_split(data, 0.2, seed=4)
    b = train_test_split(data, 0.2, seed=4)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert len(a[1]) == 120 and len(a[3]) == 30
    c = train_test_split(data, 0.2, seed=5)
    assert not torch.equal(a[1], c[1])


def test_split_rejects_bad_fraction() -> None:
    with pytest.raises(DatasetError, match="between 0 and 1"):
        train_test_split(get_dataset("xor").load(), 1.0, seed=0)


def test_csv_integer_target_with_few_values_is_classification(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,b,label\n1,2,0\n3,4,1\n5,6,2\n7,8,10\n")
    data = load_csv(path)
    assert data.task_type == "classification"
    assert data.class_names == ["0", "1", "2", "10"]
    assert data.y.tolist() == [0, 1, 2, 3]
    assert data.feature_names == ["a", "b"]


def test_csv_text_target_is_classification_with_sorted_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x,kind\n1,dog\n2,cat\n3,emu\n4,cat\n")
    data = load_csv(path)
    assert data.class_names == ["cat", "dog", "emu"]
    assert data.y.tolist() == [1, 0, 2, 0]
    assert data.y.dtype == torch.int64


def test_csv_float_target_is_regression(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x,price\n1,1.5\n2,2.25\n3,3.0\n")
    data = load_csv(path)
    assert data.task_type == "regression"
    assert data.y.dtype == torch.float32
    assert data.y.tolist() == [1.5, 2.25, 3.0]
    assert data.num_classes is None


def test_csv_many_integer_values_is_regression(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i * 3}\n" for i in range(25))
    assert load_csv(write_csv(tmp_path, "x,count\n" + rows)).task_type == "regression"


def test_csv_task_type_override(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x,y\n1,0\n2,1\n3,1\n")
    data = load_csv(path, task_type="regression")
    assert data.task_type == "regression"
    assert data.y.dtype == torch.float32
    assert data.y.tolist() == [0.0, 1.0, 1.0]


def test_csv_target_by_name_not_last_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "y,a,b\nno,1,2\nyes,3,4\n")
    data = load_csv(path, target="y")
    assert data.feature_names == ["a", "b"]
    assert data.class_names == ["no", "yes"]
    assert data.x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_csv_text_features_are_one_hot_encoded(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "size,colour,y\n1,red,0\n2,blue,1\n3,green,0\n4,red,1\n")
    data = load_csv(path)
    assert data.feature_names == ["size", "colour=blue", "colour=green", "colour=red"]
    assert data.x.tolist() == [
        [1.0, 0.0, 0.0, 1.0],
        [2.0, 1.0, 0.0, 0.0],
        [3.0, 0.0, 1.0, 0.0],
        [4.0, 0.0, 0.0, 1.0],
    ]
    assert data.num_features == 4


def test_csv_missing_cell_names_row_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,petal_width,y\n1,2,0\n3,,1\n", name="iris.csv")
    with pytest.raises(DatasetError) as err:
        load_csv(path)
    assert str(err.value) == "iris.csv: row 2, column 'petal_width': missing value"


def test_csv_unparseable_cell_names_value_row_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,abc,0\n", name="t.csv")
    with pytest.raises(DatasetError) as err:
        load_csv(path)
    assert str(err.value) == "t.csv: row 3, column 'b': cannot parse 'abc' as a number"


def test_csv_unknown_target_lists_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,b,y\n1,2,0\n")
    with pytest.raises(DatasetError, match=r"no column named 'label'; available columns: a, b, y"):
        load_csv(path, target="label")


def test_csv_missing_file_is_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n\n", "empty"),
        ("a,b,y\n", "no data rows"),
        ("a,b,y\n1,2,0\n3,1\n", "row 2: expected 3 values"),
        ("a,y\n1,x\n2,x\n", "only one class"),
    ],
)
def test_malformed_csv_is_a_dataset_error_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        load_csv(write_csv(tmp_path, text))


def test_get_dataset_csv_id(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,b,y\n1,2,up\n3,4,down\n5,6,up\n")
    ds = get_dataset(f"csv:{path}")
    assert ds.info.source == "csv" and ds.info.task_type == "classification"
    assert ds.info.id == f"csv:{path}"
    data = ds.load()
    assert data.defaults.epochs == 100 and data.defaults.lr == 1e-3
    assert data.defaults.batch_size == 32
    assert data.y.tolist() == [1, 0, 1]


def test_get_dataset_csv_id_with_unknown_target(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,b,y\n1,2,0\n")
    with pytest.raises(DatasetError, match="available columns"):
        get_dataset(f"csv:{path}", target="nope")


def test_unknown_dataset_id_lists_choices() -> None:
    with pytest.raises(DatasetError) as err:
        get_dataset("foo")
    message = str(err.value)
    assert message.startswith("Unknown dataset 'foo'; choose one of: two_moons, circles")
    assert message.endswith("or csv:PATH")


def test_builtin_rejects_a_different_task_type() -> None:
    with pytest.raises(DatasetError, match="classification dataset"):
        get_dataset("iris", task_type="regression")


def test_dataset_error_is_a_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


@pytest.mark.parametrize("dataset_id", BUNDLED)
def test_bundled_dataset_has_source_and_licence_entry(dataset_id: str) -> None:
    text = SOURCES_MD.read_text(encoding="utf-8")
    section = text.split(f"## {dataset_id}.csv", 1)
    assert len(section) == 2, f"no SOURCES.md section for {dataset_id}.csv"
    entry = section[1].split("\n## ", 1)[0]
    assert "Source:" in entry and "Licence:" in entry
    assert get_dataset(dataset_id).info.source == "bundled"
