"""`trainwright predict`: a published version's predictions on new data are its variant's own
model's outputs on the same examples, with either backend; bad inputs and unknown models are
refused by name."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.cli import run_cli
from PIL import Image

from engine import cli
from engine.analysis.checkpoints import load_weights, weights_checkpoints
from engine.datasets.split import split_indices
from engine.errors import CheckpointError
from engine.inference import InputError
from engine.inference.predictor import (
    CHUNK,
    ONNX_FILE,
    PredictionResult,
    Predictor,
    load_predictor,
)
from engine.metadata import VariantMetadata
from engine.registry.export import example_inputs, onnx_bytes
from engine.registry.loading import load_model
from engine.registry.publish import publish
from engine.registry.records import (
    WEIGHTS_FILE,
    RegistryError,
    read_version,
    version_dir,
)
from engine.workspace import Workspace

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "datasets"
RUNS = {
    "iris": ("mlp", {"dataset": "iris", "hidden_dim": 8}, {"epochs": 2}),
    "diabetes": ("mlp", {"dataset": "diabetes", "hidden_dim": 8}, {"epochs": 2}),
    "digits": (
        "image_classifier",
        {"dataset": "digits", "conv_channels": [8, 16]},
        {"epochs": 1},
    ),
    "modulo": ("modulo_addition_1layer", {"prime": 11}, {"epochs": 2}),
}
TORCH_TOLERANCE = 1e-6
ONNX_TOLERANCE = 1e-4


# ---- publishing ---------------------------------------


def publish_for_test(ws: Workspace, variant: Any, name: str) -> Path:
    """Publish the variant's final weights as the next version of model `name` (the real
    engine.registry.publish); returns the version's folder."""
    version = publish(ws, variant.name, name, checkpoint="final")
    return version_dir(ws.home, name, version.version)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict[str, Any]:
    """One home with four trained variants, each published as the model of its key."""
    home = tmp_path_factory.mktemp("predict_home")
    ws = Workspace(home)
    variants = {}
    for name, (family, domain, training) in RUNS.items():
        variant = ws.create_variant(family, domain, {**training, "threads": 1})
        session = ws.train(variant)
        assert session.status == "completed", session.error_message
        publish_for_test(ws, variant, name)
        variants[name] = variant
    return {"ws": ws, "home": home, "variants": variants}


# ---- the variant's own model and test split --------------------------------------------------


def _own_outputs(ws: Workspace, variant: Any) -> torch.Tensor:
    """The variant's final model (built the plain way) on its test split's tensor."""
    family = ws.registry.family(variant.family)
    model = family.create_model(variant.config.domain)
    model.load_state_dict(load_weights(weights_checkpoints(variant)[-1]))
    with torch.no_grad():
        return model.eval()(_split(ws, variant)[2])


def _split(ws: Workspace, variant: Any) -> tuple[torch.Tensor, ...]:
    cfg = variant.config.training
    family = ws.registry.family(variant.family)
    return family.generate_training_dataset(
        variant.config.domain, cfg.training_fraction, cfg.data_seed
    )


def _test_rows_csv(variant: Any, folder: Path) -> Path:
    """The variant's test rows of its CSV dataset, as a new file (the target column kept:
    predict ignores columns the model does not read)."""
    source = RESOURCES / f"{variant.config.domain['dataset']}.csv"
    rows = [row for row in csv.reader(source.open(encoding="utf-8-sig")) if any(row)]
    cfg = variant.config.training
    test = split_indices(len(rows) - 1, 1.0 - cfg.training_fraction, cfg.data_seed)[1]
    return _write_csv(folder / "new.csv", rows[0], [rows[1 + k] for k in test.tolist()])


def _pairs_csv(ws: Workspace, variant: Any, folder: Path) -> tuple[Path, list[list[int]]]:
    pairs = [[a, b] for a, b, _ in _split(ws, variant)[2].tolist()]
    return _write_csv(folder / "pairs.csv", ["a", "b"], pairs), pairs


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _test_pngs(ws: Workspace, variant: Any, folder: Path) -> list[Path]:
    """The image classifier's raw test images as PNG files named in test order."""
    cfg = variant.config.training
    family = ws.registry.family(variant.family)
    images = family.test_images(variant.config.domain, cfg.training_fraction, cfg.data_seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate(images):
        array = image.permute(1, 2, 0).numpy()
        picture = Image.fromarray(array[:, :, 0], "L") if array.shape[2] == 1 else None
        picture = picture or Image.fromarray(array, "RGB")
        paths.append(folder / f"digit_{k:04d}.png")
        picture.save(paths[-1])
    return paths


def _new_data(published: dict[str, Any], name: str, folder: Path) -> Path:
    """New inputs holding the variant's test examples in test order: a CSV or an image folder."""
    ws, variant = published["ws"], published["variants"][name]
    if name == "digits":
        _test_pngs(ws, variant, folder / "images")
        return folder / "images"
    if name == "modulo":
        return _pairs_csv(ws, variant, folder)[0]
    return _test_rows_csv(variant, folder)


def _assert_matches(
    result: PredictionResult, own: torch.Tensor, preprocessing: dict[str, Any], tol: float
) -> None:
    """The result is the variant's own outputs read as predictions, within `tol`."""
    assert len(result) == len(own)
    if preprocessing.get("task_type") == "regression":
        expected = own.reshape(-1).double() * preprocessing["target_std"]
        expected = expected + preprocessing["target_mean"]
        found = torch.tensor([item.prediction for item in result.items], dtype=torch.float64)
        assert torch.allclose(found, expected, rtol=tol, atol=tol * preprocessing["target_std"])
        assert all(item.probabilities is None for item in result.items)
        return
    chosen = own.argmax(dim=1).tolist()
    if preprocessing["kind"] == "modulo":
        assert [item.prediction for item in result.items] == chosen
        return
    names = preprocessing["class_names"]
    assert result.class_names == names
    assert [item.prediction for item in result.items] == [names[k] for k in chosen]
    expected = own.double().softmax(dim=1)
    found = torch.tensor([[item.probabilities[n] for n in names] for item in result.items])
    assert torch.allclose(found.double(), expected, atol=tol, rtol=0)


# ---- predictions equal the variant's own outputs --------------------------------------------


@pytest.mark.parametrize("name", list(RUNS))
def test_torch_predictions_are_the_variants_own_outputs(published, tmp_path, name) -> None:
    ws, variant = published["ws"], published["variants"][name]
    predictor = load_predictor(ws, name)
    assert (predictor.backend, predictor.version.version) == ("torch", 1)
    result = predictor.predict(_new_data(published, name, tmp_path))
    own = _own_outputs(ws, variant)
    _assert_matches(result, own, predictor.preprocessing, TORCH_TOLERANCE)
    if name == "digits":
        assert result.identifier_name == "file"
        assert [i.identifier for i in result.items][:2] == ["digit_0000.png", "digit_0001.png"]
    else:
        assert result.identifier_name == "row"
        assert [i.identifier for i in result.items] == list(range(1, len(own) + 1))


@pytest.mark.parametrize("name", list(RUNS))
def test_onnx_predictions_are_the_variants_own_outputs(published, tmp_path, name) -> None:
    ws, variant = published["ws"], published["variants"][name]
    predictor = load_predictor(ws, f"{name}:1", backend="onnx")
    assert predictor.backend == "onnx"
    result = predictor.predict(_new_data(published, name, tmp_path))
    own = _own_outputs(ws, variant)
    _assert_matches(result, own, predictor.preprocessing, ONNX_TOLERANCE)


def test_a_regression_predicts_in_the_targets_units(published, tmp_path) -> None:
    result = load_predictor(published["ws"], "diabetes").predict(
        _new_data(published, "diabetes", tmp_path)
    )
    values = [item.prediction for item in result.items]
    assert 20 < sum(values) / len(values) < 350  # disease progression, not standardised
    header, rows = result.table()
    assert header == ["row", "prediction"] and rows[0] == [1, values[0]]


def test_modulo_predictions_are_right_as_often_as_the_test_accuracy(published, tmp_path) -> None:
    """Predicted residues are (a + b) mod 11 exactly where the run's test accuracy counts a
    right answer: no accuracy is required of a two-epoch model."""
    ws, variant = published["ws"], published["variants"]["modulo"]
    path, pairs = _pairs_csv(ws, variant, tmp_path)
    result = load_predictor(ws, "modulo:v1").predict(path)
    right = sum(i.prediction == (a + b) % 11 for i, (a, b) in zip(result.items, pairs, strict=True))
    accuracy = VariantMetadata.load(variant.metadata_path).final_metrics["test_accuracy"]
    assert right / len(pairs) == pytest.approx(accuracy)
    assert all(isinstance(i.prediction, int) and 0 <= i.prediction < 11 for i in result.items)


def test_a_large_input_runs_in_chunks_with_the_same_predictions(published, tmp_path) -> None:
    ws = published["ws"]
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    rows = [
        [4 + (k % 40) / 10, 2 + (k % 25) / 10, 1 + (k % 60) / 10, (k % 25) / 10]
        for k in range(CHUNK * 2 + 5)
    ]
    path = _write_csv(tmp_path / "many.csv", header, rows)
    predictor = load_predictor(ws, "iris")
    run, sizes = predictor._runner, []

    def counted(x: torch.Tensor) -> torch.Tensor:
        sizes.append(len(x))
        return run(x)

    predictor._runner = counted
    result = predictor.predict(path)
    assert sizes == [CHUNK, CHUNK, 5]  # never one forward pass over the whole file
    model, _version = load_model(ws, predictor.directory)
    from engine.inference.inputs import inputs_for

    with torch.no_grad():
        whole = model(inputs_for(predictor.preprocessing, path))
    assert len(result) == len(rows)
    assert [i.prediction for i in result.items] == [
        predictor.preprocessing["class_names"][k] for k in whole.argmax(1).tolist()
    ]
    assert result.items[-1].identifier == len(rows)


def test_a_kept_model_onnx_is_used_without_the_weights(published, tmp_path) -> None:
    """A version folder with model.onnx predicts through it: the weights file is not read (and
    the torch backend, which needs it, refuses)."""
    ws, home = published["ws"], published["home"]
    source = version_dir(home, "iris", 1)
    copy = version_dir(home, "iris_onnx", 1)
    shutil.copytree(source, copy)
    predictor = load_predictor(ws, "iris")
    example = example_inputs(ws, read_version(source), predictor.preprocessing)
    (copy / ONNX_FILE).write_bytes(onnx_bytes(load_model(ws, source)[0], example)[0])
    (copy / WEIGHTS_FILE).unlink()
    path = _new_data(published, "iris", tmp_path)
    kept = load_predictor(ws, "iris_onnx", backend="onnx").predict(path)
    assert [i.prediction for i in kept.items] == [
        i.prediction for i in predictor.predict(path).items
    ]
    with pytest.raises(CheckpointError, match=re.escape(f"{WEIGHTS_FILE} is missing")):
        load_predictor(ws, "iris_onnx")


# ---- the CLI ---------------------------------------------------------------------------------


def test_the_cli_writes_a_csv_of_predictions(published, tmp_path) -> None:
    ws, home = published["ws"], published["home"]
    path = _new_data(published, "iris", tmp_path)
    out = tmp_path / "predictions.csv"
    done = run_cli(home, "predict", "iris:1", path, "--out", out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.open(encoding="utf-8")))
    expected = load_predictor(ws, "iris").predict(path)
    names = expected.class_names
    assert rows[0] == ["row", "prediction", *(f"p_{n}" for n in names)]
    assert [r[1] for r in rows[1:]] == [i.prediction for i in expected.items]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, len(expected) + 1))
    first = expected.items[0].probabilities
    assert [float(v) for v in rows[1][2:]] == [first[n] for n in names]


