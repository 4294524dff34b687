"""Confusion matrices: counted at each evaluation from its outputs, recorded on the weights
(and best) checkpoints of evaluated epochs and as the variant's latest classification."""

from __future__ import annotations

import torch

from engine.analysis import CONFUSION, KNOWN_ANALYSES
from engine.metadata import VariantMetadata
from engine.training.metrics import confusion_matrix, evaluate, evaluate_split, per_class_accuracy
from engine.training.trainer import CONFUSION_ANALYSIS


def test_the_matrix_counts_true_rows_against_predicted_columns():
    predicted = torch.tensor([0, 1, 1, 2, 0])
    targets = torch.tensor([0, 1, 0, 2, 2])
    assert confusion_matrix(predicted, targets, 4) == [
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [1, 0, 1, 0],
        [0, 0, 0, 0],
    ]
    assert per_class_accuracy([[1, 1, 0], [0, 1, 0], [1, 0, 1]]) == [0.5, 1.0, 0.5]
    assert per_class_accuracy([[2, 0], [0, 0]]) == [1.0, None]  # no test example of class 1


def test_evaluate_split_counts_from_the_outputs_it_scores():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    x, y = torch.randn(50, 3), torch.randint(0, 4, (50,))
    result = evaluate_split(model, torch.nn.functional.cross_entropy, x, y, confusion=True)
    assert result.metrics == evaluate(model, torch.nn.functional.cross_entropy, x, y)
    matrix = torch.tensor(result.confusion)
    assert int(matrix.sum()) == 50
    assert matrix.trace() / 50 == result.metrics["test_accuracy"]
    assert evaluate_split(model, torch.nn.functional.cross_entropy, x, y).confusion is None


def test_the_analysis_name_is_one():
    assert CONFUSION == CONFUSION_ANALYSIS and CONFUSION in KNOWN_ANALYSES


def test_weights_checkpoints_of_evaluated_epochs_carry_the_matrix(workspace):
    training = {"epochs": 5, "eval_every": 2, "checkpoint_every": 1, "batch_size": 32}
    variant = workspace.create_variant("mlp", {"dataset": "iris", "hidden_dim": 16}, training)
    session = workspace.train(variant)
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.class_names == ["setosa", "versicolor", "virginica"]
    weights = {c.epoch: c for c in meta.checkpoints if c.kind == "weights"}
    assert sorted(weights) == [0, 1, 2, 3, 4, 5]
    evaluated = {m.epoch: m for m in session.metrics if m.test_accuracy is not None}
    assert sorted(evaluated) == [2, 4, 5]  # every 2nd, and the last
    for epoch, entry in weights.items():
        if epoch not in evaluated:
            assert entry.confusion is None
            continue
        matrix = torch.tensor(entry.confusion)
        assert matrix.shape == (3, 3) and int(matrix.sum()) == 30  # iris: 150 rows, 20% test
        assert matrix.trace() / 30 == evaluated[epoch].test_accuracy
    report = meta.classification
    assert (report.epoch, report.step) == (5, session.steps)
    assert report.confusion == weights[5].confusion
    assert report.per_class_accuracy == [
        row[i] / sum(row) for i, row in enumerate(report.confusion)
    ]
    best = next(c for c in meta.checkpoints if c.kind == "best")
    assert best.confusion == weights[best.epoch].confusion


def test_no_matrix_for_regression_or_a_family_that_does_not_list_it(workspace):
    sine = workspace.create_variant("mlp", {"dataset": "sine", "hidden_dim": 8}, {"epochs": 2})
    workspace.train(sine)
    meta = VariantMetadata.load(sine.metadata_path)
    assert meta.class_names is None and meta.classification is None
    assert all(c.confusion is None for c in meta.checkpoints)

    modular = workspace.create_variant("modulo_addition_1layer", {"prime": 7}, {"epochs": 3})
    workspace.train(modular)
    meta = VariantMetadata.load(modular.metadata_path)
    assert meta.classification is None and meta.best is not None  # keep_best: every family
    assert all(c.confusion is None for c in meta.checkpoints)
