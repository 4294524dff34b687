"""Tensorflow variants after training: their Keras weights converted into the family's torch
model (engine.backends.keras_weights) for publishing, predict and export, verify, the
checkpoint analyses, a distillation teacher and init_from.

The conversion's own tests (the layouts, what does not fit) need no tensorflow and always run;
the rest train two small tensorflow variants once per module (a process each, 6 to 9 s) and
are skipped where the extra is not installed (`pip install 'trainwright[tensorflow]'`)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from helpers.teacher import copy_variant
from helpers.tensorflow import needs_tensorflow, train
from torch import nn

from engine.analysis import PARAMETER_NORM, analyse_checkpoints
from engine.analysis.checkpoints import WeightsCheckpoint, load_weights, weights_checkpoints
from engine.analysis.classification import find_misclassified
from engine.analysis.norms import parameter_norms
from engine.backends.keras_files import load_arrays, save_arrays, weights_name
from engine.backends.keras_layout import keras_names, weighted_modules
from engine.backends.keras_weights import torch_state
from engine.cli import main
from engine.errors import CheckpointError
from engine.metadata import CheckpointEntry, VariantMetadata
from engine.models.cnn import CifarResNet, SimpleCNN
from engine.models.mlp import DynamicMLPModel, LayerConfig, MLPConfig
from engine.registry.loading import load_model, read_preprocessing
from engine.registry.records import read_version, resolve_version_dir
from engine.strategies import StrategyConfig, StrategyOrchestrator
from engine.strategies.base import TORCH_STUDENT
from engine.training.final_weights import load_final_weights
from engine.training.metrics import evaluate
from engine.training.transfer import resolve_transfer
from engine.variants import Variant
from engine.verify import NO_KERAS_STATE_HASH, verify_variant
from engine.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = {"plain": {"hidden_dim": 16}, "norm": {"hidden_dim": 16, "batch_norm": True}}
EPOCHS = 3
LOSS_TOLERANCE = 1e-5
OUTPUT_TOLERANCE = 1e-5


# ---- the layouts, without tensorflow -------------------------------------------------------


def keras_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The Keras weights mirroring `model`, laid out as keras_layout's docstring says and
    written out here on their own (the spec the conversion is held to): a Dense kernel is the
    Linear weight transposed, a Conv2D kernel [kh, kw, in, out], BatchNorm's four by name."""
    arrays: dict[str, np.ndarray] = {}
    names = keras_names(model)
    for path, module in weighted_modules(model):
        layer = names[path]
        if isinstance(module, nn.Linear | nn.Conv2d):
            weight = module.weight.detach()
            kernel = weight.T if isinstance(module, nn.Linear) else weight.permute(2, 3, 1, 0)
            arrays[f"{layer}/kernel"] = kernel.numpy().copy()
            if module.bias is not None:
                arrays[f"{layer}/bias"] = module.bias.detach().numpy().copy()
            continue
        for torch_name, keras_name in (
            ("weight", "gamma"),
            ("bias", "beta"),
            ("running_mean", "moving_mean"),
            ("running_var", "moving_variance"),
        ):
            arrays[f"{layer}/{keras_name}"] = getattr(module, torch_name).detach().numpy().copy()
    return arrays


def _simple_cnn() -> nn.Module:
    return SimpleCNN(3, 10, 16, conv_channels=(8, 16), batch_norm=True, dropout=0.1)


def _simple_cnn_without_norm() -> nn.Module:
    return SimpleCNN(1, 10, 8, conv_channels=(4, 8), batch_norm=False)


def _resnet8() -> nn.Module:
    return CifarResNet(3, 10, depth=8)


def _mlp_with_norm() -> nn.Module:
    layers = [LayerConfig(units=16, batch_norm=True, dropout=0.1)] * 2
    return DynamicMLPModel(
        MLPConfig(input_dim=5, output_dim=3, task_type="classification", layers=layers)
    )


