"""Convolutional image classifiers in plain torch: a configurable plain CNN and CIFAR ResNets.

Both end in global average pooling and a final Linear named `head` (`head_name`), the layer a
transfer run re-initialises when the class count changes. Modules are created in a fixed order,
so seeding the global RNG before building is enough for the same initial weights. Only ops that
`torch.use_deterministic_algorithms(True)` accepts are used: the global pooling is a mean over
the spatial axes rather than AdaptiveAvgPool2d (whose CUDA backward is refused), and the local
pooling is MaxPool2d / AvgPool2d.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

CnnActivation = Literal["relu", "gelu", "silu", "tanh"]
Pooling = Literal["max", "avg"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


class SimpleCNN(nn.Module):
    """One block per entry of ``conv_channels``: Conv2d ("same" padding) -> (BatchNorm2d) ->
    activation -> 2x2 pooling while the feature map is at least 2 pixels wide; then the mean
    over the feature map, (Dropout) and the Linear `head`.

    The pooling stops at 1 pixel, so any number of blocks works at any image size (8x8 digits
    with three blocks: 8 -> 4 -> 2 -> 1)."""

    head_name = "head"

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        conv_channels: Sequence[int] = (32, 64, 128),
        kernel_size: int = 3,
        batch_norm: bool = True,
        activation: CnnActivation = "relu",
        pooling: Pooling = "max",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not conv_channels:
            raise ValueError("a SimpleCNN needs at least one convolution block")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
        layers: list[nn.Module] = []
        width, side = in_channels, image_size
        for out in conv_channels:
            layers.append(
                nn.Conv2d(width, out, kernel_size, padding=kernel_size // 2, bias=not batch_norm)
            )
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(_ACTIVATIONS[activation]())
            if side >= 2:
                layers.append(nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2))
                side //= 2
            width = out
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [n, num_classes] for images [n, in_channels, size, size]."""
        return self.head(self.dropout(self.features(x).mean(dim=(2, 3))))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a residual connection; a 1x1 convolution (with
    BatchNorm) projects the shortcut where the width or the resolution changes ("option B")."""

    def __init__(self, in_width: int, out_width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_width, out_width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_width)
        self.conv2 = nn.Conv2d(out_width, out_width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_width)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_width != out_width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_width, out_width, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_width),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNets of He et al. (2016), section 4.2: a 3x3 stem of 16w channels, three
    stages of (depth - 2) / 6 BasicBlocks at widths 16w, 32w, 64w (the last two halving the
    resolution), the mean over the feature map and the Linear `head`. ResNet-20 at width 1
    on 3-channel inputs and 10 classes has 272,474 parameters."""

    head_name = "head"

    def __init__(self, in_channels: int, num_classes: int, depth: int = 20, width: int = 1):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet's depth is 6n + 2 (8, 14, 20, …), got {depth}")
        if width < 1:
            raise ValueError(f"width must be at least 1, got {width}")
        blocks = (depth - 2) // 6
        widths = (16 * width, 32 * width, 64 * width)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        stages: list[nn.Module] = []
        current = widths[0]
        for index, stage_width in enumerate(widths):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(current, stage_width, stride)]
            stage += [BasicBlock(stage_width, stage_width, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            current = stage_width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(current, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [n, num_classes] for images [n, in_channels, size, size]."""
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))