def test_the_cli_prints_json_for_a_folder_of_images(published, tmp_path) -> None:
    ws, home = published["ws"], published["home"]
    folder = _new_data(published, "digits", tmp_path)
    done = run_cli(home, "predict", "digits", folder, "--json", "--backend", "onnx")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    expected = load_predictor(ws, "digits").predict(folder)
    assert [r["file"] for r in found] == [i.identifier for i in expected.items]
    assert [r["prediction"] for r in found] == [i.prediction for i in expected.items]
    assert set(found[0]["probabilities"]) == set(expected.class_names)


def test_the_cli_prints_csv_to_stdout(published, tmp_path, capsys) -> None:
    home = published["home"]
    path, pairs = _pairs_csv(published["ws"], published["variants"]["modulo"], tmp_path)
    assert cli.main(["--home", str(home), "predict", "modulo", str(path)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["row", "prediction"]
    assert len(rows) == len(pairs) + 1
    assert all(0 <= int(r[1]) < 11 for r in rows[1:])


def _refused(home: Path, capsys, *args: str) -> str:
    code = cli.main(["--home", str(home), "predict", *map(str, args)])
    captured = capsys.readouterr()
    assert code == cli.EXIT_BAD_INPUT, captured
    assert captured.out == ""
    return captured.err


IRIS_HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sepal_length,petal_length,petal_width\n5,1,1\n", "new.csv: no column 'sepal_width'"),
        (IRIS_HEADER + "5,3,1,1\n5,3,abc,1\n", "new.csv: row 2, column 'petal_length': 'abc'"),
    ],
)
def test_the_cli_refuses_a_bad_table(published, tmp_path, capsys, text, message) -> None:
    path = tmp_path / "new.csv"
    path.write_text(text, encoding="utf-8")
    err = _refused(published["home"], capsys, "iris", path)
    assert err.startswith(f"trainwright: error: {message}")


