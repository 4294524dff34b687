"""The built-in image datasets: `digits` (UCI handwritten digits, 8x8) and `shapes` (seeded
synthetic circles, squares and triangles), as images and flattened for the MLP."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers.pinned import check_pinned

from engine.datasets import DatasetError, TargetColumnError, get_dataset, list_datasets
from engine.datasets.image_sources import (
    convert_channels,
    mlp_image_size,
    render_shapes,
    resize_images,
)

DATASETS = Path(__file__).resolve().parents[1] / "resources" / "datasets"


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def test_the_image_builtins_are_listed_as_images():
    infos = {i.id: i for i in list_datasets()}
    assert (infos["digits"].kind, infos["digits"].source) == ("images", "bundled")
    assert (infos["shapes"].kind, infos["shapes"].source) == ("images", "synthetic")
    assert infos["digits"].task_type == infos["shapes"].task_type == "classification"
    assert all(i.kind == "tabular" for k, i in infos.items() if k not in ("digits", "shapes"))


# ---- digits ----------------------------------------------------------------------------------
def test_digits_are_the_csv_values_scaled_to_bytes():
    with (DATASETS / "digits.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["p00", "p01"] and header[-1] == "digit" and len(body) == 1797
    ds = get_dataset("digits")
    assert (ds.native_size, ds.channels) == (8, 1)
    images = ds.load_images(8, 1)
    assert images.x.shape == (1797, 1, 8, 8) and images.x.dtype == torch.uint8
    assert images.class_names == [str(d) for d in range(10)]
    for i in (0, 1, 900, 1796):
        values = [int(v) for v in body[i][:64]]
        expected = [round(v * 255 / 16) for v in values]  # no value lands on .5 but 8 -> 128
        assert images.x[i, 0].flatten().tolist() == expected
        assert images.y[i].item() == int(body[i][64])
    assert images.x.max() == 255 and images.x.min() == 0


def test_digits_flattened_for_the_mlp_are_64_pixels_in_0_1():
    data = get_dataset("digits").load()
    assert data.x.shape == (1797, 64) and data.num_features == 64
    assert data.feature_names[:3] == ["c0_y0_x0", "c0_y0_x1", "c0_y0_x2"]
    assert data.feature_names[-1] == "c0_y7_x7"
    assert float(data.x.min()) == 0.0 and float(data.x.max()) == 1.0
    assert data.num_classes == 10 and data.task_type == "classification"
    assert torch.bincount(data.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_resize_deterministically_with_antialias_down_and_repeat_into_rgb():
    ds = get_dataset("digits")
    native = ds.load_images(8, 1).x
    up = ds.load_images(16, 3)
    assert up.x.shape == (1797, 3, 16, 16)
    assert torch.equal(up.x[:, 0], up.x[:, 1]) and torch.equal(up.x[:, 1], up.x[:, 2])
    expected = F.interpolate(native.float(), size=(16, 16), mode="bilinear", align_corners=False)
    assert torch.equal(up.x[:, :1], expected.round().clamp(0, 255).to(torch.uint8))
    down = ds.load_images(4, 1).x
    plain = F.interpolate(native.float(), size=(4, 4), mode="bilinear", align_corners=False)
    assert not torch.equal(down, plain.round().to(torch.uint8)), "shrinking must antialias"
    assert torch.equal(down, ds.load_images(4, 1).x)


def test_digits_pixels_are_pinned():
    assert sha(get_dataset("digits").load_images(8, 1).x) == (
        "b41ca9fd335466eee997366c2e6f6bbe0a1b4582afe091fc4eba35f4a254182f"
    )


# ---- shapes ----------------------------------------------------------------------------------
def test_shapes_are_balanced_colour_images_at_their_native_size():
    ds = get_dataset("shapes")
    assert (ds.native_size, ds.channels) == (32, 3)
    images = ds.load_images(32, 3)
    assert images.x.shape == (3000, 3, 32, 32) and images.x.dtype == torch.uint8
    assert images.class_names == ["circle", "square", "triangle"]
    assert torch.bincount(images.y).tolist() == [1000, 1000, 1000]
    data = ds.load()
    assert data.x.shape == (3000, 3 * 32 * 32) and data.feature_names[-1] == "c2_y31_x31"


def test_shapes_are_bit_identical_per_seed_and_differ_between_seeds():
    a = render_shapes(300, 32, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a, render_shapes(300, 32, seed=3), strict=True))
    c = render_shapes(300, 32, seed=4)
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


def test_shapes_render_is_pinned():
    """The same bytes in every version on each kind of machine: a changed renderer is a new
    dataset. (Two kinds of CPU render different bytes: tests/helpers/pinned.py.)"""
    images = get_dataset("shapes").load_images(32, 3, seed=0)
    check_pinned("shapes_32", sha(images.x))
    big = get_dataset("shapes").load_images(64, 3, seed=0)
    check_pinned("shapes_64", sha(big.x))
    assert torch.equal(images.y, big.y)


def test_shapes_render_at_the_requested_size_not_an_upscale():
    ds = get_dataset("shapes")
    small, big = ds.load_images(32, 3), ds.load_images(64, 3)
    assert torch.equal(small.y, big.y)  # the same scenes at either size
    upscaled = resize_images(small.x, 64)
    assert not torch.equal(big.x, upscaled)

    # A rendered edge is sharp: most pixels are either background or shape colour, while an
    # upscale smears each edge over two pixels. Compare the share of mid-tone pixels.
    def mid_tone_share(x: torch.Tensor) -> float:
        grey = x.float().mean(dim=1)
        lo, hi = grey.amin(dim=(1, 2), keepdim=True), grey.amax(dim=(1, 2), keepdim=True)
        t = (grey - lo) / (hi - lo)
        return float(((t > 0.35) & (t < 0.65)).float().mean())

    assert mid_tone_share(big.x) < mid_tone_share(upscaled)
    # Above 64 pixels the 64-pixel render is upscaled.
    assert torch.equal(ds.load_images(80, 3).x, resize_images(big.x, 80))


def test_shapes_classes_are_the_drawn_shapes():
    """A circle fills about pi/4 of its bounding box, a square all of it, a triangle half."""
    x, y = render_shapes(90, 64, seed=1)
    grey = x.float().mean(dim=1)
    fill = []
    for img in grey:
        t = img > (img.amin() + img.amax()) / 2
        rows, cols = t.any(dim=1).nonzero(), t.any(dim=0).nonzero()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        fill.append(float(t.sum() / box))
    fill_t = torch.tensor(fill)
    for label, (lo, hi) in enumerate(((0.65, 0.87), (0.87, 1.01), (0.4, 0.62))):
        chosen = fill_t[y == label]
        assert ((chosen > lo) & (chosen < hi)).all(), (label, chosen)


def test_shapes_do_not_touch_the_global_rng():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    render_shapes(30, 16, seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_grey_from_colour_uses_luma():
    x = torch.tensor([[[[255]], [[0]], [[0]]], [[[10]], [[200]], [[30]]]], dtype=torch.uint8)
    grey = convert_channels(x, 1)
    assert grey.shape == (2, 1, 1, 1)
    assert grey.flatten().tolist() == [76, round(10 * 0.299 + 200 * 0.587 + 30 * 0.114)]
    shapes_grey = get_dataset("shapes").load_images(32, 1)
    assert torch.equal(
        shapes_grey.x, convert_channels(get_dataset("shapes").load_images(32, 3).x, 1)
    )


def test_image_requests_out_of_range_are_refused():
    with pytest.raises(DatasetError, match="1 or 3 channels"):
        get_dataset("digits").load_images(8, 2)
    with pytest.raises(DatasetError, match="image size"):
        get_dataset("shapes").load_images(0, 3)


def test_image_builtins_have_fixed_targets():
    with pytest.raises(TargetColumnError, match="fixed target"):
        get_dataset("digits", target="digit")
    with pytest.raises(DatasetError, match="classification dataset"):
        get_dataset("shapes", task_type="regression")


def test_mlp_image_size_is_the_native_size_up_to_32():
    assert [mlp_image_size(s) for s in (8, 32, 33, 500)] == [8, 32, 32, 32]


def test_digits_has_a_sources_entry():
    text = (DATASETS / "SOURCES.md").read_text(encoding="utf-8")
    entry = text.split("## digits.csv", 1)[1].split("\n## ", 1)[0]
    assert "Source:" in entry and "Licence:" in entry and "10.24432/C50P49" in entry


# ---- training at the defaults ----------------------------------------------------------------
@pytest.mark.parametrize(("dataset", "floor"), [("digits", 0.9), ("shapes", 0.6)])
def test_the_mlp_trains_on_image_builtins_at_their_defaults(workspace, dataset, floor):
    variant = workspace.create_variant("mlp", {"dataset": dataset}, {"log_every": 1000})
    session = workspace.train(variant)
    assert session.status == "completed", session.error_message
    assert session.final_metrics["test_accuracy"] >= floor, session.final_metrics
