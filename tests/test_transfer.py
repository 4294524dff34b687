"""Transfer (init_from, freeze): a run that starts from another variant's final weights."""

from __future__ import annotations

import threading

import pytest
import torch
from helpers.callbacks import StopAfter

from engine.errors import ParameterError
from engine.hashing import weights_sha256
from engine.metadata import VariantMetadata
from engine.models.heads import head_name
from engine.training import checkpoints as ckpt

SMALL = {"hidden_dim": 16}
FAST = {"epochs": 3, "batch_size": 64, "threads": 1}
HEAD = "net.6"  # DynamicMLPModel, two hidden layers with dropout: the last Linear


@pytest.fixture
def source(workspace):
    """A completed 16x2 MLP on two_moons (2 features, 2 classes): its variant."""
    variant = workspace.create_variant("mlp", {"dataset": "two_moons", **SMALL}, FAST)
    assert workspace.train(variant).status == "completed"
    return variant


def _target(workspace, source, dataset, **training):
    training = {**FAST, "init_from": source.name, "checkpoint_every": 1, **training}
    return workspace.create_variant("mlp", {"dataset": dataset, **SMALL}, training)


def _weights(variant, epoch):
    path = variant.checkpoints_dir / ckpt.weights_name(epoch)
    return ckpt.load_checkpoint(path)["model"]


def _final(variant):
    meta = VariantMetadata.load(variant.metadata_path)
    return _weights(variant, meta.epochs_completed)


def _body(state):
    return {k: v for k, v in state.items() if not k.startswith(HEAD + ".")}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_head_is_the_last_module_owning_parameters(workspace, source):
    family = workspace.registry.family("mlp")
    assert head_name(family.create_model(source.config.domain)) == HEAD
    model = torch.nn.Linear(2, 2)
    assert head_name(model) == ""  # the root itself
    model.head_name = "named"
    assert head_name(model) == "named"


def test_another_class_count_keeps_the_fresh_head(workspace, source):
    """spirals: 2 features like two_moons, 3 classes: all but the head from the source."""
    variant = _target(workspace, source, "spirals")
    session = workspace.train(variant)
    assert session.status == "completed"
    start = _weights(variant, 0)
    assert _equal(_body(start), _body(_final(source)))
    # The head is the seeded fresh one: that of the same config without init_from.
    plain = workspace.create_variant("mlp", {"dataset": "spirals", **SMALL}, FAST)
    workspace.train(plain)
    fresh = _weights(plain, 0)
    head_keys = [k for k in start if k.startswith(HEAD + ".")]
    assert head_keys
    assert all(torch.equal(start[k], fresh[k]) for k in head_keys)
    record = VariantMetadata.load(variant.metadata_path).extra["init_from"]
    assert record == {
        "variant": source.name,
        "family": "mlp",
        "weights_sha256": VariantMetadata.load(source.metadata_path).weights_sha256,
        "head_reinitialised": True,
        "freeze": "none",
    }
    assert workspace.replay(variant).identical


def test_freeze_trains_the_head_only(workspace, source):
    """circles: the same shapes as two_moons; every weight is taken, the head trains alone."""
    variant = _target(workspace, source, "circles", freeze="features")
    session = workspace.train(variant)
    assert session.status == "completed"
    assert _equal(_weights(variant, 0), _final(source))  # the head too: same shapes
    final, theirs = _final(variant), _final(source)
    assert _equal(_body(final), _body(theirs))  # bit-equal after training
    assert not torch.equal(final[HEAD + ".weight"], theirs[HEAD + ".weight"])
    record = VariantMetadata.load(variant.metadata_path).extra["init_from"]
    assert (record["head_reinitialised"], record["freeze"]) == (False, "features")
    result = workspace.replay(variant)
    assert result.identical and result.weights_sha256 == session.weights_sha256


def test_a_stopped_transfer_run_resumes_exactly(workspace, source, tmp_path):
    import shutil

    from engine.workspace import Workspace

    other = Workspace(tmp_path / "other")
    shutil.copytree(source.dir, other.home / "variants" / "mlp" / source.name)
    reference = other.train(_target(other, source, "spirals", freeze="features"))
    variant = _target(workspace, source, "spirals", freeze="features")
    cancel = threading.Event()
    assert workspace.train(variant, [StopAfter(cancel, 1)], cancel).status == "cancelled"
    resumed = workspace.resume(variant)
    assert resumed.status == "completed"
    assert resumed.weights_sha256 == reference.weights_sha256


def _refused(workspace, variant, field, text):
    with pytest.raises(ParameterError) as caught:
        workspace.train(variant)
    assert caught.value.field == field
    assert text in str(caught.value)
    assert not variant.dir.exists()  # refused before anything was written


def test_refusals_name_the_problem_and_write_nothing(workspace, source):
    _refused(
        workspace,
        _target(workspace, source, "two_moons", init_from="mlp_nope_h1x1_seed0_00000000"),
        "init_from",
        "no trained variant named 'mlp_nope_h1x1_seed0_00000000'",
    )
    wine = _target(workspace, source, "wine")  # 13 features: the first layer differs
    _refused(
        workspace,
        wine,
        "init_from",
        f"layer net.0.weight: [16, 13] here, [16, 2] in {source.name}",
    )
    _refused(
        workspace,
        workspace.create_variant("mlp", {"dataset": "two_moons", **SMALL}, {"freeze": "features"}),
        "freeze",
        "needs init_from",
    )
    modular = workspace.create_variant("modulo_addition_1layer", {"prime": 5}, {"epochs": 1})
    workspace.train(modular)
    _refused(
        workspace,
        _target(workspace, modular, "two_moons"),
        "init_from",
        f"{modular.name} is a modulo_addition_1layer variant",
    )
    unfinished = workspace.create_variant("mlp", {"dataset": "circles", **SMALL}, FAST)
    cancel = threading.Event()
    workspace.train(unfinished, [StopAfter(cancel, 1)], cancel)
    _refused(
        workspace,
        _target(workspace, unfinished, "two_moons"),
        "init_from",
        "is cancelled, not completed",
    )


def _alter_final_weights(variant):
    """What retraining the source to other weights leaves: a consistent, different final
    weights checkpoint (file, sidecar and metadata.json agree)."""
    meta = VariantMetadata.load(variant.metadata_path)
    entry = next(c for c in meta.checkpoints if c.kind == "weights" and c.step == meta.steps)
    path = variant.checkpoints_dir / entry.file
    payload = ckpt.load_checkpoint(path)
    payload["model"][HEAD + ".bias"] = payload["model"][HEAD + ".bias"] + 0.5
    entry.sha256 = ckpt.save_checkpoint(path, payload)
    entry.weights_sha256 = meta.weights_sha256 = weights_sha256(payload["model"])
    meta.save(variant.metadata_path)
    return meta.weights_sha256


def test_a_retrained_source_refuses_resume_and_replay(workspace, source):
    done = _target(workspace, source, "circles")
    workspace.train(done)
    stopped = _target(workspace, source, "spirals")
    cancel = threading.Event()
    workspace.train(stopped, [StopAfter(cancel, 1)], cancel)
    before = VariantMetadata.load(source.metadata_path).weights_sha256
    after = _alter_final_weights(source)
    with pytest.raises(ParameterError, match="was retrained") as caught:
        workspace.resume(stopped)
    assert before[:12] in str(caught.value) and after[:12] in str(caught.value)
    with pytest.raises(ParameterError, match="was retrained"):
        workspace.replay(done)
