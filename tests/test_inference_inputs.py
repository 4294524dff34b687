"""New inputs for a trained variant: the preprocessing its metadata.json records, and raw rows
and image files turned into exactly the tensors training built from the same examples."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.pinned import check_pinned
from PIL import Image

from engine.datasets import get_dataset
from engine.datasets.library import DatasetLibrary
from engine.datasets.split import split_indices
from engine.inference import (
    InputError,
    image_inputs,
    image_paths,
    inputs_for,
    modulo_inputs,
    predictions,
    table_inputs,
)
from engine.workspace import Workspace

TRAINING = {"epochs": 2, "threads": 1}
RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "datasets"
IMAGE_FAMILY = "image_classifier"
MODULO_FAMILY = "modulo_addition_1layer"


# ---- trained variants, one home per module ---------------------------------------------------


def _user_table(path: Path) -> Path:
    """A table with a text column between two numeric ones; the class follows the numbers."""
    rng = random.Random(7)
    lines = ["height,colour,weight,kind"]
    for _ in range(60):
        height, weight = round(rng.uniform(1, 3), 2), round(rng.uniform(5, 15), 1)
        colour = rng.choice(["blue", "green", "red"])
        kind = "tall" if height + weight / 10 > 2.8 else "short"
        lines.append(f"{height},{colour},{weight},{kind}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Any]:
    """name -> a trained variant: mlp on iris, diabetes, an imported table and digits; the
    image classifier on 8x8 shapes; modulo addition mod 11."""
    home = tmp_path_factory.mktemp("inference_home")
    ws = Workspace(home)
    manifest = DatasetLibrary(home).import_path(_user_table(home.parent / "plants.csv"))
    runs = {
        "iris": ("mlp", {"dataset": "iris", "hidden_dim": 8}),
        "diabetes": ("mlp", {"dataset": "diabetes", "hidden_dim": 8}),
        "plants": ("mlp", {"dataset": manifest.id, "hidden_dim": 8}),
        "digits": ("mlp", {"dataset": "digits", "hidden_dim": 8}),
        "shapes": (IMAGE_FAMILY, {"dataset": "shapes", "image_size": 8, "conv_channels": [4]}),
        "modulo": (MODULO_FAMILY, {"prime": 11}),
    }
    variants = {}
    for name, (family, domain) in runs.items():
        variant = ws.create_variant(family, domain, TRAINING)
        session = ws.train(variant)
        assert session.status == "completed", session.error_message
        variants[name] = variant
    return {"ws": ws, "variants": variants, "library": DatasetLibrary(home), "home": home}


def _recorded(variant) -> dict[str, Any]:
    return json.loads(variant.metadata_path.read_text(encoding="utf-8"))["preprocessing"]


def _training_split(ws: Workspace, variant) -> tuple[torch.Tensor, ...]:
    family = ws.registry.family(variant.family)
    cfg = variant.config.training
    return family.generate_training_dataset(
        variant.config.domain, cfg.training_fraction, cfg.data_seed
    )


def _test_indices(variant, n: int) -> list[int]:
    cfg = variant.config.training
    return split_indices(n, 1.0 - cfg.training_fraction, cfg.data_seed)[1].tolist()


def _trained_model(ws: Workspace, variant) -> torch.nn.Module:
    from engine.analysis.checkpoints import load_weights, weights_checkpoints

    model = ws.registry.family(variant.family).create_model(variant.config.domain)
    model.load_state_dict(load_weights(weights_checkpoints(variant)[-1]))
    return model.eval()


def _final_metrics(variant) -> dict[str, Any]:
    meta = json.loads(variant.metadata_path.read_text(encoding="utf-8"))
    return meta["final_metrics"]


def _raw_table(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = [row for row in csv.reader(path.open(encoding="utf-8-sig")) if any(row)]
    return rows[0], rows[1:]


def _write_rows(
    path: Path, header: list[str], rows: list[list[str]], *, shuffle_columns: bool
) -> Path:
    """The rows with an extra column; the columns in another order when asked."""
    header = [*header, "note"]
    rows = [[*row, f"example {k}"] for k, row in enumerate(rows)]
    order = list(range(len(header)))
    if shuffle_columns:
        random.Random(3).shuffle(order)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([header[j] for j in order])
        writer.writerows([[row[j] for j in order] for row in rows])
    return path


# ---- what metadata.json records --------------------------------------------------------------


def test_a_table_run_records_its_columns_categories_and_scaling(trained) -> None:
    iris = _recorded(trained["variants"]["iris"])
    assert iris["kind"] == "table"
    assert iris["columns"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert iris["feature_names"] == iris["columns"] and iris["categories"] == {}
    assert (iris["target"], iris["task_type"]) == ("species", "classification")
    assert iris["class_names"] == ["setosa", "versicolor", "virginica"]
    assert iris["target_mean"] is None and iris["target_std"] is None
    assert len(iris["mean"]) == len(iris["std"]) == 4

    plants = _recorded(trained["variants"]["plants"])
    assert plants["columns"] == ["height", "colour", "weight"]
    assert plants["categories"] == {"colour": ["blue", "green", "red"]}
    assert plants["feature_names"] == [
        "height",
        "colour=blue",
        "colour=green",
        "colour=red",
        "weight",
    ]
    assert (plants["target"], plants["class_names"]) == ("kind", ["short", "tall"])


def test_a_regression_run_records_its_target_scale(trained) -> None:
    ws, variant = trained["ws"], trained["variants"]["diabetes"]
    recorded = _recorded(variant)
    family, cfg = ws.registry.family("mlp"), variant.config.training
    scale = family.target_scale(variant.config.domain, cfg.training_fraction, cfg.data_seed)
    assert (recorded["task_type"], recorded["target"]) == ("regression", "progression")
    assert (recorded["target_mean"], recorded["target_std"]) == scale
    assert recorded["class_names"] is None


def test_image_and_modulo_runs_record_their_inputs(trained) -> None:
    digits = _recorded(trained["variants"]["digits"])
    assert {k: digits[k] for k in ("kind", "image_size", "channels")} == {
        "kind": "image_flat",
        "image_size": 8,
        "channels": 1,
    }
    assert len(digits["mean"]) == len(digits["std"]) == 64
    assert digits["class_names"] == [str(d) for d in range(10)]
    shapes = _recorded(trained["variants"]["shapes"])
    assert (shapes["kind"], shapes["image_size"], shapes["channels"]) == ("image", 8, 3)
    assert _recorded(trained["variants"]["modulo"]) == {
        "kind": "modulo",
        "prime": 11,
        "columns": ["a", "b"],
    }


# ---- raw inputs -> exactly the training tensors -----------------------------------------------


@pytest.mark.parametrize("name", ["iris", "diabetes", "plants"])
def test_raw_test_rows_give_the_training_test_tensor(trained, tmp_path, name) -> None:
    ws, variant = trained["ws"], trained["variants"][name]
    dataset = variant.config.domain["dataset"]
    source = (
        trained["library"].data_path(dataset) if name == "plants" else RESOURCES / f"{dataset}.csv"
    )
    header, rows = _raw_table(source)
    test_rows = [rows[k] for k in _test_indices(variant, len(rows))]
    written = _write_rows(tmp_path / "new.csv", header, test_rows, shuffle_columns=True)

    x = table_inputs(_recorded(variant), written)
    assert torch.equal(x, _training_split(ws, variant)[2])
    assert torch.equal(inputs_for(_recorded(variant), written), x)


def test_a_synthetic_table_is_read_back_from_its_values(workspace, tmp_path) -> None:
    """two_moons has no file: its float32 features written as text come back the same."""
    family = workspace.registry.family("mlp")
    domain = workspace.create_variant("mlp", {"dataset": "two_moons"}).config.domain
    recorded = family.preprocessing(domain, 0.8, 0)
    assert recorded["columns"] == ["x1", "x2"] and recorded["target"] is None
    data = get_dataset("two_moons").load(seed=domain["seed"])
    test = _test_indices_for(len(data.y), 0.8, 0)
    rows = [[repr(v) for v in data.x[k].tolist()] for k in test]
    written = _write_rows(tmp_path / "moons.csv", ["x1", "x2"], rows, shuffle_columns=False)
    assert torch.equal(
        table_inputs(recorded, written), family.generate_training_dataset(domain, 0.8, 0)[2]
    )


def _test_indices_for(n: int, training_fraction: float, data_seed: int) -> list[int]:
    return split_indices(n, 1.0 - training_fraction, data_seed)[1].tolist()


def _write_pngs(folder: Path, images: torch.Tensor) -> list[Path]:
    """uint8 [n, c, s, s] as PNG files named so their sorted order is theirs."""
    folder.mkdir()
    paths = []
    for k, image in enumerate(images):
        array = image.permute(1, 2, 0).numpy()
        picture = (
            Image.fromarray(array[:, :, 0], "L")
            if array.shape[2] == 1
            else (Image.fromarray(array, "RGB"))
        )
        paths.append(folder / f"img_{k:04d}.png")
        picture.save(paths[-1])
    return paths


def test_png_files_of_the_test_images_give_the_image_family_test_tensor(trained, tmp_path):
    ws, variant = trained["ws"], trained["variants"]["shapes"]
    family, cfg = ws.registry.family(IMAGE_FAMILY), variant.config.training
    raw = family.test_images(variant.config.domain, cfg.training_fraction, cfg.data_seed)
    paths = _write_pngs(tmp_path / "shapes", raw)
    (tmp_path / "shapes" / "notes.txt").write_text("not an image", encoding="utf-8")

    x = inputs_for(_recorded(variant), tmp_path / "shapes")  # a folder: its images by name
    assert x.shape == (len(raw), 3, 8, 8)
    assert torch.equal(x, _training_split(ws, variant)[2])
    assert torch.equal(image_inputs(_recorded(variant), paths), x)


def test_png_files_of_digits_give_the_mlp_test_tensor(trained, tmp_path):
    ws, variant = trained["ws"], trained["variants"]["digits"]
    images = get_dataset("digits").load_images(8, 1).x  # type: ignore[attr-defined]
    raw = images[_test_indices(variant, len(images))]
    paths = _write_pngs(tmp_path / "digits", raw)

    x = image_inputs(_recorded(variant), paths)
    assert x.shape == (len(raw), 64)
    assert torch.equal(x, _training_split(ws, variant)[2])


def test_a_csv_of_pairs_gives_the_modulo_test_tokens(trained, tmp_path) -> None:
    ws, variant = trained["ws"], trained["variants"]["modulo"]
    test_x = _training_split(ws, variant)[2]
    rows = [[str(b), str(a)] for a, b, _ in test_x.tolist()]
    written = _write_rows(tmp_path / "pairs.csv", ["b", "a"], rows, shuffle_columns=False)
    assert torch.equal(modulo_inputs(_recorded(variant), written), test_x)


# ---- predictions ------------------------------------------------------------------------------


def test_a_classifier_predicts_class_names_as_on_its_training_tensors(trained, tmp_path):
    """The iris model on the new CSV: the same outputs as on the test tensor, and its
    predicted names are right as often as the run's test accuracy says."""
    ws, variant = trained["ws"], trained["variants"]["iris"]
    header, rows = _raw_table(RESOURCES / "iris.csv")
    test_rows = [rows[k] for k in _test_indices(variant, len(rows))]
    written = _write_rows(tmp_path / "new.csv", header, test_rows, shuffle_columns=False)
    recorded, model = _recorded(variant), _trained_model(ws, variant)
    with torch.no_grad():
        outputs = model(table_inputs(recorded, written))
        expected = model(_training_split(ws, variant)[2])
    assert torch.equal(outputs, expected)

    found = predictions(recorded, outputs)
    species = [row[header.index("species")] for row in test_rows]
    right = sum(p["prediction"] == s for p, s in zip(found, species, strict=True))
    assert right / len(species) == pytest.approx(_final_metrics(variant)["test_accuracy"])
    for p in found:
        assert set(p["probabilities"]) == set(recorded["class_names"])
        assert sum(p["probabilities"].values()) == pytest.approx(1.0)
        assert p["probabilities"][p["prediction"]] == max(p["probabilities"].values())