def _trained_looking(build: Callable[[], nn.Module]) -> nn.Module:
    """`build()` with every weight and BatchNorm statistic drawn away from its initial value
    (a conversion that left one at its default would pass unnoticed otherwise)."""
    torch.manual_seed(0)
    model = build()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.normal_(0.0, 0.3)
    return model.eval()


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (_simple_cnn, (3, 3, 16, 16)),
        (_simple_cnn_without_norm, (3, 1, 8, 8)),
        (_resnet8, (3, 3, 16, 16)),
        (_mlp_with_norm, (3, 5)),
    ],
    ids=["simple_cnn", "simple_cnn_without_norm", "resnet8", "mlp_with_norm"],
)
def test_keras_weights_convert_back_into_the_same_torch_model(build, shape):
    model = _trained_looking(build)
    with torch.device("meta"):
        template = build()  # names, shapes and dtypes only, as the engine converts into
    state = torch_state(template, keras_arrays(model))
    own = model.state_dict()
    assert list(state) == list(own)
    for key, tensor in own.items():
        assert state[key].dtype == tensor.dtype and torch.equal(state[key], tensor), key
    fresh = build()
    fresh.load_state_dict(state)
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), model(x))


def test_what_does_not_fit_is_refused_naming_both_sides():
    model = _trained_looking(_simple_cnn)
    arrays = keras_arrays(model)
    missing = {k: a for k, a in arrays.items() if k != "head/bias"}
    with pytest.raises(CheckpointError, match=r"no variable head/bias \(torch head\.bias"):
        torch_state(_simple_cnn(), missing)
    torch_layout = {**arrays, "features_0/kernel": model.features[0].weight.detach().numpy()}
    with pytest.raises(
        CheckpointError,
        match=r"features_0/kernel has shape \(8, 3, 3, 3\); torch features\.0\.weight "
        r"\[8, 3, 3, 3\] needs \(3, 3, 3, 8\)",
    ):
        torch_state(_simple_cnn(), torch_layout)
    extra = {**arrays, "stray/kernel": np.zeros((2, 2), "float32")}
    with pytest.raises(CheckpointError, match="SimpleCNN has no place for: stray/kernel"):
        torch_state(_simple_cnn(), extra)


KERAS_BUILDER_CHECK = """
import os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import keras, numpy as np, torch
from engine.backends.keras_models import build_model
from engine.backends.keras_weights import torch_state
from engine.models.cnn import CifarResNet, SimpleCNN

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
worst = 0.0
for template, side, channels in (
    (SimpleCNN(1, 10, 8, (8, 16)), 8, 1),
    (SimpleCNN(3, 10, 16, (8, 16), batch_norm=False, pooling="avg"), 16, 3),
    (CifarResNet(3, 10, depth=8), 16, 3),
):
    model = build_model(keras, template, (side, side, channels), 0, "check")
    for v in model.weights:  # BatchNorm away from its initial values
        if v.path.endswith(("gamma", "moving_variance")):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif v.path.endswith(("beta", "moving_mean")):
            v.assign(rng.normal(0, 0.3, v.shape).astype("float32"))
    template.load_state_dict(torch_state(template, {v.path: np.array(v) for v in model.weights}))
    x = rng.normal(size=(4, channels, side, side)).astype("float32")
    theirs = np.asarray(model(x.transpose(0, 2, 3, 1), training=False))
    with torch.no_grad():
        ours = template.eval()(torch.from_numpy(x)).numpy()
    worst = max(worst, float(np.abs(theirs - ours).max()))
print(worst)
"""


