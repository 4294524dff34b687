"""CNNs (a plain stack of conv blocks, or a CIFAR ResNet) on the library's image datasets.

The images are decoded at the size and channels the parameters ask for, split by class with
the data seed (engine.datasets.stratified) and normalised per channel by the training split's
mean and standard deviation. Nothing is cached here: the sources keep what is costly (the
parsed digits, the shapes renders, an imported folder's tensor cache), so an imported folder
changed on disk is what the next run sees.

Importing this module does not import torch (the forms read the family's parameters first);
the models, the split and the augmentations are imported when they are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.datasets import (
    DatasetDefaults,
    DatasetError,
    data_record,
    dataset_defaults,
    get_dataset,
)
from engine.errors import ParameterError
from engine.families.base import BatchAugment, FamilyBase, Split

if TYPE_CHECKING:
    import torch
    from torch import nn

    from engine.datasets import DataRecord, ImageSource

# image_size 0: the dataset's own side, within these bounds (8x8 digits stay 8x8; a folder of
# photos is trained at 64 unless asked for more).
AUTO_MIN_SIZE, AUTO_MAX_SIZE = 8, 64
MIN_SIZE = 8
MAX_BLOCKS = 8
CHANNELS = {"grayscale": 1, "rgb": 3}
# Where a CNN needs other hyperparameters than the dataset's own (which suit the MLP): shapes
# is learnt in 3 epochs by the default CNN (30 would take 105 s on 2 cores for nothing).
CNN_DEFAULTS = {"shapes": DatasetDefaults(epochs=10, lr=1e-3, batch_size=64)}
NEEDS_IMAGES = (
    "the image classifier needs an image dataset (digits, shapes, or an imported image folder)"
)


def image_side(image_size: int, native_size: int) -> int:
    """The side the images are trained at: ``image_size``, or for 0 the dataset's own side
    clamped to 8..64."""
    if image_size:
        return image_size
    return min(max(native_size, AUTO_MIN_SIZE), AUTO_MAX_SIZE)


def image_channels(channels: str, native_channels: int) -> int:
    """1 or 3: the parameter's, or for "auto" the dataset's own."""
    return CHANNELS.get(channels, native_channels)


@dataclass(frozen=True, eq=False)
class PreparedImages:
    """One split of a dataset at one size: uint8 images, labels, and the training images'
    per-channel statistics (pixel values scaled to [0, 1])."""

    train_x: torch.Tensor  # uint8 [n_train, c, s, s]
    train_y: torch.Tensor  # int64 [n_train]
    test_x: torch.Tensor  # uint8 [n_test, c, s, s]
    test_y: torch.Tensor  # int64 [n_test]
    mean: torch.Tensor  # float32 [c]
    std: torch.Tensor  # float32 [c]; 1 for a constant channel
    size: int
    channels: int
    class_names: list[str]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float32 ``(x / 255 - mean) / std`` per channel (in place on the
        one float copy: a fifth of the time of three temporaries, the same bytes)."""
        import torch

        c = self.channels
        out = x.to(torch.float32)
        return out.div_(255.0).sub_(self.mean.view(1, c, 1, 1)).div_(self.std.view(1, c, 1, 1))


