"""engine.analysis: Fourier basis and norms, parameter norm, curves, grokking readout, checks."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.analysis import (
    analyse_checkpoints,
    available_analyses,
)
from engine.analysis.checkpoints import load_weights, weights_checkpoints
from engine.analysis.curves import CURVE_FIELDS, epoch_curves
from engine.analysis.fourier import (
    embedding_fourier_norms,
    embedding_frequency_norms,
    fourier_basis,
    fourier_basis_names,
    frequency_norms,
    key_frequencies,
)
from engine.analysis.grokking import grokking_readout
from engine.analysis.norms import parameter_norm, parameter_norms
from engine.errors import CheckpointError
from engine.workspace import Workspace


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny modulo-addition variant (p = 11, 30 epochs, weights every 10), trained once."""
    workspace = Workspace(tmp_path_factory.mktemp("analysis-home"))
    v = workspace.create_variant(
        "modulo_addition_1layer", {"prime": 11}, {"epochs": 30, "checkpoint_every": 10}
    )
    session = workspace.train(v)
    assert session.status == "completed"
    return v.dir


@pytest.fixture
def variant_copy(trained, tmp_path) -> Path:
    """A private copy of the trained variant, safe to damage."""
    target = tmp_path / "variants" / trained.parent.name / trained.name
    shutil.copytree(trained, target)
    return target


# ---- Fourier -----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [3, 11, 113])
def test_fourier_basis_is_orthonormal(p):
    basis = fourier_basis(p)
    assert basis.shape == (p, p)
    np.testing.assert_allclose(basis @ basis.T, np.eye(p), atol=1e-10)
    np.testing.assert_allclose(basis[0], np.full(p, 1 / math.sqrt(p)))
    assert fourier_basis_names(p)[:3] == ["const", "cos 1", "sin 1"]
    assert len(fourier_basis_names(p)) == p