def test_a_regression_predicts_in_the_targets_units(trained, tmp_path) -> None:
    ws, variant = trained["ws"], trained["variants"]["diabetes"]
    recorded, model = _recorded(variant), _trained_model(ws, variant)
    test_x = _training_split(ws, variant)[2]
    with torch.no_grad():
        outputs = model(test_x)
    found = [p["prediction"] for p in predictions(recorded, outputs)]
    scaled = outputs.reshape(-1).double() * recorded["target_std"] + recorded["target_mean"]
    assert found == scaled.float().tolist()
    assert all("probabilities" not in p for p in predictions(recorded, outputs))
    assert 20 < sum(found) / len(found) < 350  # progression's own units, not standardised


def test_image_and_modulo_models_predict_as_on_their_training_tensors(trained, tmp_path):
    ws = trained["ws"]
    shapes = trained["variants"]["shapes"]
    family, cfg = ws.registry.family(IMAGE_FAMILY), shapes.config.training
    raw = family.test_images(shapes.config.domain, cfg.training_fraction, cfg.data_seed)
    x = inputs_for(_recorded(shapes), _write_pngs(tmp_path / "shapes", raw))
    model = _trained_model(ws, shapes)
    with torch.no_grad():
        found = predictions(_recorded(shapes), model(x))
        expected = model(_training_split(ws, shapes)[2]).argmax(1).tolist()
    assert [p["prediction"] for p in found] == [
        ["circle", "square", "triangle"][k] for k in expected
    ]

    modulo = trained["variants"]["modulo"]
    tokens = _training_split(ws, modulo)[2]
    with torch.no_grad():
        outputs = _trained_model(ws, modulo)(tokens)
    residues = [p["prediction"] for p in predictions(_recorded(modulo), outputs)]
    assert residues == outputs.argmax(1).tolist()
    assert all(isinstance(r, int) and 0 <= r < 11 for r in residues)


