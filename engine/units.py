"""Sizes in words, the same in the CLI and the window."""

from __future__ import annotations


def format_bytes(size: float | None) -> str:
    """Bytes in words (KB = 1024 bytes): "812 B", "3.4 KB", "12.0 MB", "1.2 GB" ("" for None)."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns
