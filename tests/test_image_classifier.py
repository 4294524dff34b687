"""The image_classifier family: its data (stratified, normalised), its models, and its runs —
deterministic, exact across a cancel, a SIGKILL and a replay, with and without augmentation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch
from helpers.cli import run_cli
from PIL import Image

from engine.datasets.library import DatasetLibrary
from engine.datasets.stratified import class_test_count
from engine.errors import ParameterError
from engine.families.image_classifier import channel_statistics
from engine.metadata import VariantMetadata
from engine.models.cnn import CifarResNet, SimpleCNN
from engine.training.callbacks import Callback
from engine.training.chronicle import read_chronicle, stable_fields

FAMILY = "image_classifier"
# A tiny CNN on 8x8 digits: a run of a few epochs takes well under a second.
TINY = {"dataset": "digits", "conv_channels": [8, 16]}
TINY_TRAINING = {"epochs": 4, "batch_size": 64, "log_every": 5}


def _tiny(workspace, domain=None, **training):
    return workspace.create_variant(
        FAMILY, {**TINY, **(domain or {})}, {**TINY_TRAINING, **training}
    )


class CancelAtStep(Callback):
    """Sets the cancel event once the chronicle reaches `step` (mid-epoch: 23 steps each)."""

    def __init__(self, event: threading.Event, step: int) -> None:
        self.event, self.step = event, step

    def on_log(self, row):
        if row["step"] >= self.step:
            self.event.set()


def _stable_chronicle(variant):
    return [stable_fields(r) for r in read_chronicle(variant.chronicle_path)]


# ---- the family's parameters -----------------------------------------------------------------
def test_importing_and_resolving_the_family_loads_no_torch(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        import engine.families.image_classifier
        from engine.workspace import Workspace
        ws = Workspace({str(tmp_path)!r})
        resolution = ws.resolve("image_classifier")
        assert resolution.ok, resolution.errors
        assert ws.resolve("image_classifier", {{"dataset": "iris"}}).errors
        ws.registry.family("image_classifier").class_names({{"dataset": "shapes"}})
        assert "torch" not in sys.modules, "the image family imported torch"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_name_and_the_datasets_training_defaults(workspace):
    spec = workspace.registry.spec(FAMILY)
    assert spec.display_name == "Image classifier (CNN)" and spec.task_type == "classification"
    assert spec.analyses == ["parameter_norm", "confusion_matrix"]
    dataset = next(p for p in spec.domain_parameters if p.name == "dataset")
    assert dataset.widget == "dataset" and dataset.dataset_kinds == ["images"]
    digits = workspace.resolve(FAMILY)
    assert digits.config.variant == "image_classifier_digits_simple_cnn_seed0"
    t = digits.config.training
    assert (t.epochs, t.lr, t.batch_size, t.optimizer) == (20, 1e-3, 32, "adam")
    assert digits.defaults["batch_size"].hint() == "32 — default of dataset digits"
    shapes = workspace.resolve(FAMILY, {"dataset": "shapes", "architecture": "resnet"})
    assert shapes.config.variant == "image_classifier_shapes_resnet_seed0"
    assert (shapes.config.training.epochs, shapes.config.training.batch_size) == (10, 64)
    assert shapes.defaults["epochs"].hint() == "10 — default of dataset shapes"


def test_a_table_is_refused_by_name(workspace):
    errors = workspace.resolve(FAMILY, {"dataset": "iris"}).errors
    assert errors == {
        "dataset": "'iris' is a table; the image classifier needs an image dataset "
        "(digits, shapes, or an imported image folder)"
    }
    with pytest.raises(ParameterError, match="is a table"):
        workspace.create_variant(FAMILY, {"dataset": "wine"})
    assert "Unknown dataset" in workspace.resolve(FAMILY, {"dataset": "nope"}).errors["dataset"]


def test_sizes_and_blocks_out_of_range_are_refused(workspace):
    assert "too small" in workspace.resolve(FAMILY, {"image_size": 4}).errors["image_size"]
    assert workspace.resolve(FAMILY, {"image_size": 8}).ok
    assert "257" in workspace.resolve(FAMILY, {"image_size": 257}).errors["image_size"]
    errors = workspace.resolve(FAMILY, {"conv_channels": []}).errors
    assert errors == {"conv_channels": "0 blocks; allowed: 1 to 8 entries"}
    assert "kernel_size" in workspace.resolve(FAMILY, {"kernel_size": 4}).errors


# ---- the data ----------------------------------------------------------------------------------
def test_digits_are_split_by_class_and_normalised_by_the_training_split(workspace):
    family = workspace.registry.family(FAMILY)
    params = workspace.resolve(FAMILY).config.domain
    train_x, train_y, test_x, test_y = family.generate_training_dataset(params, 0.8, 0)
    assert train_x.shape == (1438, 1, 8, 8) and test_x.shape == (359, 1, 8, 8)
    assert train_x.dtype == test_x.dtype == torch.float32
    assert train_y.dtype == test_y.dtype == torch.int64
    totals = torch.bincount(torch.cat([train_y, test_y]), minlength=10).tolist()
    assert torch.bincount(test_y, minlength=10).tolist() == [
        class_test_count(n, 0.2) for n in totals
    ]
    assert abs(float(train_x.mean())) < 1e-5 and abs(float(train_x.std(correction=0)) - 1) < 1e-5

    info = family.preprocessing(params, 0.8, 0)
    assert info["kind"] == "image" and (info["image_size"], info["channels"]) == (8, 1)
    assert info["class_names"] == [str(d) for d in range(10)] == family.class_names(params)
    assert len(info["mean"]) == len(info["std"]) == 1 and 0 < info["mean"][0] < 1
    images = family.test_images(params, 0.8, 0)
    assert images.dtype == torch.uint8 and images.shape == (359, 1, 8, 8)
    mean, std = torch.tensor(info["mean"]), torch.tensor(info["std"])
    assert torch.equal(
        (images.float() / 255 - mean.view(1, 1, 1, 1)) / std.view(1, 1, 1, 1), test_x
    )
    # The split follows the data seed; the same seed gives the same bytes.
    again = family.generate_training_dataset(params, 0.8, 0)
    assert torch.equal(again[2], test_x) and torch.equal(again[3], test_y)
    assert not torch.equal(family.generate_training_dataset(params, 0.8, 1)[3], test_y)


def test_channel_statistics_are_exact_from_the_histograms():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (300, 3, 5, 5), dtype=torch.uint8, generator=g)
    mean, std = channel_statistics(x)
    scaled = x.double() / 255
    assert torch.allclose(mean.double(), scaled.mean(dim=(0, 2, 3)), atol=1e-7)
    assert torch.allclose(std.double(), scaled.std(dim=(0, 2, 3), correction=0), atol=1e-7)
    half = channel_statistics(torch.cat([x[150:], x[:150]]))  # order does not matter
    assert torch.equal(half[0], mean) and torch.equal(half[1], std)
    flat = channel_statistics(torch.full((4, 1, 2, 2), 7, dtype=torch.uint8))
    assert flat[1].tolist() == [1.0]  # a constant channel is left unscaled


def test_size_and_channels_follow_the_parameters(workspace):
    family = workspace.registry.family(FAMILY)
    resolve = workspace.registry.resolve_config
    rgb = resolve(FAMILY, {"image_size": 12, "channels": "rgb"}).domain
    x = family.generate_training_dataset(rgb, 0.8, 0)[0]
    assert x.shape[1:] == (3, 12, 12)
    assert family.preprocessing(rgb, 0.8, 0)["channels"] == 3
    grey = resolve(FAMILY, {"dataset": "shapes", "channels": "grayscale", "image_size": 8}).domain
    x, y, tx, _ = family.generate_training_dataset(grey, 0.5, 0)
    assert x.shape == (1500, 1, 8, 8) and tx.shape == (1500, 1, 8, 8)
    assert torch.bincount(y).tolist() == [500, 500, 500]
    shapes = resolve(FAMILY, {"dataset": "shapes"}).domain  # 0: its own 32 pixels, colour
    assert family.preprocessing(shapes, 0.8, 0)["image_size"] == 32
    assert family.test_images(shapes, 0.8, 0).shape == (600, 3, 32, 32)


def test_the_model_follows_the_parameters(workspace):
    family = workspace.registry.family(FAMILY)
    resolve = workspace.registry.resolve_config
    simple = family.create_model(resolve(FAMILY, {**TINY, "kernel_size": 5}).domain)
    assert isinstance(simple, SimpleCNN) and simple.head.out_features == 10
    assert simple.features[0].in_channels == 1 and simple.features[0].kernel_size == (5, 5)
    resnet = family.create_model(
        resolve(FAMILY, {"dataset": "shapes", "architecture": "resnet", "depth": 8}).domain
    )
    assert isinstance(resnet, CifarResNet) and resnet.head.out_features == 3
    assert resnet.stem[0].in_channels == 3 and resnet.head_name == "head"
    grey = resolve(FAMILY, {"dataset": "shapes", "channels": "grayscale", "architecture": "resnet"})
    assert family.create_model(grey.domain).stem[0].in_channels == 1


# ---- runs --------------------------------------------------------------------------------------
def test_the_same_config_twice_gives_identical_weights(workspace, tmp_path):
    from engine.workspace import Workspace

    first = workspace.train(_tiny(workspace))
    other = Workspace(tmp_path / "other")
    second = other.train(_tiny(other))
    assert first.status == second.status == "completed", first.error_message
    assert first.weights_sha256 == second.weights_sha256
    variant = workspace.variant(_tiny(workspace).name)
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.class_names == [str(d) for d in range(10)]
    assert meta.preprocessing["image_size"] == 8 and meta.preprocessing["channels"] == 1


def test_augmentation_changes_the_run_and_is_reproduced(workspace, tmp_path):
    from engine.workspace import Workspace

    plain = workspace.train(_tiny(workspace, epochs=2))
    augmented = workspace.train(_tiny(workspace, {"augmentation": "crop_flip"}, epochs=2))
    assert augmented.status == "completed", augmented.error_message
    assert augmented.weights_sha256 != plain.weights_sha256
    other = Workspace(tmp_path / "other")
    again = other.train(_tiny(other, {"augmentation": "crop_flip"}, epochs=2))
    assert again.weights_sha256 == augmented.weights_sha256


@pytest.mark.parametrize("augmentation", ["none", "crop_flip"])
def test_cancel_then_resume_equals_an_uninterrupted_run(workspace, tmp_path, augmentation):
    from engine.workspace import Workspace

    domain = {"augmentation": augmentation, "dropout": 0.2}
    reference_ws = Workspace(tmp_path / "reference")
    reference = reference_ws.train(_tiny(reference_ws, domain))
    variant = _tiny(workspace, domain)
    cancel = threading.Event()
    stopped = workspace.train(variant, [CancelAtStep(cancel, step=30)], cancel)
    assert stopped.status == "cancelled" and stopped.steps == 30  # inside epoch 2
    resumed = workspace.resume(variant)
    assert resumed.status == "completed", resumed.error_message
    assert resumed.weights_sha256 == reference.weights_sha256
    assert _stable_chronicle(variant) == _stable_chronicle(reference_ws.variant(variant.name))


def test_replay_is_identical(workspace):
    # Upscaled digits (12x12: bilinear resizing runs under the trainer's deterministic mode).
    domain = {"augmentation": "crop_flip", "image_size": 12}
    variant = _tiny(workspace, domain, epochs=3, checkpoint_every=1)
    assert workspace.train(variant).status == "completed"
    result = workspace.replay(variant)
    assert result.identical, result.message
    assert result.checkpoints_compared == 4  # epochs 0 to 3


CLI_ARGS = [
    FAMILY,
    *("-p", "conv_channels=8,16", "-p", "augmentation=crop_flip"),
    *("-t", "epochs=30", "-t", "batch_size=64", "-t", "resume_every=2", "-t", "log_every=5"),
]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_training_then_resume_gives_the_uninterrupted_hash(tmp_path):
    reference = json.loads(
        run_cli(tmp_path / "ref", "train", *CLI_ARGS, "--json", check=True).stdout
    )

    home = tmp_path / "crash"
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "--home", str(home), "train", *CLI_ARGS, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    variant_dir = home / "variants" / FAMILY / reference["variant"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = list((variant_dir / "checkpoints").glob("state_*.pt.sha256"))
        if len(states) >= 2 and process.poll() is None:
            break
        time.sleep(0.02)
    assert process.poll() is None, "training ended before it could be killed; raise epochs"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert json.loads((variant_dir / "metadata.json").read_text())["status"] == "training"

    resumed = json.loads(run_cli(home, "resume", reference["variant"], "--json", check=True).stdout)
    assert resumed["status"] == "completed"
    assert resumed["weights_sha256"] == reference["weights_sha256"]
    ours = [stable_fields(r) for r in read_chronicle(variant_dir / "chronicle.jsonl")]
    ref_dir = tmp_path / "ref" / "variants" / FAMILY / reference["variant"]
    assert ours == [stable_fields(r) for r in read_chronicle(ref_dir / "chronicle.jsonl")]


def _png_tree(root, per_class: int = 12):
    """Two classes of 10x10 grey PNGs, dark and light, with seeded noise."""
    g = torch.Generator().manual_seed(0)
    for label, level in (("dark", 50), ("light", 200)):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            noise = torch.randint(-40, 41, (10, 10), generator=g)
            pixels = (noise + level).clamp(0, 255).to(torch.uint8).numpy()
            Image.fromarray(pixels, mode="L").save(folder / f"{i:02d}.png")
    return root


def test_an_imported_image_folder_trains(workspace, tmp_path):
    manifest = DatasetLibrary(workspace.home).import_path(_png_tree(tmp_path / "tiles"), "Tiles")
    training = {"epochs": 10, "batch_size": 8, "log_every": 5}
    variant = workspace.create_variant(FAMILY, {**TINY, "dataset": manifest.id}, training)
    assert variant.config.data is not None and variant.config.data.id == manifest.id
    assert variant.name.startswith(f"image_classifier_{manifest.id}_simple_cnn_seed0_")
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    assert session.final_metrics["test_accuracy"] == 1.0, session.final_metrics
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.class_names == ["dark", "light"]
    assert (meta.preprocessing["image_size"], meta.preprocessing["channels"]) == (10, 1)
    family = workspace.registry.family(FAMILY)
    images = family.test_images(variant.config.domain, 0.8, 0)
    assert images.shape == (4, 1, 10, 10)  # 2 of each class: 12 x 0.2 = 2.4 -> 2


def test_digits_reach_a_quality_floor_in_a_few_epochs(workspace):
    variant = workspace.create_variant(FAMILY, {}, {"epochs": 3, "log_every": 100})
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    assert session.final_metrics["test_accuracy"] >= 0.95, session.final_metrics