def test_the_cli_refuses_an_unreadable_image(published, tmp_path, capsys) -> None:
    folder = tmp_path / "images"
    _test_pngs(published["ws"], published["variants"]["digits"], folder)
    (folder / "broken.png").write_bytes(b"not a png")
    err = _refused(published["home"], capsys, "digits", folder)
    assert "broken.png" in err and err.startswith("trainwright: error:")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nosuch", "no model named 'nosuch'"),
        ("iris:7", "model 'iris' has no version '7' (it has v1)"),
        ("iris:prod", "model 'iris' has no alias 'prod'"),
    ],
)
def test_the_cli_refuses_an_unknown_model_or_version(
    published, tmp_path, capsys, ref, message
) -> None:
    path = _new_data(published, "iris", tmp_path)
    assert message in _refused(published["home"], capsys, ref, path)


def test_a_missing_input_is_named(published, tmp_path, capsys) -> None:
    err = _refused(published["home"], capsys, "iris", tmp_path / "absent.csv")
    assert "absent.csv" in err


def test_an_unknown_backend_is_refused(published) -> None:
    with pytest.raises(RegistryError, match="unknown backend 'tflite'"):
        load_predictor(published["ws"], "iris", backend="tflite")


def test_predictor_open_reads_the_version_folder(published, tmp_path) -> None:
    ws, home = published["ws"], published["home"]
    predictor = Predictor.open(ws, version_dir(home, "modulo", 1))
    assert predictor.version.family == "modulo_addition_1layer"
    with pytest.raises(InputError, match=r"pairs\.csv: row 1, column 'a'"):
        (tmp_path / "pairs.csv").write_text("a,b\n11,1\n", encoding="utf-8")
        predictor.predict(tmp_path / "pairs.csv")
