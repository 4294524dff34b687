"""The image classifier on the tensorflow backend: the torch CNNs rebuilt in Keras
(engine.backends.keras_models), channels-last images, the torch loop's augmentation draws.

Skipped where the extra is not installed. Small networks on the 8x8 digits keep each run to
a few seconds (most of it the Keras process starting)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from helpers.tensorflow import StopAfterEpoch, needs_tensorflow, train

from engine.cli import main
from engine.metadata import VariantMetadata
from engine.training.chronicle import read_chronicle
from engine.workspace import Workspace

pytestmark = needs_tensorflow
SMALL_CNN = {"conv_channels": [8, 16]}
ROOT = Path(__file__).resolve().parents[1]


def train_cnn(workspace, domain, training, **kwargs):
    return train(workspace, domain, training, family="image_classifier", **kwargs)


def test_a_cnn_on_digits_learns_as_the_torch_one_does(capsys, trainwright_home):
    args = ["train", "image_classifier", "-p", "conv_channels=16,32", "-t", "epochs=3"]
    assert main([*args, "-t", "backend=tensorflow", "--json"]) == 0
    keras = json.loads(capsys.readouterr().out)
    assert main([*args, "--json"]) == 0
    torch = json.loads(capsys.readouterr().out)
    assert keras["status"] == torch["status"] == "completed"
    accuracy = keras["final_metrics"]["test_accuracy"]
    assert accuracy >= 0.9  # ten classes: chance is 0.1
    assert abs(accuracy - torch["final_metrics"]["test_accuracy"]) <= 0.03
    meta = VariantMetadata.load(Path(keras["path"]) / "metadata.json")
    # The family's confusion matrix, as the torch trainer records it.
    report = meta.classification
    assert report is not None and report.epoch == 3
    tested = sum(map(sum, report.confusion))
    assert tested == 359  # the digits' stratified test split: a fifth of 1797
    assert sum(report.confusion[i][i] for i in range(10)) == round(accuracy * tested)
    last = max((c for c in meta.checkpoints if c.kind == "weights"), key=lambda c: c.epoch)
    assert last.confusion == report.confusion
    # The Keras file of the final model loads in Keras (safe mode) and scores the same.
    exported = meta.extra["keras_model"]
    assert exported["weights_sha256"] == meta.weights_sha256
    assert keras_accuracy(Path(keras["path"]), exported["file"]) == accuracy


def keras_accuracy(variant_dir: Path, file: str) -> float:
    """The test accuracy of checkpoints/`file` loaded by keras.saving.load_model in a
    process of its own (Keras fixes its backend at import), on the variant's test split."""
    code = (
        "import json, sys, numpy as np, keras\n"
        "from engine.families.registry import FamilyRegistry\n"
        "folder = sys.argv[1]\n"
        "config = json.load(open(folder + '/config.json'))\n"
        "registry = FamilyRegistry(sys.argv[3])\n"
        "family = registry.family('image_classifier')\n"
        "t = config['training']\n"
        "_, _, x, y = family.generate_training_dataset(\n"
        "    config['domain'], t['training_fraction'], t['data_seed'])\n"
        "model = keras.saving.load_model(folder + '/checkpoints/' + sys.argv[2])\n"
        "logits = np.asarray(model(x.permute(0, 2, 3, 1).numpy(), training=False))\n"
        "print(float((logits.argmax(-1) == y.numpy()).mean()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(variant_dir), file, str(variant_dir.parents[2])],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return float(result.stdout.strip().splitlines()[-1])


def test_resnet_with_augmentation_resumes_to_the_uninterrupted_weights(workspace):
    """A stop after epoch 1 and a resume end where a run never stopped ends: replay trains
    the variant again, uninterrupted, and finds every chronicle line and checkpoint equal
    (weights, BatchNorm's statistics, the crop/flip generator's draws)."""
    from engine.replay import replay

    domain = {"architecture": "resnet", "depth": 8, "augmentation": "crop_flip"}
    training = {"epochs": 2, "resume_every": 1, "batch_size": 128, "training_fraction": 0.5}
    cancel = threading.Event()
    variant, stopped = train_cnn(
        workspace, domain, training, callbacks=[StopAfterEpoch(cancel, 1)], cancel_event=cancel
    )
    assert stopped.status == "cancelled" and stopped.epochs_completed == 1
    resumed = workspace.resume(workspace.variant(variant.name))
    assert resumed.status == "completed" and resumed.epochs_completed == 2
    result = replay(workspace, workspace.variant(variant.name))
    assert result.identical, result.message
    assert result.weights_sha256 == resumed.weights_sha256
    assert result.lines_compared == len(list(read_chronicle(variant.chronicle_path)))


def test_dropout_and_average_pooling_run_and_the_same_config_gives_the_same_weights(
    workspace, tmp_path
):
    domain = {**SMALL_CNN, "dropout": 0.3, "pooling": "avg", "activation": "gelu"}
    training = {"epochs": 2, "batch_size": 256}
    _, first = train_cnn(workspace, domain, training)
    _, second = train_cnn(Workspace(tmp_path / "other"), domain, training)
    assert first.status == second.status == "completed"
    assert first.weights_sha256 == second.weights_sha256