def channel_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) std of uint8 images [n, c, h, w] scaled to [0, 1],
    as float32; a constant channel gets std 1.

    Taken from each channel's histogram of the 256 pixel values, so the sums are exact
    integers: the same bytes whatever the thread count (a float sum's rounding follows how it
    is split up), in one pass over the bytes, with no float copy of the training set."""
    import torch

    count = len(x) * x.shape[2] * x.shape[3]  # pixels per channel (the split leaves some)
    scale = count * 255
    means, stds = [], []
    for k in range(x.shape[1]):
        histogram = torch.bincount(x[:, k].reshape(-1), minlength=256).tolist()
        total = sum(v * n for v, n in enumerate(histogram))
        squares = sum(v * v * n for v, n in enumerate(histogram))
        # count * sum(x^2) - sum(x)^2 is an exact integer: count^2 times the variance.
        std = math.sqrt(count * squares - total * total) / scale
        means.append(total / scale)
        stds.append(std if std > 0 else 1.0)
    return torch.tensor(means, dtype=torch.float32), torch.tensor(stds, dtype=torch.float32)


class ImageClassifierFamily(FamilyBase):
    def validate_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        if 0 < params["image_size"] < MIN_SIZE:
            raise ParameterError(
                "image_size",
                f"{params['image_size']} is too small; allowed: 0 (the dataset's own size) "
                f"or {MIN_SIZE} to 256",
            )
        blocks = params["conv_channels"]
        if not 1 <= len(blocks) <= MAX_BLOCKS:
            raise ParameterError(
                "conv_channels", f"{len(blocks)} blocks; allowed: 1 to {MAX_BLOCKS} entries"
            )
        self._source(params)  # an unknown dataset or a table is refused now, by name
        return params

    def training_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        defaults = CNN_DEFAULTS.get(params["dataset"]) or dataset_defaults(
            params["dataset"], self.home
        )
        return self.with_dataset_defaults(defaults)

    def defaults_source(self, params: dict[str, Any]) -> str:
        return f"dataset {params['dataset']}"

    def data_record(self, params: dict[str, Any]) -> DataRecord | None:
        """The content hash of an imported image folder (None: a built-in dataset)."""
        return data_record(params["dataset"], self.home)

    def class_names(self, params: dict[str, Any]) -> list[str] | None:
        return list(self._source(params).class_names)  # type: ignore[attr-defined]

    def create_model(self, params: dict[str, Any]) -> nn.Module:
        """Built from the dataset's description alone (channels, classes, size): no image is
        decoded, so it is cheap enough to count parameters with."""
        from engine.models.cnn import CifarResNet, SimpleCNN

        source = self._source(params)
        in_channels = image_channels(params["channels"], source.channels)
        classes = len(source.class_names)  # type: ignore[attr-defined]
        if params["architecture"] == "resnet":
            return CifarResNet(in_channels, classes, depth=params["depth"], width=params["width"])
        return SimpleCNN(
            in_channels,
            classes,
            image_side(params["image_size"], source.native_size),
            conv_channels=params["conv_channels"],
            kernel_size=params["kernel_size"],
            batch_norm=params["batch_norm"],
            activation=params["activation"],
            pooling=params["pooling"],
            dropout=params["dropout"],
        )

    def generate_training_dataset(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> Split:
        """float32 normalised images [n, c, s, s] and int64 labels, split by class."""
        p = self.prepare(params, training_fraction, data_seed)
        return p.normalise(p.train_x), p.train_y, p.normalise(p.test_x), p.test_y

    def preprocessing(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> dict[str, Any]:
        p = self.prepare(params, training_fraction, data_seed)
        return {
            "kind": "image",
            "image_size": p.size,
            "channels": p.channels,
            "mean": [float(v) for v in p.mean],
            "std": [float(v) for v in p.std],
            "class_names": list(p.class_names),
        }

    def test_images(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> torch.Tensor:
        return self.prepare(params, training_fraction, data_seed).test_x

    def batch_augment(self, params: dict[str, Any]) -> BatchAugment | None:
        from engine.training.augment import batch_augment

        return batch_augment(params["augmentation"])

    def prepare(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> PreparedImages:
        """The images at the parameters' size and channels, split by class with
        ``data_seed``, with the training split's statistics. `shapes` is rendered with the
        model's seed, as the mlp family renders it."""
        from engine.datasets.stratified import stratified_indices

        source = self._source(params)
        size = image_side(params["image_size"], source.native_size)
        channels = image_channels(params["channels"], source.channels)
        try:
            images = source.load_images(size, channels, seed=params["seed"])
            train, test = stratified_indices(images.y, 1.0 - training_fraction, data_seed)
        except DatasetError as exc:
            raise ParameterError("dataset", str(exc)) from None
        train_x = images.x[train]
        mean, std = channel_statistics(train_x)
        return PreparedImages(
            train_x=train_x,
            train_y=images.y[train],
            test_x=images.x[test],
            test_y=images.y[test],
            mean=mean,
            std=std,
            size=size,
            channels=channels,
            class_names=list(images.class_names),
        )

    def _source(self, params: dict[str, Any]) -> ImageSource:
        dataset_id = params["dataset"]
        try:
            source = get_dataset(dataset_id, home=self.home)
        except DatasetError as exc:
            raise ParameterError("dataset", str(exc)) from None
        if source.info.kind != "images":
            raise ParameterError("dataset", f"'{dataset_id}' is a table; {NEEDS_IMAGES}")
        return source  # type: ignore[return-value]
