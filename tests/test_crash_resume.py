"""A training process killed with SIGKILL resumes to the uninterrupted run's weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.cli import run_cli

from engine.training.chronicle import read_chronicle, stable_fields

ARGS = ["modulo_addition_1layer", "-p", "prime=13", "-t", "epochs=400", "-t", "resume_every=20"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_training_then_resume_gives_the_uninterrupted_hash(tmp_path):
    reference = json.loads(run_cli(tmp_path / "ref", "train", *ARGS, "--json", check=True).stdout)

    home = tmp_path / "crash"
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "--home", str(home), "train", *ARGS, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    variant_dir = home / "variants" / "modulo_addition_1layer" / reference["variant"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = list((variant_dir / "checkpoints").glob("state_*.pt.sha256"))
        if len(states) >= 2 and process.poll() is None:
            break
        time.sleep(0.02)
    assert process.poll() is None, "training ended before it could be killed; raise epochs"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    metadata = json.loads((variant_dir / "metadata.json").read_text())
    assert metadata["status"] == "training"  # what a crash leaves behind

    listed = json.loads(run_cli(home, "variants", "--json").stdout)
    assert listed[0]["status"] == "interrupted"

    resumed = json.loads(run_cli(home, "resume", reference["variant"], "--json", check=True).stdout)
    assert resumed["status"] == "completed"
    assert resumed["weights_sha256"] == reference["weights_sha256"]
    ours = [stable_fields(r) for r in read_chronicle(variant_dir / "chronicle.jsonl")]
    ref_dir = tmp_path / "ref" / "variants" / "modulo_addition_1layer" / reference["variant"]
    theirs = [stable_fields(r) for r in read_chronicle(ref_dir / "chronicle.jsonl")]
    assert ours == theirs  # no gap, no duplicate line
