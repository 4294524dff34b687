"""The tensorflow backend (Keras 3 in a spawned process): the torch backend's contract.

Skipped where the extra is not installed (`pip install 'trainwright[tensorflow]'`, or
`./test --tensorflow`); the refusal without it is tested in a subprocess that cannot import
tensorflow."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers.tensorflow import StopAfterEpoch, needs_tensorflow, train

from engine.backends import TENSORFLOW_MISSING, tensorflow_family_only
from engine.cli import main
from engine.metadata import VariantMetadata
from engine.training.chronicle import read_chronicle, stable_fields
from engine.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


@needs_tensorflow
def test_acceptance_two_moons_within_two_points_of_torch(capsys, trainwright_home):
    """`trainwright train mlp -p dataset=two_moons -t backend=tensorflow --json` completes with
    a test accuracy within 2 points of the torch backend's on the same settings."""
    assert (
        main(["train", "mlp", "-p", "dataset=two_moons", "-t", "backend=tensorflow", "--json"]) == 0
    )
    keras = json.loads(capsys.readouterr().out)
    assert main(["train", "mlp", "-p", "dataset=two_moons", "--json"]) == 0
    torch = json.loads(capsys.readouterr().out)
    assert keras["status"] == torch["status"] == "completed"
    assert keras["variant"] != torch["variant"]  # the backend is part of the config
    gap = abs(keras["final_metrics"]["test_accuracy"] - torch["final_metrics"]["test_accuracy"])
    assert gap <= 0.02, (keras["final_metrics"], torch["final_metrics"])
    meta = VariantMetadata.load(Path(keras["path"]) / "metadata.json")
    assert meta.versions["tensorflow"].startswith("2.") and meta.versions["keras"].startswith("3.")
    kinds = {c.kind for c in meta.checkpoints}
    assert kinds == {"weights", "full", "best"} and meta.best is not None
    rows = list(read_chronicle(Path(keras["path"]) / "chronicle.jsonl"))
    ends = [r for r in rows if "test_accuracy" in r]
    assert len(ends) == keras["epochs_completed"]
    assert {"epoch", "step", "loss", "loss_ema", "lr", "grad_norm", "train_loss"} <= set(ends[0])


@needs_tensorflow
def test_same_config_same_weights_and_replay_is_identical(workspace, tmp_path):
    training = {"epochs": 4}
    _, first = train(workspace, training=training)
    _, second = train(Workspace(tmp_path / "other"), training=training)
    assert first.status == second.status == "completed"
    assert first.weights_sha256 == second.weights_sha256
    assert main(["replay", first.variant, "--json"]) == 0


@needs_tensorflow
def test_resume_after_a_stop_equals_an_uninterrupted_run(workspace, tmp_path):
    training = {"epochs": 6, "resume_every": 1}
    domain = {"dropout": 0.2, "batch_norm": True}  # dropout's RNG and BN's statistics too
    cancel = threading.Event()
    variant, stopped = train(
        workspace, domain, training, callbacks=[StopAfterEpoch(cancel, 2)], cancel_event=cancel
    )
    assert stopped.status == "cancelled" and 2 <= stopped.epochs_completed < 6
    resumed = workspace.resume(workspace.variant(variant.name))
    assert resumed.status == "completed" and resumed.epochs_completed == 6
    clean_ws = Workspace(tmp_path / "clean")
    clean_variant, clean = train(clean_ws, domain, training)
    assert resumed.weights_sha256 == clean.weights_sha256
    ours = [stable_fields(r) for r in read_chronicle(variant.chronicle_path)]
    theirs = [stable_fields(r) for r in read_chronicle(clean_variant.chronicle_path)]
    assert ours == theirs
    assert [m.epoch for m in resumed.metrics] == list(range(1, 7))


@needs_tensorflow
def test_a_linear_baseline_records_128_2_0_1(workspace):
    variant, session = train(workspace, {"linear_baseline": True}, {"epochs": 2})
    assert session.status == "completed"
    domain = variant.config.domain
    assert (domain["hidden_dim"], domain["num_hidden_layers"], domain["dropout"]) == (128, 2, 0.1)


@needs_tensorflow
def test_a_diverging_loss_fails_with_the_rule(workspace):
    _, session = train(workspace, training={"epochs": 2, "divergence_threshold": 0.01})
    assert session.status == "failed"
    assert "above divergence_threshold 0.01) at epoch 1, step 1" in session.error_message


@needs_tensorflow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "scheduler=cosine"], "scheduler: 'cosine' trains with the torch backend only"),
        (["-t", "grokfast=ema"], "grokfast: 'ema' trains with the torch backend only"),
        (["-t", "loss=focal"], "loss: 'focal' trains with the torch backend only"),
    ],
)
def test_what_the_backend_cannot_do_is_refused_naming_it(capsys, trainwright_home, args, message):
    assert main(["train", "mlp", "-t", "backend=tensorflow", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (trainwright_home / "variants").exists() or not any(
        (trainwright_home / "variants").rglob("metadata.json")
    )


@needs_tensorflow
def test_other_families_say_so(capsys):
    """(Publishing, verify, the analyses, init_from and a tensorflow teacher work on
    tensorflow variants: tests/test_tensorflow_interop.py.)"""
    assert (
        main(["train", "modulo_addition_1layer", "-p", "prime=7", "-t", "backend=tensorflow"]) == 2
    )
    assert tensorflow_family_only("modulo_addition_1layer") in capsys.readouterr().err
    assert main(["distill", "nobody", "mlp", "-t", "backend=tensorflow"]) == 2


def test_without_the_extra_the_backend_is_refused_saying_how_to_install(tmp_path):
    """In a process where tensorflow cannot be found (a meta-path finder hides it), the CLI
    exits 2 with the install line and writes nothing."""
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from engine.cli import main\n"
        "sys.exit(main(['train', 'mlp', '-t', 'backend=tensorflow']))\n"
    )
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**__import__("os").environ, "TRAINWRIGHT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert TENSORFLOW_MISSING in result.stderr
    assert not list(home.rglob("metadata.json"))


@needs_tensorflow
def test_sigkill_then_resume_equals_an_uninterrupted_run(workspace, tmp_path):
    """SIGKILL the `trainwright train` process once a full checkpoint exists: its Keras
    process notices and ends without writing; `resume` finishes with the weights of a run
    never stopped."""
    import os
    import signal
    import time

    home = workspace.home
    args = ["-p", "hidden_dim=32", "-t", "backend=tensorflow", "-t", "threads=1"]
    args += ["-t", "epochs=40", "-t", "resume_every=1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "train", "mlp", *args, "--json"],
        cwd=ROOT,
        env={**os.environ, "TRAINWRIGHT_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    meta_path = None
    try:
        while time.monotonic() < deadline and process.poll() is None:
            found = list((home / "variants" / "mlp").glob("*/metadata.json"))
            if found:
                meta_path = found[0]
                try:
                    meta = VariantMetadata.load(meta_path)
                except (OSError, ValueError):
                    continue
                if any(c.kind == "full" and c.epoch >= 2 for c in meta.checkpoints):
                    break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(1.0)  # the orphaned Keras process ends at its next step
    assert meta_path is not None
    name = meta_path.parent.name
    assert VariantMetadata.load(meta_path).status == "training"
    resumed = workspace.resume(workspace.variant(name))
    assert resumed.status == "completed"
    _, clean = train(Workspace(tmp_path / "clean"), training={"epochs": 40, "resume_every": 1})
    assert resumed.weights_sha256 == clean.weights_sha256
