"""Where an LLM search's proposals come from: an OpenAI-compatible endpoint the user set, or none.

Kept in the data home's preferences.json under `llm` (the window's Preferences edit it, so
does `trainwright llm set`); empty by default, and nothing is sent anywhere while it is. The
API key itself is never stored: `api_key_env` names the environment variable that holds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.atomic import atomic_write_json
from engine.home import PREFERENCES_FILE
from engine.sweeps.errors import SweepError

SECTION = "llm"
NOT_SET = (
    "--search llm needs an LLM endpoint, and none is set: set one with `trainwright llm set "
    "--url http://127.0.0.1:8080/v1 --model MODEL` (any OpenAI-compatible server: Ollama, "
    "llama.cpp's server, vLLM, LM Studio), in the window's Preferences (LLM endpoint), or for "
    "one sweep with --llm-url and --llm-model"
)


class LlmSettings(BaseModel):
    """An OpenAI-compatible endpoint: `base_url` (up to /v1), the model to ask, the name of
    the environment variable holding an API key (none for a local server), how long to wait
    for an answer, and how often to try again after an API error (waiting `backoff_s`, then
    twice that, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field("", description="e.g. http://127.0.0.1:11434/v1; empty: none set")
    model: str = Field("", description="the model name the server knows")
    api_key_env: str = Field("", description="environment variable holding the API key")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="seconds to wait for an answer")
    retries: int = Field(3, ge=0, le=10, description="tries again after an API error")
    backoff_s: float = Field(1.0, ge=0, le=60, description="first wait before trying again")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("model", "api_key_env")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if value and not value.replace("_", "a").isalnum():
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def api_key(self) -> str | None:
        """The key from its environment variable (None: no variable named, or it is empty)."""
        return os.environ.get(self.api_key_env) or None if self.api_key_env else None

    def require(self) -> LlmSettings:
        """These settings, or SweepError saying how to set an endpoint."""
        if not self.base_url:
            raise SweepError(NOT_SET)
        if not self.model:
            raise SweepError(
                f"the LLM endpoint {self.base_url} has no model set: give one with "
                "`trainwright llm set --model MODEL` or --llm-model"
            )
        return self


def preferences_path(home: Path) -> Path:
    return Path(home) / PREFERENCES_FILE


def load_llm_settings(home: Path) -> LlmSettings:
    """The home's endpoint settings (none set, the defaults, if the file or section is
    missing); SweepError naming the file if the section is not valid."""
    path = preferences_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return LlmSettings()
    except (OSError, ValueError) as exc:
        raise SweepError(f"{path}: unreadable: {exc}") from None
    section = data.get(SECTION) if isinstance(data, dict) else None
    if section is None:
        return LlmSettings()
    try:
        return LlmSettings.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SweepError(f"{path}: llm.{where}: {first['msg']}") from None


def save_llm_settings(home: Path, settings: LlmSettings) -> Path:
    """Write the section into preferences.json atomically, keeping every other preference."""
    path = preferences_path(home)
    data: dict[str, object] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            data = {}
    data[SECTION] = settings.model_dump(mode="json")
    Path(home).mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)
    return path
