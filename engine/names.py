"""Names that become one folder of the data home (variants, families, sweeps), checked alike.

Every name that comes from outside (typed, formed from a parameter, read from a file) is
checked with `safe_component` before anything is read, written or deleted under it: it must
be exactly one path component, so it can never reach outside its folder. Long names are
shortened by `cap_name` with a hash of the whole, so they stay distinct and stay storable.
"""

from __future__ import annotations

import hashlib
import re

from engine.errors import TrainwrightError

# What a variant name may hold: the characters `variant_name` produces, so no name is a path.
VARIANT_NAME = re.compile(r"[A-Za-z0-9_.-]+")
VARIANT_RULE = "letters, digits, '_', '.' and '-' only, not '.' or '..'"
# Longest variant name kept as is: a folder name may have 255 bytes, and a deleted variant's
# folder is renamed to NAME-xxxxxxxx in the trash (engine.run_rules).
MAX_NAME_BYTES = 200
MAX_COMPONENT_BYTES = 255
_FORBIDDEN = ("/", "\\", "\x00")


def safe_component(
    name: object,
    what: str,
    *,
    error: type[TrainwrightError] = TrainwrightError,
    variant: bool = False,
) -> str:
    """`name` if it is one safe path component, else `error` naming `what` and the rule.

    Always: text, not empty, not '.' or '..', no '/', '\\' or NUL, at most 255 bytes.
    `variant=True` also requires the variant-name characters (VARIANT_NAME) and at most
    MAX_NAME_BYTES.
    """
    if not isinstance(name, str) or not name:
        raise error(f"{what} is empty; it names a folder and needs at least one character")
    shown = _shown(name)
    if variant:
        if not VARIANT_NAME.fullmatch(name) or name in (".", ".."):
            raise error(f"{shown} is not a {what} ({VARIANT_RULE})")
        limit = MAX_NAME_BYTES
    else:
        if name in (".", "..") or any(c in name for c in _FORBIDDEN):
            raise error(
                f"{shown} is not a {what}: it names one folder, so it cannot be '.' or '..' "
                "or hold '/', '\\' or NUL"
            )
        limit = MAX_COMPONENT_BYTES
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise error(f"{shown} is not a {what}: it has {size} bytes, at most {limit} are allowed")
    return name


def cap_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """`name` unchanged if it fits in `limit` bytes, else a readable prefix + '_' + the
    first 8 hex digits of the SHA-256 of the whole name (so distinct names stay distinct)."""
    data = name.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return name
    digest = hashlib.sha256(data).hexdigest()[:8]
    prefix = data[: limit - 9].decode("utf-8", "ignore")
    return f"{prefix}_{digest}"


def _shown(name: str, limit: int = 80) -> str:
    """The name as a message shows it: quoted, a very long one cut short."""
    return repr(name) if len(name) <= limit else repr(name[:limit]) + "…"
