"""Finds families (built-in and the user's), validates parameters and names variants."""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import importlib.util
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.discovery import load_variant
from engine.errors import FamilyError, ParameterError, VariantError
from engine.families.base import ModelFamily
from engine.families.spec import FamilySpec, load_family_spec
from engine.names import VARIANT_NAME, safe_component
from engine.resolution import Resolution, Values, resolve_parameters
from engine.variants import RunConfig, Variant, config_path, variant_dir

# Importing a user's family.py for longer than this many seconds says which family it is.
SLOW_IMPORT_S = 2.0


@dataclass(frozen=True)
class FamilyEntry:
    spec: FamilySpec
    source: str  # "built-in" or the user family's directory
    directory: Path | None = None


@dataclass(frozen=True)
class FamilyLoadError:
    source: str
    message: str


class FamilyRegistry:
    """Families from `resources/families/` and `<home>/families/<name>/`.

    Only family.json is read up front (no torch import); a family's Python code is imported
    the first time the family is used. A family that cannot be read is kept in `errors` and
    skipped, so one bad family never hides the others.
    """

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.errors: list[FamilyLoadError] = []
        self._entries: dict[str, FamilyEntry] = {}
        self._instances: dict[str, ModelFamily] = {}
        self._discover()

    # ---- discovery -------------------------------------------------------------------------
    def _discover(self) -> None:
        builtin = importlib.resources.files("resources") / "families"
        for folder in sorted(builtin.iterdir(), key=lambda t: t.name):
            if folder.is_dir() and (folder / "family.json").is_file():
                self._add(folder / "family.json", "built-in", None)
        user_root = self.home / "families"
        if user_root.is_dir():
            for folder in sorted(user_root.iterdir()):
                if not folder.is_dir():
                    continue
                if not (folder / "family.json").is_file():
                    self.errors.append(FamilyLoadError(str(folder), "no family.json; skipped"))
                    continue
                self._add(folder / "family.json", str(folder), folder)

    def _add(self, json_path: Any, source: str, directory: Path | None) -> None:
        try:
            spec = load_family_spec(json_path)
            if directory is not None and spec.implementation is None:
                _check_family_py(directory)
        except FamilyError as exc:
            self.errors.append(FamilyLoadError(source, str(exc)))
            return
        if spec.name in self._entries:
            message = f"{json_path}: family {spec.name!r} is already defined; skipped"
            self.errors.append(FamilyLoadError(source, message))
            return
        self._entries[spec.name] = FamilyEntry(spec, source, directory)

    # ---- lookup ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._entries)

    def specs(self) -> list[FamilySpec]:
        return [entry.spec for entry in self._entries.values()]

    def spec(self, name: str) -> FamilySpec:
        return self._entry(name).spec

    def _entry(self, name: str) -> FamilyEntry:
        if name not in self._entries:
            known = ", ".join(self._entries) or "none"
            raise FamilyError(f"unknown family {name!r}; known: {known}")
        return self._entries[name]

    def loads_slowly(self, name: str) -> bool:
        """True for a user family not imported yet: its family.py is the user's code (it may
        import torch, or worse), so a window imports it in the background, never on its GUI
        thread. Built-in families import at once (their modules do not import torch)."""
        entry = self._entry(name)
        return entry.directory is not None and name not in self._instances

    def family(self, name: str) -> ModelFamily:
        """The family's implementation, imported on first use."""
        if name not in self._instances:
            entry = self._entry(name)
            try:
                cls = _load_implementation(entry)
                instance = cls(entry.spec)
                # The home whose dataset library the family reads imported datasets from.
                with contextlib.suppress(AttributeError):  # a user class with __slots__
                    instance.home = self.home
                if entry.directory is not None:
                    _check_models(instance, name)
                self._instances[name] = instance
            except FamilyError:
                raise
            except Exception as exc:
                raise FamilyError(f"family {name!r} failed to load: {exc}") from exc
        return self._instances[name]

    # ---- variants --------------------------------------------------------------------------
    def resolve(
        self, family: str, domain: Values = None, training: Values = None, **kwargs: Any
    ) -> Resolution:
        """Effective defaults (with their origin), per-field errors and, when valid, the
        config: one synchronous call (see engine.resolution)."""
        return resolve_parameters(
            self.spec(family), self.family(family), domain, training, **kwargs
        )

    def resolve_config(
        self, family: str, domain: Values = None, training: Values = None, **kwargs: Any
    ) -> RunConfig:
        """Validate every parameter and build the config, name included. Raises ParameterError."""
        resolution = self.resolve(family, domain, training, **kwargs)
        if resolution.config is None:
            raise resolution.first_error()
        return resolution.config

    def create_variant(
        self, family: str, params: Values = None, training: Values = None, **kwargs: Any
    ) -> Variant:
        return Variant(self.home, self.resolve_config(family, params, training, **kwargs))

    def variant(self, name: str, family: str | None = None) -> Variant:
        """An existing variant by name (searching every family unless one is given)."""
        root = self.home / "variants"
        safe_component(name, "variant name", error=VariantError, variant=True)
        if family is not None:
            safe_component(family, "family name", error=VariantError)
        families = [family] if family else sorted(p.name for p in root.glob("*") if p.is_dir())
        for fam in families:
            directory = variant_dir(self.home, fam, name)
            if config_path(directory).is_file():
                try:
                    return load_variant(directory)
                except VariantError as exc:  # a damaged config.json: one line, no traceback
                    raise VariantError(f"variant {name}: {exc}") from None
        raise VariantError(f"no trained variant named {name!r} under {root}")

    def discover_variants(self) -> list[Any]:
        from engine.discovery import discover_variants

        return discover_variants(self.home)