def test_fourier_basis_rejects_even_p():
    with pytest.raises(ValueError):
        fourier_basis(10)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_pure_cosine_embedding_concentrates_at_its_frequency(k):
    p, d_model = 11, 16
    x = torch.arange(p, dtype=torch.float64)
    direction = torch.randn(
        d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(k)
    )
    W_E = torch.cos(2 * math.pi * k * x / p)[:, None] * direction[None, :]
    W_E = torch.cat([W_E, torch.randn(1, d_model, dtype=torch.float64) * 100])  # '=' row ignored
    components = embedding_fourier_norms(W_E, p)
    assert components.shape == (p,)
    assert components.argmax() == 2 * k - 1  # the cos k row
    freqs = frequency_norms(components)
    assert freqs.shape == ((p - 1) // 2,)
    assert freqs.argmax() == k - 1
    others = np.delete(freqs, k - 1)
    assert np.all(others < 1e-9 * freqs.max())
    assert key_frequencies(freqs) == [k]
    # the norm is the whole embedding's norm (orthonormal basis)
    assert freqs[k - 1] == pytest.approx(float(W_E[:p].norm()))


def test_frequency_norm_combines_cos_and_sin():
    p = 7
    x = np.arange(p)
    W_E = np.stack([np.cos(2 * np.pi * 2 * x / p), np.sin(2 * np.pi * 2 * x / p)], axis=1)
    freqs = embedding_frequency_norms(W_E, p)
    assert freqs.argmax() == 1
    assert freqs[1] == pytest.approx(math.sqrt(np.square(W_E).sum()))


def test_key_frequencies_threshold():
    norms = np.array([0.1, 1.0, 0.3, 0.2, 0.26])
    assert key_frequencies(norms) == [2, 3, 5]
    assert key_frequencies(norms, fraction=0.5) == [2]
    assert key_frequencies(np.array([])) == []


def test_available_analyses_follow_family_json(workspace):
    registry = workspace.registry
    assert available_analyses(registry.spec("modulo_addition_1layer")) == [
        "parameter_norm",
        "fourier",
        "grokking",
    ]
    assert available_analyses(registry.spec("mlp")) == ["parameter_norm", "confusion_matrix"]
    assert available_analyses(None) == ["parameter_norm"]


# ---- checkpoints and parameter norm --------------------------------------------------------------
def test_parameter_norm_matches_manual_sum_of_squares(trained):
    checkpoints = weights_checkpoints(trained)
    assert [c.epoch for c in checkpoints] == [0, 10, 20, 30]
    norms = parameter_norms(trained)
    assert [epoch for epoch, _ in norms] == [0, 10, 20, 30]
    for checkpoint, (_, value) in zip(checkpoints, norms, strict=True):
        payload = torch.load(checkpoint.path, weights_only=True)
        manual = sum(float((t.double() ** 2).sum()) for t in payload["model"].values())
        assert value == pytest.approx(manual, rel=1e-12)
        assert parameter_norm(payload["model"]) == pytest.approx(manual, rel=1e-12)
    assert len({round(v, 9) for _, v in norms}) > 1  # training changed the weights


def test_analyse_checkpoints_in_one_pass(trained):
    result = analyse_checkpoints(trained, ["parameter_norm", "fourier", "grokking"])
    assert result.epochs == [0, 10, 20, 30]
    assert result.prime == 11
    assert result.component_norms.shape == (4, 11)
    assert result.frequency_norms.shape == (4, 5)
    assert len(result.key_frequencies) == 4
    assert result.problems == []
    assert result.parameter_norms == pytest.approx([v for _, v in parameter_norms(trained)])
    state = load_weights(weights_checkpoints(trained)[-1])
    np.testing.assert_allclose(
        result.frequency_norms[-1], embedding_frequency_norms(state["W_E"], 11)
    )
    assert result.grokking is not None


def test_corrupted_checkpoint_is_reported_not_used(variant_copy):
    target = weights_checkpoints(variant_copy)[2].path
    data = bytearray(target.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_weights(weights_checkpoints(variant_copy)[2])
    with pytest.raises(CheckpointError):
        parameter_norms(variant_copy)
    problems: list[str] = []
    lenient = parameter_norms(variant_copy, strict=False, problems=problems)
    assert [epoch for epoch, _ in lenient] == [0, 10, 30]
    assert len(problems) == 1 and target.name in problems[0]
    result = analyse_checkpoints(variant_copy, ["parameter_norm", "fourier"])
    assert result.epochs == [0, 10, 30]
    assert any(target.name in p for p in result.problems)


def test_replaced_checkpoint_with_matching_sidecar_is_caught(variant_copy):
    """A file swapped together with its sidecar still disagrees with metadata.json."""
    checkpoints = weights_checkpoints(variant_copy)
    first, last = checkpoints[0].path, checkpoints[-1].path
    shutil.copy(first, last)
    shutil.copy(first.with_name(first.name + ".sha256"), last.with_name(last.name + ".sha256"))
    with pytest.raises(CheckpointError, match="metadata"):
        load_weights(weights_checkpoints(variant_copy)[-1])


def test_missing_checkpoint_is_reported(variant_copy):
    weights_checkpoints(variant_copy)[1].path.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        parameter_norms(variant_copy)


def test_checkpoints_without_metadata_come_from_the_folder(variant_copy):
    (variant_copy / "metadata.json").unlink()
    assert [c.epoch for c in weights_checkpoints(variant_copy)] == [0, 10, 20, 30]
    assert len(parameter_norms(variant_copy)) == 4


# ---- curves and the grokking readout ------------------------------------------------------------
def _write_chronicle(path: Path, rows: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in rows) + '{"epoch": 9, "trai', encoding="utf-8"
    )
    return path


def test_grokking_readout_from_a_handwritten_chronicle(tmp_path):
    rows = []
    train = [0.1, 0.5, 0.98, 0.99, 1.0, 1.0, 1.0, 1.0]
    test = [0.0, 0.1, 0.2, 0.3, 0.5, 0.95, 0.991, 1.0]
    for epoch, (a, b) in enumerate(zip(train, test, strict=True), start=1):
        rows.append({"epoch": epoch, "step": epoch, "loss": 1.0, "lr": 1e-3})  # a step row
        rows.append(
            {
                "epoch": epoch,
                "step": epoch,
                "train_loss": 1.0 / epoch,
                "test_loss": 2.0 / epoch,
                "train_accuracy": a,
                "test_accuracy": b,
                "lr": 1e-3,
            }
        )
    path = _write_chronicle(tmp_path / "chronicle.jsonl", rows)
    readout = grokking_readout(path)
    assert (readout.train_epoch, readout.test_epoch) == (4, 7)
    assert readout.delay == 3
    assert "epoch 4" in readout.describe()
    curves = epoch_curves(path)
    assert set(CURVE_FIELDS) <= set(curves)
    np.testing.assert_array_equal(curves["epoch"], np.arange(1, 9))
    assert np.isnan(curves["train_r2"]).all()
    # the same readout from a variant directory holding that chronicle
    assert grokking_readout(tmp_path) == readout


def test_grokking_readout_never_reached(tmp_path):
    rows = [{"epoch": e, "step": e, "train_loss": 1.0, "train_accuracy": 0.5} for e in (1, 2)]
    readout = grokking_readout(_write_chronicle(tmp_path / "chronicle.jsonl", rows))
    assert readout.train_epoch is None and readout.test_epoch is None
    assert readout.delay is None
    assert "not reached" in readout.describe()


def test_curves_of_a_trained_variant(trained):
    curves = epoch_curves(trained)
    np.testing.assert_array_equal(curves["epoch"], np.arange(1, 31))
    assert np.isfinite(curves["train_loss"]).all() and np.isfinite(curves["test_accuracy"]).all()
    assert curves["train_loss"][-1] < curves["train_loss"][0]
    readout = grokking_readout(trained)
    first_train = next(
        (
            int(e)
            for e, a in zip(curves["epoch"], curves["train_accuracy"], strict=True)
            if a >= 0.99
        ),
        None,
    )
    assert readout.train_epoch == first_train


def test_curves_of_a_missing_chronicle_are_empty(tmp_path):
    curves = epoch_curves(tmp_path)
    assert all(len(v) == 0 for v in curves.values())
    assert grokking_readout(curves).train_epoch is None