@needs_tensorflow
def test_a_keras_cnn_converted_computes_what_keras_computes():
    """The CNNs as the tensorflow backend builds them (keras_models.build_model, in a process
    of its own): their Keras weights, converted, give the torch model Keras's outputs."""
    result = subprocess.run(
        [sys.executable, "-c", KERAS_BUILDER_CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.split()[-1]) <= OUTPUT_TOLERANCE


# ---- tensorflow variants ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tensorflow_home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(home, {"plain": name, "norm": name}): two 16x2 MLPs on two_moons trained with the
    tensorflow backend for 3 epochs, without and with BatchNorm, once per module."""
    home = tmp_path_factory.mktemp("tensorflow_home")
    workspace = Workspace(home)
    names = {}
    for kind, domain in DOMAINS.items():
        variant, session = train(workspace, domain, {"epochs": EPOCHS})
        assert session.status == "completed", session.error_message
        names[kind] = variant.name
    return home, names


@pytest.fixture
def trained(workspace, tensorflow_home) -> dict[str, Variant]:
    """The module's tensorflow variants copied into this test's workspace."""
    home, names = tensorflow_home
    for name in names.values():
        copy_variant(home, workspace.home, name)
    return {kind: workspace.variant(name) for kind, name in names.items()}


def _meta(variant: Variant) -> VariantMetadata:
    return VariantMetadata.load(variant.metadata_path)


def _test_split(workspace: Workspace, variant: Variant) -> tuple[torch.Tensor, torch.Tensor]:
    family = workspace.registry.family(variant.family)
    training = variant.config.training
    _, _, x, y = family.generate_training_dataset(
        variant.config.domain, training.training_fraction, training.data_seed
    )
    return x, y


def _scores(workspace: Workspace, variant: Variant, state: dict) -> dict[str, float]:
    """The test metrics of the family's torch model holding `state`."""
    family = workspace.registry.family(variant.family)
    model = family.create_model(variant.config.domain)
    model.load_state_dict(state)
    return evaluate(model, family.compute_loss, *_test_split(workspace, variant))


def _entry(meta: VariantMetadata, kind: str) -> CheckpointEntry:
    return [c for c in meta.checkpoints if c.kind == kind][-1]


def _checkpoint(variant: Variant, entry: CheckpointEntry) -> WeightsCheckpoint:
    path = variant.checkpoints_dir / entry.file
    return WeightsCheckpoint(entry.epoch, entry.step, path, entry.sha256, entry.weights_sha256)


@needs_tensorflow
@pytest.mark.parametrize("kind", list(DOMAINS))
def test_the_converted_model_scores_what_the_run_measured(workspace, trained, kind):
    """The final and the best weights, converted, score on the test split what the Keras run
    measured: the same accuracy, the loss within 1e-5."""
    variant = trained[kind]
    meta = _meta(variant)
    final = load_final_weights(variant, meta)
    assert final.weights_sha256 == meta.weights_sha256  # the Keras weights' hash, checked
    scores = _scores(workspace, variant, final.state)
    assert scores["test_accuracy"] == meta.final_metrics["test_accuracy"]
    assert abs(scores["test_loss"] - meta.final_metrics["test_loss"]) <= LOSS_TOLERANCE
    assert meta.best is not None
    best = _scores(workspace, variant, load_weights(_checkpoint(variant, _entry(meta, "best"))))
    assert best["test_accuracy"] == meta.best.value
    assert abs(best["test_loss"] - meta.best.test_loss) <= LOSS_TOLERANCE
    if kind == "norm":  # the running statistics are Keras's moving ones, not torch's defaults
        assert not torch.equal(final.state["net.1.running_mean"], torch.zeros(16))


def _raw_rows(workspace: Workspace, variant: Variant, folder: Path, preprocessing: dict) -> Path:
    """The test split in the data's own units (its standardisation undone), as a CSV."""
    x, _ = _test_split(workspace, variant)
    raw = x.double() * torch.tensor(preprocessing["std"]) + torch.tensor(preprocessing["mean"])
    path = folder / "moons.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(preprocessing["columns"])
        writer.writerows(raw.tolist())
    return path


@needs_tensorflow
def test_a_published_tensorflow_variant_predicts_and_exports(workspace, trained, tmp_path, capsys):
    variant = trained["norm"]
    best = _entry(_meta(variant), "best")
    assert main(["models", "publish", variant.name, "--name", "moons"]) == 0
    folder = resolve_version_dir(workspace.home, "moons")
    version = read_version(folder)
    assert (version.trained_with, version.trained_weights_sha256) == (
        "tensorflow",
        best.weights_sha256,
    )
    model, _ = load_model(workspace, folder)
    converted = load_weights(_checkpoint(variant, best))
    assert all(torch.equal(model.state_dict()[k], t) for k, t in converted.items())
    x, _ = _test_split(workspace, variant)
    with torch.inference_mode():
        outputs = model(x)

    capsys.readouterr()
    preprocessing = read_preprocessing(folder)
    rows_csv = _raw_rows(workspace, variant, tmp_path, preprocessing)
    assert main(["predict", "moons", str(rows_csv), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = preprocessing["class_names"]
    found = torch.tensor([[row["probabilities"][n] for n in names] for row in rows]).double()
    assert torch.allclose(found, outputs.double().softmax(dim=1), atol=OUTPUT_TOLERANCE, rtol=0)
    assert [row["prediction"] for row in rows] == [names[k] for k in found.argmax(dim=1).tolist()]

    onnx = tmp_path / "moons.onnx"
    assert main(["models", "export", "moons", "--format", "onnx", "--out", str(onnx)]) == 0
    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    theirs = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    assert (theirs - outputs).abs().max().item() <= OUTPUT_TOLERANCE

    capsys.readouterr()
    assert main(["models", "show", "moons"]) == 0
    shown = capsys.readouterr().out
    assert f"trained with           tensorflow (weights {best.weights_sha256[:12]}…, " in shown


@needs_tensorflow
def test_verify_checks_a_tensorflow_variant_and_names_what_changed(workspace, trained, capsys):
    variant = trained["plain"]
    meta = _meta(variant)
    assert main(["verify", variant.name]) == 0
    assert capsys.readouterr().out.startswith(f"verified: {len(meta.checkpoints)} checkpoints")
    report = verify_variant(variant)
    assert report.verified and report.checkpoints_checked == len(meta.checkpoints)
    assert report.chronicle_lines and NO_KERAS_STATE_HASH in report.notes

    final = variant.checkpoints_dir / weights_name(EPOCHS)
    data = bytearray(final.read_bytes())
    data[len(data) // 2] ^= 0xFF
    final.write_bytes(bytes(data))
    assert main(["verify", variant.name]) == 1
    assert final.name in capsys.readouterr().out
    assert {(m.file, m.what) for m in verify_variant(variant).mismatches} == {
        (final.name, "file"),
        (final.name, "sidecar"),
    }


@needs_tensorflow
def test_verify_compares_keras_weights_and_a_full_states_config(workspace, trained):
    """A file rewritten with its sidecar (so it loads) is still caught: other weights than
    recorded, a full state of another config; a file metadata.json misses is checked too."""
    variant = trained["plain"]
    directory = variant.checkpoints_dir
    final = directory / weights_name(EPOCHS)
    arrays, meta = load_arrays(final)
    save_arrays(final, {**arrays, "output/bias": arrays["output/bias"] + 1}, meta)
    full = directory / _entry(_meta(variant), "full").file
    arrays, meta = load_arrays(full)
    save_arrays(full, arrays, {**meta, "config_hash": "0" * 64})
    extra = directory / weights_name(99)
    save_arrays(extra, *load_arrays(final))
    report = verify_variant(variant)
    found = {(m.file, m.what) for m in report.mismatches}
    assert {(final.name, "weights"), (full.name, "content")} <= found
    assert not any(m.file == extra.name for m in report.mismatches)
    assert any(note.startswith(extra.name) for note in report.notes)


def _keras_norm(path: Path) -> float:
    """The sum of squared weights of a Keras weights file (the moving statistics left out, as
    the parameter norm leaves BatchNorm's running ones out)."""
    arrays, _ = load_arrays(path)
    return sum(
        float(np.square(a.astype(np.float64)).sum())
        for name, a in arrays.items()
        if not name.endswith(("moving_mean", "moving_variance"))
    )


@needs_tensorflow
def test_the_checkpoint_analyses_read_tensorflow_checkpoints(workspace, trained):
    variant = trained["norm"]
    result = analyse_checkpoints(variant, [PARAMETER_NORM])
    assert result.problems == [] and result.epochs == [0, EPOCHS]
    expected = [_keras_norm(variant.checkpoints_dir / weights_name(e)) for e in result.epochs]
    assert result.parameter_norms == pytest.approx(expected, rel=1e-12)

    report = find_misclassified(workspace, variant.name, "final")
    assert report.file == weights_name(EPOCHS)
    assert report.accuracy == pytest.approx(_meta(variant).final_metrics["test_accuracy"])

    variant.metadata_path.unlink()  # an interrupted run's: the .npz files by their names
    assert [c.epoch for c in weights_checkpoints(variant)] == [0, EPOCHS]
    norms = parameter_norms(variant)
    assert [e for e, _ in norms] == [0, EPOCHS]
    assert [n for _, n in norms] == pytest.approx(expected, rel=1e-12)


@needs_tensorflow
def test_a_tensorflow_teacher_distils_into_a_torch_student(workspace, trained, capsys):
    teacher = trained["plain"]
    args = ["distill", teacher.name, "mlp", "-p", "hidden_dim=8", "-t", "epochs=2"]
    assert main([*args, "-t", "threads=1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok", result
    assert result["distilledRun"]["teacher"] == {
        "variant": teacher.name,
        "family": "mlp",
        "weights_sha256": _meta(teacher).weights_sha256,
    }
    student = workspace.variant(result["modelId"])
    assert student.config.training.backend == "torch"
    assert _meta(student).status == "completed"


def _files(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): p.stat().st_size for p in home.rglob("*")}


@needs_tensorflow
def test_a_tensorflow_student_is_refused_before_anything_is_written(workspace, trained, capsys):
    teacher = trained["plain"]
    before = _files(workspace.home)
    args = ["distill", teacher.name, "mlp", "-p", "hidden_dim=8", "-t", "backend=tensorflow"]
    assert main(args) == 2
    assert TORCH_STUDENT in capsys.readouterr().err
    request = StrategyConfig(
        family="mlp",
        domain={**teacher.config.domain, "hidden_dim": 8},
        training={"backend": "tensorflow", "threads": 1},
        strategy="distill",
        strategy_params={"teacher": teacher.name},
    )  # past the CLI's check: the strategy refuses it too
    result = StrategyOrchestrator(workspace).run(request)
    assert result["status"] == "error" and TORCH_STUDENT in result["error"]
    assert _files(workspace.home) == before


@needs_tensorflow
def test_a_torch_run_starts_from_a_tensorflow_variant(workspace, trained):
    """init_from a tensorflow variant: its converted final weights, recorded by the Keras
    weights' hash; with freeze=features the hidden layers end training as they started."""
    source = trained["plain"]
    domain = source.config.domain
    training = {"init_from": source.name, "freeze": "features", "epochs": 1, "threads": 1}
    variant = workspace.create_variant("mlp", domain, training)
    transfer = resolve_transfer(workspace, variant)
    assert transfer is not None
    converted = load_final_weights(source, _meta(source)).state
    assert transfer.weights_sha256 == _meta(source).weights_sha256
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    meta = _meta(variant)
    assert meta.extra["init_from"]["weights_sha256"] == _meta(source).weights_sha256
    trained_state = load_final_weights(variant, meta).state
    for key in ("net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"):
        assert torch.equal(trained_state[key], converted[key]), key
    assert not torch.equal(trained_state["net.6.weight"], converted["net.6.weight"])
