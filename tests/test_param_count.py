"""Parameter counts on the meta device (engine), and the Training tab's "Parameters:" line."""

from __future__ import annotations

import pytest
from helpers.pinned import check_pinned

from engine.families.param_count import (
    ParameterCount,
    ParameterCountError,
    parameter_count,
    parameter_counts,
)
from engine.metadata import VariantMetadata

RUN_TIMEOUT_MS = 30_000


def real_count(family, domain) -> int:
    import torch

    with torch.random.fork_rng(devices=[]):
        return sum(p.numel() for p in family.create_model(domain).parameters())


@pytest.mark.parametrize(
    ("family", "domain"),
    [
        ("mlp", {}),
        ("mlp", {"dataset": "wine", "hidden_dim": 16, "batch_norm": True}),
        ("mlp", {"dataset": "digits", "linear_baseline": True}),
        ("modulo_addition_1layer", {"prime": 23}),
        ("image_classifier", {"dataset": "digits"}),
        ("image_classifier", {"dataset": "shapes", "architecture": "resnet", "width": 2}),
    ],
)
def test_count_matches_the_real_model_without_touching_the_global_rng(workspace, family, domain):
    import torch

    config = workspace.registry.resolve_config(family, domain)
    impl = workspace.registry.family(family)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    count = parameter_counts(impl, config.domain)
    assert torch.equal(torch.get_rng_state(), before)  # a run on another thread draws from it
    assert count.total == count.trainable == real_count(impl, config.domain)
    assert parameter_count(impl, config.domain) == count.total


def test_a_counted_table_still_trains_to_the_known_hash(workspace):
    """Counting loads the dataset for real (only module tensors go to the meta device): the
    loaders' caches hold real tensors, and the invariant run is unchanged."""
    domain = {"dataset": "wine", "hidden_dim": 16}
    config = workspace.registry.resolve_config("mlp", domain)
    assert parameter_count(workspace.registry.family("mlp"), config.domain) == 547
    variant = workspace.create_variant("mlp", domain, {"epochs": 3, "lr": 0.01})
    assert variant.name == "mlp_wine_h16x2_seed0_fbb843ed"
    assert workspace.train(variant).status == "completed"
    meta = VariantMetadata.load(variant.metadata_path)
    assert meta.weights_sha256 is not None
    check_pinned("mlp_wine_h16_epochs3", meta.weights_sha256)


def test_resnet20_counts_as_published(workspace):
    """ResNet-20 (width 1) on 3-channel images with 10 classes: the paper's 0.27 M."""
    config = workspace.registry.resolve_config(
        "image_classifier", {"dataset": "shapes", "architecture": "resnet"}
    )
    count = parameter_counts(workspace.registry.family("image_classifier"), config.domain)
    assert 0.26e6 < count.total < 0.28e6
    features = parameter_counts(
        workspace.registry.family("image_classifier"), config.domain, "features"
    )
    assert features.trainable == 64 * 3 + 3  # the head: shapes has 3 classes


def test_freeze_features_counts_only_the_head_as_trainable(workspace):
    config = workspace.registry.resolve_config("mlp", {"dataset": "iris", "hidden_dim": 8})
    impl = workspace.registry.family("mlp")
    count = parameter_counts(impl, config.domain, "features")
    # iris: 4 → 8 → 8 → 3; the head is the last Linear (8·3 + 3).
    assert count == ParameterCount(total=4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3, trainable=27)
    assert count.text() == "27 trainable of 139"
    assert ParameterCount(10, 10).text() == "10"


def test_a_model_that_reads_its_tensors_says_why():
    import torch

    class Reads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(int(torch.ones(1).sum().item()) + 2))

    class Family:
        def create_model(self, params):
            return Reads()

    with pytest.raises(ParameterCountError, match="cannot be built"):
        parameter_count(Family(), {})


# ---- the Training tab -----------------------------------------------------------------------
@pytest.fixture
def tab(qtbot, workspace):
    from desktop_app.main_window import MainWindow

    win = MainWindow(workspace)
    win.confirm_close = lambda *a: True
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win.training_tab
    win.controller.shutdown()


def shown(qtbot, tab, text: str) -> None:
    qtbot.waitUntil(lambda: tab.parameter_count.text() == text, timeout=RUN_TIMEOUT_MS)


def test_the_label_follows_the_domain_form_and_freeze(qtbot, tab):
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    assert tab.select_family("mlp")
    label = tab.parameter_count
    assert label.accessibleName() == "Parameter count"
    shown(qtbot, tab, "Parameters: 17,154")  # two_moons, 128x2
    assert "all trained" in label.toolTip()
    tab.domain_form.set_value("hidden_dim", 16)
    shown(qtbot, tab, "Parameters: 354")
    tab.training_form.set_value("freeze", "features")
    shown(qtbot, tab, "Parameters: 34 trainable of 354")
    assert "354 parameters, 34 of them trained" in label.toolTip()
    tab.training_form.set_value("freeze", "none")
    shown(qtbot, tab, "Parameters: 354")
    assert tab.select_family("modulo_addition_1layer")
    config = tab.config
    impl = tab.workspace.registry.family("modulo_addition_1layer")
    shown(qtbot, tab, f"Parameters: {real_count(impl, config.domain):,}")


def test_invalid_parameters_show_a_dash_and_the_reason(qtbot, tab):
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    assert tab.select_family("mlp")
    shown(qtbot, tab, "Parameters: 17,154")
    tab.domain_form.set_value("dataset", "no_such_dataset")
    shown(qtbot, tab, "Parameters: —")
    assert "dataset:" in tab.parameter_count.toolTip()
    assert "no_such_dataset" in tab.parameter_count.toolTip()
    tab.domain_form.set_value("dataset", "iris")
    shown(qtbot, tab, "Parameters: 17,539")  # 4 → 128 → 128 → 3


def test_edits_in_a_burst_are_counted_once(qtbot, tab):
    qtbot.waitUntil(lambda: tab.engine_ready, timeout=RUN_TIMEOUT_MS)
    assert tab.select_family("mlp")
    shown(qtbot, tab, "Parameters: 17,154")
    started: list[int] = []
    runner = tab.parameter_count.runner
    original = runner.start

    def counting(task, *args, **kwargs):
        started.append(task.request_id)
        return original(task, *args, **kwargs)

    runner.start = counting
    try:
        for width in (9, 10, 11, 12):
            tab.domain_form.set_value("hidden_dim", width)
        shown(qtbot, tab, "Parameters: 218")  # 2·12+12 + 12·12+12 + 12·2+2
    finally:
        runner.start = original
    assert len(started) == 1