# ---- refusals ---------------------------------------------------------------------------------

IRIS_HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sepal_length,petal_length,petal_width\n5,1,1\n",
            "new.csv: no column 'sepal_width' (the model needs: sepal_length, sepal_width, "
            "petal_length, petal_width)",
        ),
        (
            IRIS_HEADER + "5,3,1,1\n\n5,3,1,1\n5,3,abc,1\n",
            "new.csv: row 3, column 'petal_length': 'abc' is not a number",
        ),
        (IRIS_HEADER + "5,3,1,\n", "new.csv: row 1, column 'petal_width': missing value"),
        (
            IRIS_HEADER + "5,inf,1,1\n",
            "new.csv: row 1, column 'sepal_width': 'inf' is not a finite",
        ),
        (IRIS_HEADER + "5,3,1\n", "new.csv: row 1: expected 4 values"),
    ],
)
def test_a_bad_table_is_refused_by_row_and_column(trained, tmp_path, text, message) -> None:
    path = tmp_path / "new.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        table_inputs(_recorded(trained["variants"]["iris"]), path)
    assert str(caught.value).startswith(message)


def test_an_unknown_category_names_the_known_ones(trained, tmp_path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("weight,height,colour\n1,2,red\n1,2,purple\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        table_inputs(_recorded(trained["variants"]["plants"]), path)
    assert str(caught.value) == (
        "new.csv: row 2, column 'colour': 'purple' is not a category the model knows "
        "(known: blue, green, red)"
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1,2\n3,11\n", "pairs.csv: row 2, column 'b': 11 is not in 0..10 (residues mod 11)"),
        ("1.5,2\n", "pairs.csv: row 1, column 'a': '1.5' is not a whole number"),
        ("1_0,2\n", "pairs.csv: row 1, column 'a': '1_0' is not a whole number"),
        (",2\n", "pairs.csv: row 1, column 'a': missing value"),
    ],
)
def test_a_bad_pair_is_refused_by_row_and_column(trained, tmp_path, rows, message) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("a,b\n" + rows, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        inputs_for(_recorded(trained["variants"]["modulo"]), path)
    assert str(caught.value) == message


def test_an_unreadable_image_or_an_empty_folder_is_named(trained, tmp_path) -> None:
    recorded = _recorded(trained["variants"]["digits"])
    good = _write_pngs(tmp_path / "digits", torch.zeros(1, 1, 8, 8, dtype=torch.uint8))[0]
    bad = tmp_path / "digits" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"broken\.png: not a PNG, JPEG"):
        image_inputs(recorded, [good, bad])
    assert image_paths(tmp_path / "digits") == [bad, good]  # sorted by name
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: the folder has no image files"):
        inputs_for(recorded, tmp_path / "empty")


def test_a_variant_without_preprocessing_is_refused(tmp_path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("x\n1\n", encoding="utf-8")
    with pytest.raises(InputError, match="records no preprocessing"):
        inputs_for(None, path)
    with pytest.raises(InputError, match="unknown preprocessing kind 'audio'"):
        inputs_for({"kind": "audio"}, path)


# ---- training numbers unchanged ---------------------------------------------------------------


def test_the_cli_invariant_run_is_unchanged(tmp_path) -> None:
    """Recording the preprocessing reads the data again; the run must not change at all."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "engine.cli", "--home", str(tmp_path / "h")),
            *("train", "mlp", "-t", "epochs=5", "--json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(result.stdout)
    assert out["variant"] == "mlp_two_moons_h128x2_seed0_82bedd84"
    check_pinned("mlp_two_moons_epochs5", out["weights_sha256"])
