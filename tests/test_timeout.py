"""`-t timeout=20m`: a run stops at the next step with a resumable checkpoint, as timed out,
and resuming it (with the same budget again) ends as the uninterrupted run does.

The clock only decides *where* a run stops. So that nothing here depends on the machine's
speed, one test uses a timeout of a microsecond, which every step exceeds: each session makes
exactly one step (the check comes after a step), at every kind of place (mid-epoch, an
epoch's end). The other uses a real 0.3 s and asserts only that it stopped before the end.
"""

from __future__ import annotations

import pytest

from engine.discovery import summarise
from engine.errors import ParameterError
from engine.metadata import VariantMetadata
from engine.params import duration_text, parse_duration
from engine.run_rules import can_resume
from engine.training.callbacks import Callback
from engine.training.chronicle import read_chronicle, stable_fields
from engine.training.config import EXECUTION_PARAMETERS, TRAINING_PARAMETERS

DOMAIN = {"dataset": "two_moons", "hidden_dim": 16}
TRAINING = {"epochs": 3, "batch_size": 256, "log_every": 1, "threads": 1}
STEPS_PER_EPOCH = 4  # 800 training examples of two_moons, 256 a batch


def _spec():
    return next(spec for spec in TRAINING_PARAMETERS if spec.name == "timeout")


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        ("90s", 90.0, "1m30s"),
        ("20m", 1200.0, "20m"),
        ("2h", 7200.0, "2h"),
        ("1h30m", 5400.0, "1h30m"),
        ("1h 30m", 5400.0, "1h30m"),
        ("1.5h", 5400.0, "1h30m"),
        ("45", 45.0, "45s"),
        ("0.3", 0.3, "0.3s"),
        ("1d2h", 93600.0, "1d2h"),
        ("0", 0.0, "0"),
        ("", 0.0, "0"),
        ("off", 0.0, "0"),
    ],
)
def test_a_duration_is_read_from_its_compact_text_and_shown_back_in_it(text, seconds, shown):
    spec = _spec()
    assert spec.parse(text) == parse_duration(text) == seconds
    assert spec.show(seconds) == duration_text(seconds) == shown
    assert spec.parse(shown) == seconds  # what is shown reads back as the same value


@pytest.mark.parametrize("text", ["3 weeks", "1h30", "30m1h", "h", "1m1m", "inf", "nan"])
def test_what_is_not_a_duration_is_refused_in_one_line(text):
    with pytest.raises(ParameterError) as caught:
        _spec().parse(text)
    assert str(caught.value) == (f"timeout: {text!r} is not a duration; write e.g. 90s, 20m or 2h")


def test_a_duration_out_of_range_says_so_in_durations():
    spec = _spec()
    with pytest.raises(ParameterError, match=r"^timeout: -5s is out of range; allowed: a dur"):
        spec.parse("-5")
    with pytest.raises(ParameterError, match=r"400d is out of range; .* up to 365d$"):
        spec.parse("400d")
    assert spec.validate_value("20m") == spec.validate_value(1200) == 1200.0


def test_the_timeout_is_an_execution_setting(workspace):
    assert "timeout" in EXECUTION_PARAMETERS
    plain = workspace.create_variant("mlp", DOMAIN, TRAINING)
    timed = workspace.create_variant("mlp", DOMAIN, {**TRAINING, "timeout": "20m"})
    assert timed.name == plain.name and timed.config.config_hash == plain.config.config_hash
    assert timed.config.training.timeout == 1200.0


class Heard(Callback):
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def on_warning(self, message: str) -> None:
        self.warnings.append(message)


def test_a_run_that_times_out_at_every_step_resumes_to_the_uninterrupted_run(workspace, tmp_path):
    from engine.workspace import Workspace

    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.create_variant("mlp", DOMAIN, TRAINING)
    uninterrupted = reference_ws.train(reference)
    assert uninterrupted.status == "completed"

    variant = workspace.create_variant("mlp", DOMAIN, {**TRAINING, "timeout": 1e-6})
    assert variant.name == reference.name
    heard = Heard()
    session = workspace.trainer(variant, [heard]).train()
    sessions = 1
    while session.status == "timed_out":
        assert session.steps == sessions  # one step a session: the check follows each step
        meta = VariantMetadata.load(variant.metadata_path)
        assert meta.status == "timed_out" and meta.steps == session.steps
        status = summarise(variant.dir).status
        assert status == "timed_out" and can_resume(status)
        session = workspace.trainer(variant, [heard]).resume()
        sessions += 1
    assert session.status == "completed", session.error_message
    total = TRAINING["epochs"] * STEPS_PER_EPOCH
    assert sessions == total
    assert heard.warnings[0] == (
        "stopped after the 0.000001s timeout at epoch 1, step 1; resume to continue"
    )
    # At an epoch's end the epoch named is the one just completed.
    assert heard.warnings[STEPS_PER_EPOCH - 1].endswith(
        f"at epoch 1, step {STEPS_PER_EPOCH}; resume to continue"
    )
    assert len(heard.warnings) == total - 1

    assert session.weights_sha256 == uninterrupted.weights_sha256
    ours = [stable_fields(r) for r in read_chronicle(variant.chronicle_path)]
    theirs = [stable_fields(r) for r in read_chronicle(reference.chronicle_path)]
    assert ours == theirs
    assert workspace.verify(variant).verified


def test_a_real_timeout_stops_before_the_end_and_resumes_to_the_same_weights(workspace, tmp_path):
    from engine.workspace import Workspace

    domain = {"prime": 11}
    training = {"epochs": 300, "threads": 1}
    reference_ws = Workspace(tmp_path / "reference")
    uninterrupted = reference_ws.train(
        reference_ws.create_variant("modulo_addition_1layer", domain, training)
    )

    variant = workspace.create_variant(
        "modulo_addition_1layer", domain, {**training, "timeout": "0.3s"}
    )
    session = workspace.train(variant)
    assert session.status == "timed_out"
    assert 0 < session.epochs_completed < training["epochs"]
    for _ in range(100):  # each session makes progress: this ends
        if session.status != "timed_out":
            break
        session = workspace.resume(variant)
    assert session.status == "completed", session.error_message
    assert session.weights_sha256 == uninterrupted.weights_sha256


def test_a_trainer_can_run_without_the_configs_timeout(workspace):
    """What replay asks for: its temporary copy cannot be resumed, so it runs to the end."""
    variant = workspace.create_variant("mlp", DOMAIN, {**TRAINING, "timeout": 1e-6})
    session = workspace.trainer(variant, timeout=0).train()
    assert session.status == "completed"
    assert session.steps == TRAINING["epochs"] * STEPS_PER_EPOCH
