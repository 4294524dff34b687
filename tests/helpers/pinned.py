"""Values pinned per kind of CPU: a float computation's bits hold on one kind of machine.

Replay is bit-identical on the same machine; another CPU (another vendor's libraries and
instruction paths) may round differently, so a weights hash, and even the synthetic shapes'
float render, differ between kinds (README, "Reproducibility"). A pinned value guards against
a change of ours on each kind of machine it was recorded on: `check_pinned` compares where
this machine's kind has a value, and otherwise skips saying what this machine gives, to be
recorded here.

Kinds are "<vendor_id>/<torch CPU capability>" (/proc/cpuinfo, torch.backends.cpu), or the
vendor alone where every capability of it gave the same value.
"""

from __future__ import annotations

from functools import cache

import pytest

AMD = "AuthenticAMD"  # the AMD EPYC machines of the sessions up to 2026-11-30 (bench/README.md)
INTEL_AVX512 = "GenuineIntel/AVX512"  # an Intel Xeon with AVX-512, 2026-12-01

PINNED: dict[str, dict[str, str]] = {
    # `trainwright train mlp -t epochs=5`: final weights
    "mlp_two_moons_epochs5": {AMD: "491a113c", INTEL_AVX512: "c84caca9"},
    # `trainwright train modulo_addition_1layer -p prime=23 -t epochs=60`: final weights
    "modulo_p23_epochs60": {
        AMD: "7282bca709616dff493d78f1d2cacd3b2a359b21f835b196363f082e5904bdac",
        INTEL_AVX512: "d20ad6f3ed3ba63b942b9c1626b404e33bcfef57614ab73e6e0f228b430098d8",
    },
    # mlp on wine, hidden_dim 16, 3 epochs at lr 0.01: final weights
    "mlp_wine_h16_epochs3": {AMD: "835262cd", INTEL_AVX512: "1de21642"},
    # the shapes dataset rendered at 32 and at 64 pixels, seed 0: the uint8 bytes
    "shapes_32": {
        AMD: "535952ec593199f7fd1ce1a2277645a53c2431e26088e755f3a8c8d4b07e5e0e",
        "GenuineIntel": "024b3b3fcb1761304230b241aaeacd1e81f32e13fc1fb6db5fbf6c5671cd188b",
    },
    "shapes_64": {
        AMD: "938723d421affe8bedc58404c574a18427439350d289246dd8840491a0f03ee1",
        "GenuineIntel": "40769436af66e2a62fe5f1fddb745b570ec944df8f9a344f323925f419a890ef",
    },
}


@cache
def machine_kind() -> tuple[str, str]:
    """(vendor_id, torch's CPU capability), e.g. ("GenuineIntel", "AVX512")."""
    import torch

    vendor = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    vendor = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return vendor, str(torch.backends.cpu.get_cpu_capability())


def check_pinned(name: str, actual: str) -> None:
    """`actual` starts with the value pinned for this machine's kind; a skip (naming what
    this machine gives) where none is."""
    vendor, capability = machine_kind()
    known = PINNED[name]
    expected = known.get(f"{vendor}/{capability}") or known.get(vendor)
    if not expected:
        pytest.skip(
            f"{name}: no value pinned for a {vendor}/{capability} CPU; this one gives "
            f"{actual} (record it in tests/helpers/pinned.py)"
        )
    assert actual.startswith(expected), f"{name} on a {vendor}/{capability} CPU"
