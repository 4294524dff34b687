"""Random transforms of a whole training batch of images, drawn from a given generator.

The trainer owns the generator (seeded from the run's data seed, saved in every full
checkpoint), so an augmented run is replayed and resumed bit for bit like any other. Every
random number is drawn on the CPU from that generator, whatever device the batch is on, and the
transforms are vectorised over the batch: no Python loop over images.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from engine.families.base import BatchAugment

AUGMENTATIONS = ("none", "flip", "crop_flip")
# The augmentation generator's seed is the data seed moved out of the range of data seeds
# (0 .. 2**31 - 1): never the batch-order generator's seed, whatever the config.
AUGMENT_SEED_OFFSET = 2**32


def crop_padding(size: int) -> int:
    """Pixels of zero padding around an image before a random crop back to ``size``: an
    eighth of the side (4 at 32 pixels, as for CIFAR), at least one."""
    return max(1, size // 8)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` [n, c, h, w] mirrored left-right with probability 1/2 (one draw of
    ``n`` uniforms)."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def random_crop(x: torch.Tensor, generator: torch.Generator, padding: int) -> torch.Tensor:
    """Each image of ``x`` [n, c, h, w] zero-padded by ``padding`` pixels on every side and
    cropped back to h x w at its own random offset (one draw of 2n integers: rows, then
    columns). The inputs are normalised, so the padding is the training set's mean colour."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[0].view(n, 1, 1, 1) + torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = offsets[1].view(n, 1, 1, 1) + torch.arange(w, device=x.device).view(1, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`random_crop` (padding `crop_padding` of the image side), then `random_flip`."""
    cropped = random_crop(x, generator, crop_padding(max(x.shape[-2:])))
    return random_flip(cropped, generator)


def batch_augment(name: str) -> BatchAugment | None:
    """The transform called ``name`` ("none": None, so the trainer skips the hook)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}")
    return {"none": None, "flip": random_flip, "crop_flip": crop_flip}[name]


def family_augmentation(
    family: Any, domain: dict[str, Any], data_seed: int
) -> tuple[BatchAugment | None, torch.Generator | None]:
    """The family's batch transform for these parameters (`family.batch_augment`; None for
    a family without one or "none") and the generator of its own that every draw comes from,
    seeded from the data seed (full checkpoints keep its state). Both backends take it from
    here, so a tensorflow run draws the torch run's flips and crops."""
    augment = getattr(family, "batch_augment", None)
    transform = augment(domain) if callable(augment) else None
    if transform is None:
        return None, None
    return transform, torch.Generator().manual_seed(data_seed + AUGMENT_SEED_OFFSET)