def _check_family_py(directory: Path) -> None:
    source = directory / "family.py"
    if not source.is_file():
        raise FamilyError(f"{directory}: no family.py beside family.json")
    try:
        compile(source.read_text(encoding="utf-8"), str(source), "exec")
    except SyntaxError as exc:
        raise FamilyError(f"{source}:{exc.lineno}: syntax error: {exc.msg}") from None
    except UnicodeDecodeError:
        raise FamilyError(f"{source}: not a UTF-8 text file") from None
    except (OSError, ValueError, RecursionError, MemoryError) as exc:
        raise FamilyError(f"{source}: cannot be read: {type(exc).__name__}: {exc}") from None


def _check_models(instance: Any, name: str) -> None:
    """Make a user family's `create_model` say so, naming the family, when what it returns
    is not a torch module (instead of failing somewhere inside the trainer)."""
    create_model = getattr(instance, "create_model", None)
    if not callable(create_model):
        raise FamilyError(f"family {name!r}: its Family class has no create_model method")

    def checked(params: dict[str, Any]) -> Any:
        from torch import nn

        model = create_model(params)
        if not isinstance(model, nn.Module):
            raise FamilyError(
                f"family {name!r}: create_model returned {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        return model

    with contextlib.suppress(AttributeError):  # a class with __slots__: left as it is
        instance.create_model = checked


def _load_implementation(entry: FamilyEntry) -> type:
    if entry.spec.implementation:
        module_name, _, attr = entry.spec.implementation.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    assert entry.directory is not None
    module_name = f"trainwright_user_family_{entry.spec.name}"
    file_spec = importlib.util.spec_from_file_location(module_name, entry.directory / "family.py")
    if file_spec is None or file_spec.loader is None:
        raise FamilyError(f"{entry.directory}: cannot import family.py")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[module_name] = module
    where = entry.directory / "family.py"
    slow = threading.Timer(
        SLOW_IMPORT_S,
        lambda: print(f"loading family {entry.spec.name} from {where}…", file=sys.stderr),
    )
    slow.daemon = True
    slow.start()
    try:
        file_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        slow.cancel()
    cls = getattr(module, "Family", None)
    if cls is None:
        raise FamilyError(f"{entry.directory / 'family.py'}: defines no class named Family")
    return cls


__all__ = ["VARIANT_NAME", "FamilyLoadError", "FamilyRegistry", "ParameterError"]
